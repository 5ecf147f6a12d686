//! The server's `tls { ... }` block: certificate paths, mutual TLS and handshake-first.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::quote;

/// TLS settings for the client port of a server.
///
/// Build one from generated material with [`crate::TlsFiles::server_tls`] or
/// [`crate::TlsFiles::mutual_tls`], or fill the fields yourself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM certificate (chain) the server presents (`cert_file`).
    pub cert_file: PathBuf,
    /// PEM private key of that certificate (`key_file`).
    pub key_file: PathBuf,
    /// PEM CA used to verify client certificates (`ca_file`); needed with `verify`.
    pub ca_file: Option<PathBuf>,
    /// Require and verify a client certificate (`verify: true`, mutual TLS).
    pub verify: bool,
    /// Expect the TLS handshake before the server sends `INFO` (`handshake_first: true`).
    /// Such a server sends no plain-text `INFO`, so the harness only waits for the port
    /// to accept connections.
    pub handshake_first: bool,
    /// TLS handshake timeout (`timeout`); `None` keeps the server default.
    pub timeout: Option<Duration>,
}

impl TlsOptions {
    /// TLS with the given certificate and key, no client verification.
    pub fn new(cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> Self {
        TlsOptions {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
            ca_file: None,
            verify: false,
            handshake_first: false,
            timeout: None,
        }
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::from("tls {\n");
        let path = |p: &PathBuf| quote(&p.to_string_lossy());
        let _ = writeln!(out, "  cert_file: {}", path(&self.cert_file));
        let _ = writeln!(out, "  key_file: {}", path(&self.key_file));
        if let Some(ca) = &self.ca_file {
            let _ = writeln!(out, "  ca_file: {}", path(ca));
        }
        if self.verify {
            out.push_str("  verify: true\n");
        }
        if self.handshake_first {
            out.push_str("  handshake_first: true\n");
        }
        if let Some(t) = self.timeout {
            // The server takes the TLS timeout in (fractional) seconds.
            let _ = writeln!(out, "  timeout: {}", t.as_secs_f64());
        }
        out.push_str("}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_all_set_options() {
        let mut t = TlsOptions::new("/c.pem", "/k.pem");
        t.ca_file = Some("/ca.pem".into());
        t.verify = true;
        t.handshake_first = true;
        t.timeout = Some(Duration::from_millis(1500));
        let s = t.render();
        for want in [
            r#"cert_file: "/c.pem""#,
            r#"key_file: "/k.pem""#,
            r#"ca_file: "/ca.pem""#,
            "verify: true",
            "handshake_first: true",
            "timeout: 1.5",
        ] {
            assert!(s.contains(want), "{want} missing in {s}");
        }
    }

    #[test]
    fn leaves_out_unset_options() {
        let s = TlsOptions::new("/c.pem", "/k.pem").render();
        assert!(!s.contains("verify"), "{s}");
        assert!(!s.contains("ca_file"), "{s}");
        assert!(!s.contains("handshake_first"), "{s}");
    }
}

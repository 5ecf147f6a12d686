//! TLS configuration: turns the user's TLS options into a `rustls::ClientConfig`.
//!
//! Certificates are always verified. Roots come from the user's PEM (file or bytes) or, by
//! default, from the operating system's store (`rustls-native-certs`). PEM is parsed with
//! `rustls-pki-types`' PEM support (re-exported by rustls) rather than by hand. The crypto
//! provider is the one installed as the process default, if any, else `ring` (feature
//! `ring`, the default: no cmake or extra toolchain needed) or `aws-lc-rs` (feature
//! `aws-lc-rs`).
//!
//! Without the `tls` feature the options still exist, so code that sets them compiles,
//! but connecting with any of them, to a `tls://` URL or to a server that requires TLS
//! fails with [`TlsError::Disabled`].

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

#[cfg(feature = "tls")]
use rustls::pki_types::pem::PemObject;
#[cfg(feature = "tls")]
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
#[cfg(feature = "tls")]
use rustls::RootCertStore;
#[cfg(feature = "tls")]
pub(crate) use rustls::{ClientConfig, ClientConnection};

/// Stands for `rustls::ClientConfig` without the `tls` feature: there is never one.
#[cfg(not(feature = "tls"))]
pub(crate) enum ClientConfig {}

/// Stands for `rustls::ClientConnection` without the `tls` feature: there is never one.
#[cfg(not(feature = "tls"))]
pub(crate) enum ClientConnection {}

/// Where PEM data comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum Pem {
    /// A file to read when connecting.
    File(PathBuf),
    /// PEM text already in memory.
    Bytes(Vec<u8>),
}

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pem::File(p) => f.debug_tuple("File").field(p).finish(),
            // May be a private key: never print it.
            Pem::Bytes(b) => write!(f, "Bytes(<{} bytes>)", b.len()),
        }
    }
}

impl Pem {
    #[cfg(feature = "tls")]
    fn read(&self) -> Result<Vec<u8>, TlsError> {
        match self {
            Pem::Bytes(b) => Ok(b.clone()),
            Pem::File(p) => std::fs::read(p).map_err(|e| TlsError::Read {
                path: p.clone(),
                reason: e.to_string(),
            }),
        }
    }
}

/// The TLS part of the connect options.
#[derive(Clone, Default)]
pub struct TlsOptions {
    /// Use TLS even if the server does not require it (nats.go `Secure`). Default false;
    /// a `tls://` URL sets it too.
    pub required: bool,
    /// Do the TLS handshake before the server's INFO (nats.go `TLSHandshakeFirst`).
    /// Default false. The server must be configured with `handshake_first`.
    pub first: bool,
    /// Trusted root certificates (nats.go `RootCAs`). Default: the system's roots.
    pub root_certs: Vec<Pem>,
    /// Client certificate chain and private key for mutual TLS (nats.go `ClientCert`).
    pub client_cert: Option<(Pem, Pem)>,
    /// A complete rustls configuration; when set, the fields above except `required`
    /// and `first` are ignored (nats.go `Secure(tlsConfig)`). Only with the `tls` feature.
    #[cfg(feature = "tls")]
    pub config: Option<Arc<ClientConfig>>,
}

impl TlsOptions {
    /// The user asked for TLS in any way: then no connection may ever run in plain text
    /// (nats.go sets `Secure` for `RootCAs` and `ClientCert` too).
    pub(crate) fn wanted(&self) -> bool {
        #[cfg(feature = "tls")]
        let config = self.config.is_some();
        #[cfg(not(feature = "tls"))]
        let config = false;
        self.required
            || self.first
            || !self.root_certs.is_empty()
            || self.client_cert.is_some()
            || config
    }
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TlsOptions");
        d.field("required", &self.required)
            .field("first", &self.first)
            .field("root_certs", &self.root_certs)
            .field("client_cert", &self.client_cert.as_ref().map(|(c, _)| c));
        #[cfg(feature = "tls")]
        d.field("config", &self.config.is_some());
        d.finish()
    }
}

/// TLS could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// PEM data held no certificate.
    NoCertificates,
    /// A certificate could not be parsed or added to the root store.
    InvalidCertificate(String),
    /// The client key is missing or could not be parsed.
    InvalidPrivateKey(String),
    /// No root certificates: none given and the system store is empty.
    NoRootCertificates,
    /// The server name is not a valid DNS name or IP address.
    InvalidServerName(String),
    /// rustls refused the configuration (for example a key that does not match).
    Config(String),
    /// No crypto provider: natsy was built with `tls` but neither `ring` nor
    /// `aws-lc-rs`, and the application installed no process-wide default.
    NoCryptoProvider,
    /// TLS was asked for (a `tls://` URL, a TLS option, or a server that requires TLS),
    /// but natsy was built without its `tls` feature.
    Disabled,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, reason } => write!(f, "cannot read {}: {reason}", path.display()),
            Self::NoCertificates => f.write_str("PEM data contains no certificate"),
            Self::InvalidCertificate(e) => write!(f, "invalid certificate: {e}"),
            Self::InvalidPrivateKey(e) => write!(f, "invalid private key: {e}"),
            Self::NoRootCertificates => f.write_str("no trusted root certificates"),
            Self::InvalidServerName(n) => write!(f, "invalid TLS server name {n:?}"),
            Self::Config(e) => write!(f, "TLS configuration refused: {e}"),
            Self::NoCryptoProvider => f.write_str(
                "no TLS crypto provider: enable natsy's `ring` or `aws-lc-rs` feature, \
                 or install a rustls default provider",
            ),
            Self::Disabled => {
                f.write_str("TLS was asked for, but natsy was built without its `tls` feature")
            }
        }
    }
}

impl std::error::Error for TlsError {}

#[cfg(feature = "tls")]
fn certs(pem: &Pem) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let data = pem.read()?;
    let certs = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::InvalidCertificate(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificates);
    }
    Ok(certs)
}

/// The crypto provider: the process default if the application installed one, else the
/// one natsy was built with (`ring` first when both features are on).
#[cfg(feature = "tls")]
fn provider() -> Result<Arc<rustls::crypto::CryptoProvider>, TlsError> {
    if let Some(installed) = rustls::crypto::CryptoProvider::get_default() {
        return Ok(installed.clone());
    }
    #[cfg(feature = "ring")]
    return Ok(Arc::new(rustls::crypto::ring::default_provider()));
    #[cfg(all(feature = "aws-lc-rs", not(feature = "ring")))]
    return Ok(Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
    Err(TlsError::NoCryptoProvider)
}

/// Without the `tls` feature: asking for TLS is an error.
#[cfg(not(feature = "tls"))]
pub(crate) fn client_config(_opts: &TlsOptions) -> Result<Arc<ClientConfig>, TlsError> {
    Err(TlsError::Disabled)
}

/// Builds the rustls configuration for these options.
#[cfg(feature = "tls")]
pub(crate) fn client_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>, TlsError> {
    if let Some(config) = &opts.config {
        return Ok(config.clone());
    }
    let mut roots = RootCertStore::empty();
    if opts.root_certs.is_empty() {
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            // The system store may hold a few certificates rustls cannot use; skip those.
            let _ = roots.add(cert);
        }
    } else {
        for pem in &opts.root_certs {
            for cert in certs(pem)? {
                roots
                    .add(cert)
                    .map_err(|e| TlsError::InvalidCertificate(e.to_string()))?;
            }
        }
    }
    if roots.is_empty() {
        return Err(TlsError::NoRootCertificates);
    }
    let builder = ClientConfig::builder_with_provider(provider()?)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots);
    let config = match &opts.client_cert {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => {
            let chain = certs(chain)?;
            let key = PrivateKeyDer::from_pem_slice(&key.read()?)
                .map_err(|e| TlsError::InvalidPrivateKey(e.to_string()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsError::Config(e.to_string()))?
        }
    };
    Ok(Arc::new(config))
}

/// The name to verify the server's certificate against.
#[cfg(feature = "tls")]
pub(crate) fn server_name(name: &str) -> Result<rustls::pki_types::ServerName<'static>, TlsError> {
    rustls::pki_types::ServerName::try_from(name.to_string())
        .map_err(|_| TlsError::InvalidServerName(name.to_string()))
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    use super::*;

    #[test]
    fn garbage_pem_is_a_typed_error() {
        let opts = TlsOptions {
            root_certs: vec![Pem::Bytes(b"not a certificate".to_vec())],
            ..Default::default()
        };
        assert_eq!(client_config(&opts).err(), Some(TlsError::NoCertificates));
        let opts = TlsOptions {
            root_certs: vec![Pem::Bytes(
                b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".to_vec(),
            )],
            ..Default::default()
        };
        assert!(matches!(
            client_config(&opts),
            Err(TlsError::InvalidCertificate(_))
        ));
    }

    #[test]
    fn missing_file_names_the_file() {
        let opts = TlsOptions {
            root_certs: vec![Pem::File("/nonexistent/ca.pem".into())],
            ..Default::default()
        };
        match client_config(&opts) {
            Err(TlsError::Read { path, .. }) => {
                assert_eq!(path, PathBuf::from("/nonexistent/ca.pem"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn debug_never_prints_key_bytes() {
        let opts = TlsOptions {
            client_cert: Some((
                Pem::Bytes(b"CERT".to_vec()),
                Pem::Bytes(b"SECRETKEY".to_vec()),
            )),
            ..Default::default()
        };
        assert!(!format!("{opts:?}").contains("SECRETKEY"));
    }

    #[test]
    fn server_names_accept_hosts_and_ips() {
        assert!(server_name("localhost").is_ok());
        assert!(server_name("127.0.0.1").is_ok());
        assert!(server_name("::1").is_ok());
        assert!(server_name("bad name").is_err());
    }
}

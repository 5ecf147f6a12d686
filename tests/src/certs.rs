//! Generates TLS material at test time with `rcgen`: a CA, a server certificate for
//! `localhost`/`127.0.0.1`, a client certificate for mutual TLS, and a second, unrelated CA
//! with its own client certificate for wrong-CA tests. Everything is written as PEM files
//! into a temp dir that lives as long as the [`TlsFiles`].

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tempfile::TempDir;

use crate::{HarnessError, TlsOptions};

/// A set of freshly generated PEM files. The files are deleted when this is dropped.
#[derive(Debug)]
pub struct TlsFiles {
    dir: TempDir,
}

const CA_CERT: &str = "ca.pem";
const SERVER_CERT: &str = "server-cert.pem";
const SERVER_KEY: &str = "server-key.pem";
const CLIENT_CERT: &str = "client-cert.pem";
const CLIENT_KEY: &str = "client-key.pem";
const OTHER_CA_CERT: &str = "other-ca.pem";
const OTHER_CLIENT_CERT: &str = "other-client-cert.pem";
const OTHER_CLIENT_KEY: &str = "other-client-key.pem";

impl TlsFiles {
    /// Generates all certificates and keys (ECDSA P-256) and writes them to a new temp dir.
    pub fn generate() -> Result<Self, HarnessError> {
        Self::generate_for(&["localhost", "127.0.0.1"])
    }

    /// Like [`TlsFiles::generate`], with a server certificate valid only for `names` (DNS
    /// names or IP addresses), for host-name verification tests.
    pub fn generate_for(names: &[&str]) -> Result<Self, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix("natsy-tls-")
            .tempdir()
            .map_err(|e| HarnessError::io("creating the TLS temp dir", e))?;
        let files = TlsFiles { dir };

        let (ca_pem, ca) = make_ca("natsy test CA")?;
        files.write(CA_CERT, &ca_pem)?;
        let (cert, key) = make_leaf(
            names.first().copied().unwrap_or("localhost"),
            names,
            ExtendedKeyUsagePurpose::ServerAuth,
            &ca,
        )?;
        files.write(SERVER_CERT, &cert)?;
        files.write(SERVER_KEY, &key)?;
        let (cert, key) = make_leaf(
            "natsy test client",
            &["client.natsy.test"],
            ExtendedKeyUsagePurpose::ClientAuth,
            &ca,
        )?;
        files.write(CLIENT_CERT, &cert)?;
        files.write(CLIENT_KEY, &key)?;

        let (other_pem, other) = make_ca("natsy unrelated CA")?;
        files.write(OTHER_CA_CERT, &other_pem)?;
        let (cert, key) = make_leaf(
            "natsy untrusted client",
            &["untrusted.natsy.test"],
            ExtendedKeyUsagePurpose::ClientAuth,
            &other,
        )?;
        files.write(OTHER_CLIENT_CERT, &cert)?;
        files.write(OTHER_CLIENT_KEY, &key)?;
        Ok(files)
    }

    fn write(&self, name: &str, pem: &str) -> Result<(), HarnessError> {
        let path = self.dir.path().join(name);
        std::fs::write(&path, pem)
            .map_err(|e| HarnessError::io(format!("writing {}", path.display()), e))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The directory holding all files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate that signed the server and client certificates.
    pub fn ca_cert(&self) -> PathBuf {
        self.path(CA_CERT)
    }

    /// The server certificate, valid for `localhost` and `127.0.0.1`, signed by the CA.
    pub fn server_cert(&self) -> PathBuf {
        self.path(SERVER_CERT)
    }

    /// The server certificate's private key (PKCS#8 PEM).
    pub fn server_key(&self) -> PathBuf {
        self.path(SERVER_KEY)
    }

    /// A client certificate signed by the CA, for mutual TLS.
    pub fn client_cert(&self) -> PathBuf {
        self.path(CLIENT_CERT)
    }

    /// The client certificate's private key (PKCS#8 PEM).
    pub fn client_key(&self) -> PathBuf {
        self.path(CLIENT_KEY)
    }

    /// A second CA that signed nothing the server trusts (for "wrong CA" tests).
    pub fn other_ca_cert(&self) -> PathBuf {
        self.path(OTHER_CA_CERT)
    }

    /// A client certificate signed by the other CA, which a mutual-TLS server rejects.
    pub fn other_client_cert(&self) -> PathBuf {
        self.path(OTHER_CLIENT_CERT)
    }

    /// The private key of [`TlsFiles::other_client_cert`].
    pub fn other_client_key(&self) -> PathBuf {
        self.path(OTHER_CLIENT_KEY)
    }

    /// Server TLS with the generated server certificate; clients are not verified.
    pub fn server_tls(&self) -> TlsOptions {
        TlsOptions::new(self.server_cert(), self.server_key())
    }

    /// Mutual TLS: the server certificate plus `ca_file` and `verify: true`.
    pub fn mutual_tls(&self) -> TlsOptions {
        let mut t = self.server_tls();
        t.ca_file = Some(self.ca_cert());
        t.verify = true;
        t
    }
}

/// Makes a self-signed CA; returns its PEM and an issuer to sign leaves with.
fn make_ca(name: &str) -> Result<(String, Issuer<'static, KeyPair>), HarnessError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), Issuer::new(params, key)))
}

/// Makes a leaf certificate for `names` signed by `issuer`; returns (cert PEM, key PEM).
fn make_leaf(
    common_name: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<(String, String), HarnessError> {
    let sans: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(sans)?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_pem_file() {
        let t = TlsFiles::generate().unwrap();
        for (path, kind) in [
            (t.ca_cert(), "CERTIFICATE"),
            (t.server_cert(), "CERTIFICATE"),
            (t.server_key(), "PRIVATE KEY"),
            (t.client_cert(), "CERTIFICATE"),
            (t.client_key(), "PRIVATE KEY"),
            (t.other_ca_cert(), "CERTIFICATE"),
            (t.other_client_cert(), "CERTIFICATE"),
            (t.other_client_key(), "PRIVATE KEY"),
        ] {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.starts_with(&format!("-----BEGIN {kind}-----")),
                "{path:?}: {text}"
            );
        }
        assert_ne!(
            std::fs::read(t.ca_cert()).unwrap(),
            std::fs::read(t.other_ca_cert()).unwrap()
        );
    }

    #[test]
    fn files_vanish_with_the_value() {
        let t = TlsFiles::generate().unwrap();
        let dir = t.dir().to_path_buf();
        assert!(dir.join(CA_CERT).is_file());
        drop(t);
        assert!(!dir.exists());
    }
}

//! Where credentials come from, resolved afresh before every (re)connect.
//!
//! Files (creds, nkey seed) are read again at each connect attempt and providers are called
//! again, so rotated credentials are picked up without restarting the client.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use natsy_proto::connection::Auth;
use natsy_proto::{Credentials, CredsError, KeyPair, KeyType, NkeyError, Secret};

/// A credentials provider: called before every (re)connect.
pub type CredentialsProvider = Arc<dyn Fn() -> Result<Auth, String> + Send + Sync>;

/// The signing callback for [`crate::ConnectOptions::jwt`]: signs the server nonce
/// (its ASCII bytes) and returns the raw 64-byte Ed25519 signature.
pub type Signer = Arc<dyn Fn(&[u8]) -> Vec<u8> + Send + Sync>;

#[derive(Clone, Default)]
pub(crate) enum AuthSource {
    #[default]
    None,
    Static(Auth),
    NKeyFile(PathBuf),
    CredsFile(PathBuf),
    Provider(CredentialsProvider),
}

impl fmt::Debug for AuthSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Static(auth) => f.debug_tuple("Static").field(auth).finish(),
            Self::NKeyFile(p) => f.debug_tuple("NKeyFile").field(p).finish(),
            Self::CredsFile(p) => f.debug_tuple("CredsFile").field(p).finish(),
            Self::Provider(_) => f.write_str("Provider(<fn>)"),
        }
    }
}

/// Credentials could not be obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialsError {
    /// A credentials or seed file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A creds file is malformed.
    Creds(CredsError),
    /// An NKey seed is malformed.
    Nkey(NkeyError),
    /// The credentials provider failed; the text is the provider's.
    Provider(String),
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, reason } => write!(f, "cannot read {}: {reason}", path.display()),
            Self::Creds(e) => write!(f, "{e}"),
            Self::Nkey(e) => write!(f, "{e}"),
            Self::Provider(e) => write!(f, "credentials provider failed: {e}"),
        }
    }
}

impl std::error::Error for CredentialsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Creds(e) => Some(e),
            Self::Nkey(e) => Some(e),
            _ => None,
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CredentialsError> {
    std::fs::read(path).map_err(|e| CredentialsError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Reads and checks a creds file into JWT auth.
pub(crate) fn creds_file_auth(path: &Path) -> Result<Auth, CredentialsError> {
    let bytes = zeroize::Zeroizing::new(read(path)?);
    let creds = Credentials::from_bytes(&bytes).map_err(CredentialsError::Creds)?;
    Ok(Auth::Jwt {
        jwt: creds.jwt,
        seed: creds.seed,
    })
}

/// Checks a seed (it must be a user seed, `SU...`) and turns it into nkey auth.
pub(crate) fn nkey_auth(seed: &str) -> Result<Auth, CredentialsError> {
    KeyPair::from_seed_of_type(seed.trim(), KeyType::User).map_err(CredentialsError::Nkey)?;
    Ok(Auth::NKey {
        seed: Secret::new(seed.trim()),
    })
}

impl AuthSource {
    /// The auth to use for the next connect attempt.
    pub(crate) fn resolve(&self) -> Result<Auth, CredentialsError> {
        match self {
            Self::None => Ok(Auth::None),
            Self::Static(auth) => Ok(auth.clone()),
            Self::CredsFile(path) => creds_file_auth(path),
            Self::NKeyFile(path) => {
                let bytes = zeroize::Zeroizing::new(read(path)?);
                let text = std::str::from_utf8(&bytes)
                    .map_err(|_| CredentialsError::Nkey(NkeyError::InvalidEncoding))?;
                nkey_auth(text)
            }
            Self::Provider(f) => f().map_err(CredentialsError::Provider),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn nkey_auth_takes_only_user_seeds() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let user = KeyPair::generate(KeyType::User, &mut rng);
        assert!(nkey_auth(user.seed().expose()).is_ok());
        let account = KeyPair::generate(KeyType::Account, &mut rng);
        assert!(matches!(
            nkey_auth(account.seed().expose()),
            Err(CredentialsError::Nkey(NkeyError::WrongKeyType { .. }))
        ));
    }
}

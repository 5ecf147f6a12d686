//! NKeys: decoding seeds and public keys, deriving public keys, signing the server nonce.

use crate::error::NkeyError;
use crate::secret::Secret;

/// The role an NKey plays, from its prefix byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// `U`: a user.
    User,
    /// `A`: an account.
    Account,
    /// `O`: an operator.
    Operator,
    /// `N`: a server.
    Server,
    /// `C`: a cluster.
    Cluster,
}

/// An Ed25519 key pair decoded from an NKey seed. `Debug` never prints the seed.
pub struct KeyPair {
    _private: (),
}

impl KeyPair {
    /// Decodes a seed (`SU...`, `SA...`, `SO...`).
    pub fn from_seed(seed: &str) -> Result<Self, NkeyError> {
        let _ = seed;
        todo!("auth helper")
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        todo!("auth helper")
    }

    /// The public key, 56 base32 characters (`U...` for a user).
    pub fn public_key(&self) -> String {
        todo!("auth helper")
    }

    /// The seed, encoded again, for writing creds files in tests.
    pub fn seed(&self) -> Secret {
        todo!("auth helper")
    }

    /// Signs `data` with Ed25519.
    pub fn sign(&self, data: &[u8]) -> [u8; 64] {
        let _ = data;
        todo!("auth helper")
    }

    /// Signs the server nonce's ASCII bytes; the signature as base64url without padding.
    pub fn sign_nonce(&self, nonce: &str) -> String {
        let _ = nonce;
        todo!("auth helper")
    }
}

//! NATS nkeys for tests: ed25519 key pairs written as `O...`/`A...`/`U...` public keys and
//! `S...` seeds. This is a small, independent implementation so that integration tests
//! do not check natsy's own nkey code against itself.
//!
//! Text form: base32 (no padding) of `prefix bytes ‖ key bytes ‖ CRC-16/XMODEM` (the CRC
//! little-endian). A public key has one prefix byte (the kind); a seed has two that pack
//! the seed marker and the kind.

use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};

/// What a key identifies; decides the first letter of its public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// An operator (`O...`).
    Operator,
    /// An account (`A...`).
    Account,
    /// A user (`U...`).
    User,
}

impl KeyKind {
    /// The prefix byte: the letter's base32 value in the top five bits.
    fn prefix(self) -> u8 {
        match self {
            KeyKind::Operator => 14 << 3,
            KeyKind::Account => 0,
            KeyKind::User => 20 << 3,
        }
    }
}

/// The seed marker ('S').
const SEED_PREFIX: u8 = 18 << 3;

/// An nkey: a kind plus an ed25519 signing key. `Debug` does not print the seed.
#[derive(Clone)]
pub struct KeyPair {
    kind: KeyKind,
    key: SigningKey,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("kind", &self.kind)
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// A fresh random key of the given kind.
    pub fn generate(kind: KeyKind) -> Self {
        Self::from_seed_bytes(kind, rand::random())
    }

    /// A deterministic key from 32 seed bytes (handy for reproducible tests).
    pub fn from_seed_bytes(kind: KeyKind, seed: [u8; 32]) -> Self {
        KeyPair {
            kind,
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The public key, e.g. `UAB...` (56 characters).
    pub fn public_key(&self) -> String {
        let mut raw = vec![self.kind.prefix()];
        raw.extend_from_slice(self.key.verifying_key().as_bytes());
        encode(raw)
    }

    /// The seed, e.g. `SUAB...` (58 characters). Secret.
    pub fn seed(&self) -> String {
        let p = self.kind.prefix();
        let mut raw = vec![SEED_PREFIX | (p >> 5), (p & 0b1_1111) << 3];
        raw.extend_from_slice(&self.key.to_bytes());
        encode(raw)
    }

    /// Signs `data` with ed25519.
    pub fn sign(&self, data: &[u8]) -> [u8; 64] {
        self.key.sign(data).to_bytes()
    }

    /// Signs a server nonce the way a client's `CONNECT` `sig` field wants it
    /// (base64url without padding).
    pub fn sign_nonce(&self, nonce: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.sign(nonce.as_bytes()))
    }
}

/// Appends the CRC and base32-encodes.
fn encode(mut raw: Vec<u8>) -> String {
    let crc = crc::Crc::<u16>::new(&crc::CRC_16_XMODEM).checksum(&raw);
    raw.extend_from_slice(&crc.to_le_bytes());
    data_encoding::BASE32_NOPAD.encode(&raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_have_the_right_letters_and_lengths() {
        for (kind, letter) in [
            (KeyKind::Operator, 'O'),
            (KeyKind::Account, 'A'),
            (KeyKind::User, 'U'),
        ] {
            let k = KeyPair::generate(kind);
            let public = k.public_key();
            assert_eq!(public.len(), 56);
            assert!(public.starts_with(letter), "{public}");
            let seed = k.seed();
            assert_eq!(seed.len(), 58);
            assert!(seed.starts_with(&format!("S{letter}")), "{seed}");
        }
    }

    #[test]
    fn crc_covers_the_key() {
        let a = KeyPair::from_seed_bytes(KeyKind::User, [1; 32]).public_key();
        let b = KeyPair::from_seed_bytes(KeyKind::User, [2; 32]).public_key();
        assert_ne!(a, b);
        let raw = data_encoding::BASE32_NOPAD.decode(a.as_bytes()).unwrap();
        let (body, crc) = raw.split_at(raw.len() - 2);
        let want = crc::Crc::<u16>::new(&crc::CRC_16_XMODEM).checksum(body);
        assert_eq!(crc, want.to_le_bytes());
    }

    #[test]
    fn debug_hides_the_seed() {
        let k = KeyPair::generate(KeyKind::User);
        let s = format!("{k:?}");
        assert!(!s.contains(&k.seed()), "{s}");
        assert!(s.contains(&k.public_key()), "{s}");
    }
}

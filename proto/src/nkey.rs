//! NKeys: decoding seeds and public keys, deriving public keys, signing the server nonce.
//!
//! An NKey is an Ed25519 key written as RFC 4648 base32 (no padding) with a CRC16/XMODEM
//! checksum appended little-endian:
//!
//! - a **public key** is `prefix(1) + key(32) + crc(2)` = 35 bytes, 56 characters, and its
//!   first letter names its role (`U` user, `A` account, `O` operator, `N` server,
//!   `C` cluster);
//! - a **seed** is `b0 b1 + seed(32) + crc(2)` = 36 bytes, 58 characters, where `b0 b1`
//!   pack the seed marker (`S`) and the role, which is why seeds start `SU`, `SA`, `SO`.
//!
//! This module owns that encoding, [`KeyPair`] (a decoded seed that can sign, for the
//! server's nonce challenge) and [`verify`] (for tests and for checking signatures).
//!
//! ```
//! use natsy_proto::{KeyPair, KeyType};
//!
//! let kp = KeyPair::from_seed("SUAOXETHU4AZD2424VFDTDJ4TOEUSGZIXMRS6F3MSCMHUUORYHNEVM6ADE")?;
//! assert_eq!(kp.key_type(), KeyType::User);
//! assert_eq!(kp.public_key(), "UB2YRJYJEFC5GZA5I47TCYYBIXQRAUA6B3MC4SR2WTXNUX6MTYM6BTBP");
//! let sig = kp.sign_nonce("RF4LfMlEbjrYcOE"); // what goes into CONNECT's `sig`
//! assert_eq!(sig.len(), 86);
//! # Ok::<(), natsy_proto::NkeyError>(())
//! ```

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use crc::{Crc, CRC_16_XMODEM};
use data_encoding::BASE32_NOPAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::error::NkeyError;
use crate::secret::Secret;

/// CRC16/XMODEM: poly 0x1021, init 0, not reflected, no final XOR.
const CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_XMODEM);

/// The first-byte marker of a seed, before the role is packed in (`S`).
const PREFIX_BYTE_SEED: u8 = 18 << 3;
/// Prefix byte of a user key (`U`).
const PREFIX_BYTE_USER: u8 = 20 << 3;
/// Prefix byte of an account key (`A`).
const PREFIX_BYTE_ACCOUNT: u8 = 0;
/// Prefix byte of an operator key (`O`).
const PREFIX_BYTE_OPERATOR: u8 = 14 << 3;
/// Prefix byte of a server key (`N`).
const PREFIX_BYTE_SERVER: u8 = 13 << 3;
/// Prefix byte of a cluster key (`C`).
const PREFIX_BYTE_CLUSTER: u8 = 2 << 3;

/// Raw Ed25519 key length (seed or public key).
const KEY_LEN: usize = 32;
/// Length of the CRC16 trailer.
const CRC_LEN: usize = 2;
/// Decoded length of a public key: prefix byte, key, crc.
const PUBLIC_RAW_LEN: usize = 1 + KEY_LEN + CRC_LEN;
/// Decoded length of a seed: two prefix bytes, seed, crc.
const SEED_RAW_LEN: usize = 2 + KEY_LEN + CRC_LEN;
/// Encoded length of a public key.
pub const PUBLIC_KEY_LEN: usize = 56;
/// Encoded length of a seed.
pub const SEED_LEN: usize = 58;
/// Largest decoded input we look at; NKeys in use are at most 36 bytes (a private key,
/// which we do not accept, is 67). Anything longer is refused before decoding.
const MAX_RAW_LEN: usize = 80;
/// Encoded length matching [`MAX_RAW_LEN`].
const MAX_TEXT_LEN: usize = MAX_RAW_LEN * 8 / 5;

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

impl KeyType {
    /// Every key type, for tests and tables.
    pub const ALL: [KeyType; 5] = [
        KeyType::User,
        KeyType::Account,
        KeyType::Operator,
        KeyType::Server,
        KeyType::Cluster,
    ];

    /// The prefix byte that starts a public key of this type (and, packed, a seed):
    /// user `20<<3`, account `0`, operator `14<<3`, server `13<<3`, cluster `2<<3`.
    pub const fn prefix_byte(self) -> u8 {
        match self {
            KeyType::User => PREFIX_BYTE_USER,
            KeyType::Account => PREFIX_BYTE_ACCOUNT,
            KeyType::Operator => PREFIX_BYTE_OPERATOR,
            KeyType::Server => PREFIX_BYTE_SERVER,
            KeyType::Cluster => PREFIX_BYTE_CLUSTER,
        }
    }

    /// The key type whose prefix byte is `byte`, if any.
    pub const fn from_prefix_byte(byte: u8) -> Option<KeyType> {
        match byte {
            PREFIX_BYTE_USER => Some(KeyType::User),
            PREFIX_BYTE_ACCOUNT => Some(KeyType::Account),
            PREFIX_BYTE_OPERATOR => Some(KeyType::Operator),
            PREFIX_BYTE_SERVER => Some(KeyType::Server),
            PREFIX_BYTE_CLUSTER => Some(KeyType::Cluster),
            _ => None,
        }
    }

    /// The letter a public key of this type starts with (`U`, `A`, `O`, `N`, `C`).
    pub const fn letter(self) -> char {
        match self {
            KeyType::User => 'U',
            KeyType::Account => 'A',
            KeyType::Operator => 'O',
            KeyType::Server => 'N',
            KeyType::Cluster => 'C',
        }
    }
}

/// An Ed25519 key pair decoded from an NKey seed. `Debug` never prints the seed.
///
/// The signing key is wiped from memory when the pair is dropped (ed25519-dalek's
/// `SigningKey` zeroizes itself on drop with its default `zeroize` feature), and every
/// temporary copy of the seed made here is held in a [`Zeroizing`] buffer.
#[derive(Clone)]
pub struct KeyPair {
    key_type: KeyType,
    signing: SigningKey,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("key_type", &self.key_type)
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// Decodes a seed (`SU...`, `SA...`, `SO...`, `SN...`, `SC...`).
    ///
    /// The text must be exactly the 58 base32 characters of the seed (no whitespace).
    ///
    /// # Errors
    ///
    /// - [`NkeyError::InvalidEncoding`]: a character outside `A-Z2-7`, or stray bits at the end;
    /// - [`NkeyError::InvalidChecksum`]: the CRC16 does not match;
    /// - [`NkeyError::NotASeed`]: a well-formed NKey that is not a seed (a public key, say);
    /// - [`NkeyError::InvalidLength`]: the decoded seed is not 36 bytes;
    /// - [`NkeyError::InvalidPrefix`]: the role packed into the seed is not a known one.
    pub fn from_seed(seed: &str) -> Result<Self, NkeyError> {
        let mut buf = Zeroizing::new([0u8; MAX_RAW_LEN]);
        let raw = decode_checked(seed, &mut buf)?;
        let (b0, b1) = match raw {
            [b0, b1, ..] => (*b0, *b1),
            _ => return Err(NkeyError::InvalidLength),
        };
        if b0 & 0xF8 != PREFIX_BYTE_SEED {
            return Err(NkeyError::NotASeed);
        }
        let key: &[u8; KEY_LEN] = raw
            .get(2..)
            .and_then(|rest| rest.try_into().ok())
            .ok_or(NkeyError::InvalidLength)?;
        let type_byte = ((b0 & 0x07) << 5) | ((b1 & 0xF8) >> 3);
        let key_type = KeyType::from_prefix_byte(type_byte).ok_or(NkeyError::InvalidPrefix)?;
        Ok(KeyPair {
            key_type,
            signing: SigningKey::from_bytes(key),
        })
    }

    /// Decodes a seed and checks that it is of the `expected` type (for example a user seed
    /// for a creds file).
    ///
    /// # Errors
    ///
    /// Those of [`KeyPair::from_seed`], and [`NkeyError::WrongKeyType`] when the seed is
    /// valid but of another type.
    pub fn from_seed_of_type(seed: &str, expected: KeyType) -> Result<Self, NkeyError> {
        let kp = Self::from_seed(seed)?;
        if kp.key_type != expected {
            return Err(NkeyError::WrongKeyType {
                expected,
                found: kp.key_type,
            });
        }
        Ok(kp)
    }

    /// A new random key pair of `key_type`, with its 32-byte seed drawn from `rng`.
    ///
    /// Tests use this to mint operator, account and user keys; pass a seeded RNG for
    /// reproducible keys, or an OS-backed one for real keys.
    pub fn generate(key_type: KeyType, rng: &mut dyn RngCore) -> Self {
        let mut seed = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(seed.as_mut());
        KeyPair {
            key_type,
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The public key, 56 base32 characters (`U...` for a user).
    pub fn public_key(&self) -> String {
        encode_public_key(self.key_type, self.signing.verifying_key().as_bytes())
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn public_key_bytes(&self) -> [u8; KEY_LEN] {
        self.signing.verifying_key().to_bytes()
    }

    /// The seed, encoded again, for writing creds files in tests.
    pub fn seed(&self) -> Secret {
        let prefix = self.key_type.prefix_byte();
        let mut raw = Zeroizing::new([0u8; SEED_RAW_LEN]);
        raw[0] = PREFIX_BYTE_SEED | (prefix >> 5);
        raw[1] = (prefix & 0x1F) << 3;
        raw[2..2 + KEY_LEN].copy_from_slice(self.signing.as_bytes());
        let crc = CRC16.checksum(&raw[..2 + KEY_LEN]).to_le_bytes();
        raw[2 + KEY_LEN..].copy_from_slice(&crc);
        Secret::new(BASE32_NOPAD.encode(raw.as_ref()))
    }

    /// Signs `data` with Ed25519.
    pub fn sign(&self, data: &[u8]) -> [u8; 64] {
        self.signing.sign(data).to_bytes()
    }

    /// Signs the server nonce's ASCII bytes; the signature as base64url without padding.
    ///
    /// The nonce is signed as the string INFO carried, not its base64-decoded bytes. The
    /// result is the 86-character `sig` field of CONNECT.
    pub fn sign_nonce(&self, nonce: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.sign(nonce.as_bytes()))
    }
}

/// Encodes a raw Ed25519 public key as a 56-character NKey of `key_type`.
pub fn encode_public_key(key_type: KeyType, key: &[u8; KEY_LEN]) -> String {
    let mut raw = [0u8; PUBLIC_RAW_LEN];
    raw[0] = key_type.prefix_byte();
    raw[1..1 + KEY_LEN].copy_from_slice(key);
    let crc = CRC16.checksum(&raw[..1 + KEY_LEN]).to_le_bytes();
    raw[1 + KEY_LEN..].copy_from_slice(&crc);
    BASE32_NOPAD.encode(&raw)
}

/// Decodes a public NKey (`U...`, `A...`, `O...`, `N...`, `C...`) into its type and the
/// raw 32-byte Ed25519 key.
///
/// # Errors
///
/// [`NkeyError::InvalidEncoding`], [`NkeyError::InvalidChecksum`] as for seeds;
/// [`NkeyError::InvalidPrefix`] when the first byte is not a public key type (a seed is
/// refused this way too); [`NkeyError::InvalidLength`] when the key is not 35 bytes.
pub fn decode_public_key(public_key: &str) -> Result<(KeyType, [u8; KEY_LEN]), NkeyError> {
    let mut buf = [0u8; MAX_RAW_LEN];
    let raw = decode_checked(public_key, &mut buf)?;
    let (&prefix, rest) = raw.split_first().ok_or(NkeyError::InvalidLength)?;
    let key_type = KeyType::from_prefix_byte(prefix).ok_or(NkeyError::InvalidPrefix)?;
    let key: [u8; KEY_LEN] = rest.try_into().map_err(|_| NkeyError::InvalidLength)?;
    Ok((key_type, key))
}

/// Checks an Ed25519 signature `sig` over `data` against a public NKey.
///
/// Returns `Ok(false)` when the signature does not verify, including when the 32 key bytes
/// are not a valid curve point (no signature can verify against such a key).
///
/// # Errors
///
/// Those of [`decode_public_key`], when `public_key` is not a well-formed public NKey.
pub fn verify(public_key: &str, data: &[u8], sig: &[u8; 64]) -> Result<bool, NkeyError> {
    let (_, key) = decode_public_key(public_key)?;
    let Ok(key) = VerifyingKey::from_bytes(&key) else {
        return Ok(false);
    };
    Ok(key.verify(data, &Signature::from_bytes(sig)).is_ok())
}

/// Base32-decodes `text` into `buf`, checks and strips the CRC16 trailer, and returns the
/// payload (prefix bytes and key).
fn decode_checked<'a>(text: &str, buf: &'a mut [u8; MAX_RAW_LEN]) -> Result<&'a [u8], NkeyError> {
    let input = text.as_bytes();
    if !input
        .iter()
        .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(b))
    {
        return Err(NkeyError::InvalidEncoding);
    }
    if input.len() > MAX_TEXT_LEN {
        return Err(NkeyError::InvalidLength);
    }
    // A length that no whole number of bytes encodes to (8k+1, 8k+3, 8k+6 characters).
    let len = BASE32_NOPAD
        .decode_len(input.len())
        .map_err(|_| NkeyError::InvalidLength)?;
    let out = buf.get_mut(..len).ok_or(NkeyError::InvalidLength)?;
    let written = BASE32_NOPAD
        .decode_mut(input, out)
        .map_err(|_| NkeyError::InvalidEncoding)?;
    let decoded = out.get(..written).ok_or(NkeyError::InvalidLength)?;
    let body_len = decoded
        .len()
        .checked_sub(CRC_LEN)
        .filter(|&n| n > 0)
        .ok_or(NkeyError::InvalidLength)?;
    let (body, crc) = decoded.split_at(body_len);
    if crc != CRC16.checksum(body).to_le_bytes() {
        return Err(NkeyError::InvalidChecksum);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    // Published NKey test vectors (nats-io/nkeys.java NKeyTests, generated with the Go
    // nkeys library; the nonce pair from mmmries/nkeys, an Elixir port): seed → public key.
    const VECTORS: &[(&str, &str, KeyType)] = &[
        (
            "SUAOXETHU4AZD2424VFDTDJ4TOEUSGZIXMRS6F3MSCMHUUORYHNEVM6ADE",
            "UB2YRJYJEFC5GZA5I47TCYYBIXQRAUA6B3MC4SR2WTXNUX6MTYM6BTBP",
            KeyType::User,
        ),
        (
            "SOAELH6NJCEK4HST5644G4HK7TOAFZGRRJHNM4EUKUY7PPNDLIKO5IH4JM",
            "ODPWIBQJVIQ42462QAFI2RKJC4RZHCQSIVPRDDHWFCJAP52NRZK6Z2YC",
            KeyType::Operator,
        ),
        (
            "SAANWFZ3JINNPERWT3ALE45U7GYT2ZDW6GJUIVPDKUF6GKAX6AISZJMAS4",
            "AATEJXG7UX4HFJ6ZPRTP22P6OYZER36YYD3GVBOVW7QHLU32P4QFFTZJ",
            KeyType::Account,
        ),
        (
            "SUAGDLNBWI2SGHDRYBHD63NH5FGZSVJUW2J7GAJZXWANQFLDW6G5SXZESU",
            "UBICBTHDKQRB4LIYA6BMIJ7EA2G7YS7FIWMMVKZJE6M3HS5IVCOLKDY2",
            KeyType::User,
        ),
        (
            "SUAHBVFYZF3DIEO4UIHIZMJICVLURLBM5JJPK7GSVGP2QUC3NZ323BRE6A",
            "UCM5BG6AAZSEGREBCLG7PG4GFQNJABSAVIXC6VWS7TDHZFPIYFVYHIDG",
            KeyType::User,
        ),
        (
            "SAADARCQJ3JA737Z443YNAZBNJNTFP7YNAF4QFUXKTBFBS4KAVK55DGSOQ",
            "AD2HQTUKOPBUGOPHA6KFRE6ZW5TH43D7P7E56OAQBZQLW2ECMNML6MVA",
            KeyType::Account,
        ),
        (
            "SNAH645525YA4PNXHWWS46VNXXQTYAXOPKGHXYAHXZZ43XTDDG2ZQAX7LY",
            "NBZCD2OSMSDRVYCAI77HUN6A2WNDWNT2DMVVEW66DHNWCDXVOUWRCCK7",
            KeyType::Server,
        ),
        (
            "SOAF5OP7UPK6XJCMNRYEJRET6YQSOE3FD4I4ERSN6WKHLYUC5AQDCOAFVY",
            "OA6SJACXYP2QGNLU4QYLJTVRVZPCZEEUNO2UQOVNGXYUPUJJHCVZIZQ2",
            KeyType::Operator,
        ),
        (
            "SCAP4LGVURDWVL37AZIM5O47UKANFI6FKBY77HMYF55CKW2XFKLNUBTTFE",
            "CAO36T42KFA2LMIZ6YHJKPQEJWT5ULYSV633FWBCEJ7MREZPHHC56BSC",
            KeyType::Cluster,
        ),
        (
            "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU",
            "UCK5N7N66OBOINFXAYC2ACJQYFSOD4VYNU6APEJTAVFZB2SVHLKGEW7L",
            KeyType::User,
        ),
    ];

    const INTEROP_SEED: &str = "SUAOXETHU4AZD2424VFDTDJ4TOEUSGZIXMRS6F3MSCMHUUORYHNEVM6ADE";
    const INTEROP_PUBLIC: &str = "UB2YRJYJEFC5GZA5I47TCYYBIXQRAUA6B3MC4SR2WTXNUX6MTYM6BTBP";

    /// Encodes arbitrary bytes with a valid CRC, to build malformed-but-checksummed keys.
    fn encode_with_crc(body: &[u8]) -> String {
        let mut raw = body.to_vec();
        raw.extend_from_slice(&CRC16.checksum(body).to_le_bytes());
        BASE32_NOPAD.encode(&raw)
    }

    #[test]
    fn crc16_xmodem_known_values() {
        // Standard CRC16/XMODEM check values.
        assert_eq!(CRC16.checksum(b""), 0x0000);
        assert_eq!(CRC16.checksum(b"123456789"), 0x31C3);
        assert_eq!(CRC16.checksum(b"abc"), 0x9DD6);
        assert_eq!(CRC16.checksum(b"ABC"), 0x3994);
        assert_eq!(CRC16.checksum(&[0x7F]), 0x8F78);
        assert_eq!(CRC16.checksum(&[0xFF]), 0x1EF0);
    }

    #[test]
    fn published_seeds_give_published_public_keys() {
        for &(seed, public, key_type) in VECTORS {
            let kp = KeyPair::from_seed(seed).unwrap();
            assert_eq!(kp.key_type(), key_type, "{public}");
            assert_eq!(kp.public_key(), public);
            assert_eq!(kp.seed().expose(), seed, "seed re-encodes byte for byte");
            let (t, bytes) = decode_public_key(public).unwrap();
            assert_eq!(t, key_type);
            assert_eq!(bytes, kp.public_key_bytes());
            assert!(public.starts_with(key_type.letter()));
            assert_eq!(public.len(), PUBLIC_KEY_LEN);
            assert_eq!(seed.len(), SEED_LEN);
        }
    }

    #[test]
    fn published_signatures_match() {
        // Go nkeys: user.Sign([]byte("Hello World")), base64url.
        let kp = KeyPair::from_seed(INTEROP_SEED).unwrap();
        let sig = kp.sign(b"Hello World");
        assert_eq!(
            URL_SAFE_NO_PAD.encode(sig),
            "dMSvD2P1Fm6knQGdMwz5h41aPYIOiPqwR-a3b7UNVJr4FcEfFoAIRbm_gtvLGIpplHTc7sZnSMeaS3Ogm1W_CA"
        );
        assert!(verify(INTEROP_PUBLIC, b"Hello World", &sig).unwrap());

        // The same vector signs the 15-character nonce "RF4LfMlEbjrYcOE".
        let nonce_sig = kp.sign_nonce("RF4LfMlEbjrYcOE");
        assert_eq!(
            nonce_sig,
            "ZNNvu8FDPhpVlyIqjfZGnLCmoAUQggdfdvhGtWLy29AM9TSa6_j15J2iph37j6_FvkGdd1v3crDANwHCqJuQCw"
        );
        assert_eq!(nonce_sig.len(), 86);

        // mmmries/nkeys: two nonces signed by one seed (one in standard base64).
        let kp = KeyPair::from_seed("SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU")
            .unwrap();
        let std_sig = base64::engine::general_purpose::STANDARD.encode(kp.sign(b"PXoWU7zWAMt75FY"));
        assert_eq!(
            std_sig,
            "ZaAiVDgB5CeYoXoQ7cBCmq+ZllzUnGUoDVb8C7PilWvCs8XKfUchAUhz2P4BYAF++Dg3w05CqyQFRDiGL6LrDw=="
        );
        assert_eq!(
            kp.sign_nonce("iBFByN3zQjAT7dQ"),
            "kagPGrixaWS5yuHqw9nTQrda1Q376fK3fRCGtYdF4_w2aSk-4O7Ca0JM0qvzm69HH6MoMps2yF6Q0Qs830JZCA"
        );
    }

    #[test]
    fn generate_round_trips_for_every_type() {
        let mut rng = StdRng::seed_from_u64(7);
        for key_type in KeyType::ALL {
            let kp = KeyPair::generate(key_type, &mut rng);
            assert_eq!(kp.key_type(), key_type);
            let seed = kp.seed();
            assert_eq!(seed.expose().len(), SEED_LEN);
            assert!(seed.expose().starts_with('S'));
            assert_eq!(seed.expose().chars().nth(1), Some(key_type.letter()));
            let back = KeyPair::from_seed(seed.expose()).unwrap();
            assert_eq!(back.key_type(), key_type);
            assert_eq!(back.public_key(), kp.public_key());
            assert_eq!(decode_public_key(&kp.public_key()).unwrap().0, key_type);
        }
    }

    #[test]
    fn generate_is_deterministic_for_a_seed() {
        let a = KeyPair::generate(KeyType::User, &mut StdRng::seed_from_u64(42));
        let b = KeyPair::generate(KeyType::User, &mut StdRng::seed_from_u64(42));
        let c = KeyPair::generate(KeyType::User, &mut StdRng::seed_from_u64(43));
        assert_eq!(a.public_key(), b.public_key());
        assert_ne!(a.public_key(), c.public_key());
    }

    #[test]
    fn sign_and_verify() {
        let mut rng = StdRng::seed_from_u64(1);
        let kp = KeyPair::generate(KeyType::Account, &mut rng);
        let other = KeyPair::generate(KeyType::Account, &mut rng);
        let sig = kp.sign(b"payload");
        assert!(verify(&kp.public_key(), b"payload", &sig).unwrap());
        assert!(!verify(&kp.public_key(), b"payloaD", &sig).unwrap());
        assert!(!verify(&other.public_key(), b"payload", &sig).unwrap());
        let mut bad = sig;
        bad[10] ^= 1;
        assert!(!verify(&kp.public_key(), b"payload", &bad).unwrap());

        let nonce_sig = URL_SAFE_NO_PAD
            .decode(kp.sign_nonce("abcdefghijklmno"))
            .unwrap();
        let nonce_sig: [u8; 64] = nonce_sig.try_into().unwrap();
        assert!(verify(&kp.public_key(), b"abcdefghijklmno", &nonce_sig).unwrap());
        assert_eq!(
            verify("not a key", b"x", &sig),
            Err(NkeyError::InvalidEncoding)
        );
    }

    #[test]
    fn from_seed_of_type_checks_the_role() {
        let (seed, _, _) = VECTORS[2]; // an account seed
        assert!(KeyPair::from_seed_of_type(seed, KeyType::Account).is_ok());
        assert_eq!(
            KeyPair::from_seed_of_type(seed, KeyType::User).unwrap_err(),
            NkeyError::WrongKeyType {
                expected: KeyType::User,
                found: KeyType::Account
            }
        );
    }

    #[test]
    fn malformed_seeds_have_typed_errors() {
        let good = INTEROP_SEED;
        // Not base32: lower case, digits 0/1/8/9, padding, whitespace, non-ASCII.
        for bad in [
            &good.to_lowercase()[..],
            &format!("{}0", &good[..57]),
            &format!("{good}="),
            &format!(" {good}"),
            &format!("{}é", &good[..57]),
        ] {
            assert_eq!(
                KeyPair::from_seed(bad).unwrap_err(),
                NkeyError::InvalidEncoding,
                "{bad}"
            );
        }
        // Lengths no byte string encodes to, the empty string, and absurdly long input.
        for bad in ["", "S", &good[..57], &good[..59 - 8], &"A".repeat(500)] {
            assert_eq!(
                KeyPair::from_seed(bad).unwrap_err(),
                NkeyError::InvalidLength,
                "{bad}"
            );
        }
        // Truncated to a decodable length, or one character changed: checksum fails.
        assert_eq!(
            KeyPair::from_seed(&good[..56]).unwrap_err(),
            NkeyError::InvalidChecksum
        );
        let mut flipped = good.as_bytes().to_vec();
        flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            KeyPair::from_seed(std::str::from_utf8(&flipped).unwrap()).unwrap_err(),
            NkeyError::InvalidChecksum
        );
        // A public key is a valid NKey, but not a seed.
        assert_eq!(
            KeyPair::from_seed(INTEROP_PUBLIC).unwrap_err(),
            NkeyError::NotASeed
        );
        // A seed marker with a checksummed body of the wrong size.
        let mut short = vec![0x95, 0x00];
        short.extend_from_slice(&[7u8; 31]);
        assert_eq!(
            KeyPair::from_seed(&encode_with_crc(&short)).unwrap_err(),
            NkeyError::InvalidLength
        );
        let mut long = vec![0x95, 0x00];
        long.extend_from_slice(&[7u8; 33]);
        assert_eq!(
            KeyPair::from_seed(&encode_with_crc(&long)).unwrap_err(),
            NkeyError::InvalidLength
        );
        // A seed marker with an unknown role (prefix byte 1<<3, say).
        let mut unknown = vec![0x90, 1 << 6];
        unknown.extend_from_slice(&[7u8; 32]);
        assert_eq!(
            KeyPair::from_seed(&encode_with_crc(&unknown)).unwrap_err(),
            NkeyError::InvalidPrefix
        );
        // Stray bits after the last byte (58 characters carry 2 bits too many).
        let mut stray = good.as_bytes().to_vec();
        let last = stray.len() - 1;
        stray[last] = b'F'; // 'E' = 4, 'F' = 5: sets the lowest, unused bit
        assert_eq!(
            KeyPair::from_seed(std::str::from_utf8(&stray).unwrap()).unwrap_err(),
            NkeyError::InvalidEncoding
        );
    }

    #[test]
    fn malformed_public_keys_have_typed_errors() {
        assert_eq!(
            decode_public_key("u").unwrap_err(),
            NkeyError::InvalidEncoding
        );
        assert_eq!(decode_public_key("").unwrap_err(), NkeyError::InvalidLength);
        assert_eq!(
            decode_public_key(&INTEROP_PUBLIC[..54]).unwrap_err(),
            NkeyError::InvalidLength
        );
        assert_eq!(
            decode_public_key(&format!("{}A", &INTEROP_PUBLIC[..55])).unwrap_err(),
            NkeyError::InvalidChecksum
        );
        assert_eq!(
            decode_public_key(INTEROP_SEED).unwrap_err(),
            NkeyError::InvalidPrefix
        );
        let mut short = vec![KeyType::User.prefix_byte()];
        short.extend_from_slice(&[1u8; 31]);
        assert_eq!(
            decode_public_key(&encode_with_crc(&short)).unwrap_err(),
            NkeyError::InvalidLength
        );
    }

    #[test]
    fn prefix_bytes_round_trip_and_unknown_bytes_are_refused() {
        for key_type in KeyType::ALL {
            assert_eq!(
                KeyType::from_prefix_byte(key_type.prefix_byte()),
                Some(key_type)
            );
            let encoded = encode_public_key(key_type, &[0u8; 32]);
            assert!(encoded.starts_with(key_type.letter()));
        }
        let known: Vec<u8> = KeyType::ALL.iter().map(|t| t.prefix_byte()).collect();
        for byte in 0..=255u8 {
            assert_eq!(
                KeyType::from_prefix_byte(byte).is_some(),
                known.contains(&byte)
            );
        }
    }

    #[test]
    fn debug_never_shows_the_seed() {
        let kp = KeyPair::from_seed(INTEROP_SEED).unwrap();
        let dbg = format!("{kp:?}");
        assert!(dbg.contains(INTEROP_PUBLIC), "{dbg}");
        assert!(!dbg.contains(&INTEROP_SEED[2..20]), "{dbg}");
        assert!(!format!("{:?}", kp.seed()).contains(&INTEROP_SEED[2..20]));
        // Nor the raw key bytes in any common rendering.
        let raw = KeyPair::from_seed(INTEROP_SEED).unwrap().signing.to_bytes();
        assert!(!dbg.contains(format!("{:?}", &raw[..4]).trim_end_matches(']')));
        assert!(!dbg.contains(&format!("{:02x}{:02x}{:02x}", raw[0], raw[1], raw[2])));
    }
}

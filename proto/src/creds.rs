//! Creds files: a user JWT and an NKey seed in decorated blocks.
//!
//! `nsc` writes a user's credentials as two decorated blocks, the JWT first and the seed
//! second, with banner text around them:
//!
//! ```text
//! -----BEGIN NATS USER JWT-----
//! eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJ...In0.sig...
//! ------END NATS USER JWT------
//!
//! ************************* IMPORTANT *************************
//! NKEY Seed printed below can be used to sign and prove identity.
//! NKEYs are sensitive and should be treated as secrets.
//!
//! -----BEGIN USER NKEY SEED-----
//! SUAOXETHU4AZD2424VFDTDJ4TOEUSGZIXMRS6F3MSCMHUUORYHNEVM6ADE
//! ------END USER NKEY SEED------
//!
//! *************************************************************
//! ```
//!
//! This module owns reading that format ([`Credentials::parse`]) and writing it
//! ([`format()`]). Reading is lenient in the ways real files differ: any run of three or
//! more dashes at both ends of a marker line (BEGIN lines use 5 and END lines 6), any
//! banner text between blocks, CRLF line ends, indentation and blank lines. A file with no
//! decorated blocks is read as a bare JWT line plus a line starting `SU`/`SA`/`SO`.
//!
//! ```
//! use natsy_proto::creds::{self, Credentials};
//!
//! let seed = "SUAOXETHU4AZD2424VFDTDJ4TOEUSGZIXMRS6F3MSCMHUUORYHNEVM6ADE";
//! let text = creds::format("aGVhZGVy.Y2xhaW1z.c2ln", seed);
//! let parsed = Credentials::parse(&text)?;
//! assert_eq!(parsed.jwt, "aGVhZGVy.Y2xhaW1z.c2ln");
//! assert_eq!(parsed.seed.expose(), seed);
//! assert!(!format!("{parsed:?}").contains(seed)); // Debug redacts the seed
//! # Ok::<(), natsy_proto::CredsError>(())
//! ```

use crate::error::{CredsError, NkeyError};
use crate::nkey::{KeyPair, KeyType};
use crate::secret::Secret;

/// The contents of a creds file. `Debug` never prints the seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user JWT.
    pub jwt: String,
    /// The user's NKey seed (`SU...`).
    pub seed: Secret,
}

impl Credentials {
    /// Parses the text of a creds file.
    ///
    /// The first decorated block is the JWT and the second the seed. Without decorated
    /// blocks, the first non-empty line that does not start like a seed is the JWT, and the
    /// first line starting `SU`, `SA` or `SO` is the seed.
    ///
    /// # Errors
    ///
    /// In this order: [`CredsError::MissingJwt`] when there is no JWT at all,
    /// [`CredsError::MalformedJwt`] when it is not three non-empty base64url segments
    /// separated by dots, [`CredsError::MissingSeed`] when there is no seed, and
    /// [`CredsError::InvalidSeed`] when the seed does not decode or is not a user seed
    /// (`NkeyError::WrongKeyType` then says what it was).
    pub fn parse(text: &str) -> Result<Self, CredsError> {
        let blocks = decorated_blocks(text);
        let mut blocks = blocks.iter().copied();
        let (jwt, seed) = match blocks.next() {
            Some(jwt) => {
                let seed = blocks.next().or_else(|| first_seed_line(text));
                (Some(jwt), seed)
            }
            None => {
                let jwt = lines(text).find(|l| !l.is_empty() && !looks_like_seed(l));
                (jwt, first_seed_line(text))
            }
        };
        let jwt = jwt.ok_or(CredsError::MissingJwt)?;
        if !is_jwt(jwt) {
            return Err(CredsError::MalformedJwt);
        }
        let seed = seed.ok_or(CredsError::MissingSeed)?;
        KeyPair::from_seed_of_type(seed, KeyType::User).map_err(CredsError::InvalidSeed)?;
        Ok(Credentials {
            jwt: jwt.to_owned(),
            seed: Secret::new(seed),
        })
    }

    /// Parses the bytes of a creds file, as read from disk.
    ///
    /// # Errors
    ///
    /// [`CredsError::NotUtf8`] when the bytes are not UTF-8, else those of
    /// [`Credentials::parse`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CredsError> {
        let text = std::str::from_utf8(bytes).map_err(|_| CredsError::NotUtf8)?;
        Self::parse(text)
    }

    /// The key pair of the seed, to sign the server's nonce.
    ///
    /// # Errors
    ///
    /// None for credentials that came from [`Credentials::parse`] (the seed was checked
    /// then); an [`NkeyError`] if the public `seed` field was replaced by a bad one.
    pub fn key_pair(&self) -> Result<KeyPair, NkeyError> {
        KeyPair::from_seed_of_type(self.seed.expose(), KeyType::User)
    }
}

/// Writes a standard creds file (as `nsc` does) for a user JWT and a user seed.
///
/// The returned text contains the seed: treat it as a secret. [`Credentials::parse`]
/// reads it back.
pub fn format(jwt: &str, seed: &str) -> String {
    let mut out = String::with_capacity(jwt.len() + seed.len() + 400);
    out.push_str("-----BEGIN NATS USER JWT-----\n");
    out.push_str(jwt);
    out.push_str("\n------END NATS USER JWT------\n\n");
    out.push_str("************************* IMPORTANT *************************\n");
    out.push_str("NKEY Seed printed below can be used to sign and prove identity.\n");
    out.push_str("NKEYs are sensitive and should be treated as secrets.\n\n");
    out.push_str("-----BEGIN USER NKEY SEED-----\n");
    out.push_str(seed);
    out.push_str("\n------END USER NKEY SEED------\n\n");
    out.push_str("*************************************************************\n");
    out
}

/// The lines of `text`, with `\n` or `\r\n` ends and surrounding whitespace trimmed.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim)
}

/// A marker line: at least three dashes at its start and three more at its end
/// (`-----BEGIN NATS USER JWT-----`, `------END USER NKEY SEED------`, `------`).
fn is_marker(line: &str) -> bool {
    let lead = line.bytes().take_while(|&b| b == b'-').count();
    let trail = line.bytes().rev().take_while(|&b| b == b'-').count();
    lead >= 3 && trail >= 3 && (lead + trail <= line.len() || lead >= 6)
}

/// The tokens of every decorated block, in order: a marker line, one non-empty content
/// line, and a closing marker line (blank lines in between are skipped).
fn decorated_blocks(text: &str) -> Vec<&str> {
    let mut found = Vec::with_capacity(2);
    let mut it = lines(text).filter(|l| !l.is_empty()).peekable();
    while let Some(line) = it.next() {
        if !is_marker(line) {
            continue;
        }
        // `line` opens a block if it is followed by a token and a closing marker;
        // otherwise the next line is looked at afresh.
        let Some(&token) = it.peek() else { break };
        if is_marker(token) {
            continue;
        }
        it.next();
        if it.peek().is_some_and(|l| is_marker(l)) {
            it.next();
            found.push(token);
        }
    }
    found
}

/// Whether a line starts like a seed of a user, account or operator.
fn looks_like_seed(line: &str) -> bool {
    ["SU", "SA", "SO"].iter().any(|p| line.starts_with(p))
}

/// The first line starting `SU`, `SA` or `SO`, trimmed.
fn first_seed_line(text: &str) -> Option<&str> {
    lines(text).find(|l| looks_like_seed(l))
}

/// Three non-empty base64url segments separated by dots (padding `=` tolerated at the end
/// of a segment).
fn is_jwt(token: &str) -> bool {
    let mut segments = 0;
    for segment in token.split('.') {
        segments += 1;
        let body = segment.trim_end_matches('=');
        if body.is_empty()
            || segment.len() - body.len() > 2
            || !body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return false;
        }
    }
    segments == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    // Published user seed (nats-io/nkeys.java interop vector) and its public key.
    const SEED: &str = "SUAOXETHU4AZD2424VFDTDJ4TOEUSGZIXMRS6F3MSCMHUUORYHNEVM6ADE";
    const PUBLIC: &str = "UB2YRJYJEFC5GZA5I47TCYYBIXQRAUA6B3MC4SR2WTXNUX6MTYM6BTBP";
    // Published account and operator seeds (same source).
    const ACCOUNT_SEED: &str = "SAANWFZ3JINNPERWT3ALE45U7GYT2ZDW6GJUIVPDKUF6GKAX6AISZJMAS4";
    const OPERATOR_SEED: &str = "SOAELH6NJCEK4HST5644G4HK7TOAFZGRRJHNM4EUKUY7PPNDLIKO5IH4JM";
    // A JWT shaped like nsc's: {"typ":"JWT","alg":"ed25519-nkey"} . claims . signature.
    const JWT: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.\
                       eyJzdWIiOiJVQjJZUkpZSiIsIm5hdHMiOnsidHlwZSI6InVzZXIifX0.\
                       dMSvD2P1Fm6knQGdMwz5h41aPYIOiPqwR-a3b7UNVJr4FcEfFoAIRbm_gtvLGIpplHTc7sZnSMeaS3Ogm1W_CA";

    fn nsc_file() -> String {
        format!(
            "-----BEGIN NATS USER JWT-----\n{JWT}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\
             NKEYs are sensitive and should be treated as secrets.\n\n\
             -----BEGIN USER NKEY SEED-----\n{SEED}\n------END USER NKEY SEED------\n\n\
             *************************************************************\n"
        )
    }

    fn assert_ok(text: &str) {
        let creds = Credentials::parse(text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
        assert_eq!(creds.jwt, JWT);
        assert_eq!(creds.seed.expose(), SEED);
    }

    #[test]
    fn parses_an_nsc_file() {
        assert_ok(&nsc_file());
        let creds = Credentials::parse(&nsc_file()).unwrap();
        assert_eq!(creds.key_pair().unwrap().public_key(), PUBLIC);
    }

    #[test]
    fn parses_crlf_and_six_dash_markers() {
        let text = format!(
            "------BEGIN NATS USER JWT------\r\n{JWT}\r\n------END NATS USER JWT------\r\n\r\n\
             ************************* IMPORTANT *************************\r\n\
             NKEY Seed printed below can be used to sign and prove identity.\r\n\r\n\
             ------BEGIN USER NKEY SEED------\r\n{SEED}\r\n------END USER NKEY SEED------\r\n"
        );
        assert_ok(&text);
    }

    #[test]
    fn tolerates_dash_counts_whitespace_and_blank_lines() {
        // Five-dash markers at both ends, indentation, trailing spaces, blank lines inside
        // blocks, and surrounding whitespace.
        let text = format!(
            "\n\n   -----BEGIN NATS USER JWT-----   \n\n  {JWT}  \n\n-----END NATS USER JWT-----\n\
             \t-----BEGIN USER NKEY SEED-----\n\t{SEED}\t\n\t-----END USER NKEY SEED-----\n\n   "
        );
        assert_ok(&text);
        // Bare dash lines and three-dash markers.
        assert_ok(&format!(
            "------\n{JWT}\n------\n---BEGIN---\n{SEED}\n---END---\n"
        ));
    }

    #[test]
    fn format_round_trips() {
        let text = format(JWT, SEED);
        assert_eq!(text, nsc_file());
        assert_ok(&text);
    }

    #[test]
    fn without_blocks_reads_bare_jwt_and_seed_lines() {
        assert_ok(&format!("{JWT}\n{SEED}\n"));
        assert_ok(&format!("  {SEED}\r\n\r\n{JWT}  \r\n"));
        // A JWT block but the seed bare on a later line.
        assert_ok(&format!(
            "-----BEGIN NATS USER JWT-----\n{JWT}\n------END NATS USER JWT------\n{SEED}\n"
        ));
    }

    #[test]
    fn missing_jwt() {
        assert_eq!(Credentials::parse(""), Err(CredsError::MissingJwt));
        assert_eq!(Credentials::parse(" \r\n\t\n"), Err(CredsError::MissingJwt));
        assert_eq!(
            Credentials::parse(&format!("{SEED}\n")),
            Err(CredsError::MissingJwt)
        );
    }

    #[test]
    fn missing_seed() {
        assert_eq!(Credentials::parse(JWT), Err(CredsError::MissingSeed));
        assert_eq!(
            Credentials::parse(&format!(
                "-----BEGIN NATS USER JWT-----\n{JWT}\n------END NATS USER JWT------\n\
                 -----BEGIN USER NKEY SEED-----\n------END USER NKEY SEED------\n"
            )),
            Err(CredsError::MissingSeed)
        );
    }

    #[test]
    fn malformed_jwt() {
        for bad in [
            "abc.def",
            "abc.def.ghi.jkl",
            "abc..ghi",
            ".def.ghi",
            "abc.def.",
            "abc.d+f.ghi",
            "abc.d/f.ghi",
            "abc.d f.ghi",
            "abc.def.ghi===",
            "abc.=.ghi",
            "not a jwt",
        ] {
            let text = format(bad, SEED);
            assert_eq!(
                Credentials::parse(&text),
                Err(CredsError::MalformedJwt),
                "{bad}"
            );
        }
        assert!(is_jwt("abc.def.gh=="), "base64 padding is tolerated");
        // Without blocks, text that is not a JWT is refused the same way.
        assert_eq!(
            Credentials::parse(&format!("hello world\n{SEED}")),
            Err(CredsError::MalformedJwt)
        );
    }

    #[test]
    fn seed_must_be_a_valid_user_seed() {
        assert_eq!(
            Credentials::parse(&format(JWT, ACCOUNT_SEED)),
            Err(CredsError::InvalidSeed(NkeyError::WrongKeyType {
                expected: KeyType::User,
                found: KeyType::Account,
            }))
        );
        assert_eq!(
            Credentials::parse(&format(JWT, OPERATOR_SEED)),
            Err(CredsError::InvalidSeed(NkeyError::WrongKeyType {
                expected: KeyType::User,
                found: KeyType::Operator,
            }))
        );
        assert_eq!(
            Credentials::parse(&format(JWT, &SEED[..56])),
            Err(CredsError::InvalidSeed(NkeyError::InvalidChecksum))
        );
        assert_eq!(
            Credentials::parse(&format(JWT, "SUAnotbase32")),
            Err(CredsError::InvalidSeed(NkeyError::InvalidEncoding))
        );
        assert_eq!(
            Credentials::parse(&format(JWT, PUBLIC)),
            Err(CredsError::InvalidSeed(NkeyError::NotASeed))
        );
    }

    #[test]
    fn from_bytes_checks_utf8() {
        let mut bytes = nsc_file().into_bytes();
        let creds = Credentials::from_bytes(&bytes).unwrap();
        assert_eq!(creds.seed.expose(), SEED);
        bytes.insert(40, 0xFF);
        assert_eq!(Credentials::from_bytes(&bytes), Err(CredsError::NotUtf8));
        assert_eq!(
            Credentials::from_bytes(&[0xC3, 0x28]),
            Err(CredsError::NotUtf8)
        );
    }

    #[test]
    fn debug_and_errors_never_show_the_seed() {
        let creds = Credentials::parse(&nsc_file()).unwrap();
        let dbg = format!("{creds:?}");
        assert!(dbg.contains(JWT));
        assert!(!dbg.contains(&SEED[2..]), "{dbg}");
        let err = Credentials::parse(&format(JWT, ACCOUNT_SEED)).unwrap_err();
        assert!(!format!("{err} {err:?}").contains(&ACCOUNT_SEED[2..]));
    }

    #[test]
    fn marker_lines() {
        for yes in [
            "------",
            "---x---",
            "-----BEGIN NATS USER JWT-----",
            "-------",
        ] {
            assert!(is_marker(yes), "{yes}");
        }
        for no in [
            "",
            "-",
            "---",
            "-----",
            "--x--",
            "---x",
            "x---",
            "***---***",
        ] {
            assert!(!is_marker(no), "{no}");
        }
    }

    #[test]
    fn arbitrary_text_never_panics() {
        // Every prefix of a real file, and the file with each byte boundary cut.
        let file = nsc_file();
        for end in (0..=file.len()).filter(|&i| file.is_char_boundary(i)) {
            let _ = Credentials::parse(&file[..end]);
            let _ = Credentials::parse(&file[end..]);
        }
        for text in [
            "\r",
            "\r\n\r\n",
            "---\n---\n---",
            "é-----\n-----é",
            "SU",
            "S",
        ] {
            assert!(Credentials::parse(text).is_err());
        }
    }
}

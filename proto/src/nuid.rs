//! NUIDs and inbox subjects.
//!
//! A NUID is 22 characters of the base-62 alphabet `0-9A-Za-z`: a 12-character random
//! prefix followed by a 10-character sequence number, most significant digit first. The
//! sequence starts at a random value below 62¹⁰ and steps by a random increment in
//! `[33, 333)`; when it reaches 62¹⁰ a new prefix and a new sequence are drawn. Most NUIDs
//! therefore cost one addition and no randomness, yet successive ones are not guessable
//! from a single one's position.
//!
//! This module owns [`Nuid`] and [`new_inbox`]. The caller passes the RNG, so a seeded RNG
//! replays the same NUIDs (nats.go uses a crypto-random prefix; pass an OS-backed RNG for
//! that).
//!
//! ```
//! use natsy_proto::{new_inbox, Nuid};
//! use natsy_proto::nuid::DEFAULT_INBOX_PREFIX;
//! use rand::{rngs::StdRng, SeedableRng};
//!
//! let mut rng = StdRng::seed_from_u64(1);
//! let mut nuid = Nuid::new(&mut rng);
//! let id = nuid.next(&mut rng);
//! assert_eq!(id.len(), 22);
//! let inbox = new_inbox(DEFAULT_INBOX_PREFIX, &mut nuid, &mut rng);
//! assert!(inbox.starts_with("_INBOX."));
//! ```

use rand::{Rng as _, RngCore};

/// The default inbox prefix.
pub const DEFAULT_INBOX_PREFIX: &str = "_INBOX";

/// The base-62 alphabet, in value order.
const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Number of symbols in [`DIGITS`].
const BASE: u64 = 62;
/// Length of the random prefix.
const PREFIX_LEN: usize = 12;
/// Length of the sequence part.
const SEQ_LEN: usize = 10;
/// Length of a NUID.
pub const NUID_LEN: usize = PREFIX_LEN + SEQ_LEN;
/// 62¹⁰: the sequence stays below this.
const MAX_SEQ: u64 = 839_299_365_868_340_224;
/// Smallest sequence increment.
const MIN_INC: u64 = 33;
/// One past the largest sequence increment.
const MAX_INC: u64 = 333;

/// A NUID generator: 22 base-62 characters, a random 12-character prefix and a randomly
/// stepped 10-character sequence. Seeded by the caller.
#[derive(Debug, Clone)]
pub struct Nuid {
    /// The prefix, already as alphabet bytes.
    prefix: [u8; PREFIX_LEN],
    /// The current sequence value, below [`MAX_SEQ`].
    seq: u64,
    /// The step, in `[MIN_INC, MAX_INC)`.
    inc: u64,
}

impl Nuid {
    /// A generator with a prefix and sequence drawn from `rng`.
    pub fn new(rng: &mut dyn RngCore) -> Self {
        let mut nuid = Nuid {
            prefix: [b'0'; PREFIX_LEN],
            seq: 0,
            inc: MIN_INC,
        };
        nuid.reset(rng);
        nuid
    }

    /// A generator in a given state, to test what happens near the sequence's end.
    #[cfg(test)]
    fn with_state(prefix: [u8; PREFIX_LEN], seq: u64, inc: u64) -> Self {
        Nuid { prefix, seq, inc }
    }

    /// Draws a new prefix, a new starting sequence and a new increment.
    fn reset(&mut self, rng: &mut dyn RngCore) {
        for slot in &mut self.prefix {
            *slot = DIGITS[rng.random_range(0..DIGITS.len())];
        }
        self.seq = rng.random_range(0..MAX_SEQ);
        self.inc = rng.random_range(MIN_INC..MAX_INC);
    }

    /// The next NUID, written into `out` as ASCII bytes, without allocating.
    ///
    /// `rng` is used only when the sequence runs out and a new prefix is drawn.
    pub fn next_into(&mut self, rng: &mut dyn RngCore, out: &mut [u8; NUID_LEN]) {
        // seq < MAX_SEQ < 2^60 and inc < 333, so the sum cannot overflow a u64.
        self.seq = self.seq.saturating_add(self.inc);
        if self.seq >= MAX_SEQ {
            self.reset(rng);
        }
        let (prefix, sequence) = out.split_at_mut(PREFIX_LEN);
        prefix.copy_from_slice(&self.prefix);
        let mut rest = self.seq;
        for slot in sequence.iter_mut().rev() {
            // `rest % BASE` is below 62, a valid index into DIGITS.
            *slot = DIGITS[(rest % BASE) as usize];
            rest /= BASE;
        }
    }

    /// The next NUID. Allocates only the returned 22-byte string.
    ///
    /// `rng` is used only when the sequence runs out and a new prefix is drawn.
    pub fn next(&mut self, rng: &mut dyn RngCore) -> String {
        let mut buf = [0u8; NUID_LEN];
        self.next_into(rng, &mut buf);
        let mut out = String::with_capacity(NUID_LEN);
        out.extend(buf.iter().map(|&b| char::from(b)));
        out
    }
}

/// `<prefix>.<nuid>`.
///
/// Use [`DEFAULT_INBOX_PREFIX`] (`_INBOX`) unless the connection was configured with a
/// custom inbox prefix (nats.go `CustomInboxPrefix`).
pub fn new_inbox(prefix: &str, nuid: &mut Nuid, rng: &mut dyn RngCore) -> String {
    let mut buf = [0u8; NUID_LEN];
    nuid.next_into(rng, &mut buf);
    let mut out = String::with_capacity(prefix.len().saturating_add(1 + NUID_LEN));
    out.push_str(prefix);
    out.push('.');
    out.extend(buf.iter().map(|&b| char::from(b)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::collections::HashSet;

    fn rng(seed: u64) -> StdRng {
        StdRng::seed_from_u64(seed)
    }

    /// Reads the sequence part of a NUID back as a number.
    fn seq_of(id: &str) -> u64 {
        id[PREFIX_LEN..].bytes().fold(0, |acc, b| {
            acc * BASE + DIGITS.iter().position(|&d| d == b).unwrap() as u64
        })
    }

    #[test]
    fn max_seq_is_62_to_the_10th() {
        assert_eq!(MAX_SEQ, BASE.pow(SEQ_LEN as u32));
    }

    #[test]
    fn nuids_are_22_alphabet_characters() {
        let mut r = rng(1);
        let mut n = Nuid::new(&mut r);
        for _ in 0..1000 {
            let id = n.next(&mut r);
            assert_eq!(id.len(), NUID_LEN);
            assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
        }
    }

    #[test]
    fn unique_over_100k() {
        let mut r = rng(2);
        let mut n = Nuid::new(&mut r);
        let mut seen = HashSet::with_capacity(100_000);
        for _ in 0..100_000 {
            assert!(seen.insert(n.next(&mut r)));
        }
    }

    #[test]
    fn two_generators_differ() {
        let mut r = rng(3);
        let mut a = Nuid::new(&mut r);
        let mut b = Nuid::new(&mut r);
        assert_ne!(a.next(&mut r)[..PREFIX_LEN], b.next(&mut r)[..PREFIX_LEN]);
    }

    #[test]
    fn deterministic_for_a_seed() {
        let run = |seed| {
            let mut r = rng(seed);
            let mut n = Nuid::new(&mut r);
            (0..50).map(|_| n.next(&mut r)).collect::<Vec<_>>()
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9), run(10));
    }

    #[test]
    fn sequence_steps_by_the_increment_and_keeps_the_prefix() {
        let mut r = rng(4);
        let mut n = Nuid::new(&mut r);
        let first = n.next(&mut r);
        let second = n.next(&mut r);
        assert_eq!(first[..PREFIX_LEN], second[..PREFIX_LEN]);
        let step = seq_of(&second) - seq_of(&first);
        assert!((MIN_INC..MAX_INC).contains(&step), "{step}");
        let third = n.next(&mut r);
        assert_eq!(seq_of(&third) - seq_of(&second), step);
    }

    #[test]
    fn sequence_is_written_most_significant_digit_first() {
        let mut r = rng(5);
        let mut n = Nuid::with_state(*b"ABCDEFGHIJKL", 0, 61);
        assert_eq!(n.next(&mut r), "ABCDEFGHIJKL000000000z");
        assert_eq!(n.next(&mut r), "ABCDEFGHIJKL000000001y"); // 122 = 1*62 + 60
        let mut n = Nuid::with_state(*b"ABCDEFGHIJKL", MAX_SEQ - 2 * 40, 40);
        assert_eq!(n.next(&mut r), "ABCDEFGHIJKLzzzzzzzzzM"); // 62^10 - 40: last digit 61 - 39
    }

    #[test]
    fn prefix_rolls_over_when_the_sequence_runs_out() {
        let mut r = rng(6);
        let prefix = *b"ABCDEFGHIJKL";
        let mut n = Nuid::with_state(prefix, MAX_SEQ - 100, 60);
        let last = n.next(&mut r);
        assert_eq!(&last.as_bytes()[..PREFIX_LEN], &prefix);
        assert_eq!(seq_of(&last), MAX_SEQ - 40);
        let rolled = n.next(&mut r);
        assert_ne!(&rolled.as_bytes()[..PREFIX_LEN], &prefix);
        assert_eq!(rolled.len(), NUID_LEN);
        assert!(seq_of(&rolled) < MAX_SEQ);
        // The new state keeps working and stays unique with the old one.
        let after = n.next(&mut r);
        assert_eq!(rolled[..PREFIX_LEN], after[..PREFIX_LEN]);
        assert_ne!(last, after);
        // Landing exactly on 62^10 also rolls over.
        let mut n = Nuid::with_state(prefix, MAX_SEQ - 50, 50);
        assert_ne!(&n.next(&mut r).as_bytes()[..PREFIX_LEN], &prefix);
    }

    #[test]
    fn prefix_characters_cover_the_alphabet() {
        // 1000 prefixes of 12 characters: every one of the 62 symbols should appear, and
        // none should be wildly over-represented (uniform is ~194 each).
        let mut r = rng(7);
        let mut counts = [0u32; 62];
        for _ in 0..1000 {
            let n = Nuid::new(&mut r);
            for b in n.prefix {
                counts[DIGITS.iter().position(|&d| d == b).unwrap()] += 1;
            }
        }
        assert!(
            counts.iter().all(|&c| (100..300).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn next_into_matches_next() {
        let mut r1 = rng(8);
        let mut r2 = rng(8);
        let mut a = Nuid::new(&mut r1);
        let mut b = Nuid::new(&mut r2);
        let mut buf = [0u8; NUID_LEN];
        for _ in 0..10 {
            a.next_into(&mut r1, &mut buf);
            assert_eq!(std::str::from_utf8(&buf).unwrap(), b.next(&mut r2));
        }
    }

    #[test]
    fn inboxes() {
        let mut r = rng(9);
        let mut n = Nuid::new(&mut r);
        let inbox = new_inbox(DEFAULT_INBOX_PREFIX, &mut n, &mut r);
        let (prefix, id) = inbox.split_once('.').unwrap();
        assert_eq!(prefix, "_INBOX");
        assert_eq!(id.len(), NUID_LEN);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));

        let custom = new_inbox("_CUSTOM_INBOX", &mut n, &mut r);
        assert!(custom.starts_with("_CUSTOM_INBOX."), "{custom}");
        assert_eq!(custom.len(), "_CUSTOM_INBOX.f9hUpVb8xoVAtGpJid2VLA".len());
        assert_ne!(&custom[14..], id);
    }
}

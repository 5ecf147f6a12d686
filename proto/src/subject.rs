//! Subject, reply and queue-name validation, run by the encoder before anything is written.
//!
//! The rules follow what nats.go checks on the client side (digest §1.1):
//!
//! * a **publish** subject must be non-empty and free of space, tab, CR and LF;
//! * a **subscribe** subject must also consist of non-empty `.`-separated tokens, with the
//!   wildcards `*` and `>` only as whole tokens and `>` only as the last token;
//! * a **reply** subject or a **queue** group name must be non-empty and free of whitespace.
//!
//! Each check is one pass over the bytes with no allocation; they run on every publish.
//!
//! ```
//! use natsy_proto::subject::{validate_publish_subject, validate_subscribe_subject};
//! use natsy_proto::ValidationError;
//!
//! assert!(validate_publish_subject("orders.new").is_ok());
//! assert!(validate_subscribe_subject("orders.*.>").is_ok());
//! assert_eq!(
//!     validate_subscribe_subject("orders..new"),
//!     Err(ValidationError::InvalidSubscribeSubject)
//! );
//! ```

use crate::error::ValidationError;

/// True for the bytes that may not appear in a subject, reply or queue name.
///
/// All four are `<= b' '`, so most bytes fail the first comparison and skip the rest.
#[inline(always)]
fn is_forbidden_whitespace(b: u8) -> bool {
    b <= b' ' && matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// True if `s` contains a space, tab, CR or LF.
///
/// Eight bytes at a time: a word with no byte `<= b' '` (the common case, found with one
/// subtract-and-mask) is skipped whole; only a word that has one is looked at byte by byte.
/// This runs on every publish, where the byte-at-a-time loop was a quarter of the encoder.
#[inline]
fn has_whitespace(s: &str) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut chunks = s.as_bytes().chunks_exact(8);
    for chunk in &mut chunks {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            continue;
        };
        let x = u64::from_le_bytes(word);
        // Non-zero iff some byte is below 0x21 (bytes >= 0x80 never count: `!x` masks them).
        let has_low_byte = x.wrapping_sub(ONES * 0x21) & !x & HIGH != 0;
        if has_low_byte && chunk.iter().copied().any(is_forbidden_whitespace) {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .copied()
        .any(is_forbidden_whitespace)
}

/// A publish subject: non-empty, no space, tab, CR or LF.
///
/// Wildcards and empty tokens are not checked, like nats.go: the server decides what a
/// publish to `a..b` or `a.*` means (it refuses them only in pedantic mode).
pub fn validate_publish_subject(subject: &str) -> Result<(), ValidationError> {
    if subject.is_empty() {
        return Err(ValidationError::EmptySubject);
    }
    if has_whitespace(subject) {
        return Err(ValidationError::SubjectWhitespace);
    }
    Ok(())
}

/// A subscribe subject: non-empty tokens, `*` and `>` only as whole tokens, `>` last.
///
/// Errors: [`ValidationError::EmptySubject`], [`ValidationError::SubjectWhitespace`], and
/// [`ValidationError::InvalidSubscribeSubject`] for an empty token (leading, trailing or
/// double dot), a wildcard inside a token (`a*`, `>b`), or `>` before the last token.
pub fn validate_subscribe_subject(subject: &str) -> Result<(), ValidationError> {
    if subject.is_empty() {
        return Err(ValidationError::EmptySubject);
    }
    // One pass. `token_len` counts bytes of the current token; `wildcard` records whether
    // the current token started with `*` or `>` (then it must be exactly one byte long).
    let mut token_len = 0usize;
    let mut wildcard: Option<u8> = None;
    let mut full_wildcard_seen = false;
    let mut invalid = false;
    for b in subject.bytes() {
        if is_forbidden_whitespace(b) {
            return Err(ValidationError::SubjectWhitespace);
        }
        match b {
            b'.' => {
                if token_len == 0 || full_wildcard_seen {
                    invalid = true;
                }
                if wildcard == Some(b'>') {
                    full_wildcard_seen = true;
                }
                token_len = 0;
                wildcard = None;
            }
            b'*' | b'>' => {
                if token_len != 0 {
                    invalid = true;
                }
                wildcard = Some(b);
                token_len += 1;
            }
            _ => {
                if wildcard.is_some() {
                    invalid = true;
                }
                token_len += 1;
            }
        }
    }
    // The last token: non-empty, and nothing may follow a `>` token.
    if token_len == 0 || full_wildcard_seen {
        invalid = true;
    }
    if invalid {
        Err(ValidationError::InvalidSubscribeSubject)
    } else {
        Ok(())
    }
}

/// A reply subject: non-empty, no space, tab, CR or LF.
pub fn validate_reply(reply: &str) -> Result<(), ValidationError> {
    if reply.is_empty() || has_whitespace(reply) {
        Err(ValidationError::InvalidReply)
    } else {
        Ok(())
    }
}

/// A queue group name: non-empty, no space, tab, CR or LF.
pub fn validate_queue(queue: &str) -> Result<(), ValidationError> {
    if queue.is_empty() || has_whitespace(queue) {
        Err(ValidationError::InvalidQueueName)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ValidationError::*;

    fn has_whitespace_bytewise(s: &str) -> bool {
        s.bytes().any(is_forbidden_whitespace)
    }

    #[test]
    fn word_at_a_time_whitespace_check_matches_the_bytewise_one() {
        // Every forbidden and every other low byte, at every position of every length up to
        // three words, among ASCII and multi-byte UTF-8 neighbours.
        for len in 0..=24usize {
            for pos in 0..len {
                for b in 0u8..=0x7f {
                    for filler in ['a', 'é'] {
                        let mut chars = vec![filler; len];
                        chars[pos] = char::from(b);
                        let s: String = chars.into_iter().collect();
                        assert_eq!(has_whitespace(&s), has_whitespace_bytewise(&s), "{s:?}");
                    }
                }
            }
        }
        assert!(!has_whitespace(""));
        assert!(!has_whitespace("bench.1234_abcd_0.pub\u{7f}"));
        assert!(has_whitespace("bench.1234_abcd_0.pub\r"));
    }

    proptest::proptest! {
        #[test]
        fn whitespace_check_agrees_on_any_string(s in "\\PC{0,64}|[ -~\t\r\n\x00-\x1f]{0,64}") {
            proptest::prop_assert_eq!(has_whitespace(&s), has_whitespace_bytewise(&s));
        }
    }

    #[test]
    fn publish_subjects() {
        for ok in [
            "a",
            "foo.bar",
            "a..b",
            ".a",
            "a.*",
            "a.>",
            "_INBOX.x",
            "ünïcode.ok",
        ] {
            assert_eq!(validate_publish_subject(ok), Ok(()), "{ok:?}");
        }
        assert_eq!(validate_publish_subject(""), Err(EmptySubject));
        for bad in ["a b", "a\tb", "a\rb", "a\nb", " a", "a ", "a\r\n"] {
            assert_eq!(
                validate_publish_subject(bad),
                Err(SubjectWhitespace),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn subscribe_subjects_accept_whole_token_wildcards() {
        for ok in [
            "a",
            "foo.bar",
            "*",
            ">",
            "foo.*",
            "foo.>",
            "*.*.>",
            "foo.*.bar",
            "$JS.API.>",
            "_INBOX.abc.*",
            "a-b_c.d",
        ] {
            assert_eq!(validate_subscribe_subject(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn subscribe_subjects_reject_empty_tokens_and_misplaced_wildcards() {
        assert_eq!(validate_subscribe_subject(""), Err(EmptySubject));
        for bad in [
            ".", "..", ".a", "a.", "a..b", "a.b.", "a*", "*a", "a.b*", "a.*b", ">a", "a>", "a.>b",
            ">.a", "a.>.b", ">.>", "**", ">>", "*>", "a.*.>.",
        ] {
            assert_eq!(
                validate_subscribe_subject(bad),
                Err(InvalidSubscribeSubject),
                "{bad:?}"
            );
        }
        for bad in ["a b", "a.\t", "a\r", "\n"] {
            assert_eq!(
                validate_subscribe_subject(bad),
                Err(SubjectWhitespace),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn reply_and_queue() {
        assert_eq!(validate_reply("_INBOX.abc.def"), Ok(()));
        assert_eq!(validate_reply(""), Err(InvalidReply));
        assert_eq!(validate_reply("a b"), Err(InvalidReply));
        assert_eq!(validate_reply("a\n"), Err(InvalidReply));
        assert_eq!(validate_queue("workers"), Ok(()));
        assert_eq!(validate_queue(""), Err(InvalidQueueName));
        assert_eq!(validate_queue("q\t1"), Err(InvalidQueueName));
        assert_eq!(validate_queue("q\r"), Err(InvalidQueueName));
    }

    #[test]
    fn every_ascii_byte_in_a_subject() {
        for b in 0u8..=127 {
            let s = format!("a{}b", b as char);
            let ws = matches!(b, b' ' | b'\t' | b'\r' | b'\n');
            assert_eq!(validate_publish_subject(&s).is_err(), ws, "byte {b}");
            let sub_bad = ws || matches!(b, b'.' | b'*' | b'>');
            // `a.b` is fine for subscribe; `a*b` and `a>b` are not.
            let sub_bad = sub_bad && b != b'.';
            assert_eq!(validate_subscribe_subject(&s).is_err(), sub_bad, "byte {b}");
        }
    }
}

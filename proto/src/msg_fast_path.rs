//! The fast path for the most common server op: a `MSG <subject> <sid> [reply] <size>`
//! frame written the way nats-server writes it (upper case, single spaces, CRLF) whose
//! bytes are all buffered.
//!
//! It makes one forward pass over the control line, reading the numbers as it goes, and
//! cuts the frame off the buffer. Anything else — another op, other spacing, lower case,
//! non-ASCII, a partial frame, a broken limit — returns `None` and goes to the general
//! parser, which handles every form and reports every error. So this path only has to be
//! right about what it accepts; the split-point and fuzz tests compare the two.

use bytes::BytesMut;

use crate::line::MAX_FRAME;
use crate::message::Message;

/// Scans a token from `i`: bytes above SP (space, tab, CR, LF and other control bytes end
/// it). Returns where it ends and whether it is all ASCII.
#[inline(always)]
fn token(b: &[u8], mut i: usize) -> (usize, bool) {
    let mut seen = 0u8;
    while let Some(&c) = b.get(i) {
        if c <= b' ' {
            break;
        }
        seen |= c;
        i += 1;
    }
    (i, seen < 0x80)
}

/// Reads a decimal number of 1 to 18 digits from `i` (longer ones are left to the general
/// parser, which checks overflow). Returns where it ends and its value.
#[inline(always)]
fn number(b: &[u8], mut i: usize) -> Option<(usize, u64)> {
    let start = i;
    let mut n: u64 = 0;
    while let Some(&c) = b.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 || i - start == 18 {
            break;
        }
        n = n * 10 + u64::from(d);
        i += 1;
    }
    (i > start && !b.get(i).is_some_and(u8::is_ascii_digit)).then_some((i, n))
}

/// Parses a whole common `MSG` frame at the front of `buf` and cuts it off, or returns
/// `None` (leaving `buf` untouched) for anything else.
#[inline]
pub(crate) fn parse(buf: &mut BytesMut, max_payload: usize, max_line: usize) -> Option<Message> {
    let b: &[u8] = buf;
    if b.get(..4)? != b"MSG " {
        return None;
    }
    let (subject_end, ascii) = token(b, 4);
    if subject_end == 4 || !ascii || b.get(subject_end) != Some(&b' ') {
        return None;
    }
    let (sid_end, sid) = number(b, subject_end + 1)?;
    if b.get(sid_end) != Some(&b' ') {
        return None;
    }
    // `<size>\r\n` or `<reply> <size>\r\n`.
    let third = sid_end + 1;
    let (third_end, ascii) = token(b, third);
    let (reply, size_start) = match b.get(third_end) {
        Some(b'\r') => (None, third),
        Some(b' ') if third_end > third && ascii => (Some(third..third_end), third_end + 1),
        _ => return None,
    };
    let (size_end, size) = number(b, size_start)?;
    if b.get(size_end..size_end + 2)? != b"\r\n" {
        return None;
    }
    let line_len = size_end + 2;
    let size = usize::try_from(size).ok()?;
    // Limits are the general parser's to enforce, with their errors.
    let needed = line_len.checked_add(size)?.checked_add(2)?;
    if line_len > max_line || size > max_payload || needed > MAX_FRAME {
        return None;
    }
    if b.get(needed - 2..needed)? != b"\r\n" {
        return None;
    }
    let frame = buf.split_to(needed).freeze();
    Some(Message::from_parts(
        frame,
        sid,
        4..subject_end,
        reply,
        None,
        line_len..needed - 2,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Subject, sid, reply, payload, and bytes left in the buffer.
    type Parsed = (String, u64, Option<String>, Vec<u8>, usize);

    fn fast(input: &[u8]) -> Option<Parsed> {
        let mut buf = BytesMut::from(input);
        let m = parse(&mut buf, 1 << 20, 4096)?;
        Some((
            m.subject().into(),
            m.sid(),
            m.reply().map(Into::into),
            m.payload().to_vec(),
            buf.len(),
        ))
    }

    #[test]
    fn takes_the_common_forms_and_leaves_the_rest() {
        assert_eq!(
            fast(b"MSG a.b 7 5\r\nhello\r\nPING"),
            Some(("a.b".into(), 7, None, b"hello".to_vec(), 4))
        );
        assert_eq!(
            fast(b"MSG a 1 _INBOX.x 0\r\n\r\n"),
            Some(("a".into(), 1, Some("_INBOX.x".into()), vec![], 0))
        );
        // A numeric reply is still a reply when a size follows.
        assert_eq!(
            fast(b"MSG a 1 22 2\r\nhi\r\n"),
            Some(("a".into(), 1, Some("22".into()), b"hi".to_vec(), 0))
        );
        for other in [
            &b"msg a 1 2\r\nhi\r\n"[..],        // lower case
            b"MSG a  1 2\r\nhi\r\n",            // double space
            b"MSG\ta 1 2\r\nhi\r\n",            // tab
            b"MSG a 1 2\nhi\r\n",               // bare LF
            b"MSG a 1 2\r\nhi",                 // partial payload
            b"MSG a 1 2\r\nhiXX",               // bad terminator
            b"MSG a 1 2",                       // partial line
            b"MSG \xc3\xa9 1 2\r\nhi\r\n",      // non-ASCII subject
            b"MSG a\x01b 1 2\r\nhi\r\n",        // control byte
            b"MSG a x 2\r\nhi\r\n",             // bad sid
            b"MSG a 1 2 3 4\r\nhi\r\n",         // too many arguments
            b"MSG a 1 1234567890123456789\r\n", // long number
            b"HMSG a 1 12 12\r\nNATS/1.0\r\n\r\n\r\n",
            b"PING\r\n",
        ] {
            let mut buf = BytesMut::from(other);
            assert!(
                parse(&mut buf, 1 << 20, 4096).is_none(),
                "{:?}",
                String::from_utf8_lossy(other)
            );
            assert_eq!(&buf[..], other, "a refused frame must not be consumed");
        }
    }

    #[test]
    fn limits_are_left_to_the_general_parser() {
        let mut buf = BytesMut::from(&b"MSG a 1 5\r\nhello\r\n"[..]);
        assert!(parse(&mut buf, 4, 4096).is_none());
        assert!(parse(&mut buf, 5, 10).is_none());
        assert!(parse(&mut buf, 5, 11).is_some());
    }
}

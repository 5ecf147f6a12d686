//! The fast path for the most common server op: a `MSG <subject> <sid> [reply] <size>`
//! frame written the way nats-server writes it (upper case, single spaces, CRLF) whose
//! bytes are all buffered.
//!
//! It makes one forward pass over each control line, reading the numbers as it goes.
//! Anything else — another op, other spacing, lower case, non-ASCII, a partial frame, a
//! broken limit — ends the pass and goes to the general parser, which handles every form
//! and reports every error. So this path only has to be right about what it accepts; the
//! split-point and fuzz tests compare the two.
//!
//! Frames are cut in batches ([`Batch`]): the headers of up to [`BATCH`] consecutive
//! common frames are read, their bytes are split off the read buffer and frozen once, and
//! each message is then cut from that frozen run. Freezing a `BytesMut` per frame costs an
//! out-of-line call whose 32-byte result goes through memory, a third of the time of a
//! 16-byte message (see `BENCHMARKS.md`); cutting a `Bytes` does not, and the last frame
//! of a run takes the run's reference instead of adding one.

use bytes::{Bytes, BytesMut};

use crate::line::MAX_FRAME;
use crate::message::Message;

/// Scans a token from `i`: bytes above SP (space, tab, CR, LF and other control bytes end
/// it). Returns where it ends and whether it is all ASCII.
#[inline(always)]
fn token(b: &[u8], mut i: usize) -> (usize, bool) {
    const L: u64 = 0x2121_2121_2121_2121;
    const H: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let stop = (x.wrapping_sub(L) | x) & H;
        if stop != 0 {
            let k = (stop.trailing_zeros() / 8) as usize;
            i += k;
            return (i, b.get(i).is_some_and(|&c| c < 0x80));
        }
        i += 8;
    }
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

/// How many frames one batch holds at most.
pub(crate) const BATCH: usize = 32;

/// Where the parts of one common frame are, relative to the frame's start.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Header {
    sid: u64,
    subject_end: u32,
    reply: Option<(u32, u32)>,
    payload_start: u32,
    /// The whole frame, CRLF after the payload included.
    len: u32,
}

/// Reads the header of a whole common `MSG` frame at the front of `b`, or returns `None`
/// for anything else (another op or form, a partial frame, a broken limit).
#[inline(always)]
pub(crate) fn header(b: &[u8], max_payload: usize, max_line: usize) -> Option<Header> {
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
        Some(b' ') if third_end > third && ascii => (Some((third, third_end)), third_end + 1),
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
    // Every offset is below `needed <= MAX_FRAME = u32::MAX`.
    let at = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
    Some(Header {
        sid,
        subject_end: at(subject_end),
        reply: reply.map(|(s, e)| (at(s), at(e))),
        payload_start: at(line_len),
        len: at(needed),
    })
}

/// Common frames already split off the read buffer, with their headers, waiting to be
/// handed out in order.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The frames not handed out yet, back to back.
    run: Bytes,
    headers: [Header; BATCH],
    next: usize,
    end: usize,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            run: Bytes::new(),
            headers: [Header::default(); BATCH],
            next: 0,
            end: 0,
        }
    }
}

impl Batch {
    /// The next frame of the batch as a message, if any is left.
    #[inline(always)]
    pub(crate) fn pop(&mut self) -> Option<Message> {
        if self.next >= self.end {
            return None;
        }
        let h = *self.headers.get(self.next)?;
        self.next += 1;
        let len = h.len as usize;
        if len > self.run.len() {
            // Unreachable: the run was cut to the sum of its frames' lengths.
            self.clear();
            return None;
        }
        let frame = self.run.split_to(len);
        let r = |(s, e): (u32, u32)| s as usize..e as usize;
        Some(Message::from_parts(
            frame,
            h.sid,
            4..h.subject_end as usize,
            h.reply.map(r),
            None,
            h.payload_start as usize..len - 2,
        ))
    }

    /// Reads the headers of the common frames at the front of `buf` (at most [`BATCH`]),
    /// splits their bytes off and returns the first as a message. `None` (with `buf`
    /// untouched) when the front of `buf` is not a whole common frame.
    #[inline(always)]
    pub(crate) fn fill(
        &mut self,
        buf: &mut BytesMut,
        max_payload: usize,
        max_line: usize,
    ) -> Option<Message> {
        let b: &[u8] = buf;
        let mut at = 0usize;
        let mut n = 0usize;
        while let (Some(slot), Some(rest)) = (self.headers.get_mut(n), b.get(at..)) {
            let Some(h) = header(rest, max_payload, max_line) else {
                break;
            };
            *slot = h;
            at += h.len as usize;
            n += 1;
        }
        if n == 0 {
            return None;
        }
        self.run = buf.split_to(at).freeze();
        self.next = 0;
        self.end = n;
        self.pop()
    }

    /// Drops the frames not handed out yet.
    pub(crate) fn clear(&mut self) {
        self.run = Bytes::new();
        self.next = 0;
        self.end = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Subject, sid, reply, payload, and bytes left in the buffer.
    type Parsed = (String, u64, Option<String>, Vec<u8>, usize);

    /// One batch from the front of `buf` (every case here holds at most one frame).
    fn parse(buf: &mut BytesMut, max_payload: usize, max_line: usize) -> Option<Message> {
        Batch::default().fill(buf, max_payload, max_line)
    }

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

//! [`Message`]: one `MSG` or `HMSG` delivered by the server, zero-copy.
//!
//! A message keeps a single reference-counted [`Bytes`] of its whole frame, cut from the
//! read buffer without copying, plus the offsets of its parts. Subject, reply, header block
//! and payload are views into that frame; asking for one as `Bytes` is a cheap slice.
//! Receiving a message therefore allocates nothing and touches one reference count.
//!
//! The price is that a message keeps alive the whole read-buffer allocation it was cut
//! from (128 KiB, see `connection::read_buffer`), not just its own bytes. A message that
//! will be held for long behind others can be [detached](Message::detach) into an
//! allocation of its own; [`Message::shared_buffer`] says which allocation a message
//! shares, so that a holder can bound how many it keeps alive.

use bytes::{Buf, Bytes, BytesMut};
use std::fmt;
use std::num::NonZeroU64;
use std::ops::Range;

use crate::error::HeaderError;
use crate::headers::{self, HeaderMap, StatusCode};

/// A subscription id, chosen by the client, unique per connection.
pub type Sid = u64;

/// A message delivered by the server (`MSG` or `HMSG`).
///
/// ```
/// use bytes::BytesMut;
/// use natsy_proto::{ServerOp, ServerOpParser, Status};
///
/// let mut parser = ServerOpParser::default();
/// let mut buf = BytesMut::from(&b"MSG orders.new 7 4\r\nabcd\r\n"[..]);
/// let Status::Complete(ServerOp::Msg(msg)) = parser.parse(&mut buf).unwrap() else { panic!() };
/// assert_eq!(msg.subject(), "orders.new");
/// assert_eq!(msg.sid(), 7);
/// assert_eq!(msg.payload(), b"abcd");
/// ```
///
/// Two messages are equal when their sid, subject, reply, header block and payload are:
/// how the frame was laid out, and which buffer holds it, do not matter.
#[derive(Clone)]
pub struct Message {
    frame: Bytes,
    sid: Sid,
    subject: (u32, u32),
    reply: Option<(u32, u32)>,
    headers: Option<(u32, u32)>,
    payload: (u32, u32),
    shared: Option<SharedBuffer>,
}

/// One allocation of a [`Connection`](crate::Connection)'s read buffer, which the messages
/// cut from it share (see [`Message::shared_buffer`]). Unique per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SharedBuffer(NonZeroU64);

impl SharedBuffer {
    /// The `n`th allocation of a read buffer (`n` counts from 1).
    pub(crate) fn nth(n: NonZeroU64) -> Self {
        SharedBuffer(n)
    }
}

fn range(r: (u32, u32)) -> Range<usize> {
    r.0 as usize..r.1 as usize
}

impl Message {
    /// Builds a message from a frame and the byte ranges of its parts within it.
    ///
    /// The parser calls this after checking that every range lies inside `frame`, that
    /// subject and reply are UTF-8, and that the frame is shorter than 4 GiB. Ranges that
    /// break those rules are a bug in the caller; they make accessors return empty views
    /// rather than panic.
    #[inline]
    pub fn from_parts(
        frame: Bytes,
        sid: Sid,
        subject: Range<usize>,
        reply: Option<Range<usize>>,
        headers: Option<Range<usize>>,
        payload: Range<usize>,
    ) -> Self {
        let r = |r: Range<usize>| (r.start as u32, r.end as u32);
        Message {
            frame,
            sid,
            subject: r(subject),
            reply: reply.map(r),
            headers: headers.map(r),
            payload: r(payload),
            shared: None,
        }
    }

    /// Records that the frame is a slice of read-buffer allocation `shared`.
    pub(crate) fn set_shared_buffer(&mut self, shared: Option<SharedBuffer>) {
        self.shared = shared;
    }

    /// The read-buffer allocation this message's frame shares with other messages (and
    /// keeps alive while it is held), if it is known to share one.
    ///
    /// A [`Connection`](crate::Connection) tags every message it delivers, except one
    /// large enough to have had an allocation to itself. `None` also for a
    /// [detached](Self::detach) message, which owns its bytes, and for a message parsed
    /// by a bare [`ServerOpParser`](crate::ServerOpParser) or built with
    /// [`from_parts`](Self::from_parts), whose buffer is the caller's business.
    pub fn shared_buffer(&self) -> Option<SharedBuffer> {
        self.shared
    }

    /// The same message in one allocation of its own, exactly the size of its subject,
    /// reply, header block and payload (the control line and CRLFs are left behind), so
    /// that holding it keeps nothing else alive.
    ///
    /// This copies, and allocates once: worth it for a message that will wait behind
    /// others, not for one that is handled at once.
    pub fn detach(self) -> Message {
        let mut frame = Vec::with_capacity(self.size());
        let at = self.copy_parts(|part| frame.extend_from_slice(part));
        self.rebuilt(Bytes::from(frame), at)
    }

    /// Like [`detach`](Self::detach), but the parts are written into `buf`'s spare
    /// capacity (it grows if there is too little) and split off as the new frame, so
    /// that messages detached into one buffer share its allocation, alive as long as any
    /// of them is: one allocation for many small messages instead of one each, and none
    /// of the allocator's per-allocation overhead. `buf` is left empty with the capacity
    /// that remains, for the next message; anything it held before is discarded.
    pub fn detach_into(self, buf: &mut BytesMut) -> Message {
        buf.clear();
        buf.reserve(self.size());
        let at = self.copy_parts(|part| buf.extend_from_slice(part));
        self.rebuilt(buf.split().freeze(), at)
    }

    /// Hands subject, reply, header block and payload, in that order, to `put`; returns
    /// where each lands in the concatenation.
    fn copy_parts(&self, mut put: impl FnMut(&[u8])) -> [(u32, u32); 4] {
        let parts = [
            Some(self.subject),
            self.reply,
            self.headers,
            Some(self.payload),
        ];
        let mut end = 0u32;
        let mut at = [(0u32, 0u32); 4];
        for (part, at) in parts.iter().zip(at.iter_mut()) {
            if let Some(r) = part {
                let bytes = self.slice(*r);
                put(bytes);
                // Every part lies in a frame shorter than 4 GiB.
                let start = end;
                end += bytes.len() as u32;
                *at = (start, end);
            }
        }
        at
    }

    /// This message with `frame` holding its parts at `at` (from [`copy_parts`]).
    fn rebuilt(&self, frame: Bytes, at: [(u32, u32); 4]) -> Message {
        let [subject, reply, headers, payload] = at;
        Message {
            frame,
            sid: self.sid,
            subject,
            reply: self.reply.map(|_| reply),
            headers: self.headers.map(|_| headers),
            payload,
            shared: None,
        }
    }

    fn slice(&self, r: (u32, u32)) -> &[u8] {
        self.frame.get(range(r)).unwrap_or_default()
    }

    fn str(&self, r: (u32, u32)) -> &str {
        std::str::from_utf8(self.slice(r)).unwrap_or_default()
    }

    /// The subject the message was published to.
    pub fn subject(&self) -> &str {
        self.str(self.subject)
    }

    /// The subject as a zero-copy [`Bytes`] slice of the read buffer.
    pub fn subject_bytes(&self) -> Bytes {
        self.frame.slice(range(self.subject))
    }

    /// The subscription this message was delivered to.
    pub fn sid(&self) -> Sid {
        self.sid
    }

    /// The reply subject, if the publisher set one.
    pub fn reply(&self) -> Option<&str> {
        self.reply.map(|r| self.str(r))
    }

    /// The reply subject as a zero-copy [`Bytes`] slice.
    pub fn reply_bytes(&self) -> Option<Bytes> {
        self.reply.map(|r| self.frame.slice(range(r)))
    }

    /// The raw header block (`NATS/1.0 ...` through the empty line), for `HMSG` only.
    pub fn header_block(&self) -> Option<&[u8]> {
        self.headers.map(|r| self.slice(r))
    }

    /// The raw header block as a zero-copy [`Bytes`] slice.
    pub fn header_block_bytes(&self) -> Option<Bytes> {
        self.headers.map(|r| self.frame.slice(range(r)))
    }

    /// Parses the header block, if any. Parsing is lazy: it happens on each call.
    pub fn headers(&self) -> Result<Option<HeaderMap>, HeaderError> {
        match self.header_block_bytes() {
            None => Ok(None),
            Some(block) => headers::parse_block(&block).map(|b| Some(b.headers)),
        }
    }

    /// The status code of the header block's first line (`NATS/1.0 503`), if any.
    ///
    /// This reads only the first line; it is cheap enough for every message.
    pub fn status(&self) -> Option<StatusCode> {
        self.header_block().and_then(headers::parse_status_only)
    }

    /// The status description (`No Messages` in `NATS/1.0 404 No Messages`), if any.
    pub fn description(&self) -> Option<String> {
        let block = self.header_block_bytes()?;
        headers::parse_block(&block).ok()?.description
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        self.slice(self.payload)
    }

    /// The payload as a zero-copy [`Bytes`] slice of the read buffer.
    pub fn payload_bytes(&self) -> Bytes {
        self.frame.slice(range(self.payload))
    }

    /// Turns the message into its payload without touching the reference count.
    pub fn into_payload(self) -> Bytes {
        let mut frame = self.frame;
        let r = range(self.payload);
        if r.end > frame.len() || r.start > r.end {
            return Bytes::new();
        }
        frame.truncate(r.end);
        frame.advance(r.start);
        frame
    }

    /// The memory this message's own bytes take while it is held: its frame (the whole
    /// wire frame, control line and CRLFs included, or the compact copy once
    /// [detached](Self::detach)) plus the message value itself. This is what
    /// subscription pending limits count, so that the limits bound memory, not just
    /// payload bytes. The rest of a [shared buffer](Self::shared_buffer) the message
    /// keeps alive is not included.
    pub fn retained_size(&self) -> usize {
        self.frame.len() + std::mem::size_of::<Message>()
    }

    /// Subject, reply, headers and payload lengths added up (nats.go's message size).
    pub fn size(&self) -> usize {
        let len = |r: (u32, u32)| (r.1 - r.0) as usize;
        len(self.subject)
            + self.reply.map_or(0, len)
            + self.headers.map_or(0, len)
            + len(self.payload)
    }

    /// True when this is a "no responders" reply: status 503 and an empty payload.
    pub fn is_no_responders(&self) -> bool {
        self.payload.0 == self.payload.1 && self.status() == Some(StatusCode::NO_RESPONDERS)
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        self.sid == other.sid
            && self.subject() == other.subject()
            && self.reply() == other.reply()
            && self.header_block() == other.header_block()
            && self.payload() == other.payload()
    }
}

impl Eq for Message {}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("subject", &self.subject())
            .field("sid", &self.sid)
            .field("reply", &self.reply())
            .field("headers", &self.header_block().map(String::from_utf8_lossy))
            .field("payload_len", &(self.payload.1 - self.payload.0))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ServerOp, ServerOpParser, Status};
    use bytes::BytesMut;

    fn parse(wire: &[u8]) -> Message {
        let mut buf = BytesMut::from(wire);
        match ServerOpParser::default().parse(&mut buf) {
            Ok(Status::Complete(ServerOp::Msg(m))) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_detached_message_keeps_every_part_in_an_exact_allocation() {
        for wire in [
            &b"MSG orders.new 7 4\r\nabcd\r\n"[..],
            b"MSG a 1 _INBOX.r 0\r\n\r\n",
            b"HMSG a.b 3 reply 22 25\r\nNATS/1.0 503\r\nK: v\r\n\r\nxyz\r\n",
            b"HMSG a 3 12 12\r\nNATS/1.0\r\n\r\n\r\n",
        ] {
            let original = parse(wire);
            let detached = original.clone().detach();
            assert_eq!(detached, original);
            assert_eq!(detached.subject(), original.subject());
            assert_eq!(detached.sid(), original.sid());
            assert_eq!(detached.reply(), original.reply());
            assert_eq!(detached.header_block(), original.header_block());
            assert_eq!(detached.headers(), original.headers());
            assert_eq!(detached.status(), original.status());
            assert_eq!(detached.payload(), original.payload());
            assert_eq!(detached.size(), original.size());
            // Only the parts are kept: the control line and CRLFs are gone.
            assert_eq!(
                detached.retained_size(),
                original.size() + std::mem::size_of::<Message>()
            );
            assert!(detached.retained_size() < original.retained_size());
            assert_eq!(detached.shared_buffer(), None);
            assert_eq!(detached.into_payload(), original.payload_bytes());
        }
    }

    #[test]
    fn messages_detached_into_one_buffer_share_it() {
        let mut buf = BytesMut::with_capacity(1024);
        let start = buf.as_ptr();
        let a = parse(b"MSG a 1 r 3\r\nabc\r\n").detach_into(&mut buf);
        let b = parse(b"HMSG b 2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n").detach_into(&mut buf);
        assert_eq!(
            (a.subject(), a.reply(), a.payload()),
            ("a", Some("r"), &b"abc"[..])
        );
        assert_eq!(b.header_block(), Some(&b"NATS/1.0\r\n\r\n"[..]));
        assert_eq!(b.payload(), b"hi");
        assert_eq!(
            a.subject_bytes().as_ptr(),
            start,
            "in the buffer's allocation"
        );
        assert_eq!(
            b.subject_bytes().as_ptr(),
            start.wrapping_add(5),
            "right after a"
        );
        assert!(buf.is_empty());
        assert_eq!(buf.capacity(), 1024 - 5 - 15);
        assert_eq!(a.retained_size(), a.size() + std::mem::size_of::<Message>());
        // With too little room, it grows.
        let big = parse(format!("MSG c 3 2000\r\n{}\r\n", "x".repeat(2000)).as_bytes());
        assert_eq!(big.clone().detach_into(&mut buf), big);
    }

    #[test]
    fn equality_is_about_content_not_layout() {
        let a = parse(b"MSG a 1 2\r\nhi\r\n");
        let mut b = parse(b"MSG  a  1  2\r\nhi\r\n");
        b.set_shared_buffer(NonZeroU64::new(3).map(SharedBuffer::nth));
        assert_eq!(a, b);
        assert_ne!(a, parse(b"MSG a 2 2\r\nhi\r\n"));
        assert_ne!(a, parse(b"MSG a 1 r 2\r\nhi\r\n"));
        assert_ne!(a, parse(b"MSG a 1 2\r\nho\r\n"));
        assert_ne!(a, parse(b"HMSG a 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"));
    }
}

//! [`Message`]: one `MSG` or `HMSG` delivered by the server, zero-copy.
//!
//! A message keeps a single reference-counted [`Bytes`] of its whole frame, cut from the
//! read buffer without copying, plus the offsets of its parts. Subject, reply, header block
//! and payload are views into that frame; asking for one as `Bytes` is a cheap slice.
//! Receiving a message therefore allocates nothing and touches one reference count.

use bytes::{Buf, Bytes};
use std::fmt;
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
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    frame: Bytes,
    sid: Sid,
    subject: (u32, u32),
    reply: Option<(u32, u32)>,
    headers: Option<(u32, u32)>,
    payload: (u32, u32),
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

    /// The memory this message keeps alive while it is held: its whole wire frame
    /// (control line, headers, payload, CRLF), which it shares with nothing else, plus the
    /// message value itself. This is what subscription pending limits count, so that the
    /// limits bound memory, not just payload bytes.
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

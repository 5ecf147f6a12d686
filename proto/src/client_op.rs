//! The client → server parser: `CONNECT`, `PUB`, `HPUB`, `SUB`, `UNSUB`, `PING`, `PONG`.
//!
//! The mirror of [`crate::server_op`], for scripted fake servers, proxies and round-trip
//! fuzzing. Same properties: incremental, zero-copy, bounded, never panics.

use bytes::Bytes;

use crate::message::Sid;

/// One op sent by a client. Text fields are zero-copy slices of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientOp {
    /// `CONNECT {json}`; the JSON is kept raw (parse it with `serde_json` if needed).
    Connect(Bytes),
    /// `PUB` or `HPUB`.
    Pub {
        /// Subject.
        subject: Bytes,
        /// Reply subject.
        reply: Option<Bytes>,
        /// Header block, for `HPUB`.
        headers: Option<Bytes>,
        /// Payload.
        payload: Bytes,
    },
    /// `SUB <subject> [queue] <sid>`.
    Sub {
        /// Subject.
        subject: Bytes,
        /// Queue group.
        queue: Option<Bytes>,
        /// Subscription id.
        sid: Sid,
    },
    /// `UNSUB <sid> [max]`.
    Unsub {
        /// Subscription id.
        sid: Sid,
        /// Auto-unsubscribe after this many total deliveries.
        max: Option<u64>,
    },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
}

use bytes::BytesMut;

use crate::error::ProtocolError;
use crate::server_op::{ParserLimits, Status};

/// Incremental parser for client ops; the mirror of [`crate::ServerOpParser`].
#[derive(Debug, Default)]
pub struct ClientOpParser {
    limits: ParserLimits,
}

impl ClientOpParser {
    /// A parser with the given limits (`max_control_line` also bounds `CONNECT`).
    pub fn new(limits: ParserLimits) -> Self {
        ClientOpParser { limits }
    }

    /// Parses one op from the front of `buf`.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Status<ClientOp>, ProtocolError> {
        let _ = (buf, self.limits);
        todo!("parser helper")
    }
}

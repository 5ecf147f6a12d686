//! The server → client parser: `INFO`, `MSG`, `HMSG`, `PING`, `PONG`, `+OK`, `-ERR`.
//!
//! Incremental, zero-copy and bounded. See [`ServerOpParser`].

use bytes::BytesMut;

use crate::error::ProtocolError;
use crate::info::ServerInfo;
use crate::message::Message;
use crate::server_error::ServerError;

/// The result of one parse step, after httparse: running out of bytes is not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status<T> {
    /// A whole op was parsed and its bytes consumed from the buffer.
    Complete(T),
    /// More bytes are needed; nothing useful was consumed. Call again after reading more.
    Partial,
}

/// One op sent by the server.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerOp {
    /// `INFO {json}`.
    Info(Box<ServerInfo>),
    /// `MSG` or `HMSG`.
    Msg(Message),
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK` (verbose mode only).
    Ok,
    /// `-ERR '<text>'`, classified.
    Err(ServerError),
}

/// Bounds on what the parser will buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParserLimits {
    /// The longest control line accepted, CRLF included. Default 64 KiB: INFO can be large
    /// in big clusters.
    pub max_control_line: usize,
    /// The largest `MSG`/`HMSG` total size (headers + payload) accepted. Default 64 MiB,
    /// well above the server's largest sane `max_payload`; the connection lowers it to the
    /// server's `max_payload` plus [`ParserLimits::PAYLOAD_MARGIN`] once INFO arrives.
    pub max_payload: usize,
}

impl ParserLimits {
    /// Slack allowed above the server's advertised `max_payload` before a frame is refused.
    pub const PAYLOAD_MARGIN: usize = 64 * 1024;
}

impl Default for ParserLimits {
    fn default() -> Self {
        ParserLimits { max_control_line: 64 * 1024, max_payload: 64 * 1024 * 1024 }
    }
}

/// Incremental parser for server ops.
///
/// Call [`ServerOpParser::parse`] with the read buffer after every read, until it returns
/// [`Status::Partial`]. A parsed op's bytes are split off the front of the buffer; its
/// message parts are slices of them, so nothing is copied.
///
/// Linear time: while a large payload arrives in small reads, the parser remembers the
/// parsed header and how many bytes it still needs, and never re-scans.
#[derive(Debug, Default)]
pub struct ServerOpParser {
    limits: ParserLimits,
}

impl ServerOpParser {
    /// A parser with the given limits.
    pub fn new(limits: ParserLimits) -> Self {
        ServerOpParser { limits }
    }

    /// The limits in force.
    pub fn limits(&self) -> ParserLimits {
        self.limits
    }

    /// Lowers (or raises) the payload limit, typically to the server's `max_payload` plus
    /// [`ParserLimits::PAYLOAD_MARGIN`].
    pub fn set_max_payload(&mut self, max_payload: usize) {
        self.limits.max_payload = max_payload;
    }

    /// Forgets any partial state, for a new transport.
    pub fn reset(&mut self) {
        todo!("parser helper")
    }

    /// Parses one op from the front of `buf`.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Status<ServerOp>, ProtocolError> {
        let _ = buf;
        todo!("parser helper")
    }
}

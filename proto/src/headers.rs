//! NATS headers: [`HeaderMap`], the `NATS/1.0` status line, parsing and encoding.
//!
//! Names keep their case and compare case-sensitively (ADR-4); a name may have several
//! values, kept in order, one line each.

use bytes::BytesMut;

use crate::error::{HeaderError, ValidationError};

/// A status code from a header block's first line (`NATS/1.0 503`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(pub u16);

impl StatusCode {
    /// 100: JetStream idle heartbeat or flow control request.
    pub const IDLE_HEARTBEAT: StatusCode = StatusCode(100);
    /// 400: bad request.
    pub const BAD_REQUEST: StatusCode = StatusCode(400);
    /// 404: no messages / not found.
    pub const NOT_FOUND: StatusCode = StatusCode(404);
    /// 408: request timeout.
    pub const REQUEST_TIMEOUT: StatusCode = StatusCode(408);
    /// 409: conflict (max bytes, max waiting, leadership change, consumer deleted, ...).
    pub const CONFLICT: StatusCode = StatusCode(409);
    /// 503: no responders.
    pub const NO_RESPONDERS: StatusCode = StatusCode(503);
}

/// Header names and values; names case-sensitive, several values per name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMap {
    entries: Vec<(String, String)>,
}

/// A parsed header block: status line and headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderBlock {
    /// The status code, if the first line has one.
    pub status: Option<StatusCode>,
    /// The status description, if the first line has one.
    pub description: Option<String>,
    /// The headers.
    pub headers: HeaderMap,
}

/// Parses a whole header block (`NATS/1.0...` through the empty line).
pub fn parse_block(block: &[u8]) -> Result<HeaderBlock, HeaderError> {
    let _ = block;
    todo!("headers helper")
}

/// Reads only the status code from a header block's first line.
pub fn parse_status_only(block: &[u8]) -> Option<StatusCode> {
    let _ = block;
    todo!("headers helper")
}

impl HeaderMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a value, keeping existing values of the same name.
    pub fn append(&mut self, name: &str, value: &str) -> Result<(), ValidationError> {
        let _ = (name, value, &self.entries);
        todo!("headers helper")
    }

    /// Replaces every value of `name` with `value`.
    pub fn insert(&mut self, name: &str, value: &str) -> Result<(), ValidationError> {
        let _ = (name, value);
        todo!("headers helper")
    }

    /// The first value of `name` (case-sensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        let _ = name;
        todo!("headers helper")
    }

    /// The number of bytes [`HeaderMap::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        todo!("headers helper")
    }

    /// Writes `NATS/1.0\r\n`, one `Name: value\r\n` per value, and the closing `\r\n`.
    pub fn encode(&self, dst: &mut BytesMut) {
        let _ = dst;
        todo!("headers helper")
    }
}

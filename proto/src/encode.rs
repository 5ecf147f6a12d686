//! The encoder: client ops written into an [`OutQueue`] for vectored writes.

use std::io::IoSlice;

use bytes::Bytes;

use crate::error::ValidationError;
use crate::headers::HeaderMap;
use crate::info::ConnectInfo;
use crate::message::Sid;

/// Outgoing bytes: small writes coalesced into one buffer, large payloads chained as
/// their own `Bytes` without copying.
#[derive(Debug, Default)]
pub struct OutQueue {
    len: usize,
}

impl OutQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes waiting to be written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fills `dst` with slices of the pending bytes, in order; returns how many were filled.
    pub fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let _ = dst;
        todo!("encoder helper")
    }

    /// Marks `n` bytes as written.
    pub fn advance(&mut self, n: usize) {
        let _ = n;
        todo!("encoder helper")
    }

    /// Drops everything pending.
    pub fn clear(&mut self) {
        todo!("encoder helper")
    }

    /// Appends everything pending in `other`, leaving it empty.
    pub fn append(&mut self, other: &mut OutQueue) {
        let _ = other;
        todo!("encoder helper")
    }

    /// `PUB`/`HPUB`, validated. `max_payload` is the server's limit, when known.
    pub fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&HeaderMap>,
        payload: Bytes,
        max_payload: Option<usize>,
    ) -> Result<(), ValidationError> {
        let _ = (subject, reply, headers, payload, max_payload);
        todo!("encoder helper")
    }

    /// `SUB`, validated.
    pub fn subscribe(
        &mut self,
        subject: &str,
        queue: Option<&str>,
        sid: Sid,
    ) -> Result<(), ValidationError> {
        let _ = (subject, queue, sid);
        todo!("encoder helper")
    }

    /// `UNSUB sid [max]`.
    pub fn unsubscribe(&mut self, sid: Sid, max: Option<u64>) {
        let _ = (sid, max);
        todo!("encoder helper")
    }

    /// `CONNECT {json}`.
    pub fn connect(&mut self, info: &ConnectInfo) {
        let _ = info;
        todo!("encoder helper")
    }

    /// `PING`.
    pub fn ping(&mut self) {
        todo!("encoder helper")
    }

    /// `PONG`.
    pub fn pong(&mut self) {
        todo!("encoder helper")
    }
}

//! [`ReconnectBuffer`]: publishes made while disconnected, bounded in bytes, written after
//! the subscriptions once the next handshake completes (protocol digest §5.4).

use bytes::Bytes;

use super::event::PublishError;
use crate::encode::OutQueue;
use crate::headers::HeaderMap;

/// Publishes waiting for a connection.
#[derive(Debug)]
pub(crate) struct ReconnectBuffer {
    queue: OutQueue,
    /// `None`: disabled, publishing while disconnected fails.
    limit: Option<usize>,
}

impl ReconnectBuffer {
    /// A buffer holding up to about `limit` bytes; `None` disables it.
    pub(crate) fn new(limit: Option<usize>) -> Self {
        ReconnectBuffer {
            queue: OutQueue::new(),
            limit,
        }
    }

    /// Queues a publish. Like nats.go, the size check happens before the append, so the
    /// buffer may overshoot its limit by one message.
    pub(crate) fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&HeaderMap>,
        payload: Bytes,
        max_payload: Option<usize>,
    ) -> Result<(), PublishError> {
        match self.limit {
            None => Err(PublishError::Disconnected),
            Some(limit) if self.queue.len() >= limit => Err(PublishError::ReconnectBufferFull),
            Some(_) => self
                .queue
                .publish(subject, reply, headers, payload, max_payload)
                .map_err(PublishError::Validation),
        }
    }

    /// Bytes buffered.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Moves everything buffered to the end of `out`.
    pub(crate) fn drain_into(&mut self, out: &mut OutQueue) {
        if !self.queue.is_empty() {
            out.append(&mut self.queue);
        }
    }

    /// Drops everything buffered.
    pub(crate) fn clear(&mut self) {
        if !self.queue.is_empty() {
            self.queue.clear();
        }
    }
}

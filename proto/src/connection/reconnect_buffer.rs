//! [`ReconnectBuffer`]: publishes made while disconnected, bounded in bytes, written after
//! the subscriptions once the next handshake completes (protocol digest §5.4).

use std::collections::VecDeque;

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
    /// Where each publish starts, as offsets into `queue` (which is never advanced).
    starts: Vec<usize>,
}

impl ReconnectBuffer {
    /// A buffer holding up to about `limit` bytes; `None` disables it.
    pub(crate) fn new(limit: Option<usize>) -> Self {
        ReconnectBuffer {
            queue: OutQueue::new(),
            limit,
            starts: Vec::new(),
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
            Some(_) => {
                let start = self.queue.len();
                self.queue
                    .publish(subject, reply, headers, payload, max_payload)
                    .map_err(PublishError::Validation)?;
                self.starts.push(start);
                Ok(())
            }
        }
    }

    /// Takes back publish frames that were queued for a socket that died before writing
    /// them, ahead of what is buffered already (publishes made while a forced reconnect
    /// retired that socket), so they go out in the order they were published. They were
    /// accepted already, so the limit does not apply.
    pub(crate) fn requeue_front<'a>(&mut self, frames: impl IntoIterator<Item = &'a [u8]>) {
        let mut queue = OutQueue::new();
        let mut starts = Vec::new();
        for frame in frames {
            starts.push(queue.len());
            queue.push_encoded(frame);
        }
        if starts.is_empty() {
            return;
        }
        let shift = queue.len();
        starts.extend(self.starts.drain(..).map(|s| s + shift));
        queue.append(&mut self.queue);
        self.queue = queue;
        self.starts = starts;
    }

    /// Bytes buffered.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Publishes buffered.
    pub(crate) fn messages(&self) -> usize {
        self.starts.len()
    }

    /// Moves everything buffered to the end of `out`.
    /// Moves everything into `out`, recording in `starts` the stream position of each
    /// publish in `out`.
    pub(crate) fn drain_into(&mut self, out: &mut OutQueue, starts: &mut VecDeque<u64>) {
        if !self.queue.is_empty() {
            let base = out.stream_position();
            starts.extend(self.starts.drain(..).map(|s| base + s as u64));
            out.append(&mut self.queue);
        }
        self.starts.clear();
    }

    /// Drops everything buffered.
    pub(crate) fn clear(&mut self) {
        if !self.queue.is_empty() {
            self.queue.clear();
        }
        self.starts.clear();
    }
}

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
    /// Where each publish starts and ends, as offsets into `queue` (never advanced).
    frames: Vec<(usize, usize)>,
}

impl ReconnectBuffer {
    /// A buffer holding up to about `limit` bytes; `None` disables it.
    pub(crate) fn new(limit: Option<usize>) -> Self {
        ReconnectBuffer {
            queue: OutQueue::new(),
            limit,
            frames: Vec::new(),
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
                self.frames.push((start, self.queue.len()));
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
        let mut positions = Vec::new();
        for frame in frames {
            let start = queue.len();
            queue.push_encoded(frame);
            positions.push((start, queue.len()));
        }
        if positions.is_empty() {
            return;
        }
        let shift = queue.len();
        positions.extend(self.frames.drain(..).map(|(s, e)| (s + shift, e + shift)));
        queue.append(&mut self.queue);
        self.queue = queue;
        self.frames = positions;
    }

    /// Bytes buffered.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Publishes buffered.
    pub(crate) fn messages(&self) -> usize {
        self.frames.len()
    }

    /// Moves everything to the end of `out`, recording in `frames` the stream positions
    /// where each publish starts and ends in `out`.
    pub(crate) fn drain_into(&mut self, out: &mut OutQueue, frames: &mut VecDeque<(u64, u64)>) {
        if !self.queue.is_empty() {
            let base = out.stream_position();
            frames.extend(
                self.frames
                    .drain(..)
                    .map(|(s, e)| (base + s as u64, base + e as u64)),
            );
            out.append(&mut self.queue);
        }
        self.frames.clear();
    }

    /// Drops everything buffered.
    pub(crate) fn clear(&mut self) {
        if !self.queue.is_empty() {
            self.queue.clear();
        }
        self.frames.clear();
    }
}

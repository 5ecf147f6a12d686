//! The pending-message queue between the event loop and one subscription's reader.
//!
//! Bounded by message count and bytes (nats.go `SetPendingLimits`). When either limit is
//! reached, new messages are dropped and counted, and the first drop of an episode is
//! reported so the client can emit one slow-consumer event; the episode ends at the next
//! message that fits. The loop pushes a whole read's worth of messages under one lock and
//! wakes the reader once.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use natsy_proto::Message;

use crate::error::PermissionError;

/// Limits on what a subscription may hold before its reader takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingLimits {
    /// Most messages held. Default 524,288 (nats.go `DefaultSubPendingMsgsLimit`).
    pub messages: usize,
    /// Most bytes of memory held by queued messages: each message's whole wire frame plus
    /// its queue entry ([`natsy_proto::Message::retained_size`]), so the limit bounds
    /// memory, not just payloads. Default 64 MiB (nats.go `DefaultSubPendingBytesLimit`,
    /// which counts payloads only).
    pub bytes: usize,
}

impl Default for PendingLimits {
    fn default() -> Self {
        PendingLimits {
            messages: 512 * 1024,
            bytes: 64 * 1024 * 1024,
        }
    }
}

/// Why a subscription's stream of messages ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Closed {
    /// `unsubscribe`, `drain` or drop.
    Unsubscribed,
    /// The `unsubscribe_after` limit was reached.
    LimitReached,
    /// The server refused the subscription, or a publish the subscription was waiting on
    /// the answers to (see [`Subscription::end_on_refused_publish`]).
    ///
    /// [`Subscription::end_on_refused_publish`]: crate::Subscription::end_on_refused_publish
    PermissionDenied(PermissionError),
    /// The connection was closed.
    ConnectionClosed,
}

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsubscribed => f.write_str("unsubscribed"),
            Self::LimitReached => f.write_str("auto-unsubscribe limit reached"),
            Self::PermissionDenied(e) => write!(f, "{e}"),
            Self::ConnectionClosed => f.write_str("connection closed"),
        }
    }
}

/// What happened to a pushed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued for the reader.
    Queued,
    /// Dropped because a limit was reached; `first` is true for the first drop of an
    /// episode (report one slow-consumer event).
    Dropped { first: bool },
    /// The queue is closed; the message was discarded.
    Closed,
}

#[derive(Debug, Default)]
struct Inner {
    messages: VecDeque<Message>,
    bytes: usize,
    dropped: u64,
    slow: bool,
    closed: Option<Closed>,
}

/// The queue itself.
#[derive(Debug)]
pub(crate) struct SubQueue {
    limits: PendingLimits,
    inner: Mutex<Inner>,
    ready: Condvar,
}

/// A taken message or why none came.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Taken {
    Message(Message),
    Empty,
    Closed(Closed),
}

impl SubQueue {
    pub(crate) fn new(limits: PendingLimits) -> Self {
        SubQueue {
            limits,
            inner: Mutex::new(Inner::default()),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A reader that panicked while holding the lock left consistent data behind:
        // every critical section is a few field updates with no calls out.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Pushes a batch and wakes the reader once. `on_push` sees each outcome.
    pub(crate) fn push_all(
        &self,
        messages: impl IntoIterator<Item = Message>,
        mut on_push: impl FnMut(Pushed),
    ) {
        let mut inner = self.lock();
        let mut queued = false;
        for msg in messages {
            let outcome = if inner.closed.is_some() {
                Pushed::Closed
            } else {
                let size = msg.retained_size();
                if inner.messages.len() >= self.limits.messages
                    || inner.bytes.saturating_add(size) > self.limits.bytes
                {
                    inner.dropped += 1;
                    let first = !inner.slow;
                    inner.slow = true;
                    Pushed::Dropped { first }
                } else {
                    inner.slow = false;
                    inner.bytes += size;
                    inner.messages.push_back(msg);
                    queued = true;
                    Pushed::Queued
                }
            };
            on_push(outcome);
        }
        drop(inner);
        if queued {
            self.ready.notify_all();
        }
    }

    /// Closes the queue; messages already queued can still be taken.
    pub(crate) fn close(&self, why: Closed) {
        let mut inner = self.lock();
        if inner.closed.is_none() {
            inner.closed = Some(why);
        }
        drop(inner);
        self.ready.notify_all();
    }

    /// Takes the next message, waiting until `deadline` (`None`: for ever).
    pub(crate) fn take(&self, deadline: Option<Instant>) -> Taken {
        let mut inner = self.lock();
        loop {
            if let Some(msg) = inner.messages.pop_front() {
                inner.bytes -= msg.retained_size();
                return Taken::Message(msg);
            }
            if let Some(why) = &inner.closed {
                return Taken::Closed(why.clone());
            }
            inner = match deadline {
                None => self.ready.wait(inner).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Taken::Empty;
                    }
                    self.ready
                        .wait_timeout(inner, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    /// Takes the next message if one is queued.
    pub(crate) fn try_take(&self) -> Taken {
        let mut inner = self.lock();
        match inner.messages.pop_front() {
            Some(msg) => {
                inner.bytes -= msg.retained_size();
                Taken::Message(msg)
            }
            None => inner.closed.clone().map_or(Taken::Empty, Taken::Closed),
        }
    }

    /// (messages, bytes) held now.
    pub(crate) fn pending(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.messages.len(), inner.bytes)
    }

    /// Messages dropped so far because a limit was reached.
    pub(crate) fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::sync::Arc;
    use std::time::Duration;

    /// What a queued message costs besides its frame.
    const ENTRY: usize = std::mem::size_of::<Message>();

    fn msg(payload: &'static [u8]) -> Message {
        let mut frame = b"s".to_vec();
        frame.extend_from_slice(payload);
        Message::from_parts(
            Bytes::from(frame),
            1,
            0..1,
            None,
            None,
            1..1 + payload.len(),
        )
    }

    #[test]
    fn limits_drop_and_report_one_slow_consumer_per_episode() {
        let q = SubQueue::new(PendingLimits {
            messages: 2,
            bytes: 1000,
        });
        let mut outcomes = Vec::new();
        q.push_all([msg(b"a"), msg(b"b"), msg(b"c"), msg(b"d")], |p| {
            outcomes.push(p)
        });
        assert_eq!(
            outcomes,
            [
                Pushed::Queued,
                Pushed::Queued,
                Pushed::Dropped { first: true },
                Pushed::Dropped { first: false }
            ]
        );
        assert_eq!(q.dropped(), 2);
        assert_eq!(q.take(None), Taken::Message(msg(b"a")));
        outcomes.clear();
        q.push_all([msg(b"e"), msg(b"f")], |p| outcomes.push(p));
        // "e" fits and ends the episode; "f" starts a new one.
        assert_eq!(outcomes, [Pushed::Queued, Pushed::Dropped { first: true }]);
        // Each message holds its frame ("s" + payload) and the Message value.
        assert_eq!(q.pending(), (2, 4 + 2 * ENTRY));
    }

    #[test]
    fn byte_limit_counts_the_frame_and_the_entry() {
        let q = SubQueue::new(PendingLimits {
            messages: 100,
            bytes: 5 + ENTRY,
        });
        let mut outcomes = Vec::new();
        q.push_all([msg(b"abc"), msg(b"d"), msg(b"e")], |p| outcomes.push(p));
        assert_eq!(
            outcomes,
            [
                Pushed::Queued,
                Pushed::Dropped { first: true },
                Pushed::Dropped { first: false }
            ]
        );
        assert_eq!(q.pending(), (1, 4 + ENTRY));
    }

    #[test]
    fn take_waits_for_a_push_from_another_thread_and_times_out_when_empty() {
        let q = Arc::new(SubQueue::new(PendingLimits::default()));
        let start = Instant::now();
        assert_eq!(
            q.take(Some(start + Duration::from_millis(20))),
            Taken::Empty
        );
        assert!(start.elapsed() >= Duration::from_millis(20));
        let q2 = q.clone();
        let t = std::thread::spawn(move || q2.take(None));
        std::thread::sleep(Duration::from_millis(10));
        q.push_all([msg(b"x")], |_| {});
        assert_eq!(t.join().unwrap(), Taken::Message(msg(b"x")));
    }

    #[test]
    fn close_lets_queued_messages_drain_first() {
        let q = SubQueue::new(PendingLimits::default());
        q.push_all([msg(b"x")], |_| {});
        q.close(Closed::LimitReached);
        q.close(Closed::Unsubscribed); // the first cause wins
        let mut outcomes = Vec::new();
        q.push_all([msg(b"late")], |p| outcomes.push(p));
        assert_eq!(outcomes, [Pushed::Closed]);
        assert_eq!(q.try_take(), Taken::Message(msg(b"x")));
        assert_eq!(q.try_take(), Taken::Closed(Closed::LimitReached));
        assert_eq!(q.take(None), Taken::Closed(Closed::LimitReached));
    }
}

//! The pending-message queue between the event loop and one subscription's reader.
//!
//! Bounded by message count and bytes (nats.go `SetPendingLimits`). When either limit is
//! reached, new messages are dropped and counted, and the first drop of an episode is
//! reported so the client can emit one slow-consumer event; the episode ends at the next
//! message that fits. The loop pushes a whole read's worth of messages under one lock and
//! wakes the reader once.
//!
//! Received messages are zero-copy slices of the connection's read buffer, and each keeps
//! the whole 128 KiB allocation it was cut from alive. For a reader that keeps up that is
//! free: it holds messages of one or two reads at a time. For a reader that fell behind
//! next to a busy subscription it was not: each of its small messages could pin an
//! allocation otherwise filled with messages long since handled, and 8,000 of them,
//! counted as 800 KB, kept 575 MB resident. So a queue keeps zero-copy messages from at
//! most [`MAX_SHARED_BUFFERS`] read allocations at a time; a message from another one is
//! [detached](natsy_proto::Message::detach) (its subject, reply, headers and payload
//! copied out) as it is queued. The copy is only made for a message that waits behind
//! others from several earlier reads, where its cost is small next to the time it will
//! wait. Small copies share 16 KiB chunks that hold nothing but this queue's messages, in
//! order, so they are freed as the reader catches up and cost one allocation per chunk,
//! not one (and the allocator's overhead) per message.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use bytes::BytesMut;
use natsy_proto::{Message, SharedBuffer};

/// The read allocations one queue may keep alive through zero-copy messages: beyond its
/// pending bytes, a queue holds at most this many times 128 KiB. Four allocations are
/// about eight reads: a reader that is less than that behind never sees a copy.
pub(crate) const MAX_SHARED_BUFFERS: usize = 4;
/// The chunk small detached messages are copied into.
const COPY_CHUNK: usize = 16 * 1024;
/// Detached messages up to this size share chunks, so a chunk's unused tail is at most a
/// sixteenth of it; larger ones get an allocation of their own.
const COPY_SHARED_MAX: usize = COPY_CHUNK / 16;

use crate::error::PermissionError;

/// Limits on what a subscription may hold before its reader takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingLimits {
    /// Most messages held. Default 524,288 (nats.go `DefaultSubPendingMsgsLimit`).
    pub messages: usize,
    /// Most bytes of memory held by queued messages: each message's frame plus its queue
    /// entry ([`natsy_proto::Message::retained_size`]), so the limit bounds memory, not
    /// just payloads. The frame is the whole wire frame of a message that still shares
    /// the read buffer, and only subject, reply, headers and payload of one copied out of
    /// it; besides what it counts, a subscription keeps at most four 128 KiB read
    /// allocations (a reader further behind gets later messages copied out) and the
    /// unused ends of the 16 KiB chunks its small copies share alive. Default 64 MiB
    /// (nats.go `DefaultSubPendingBytesLimit`, which counts payloads only).
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
    /// The read allocations queued zero-copy messages share, each with how many of them
    /// share it.
    shared: [Option<(SharedBuffer, usize)>; MAX_SHARED_BUFFERS],
    /// The rest of the chunk small detached messages are being copied into; let go when
    /// the queue empties.
    copies: BytesMut,
    dropped: u64,
    slow: bool,
    closed: Option<Closed>,
}

impl Inner {
    /// Whether `msg` can be queued as it is: it shares no read allocation, or one that
    /// queued messages already keep alive, or there is room to keep one more.
    fn may_share(&self, msg: &Message) -> bool {
        msg.shared_buffer().map_or(true, |b| {
            self.shared
                .iter()
                .any(|s| s.map_or(true, |(held, _)| held == b))
        })
    }

    /// Counts a queued message's share of its read allocation.
    fn share(&mut self, msg: &Message) {
        let Some(b) = msg.shared_buffer() else {
            return;
        };
        if let Some((_, n)) = self.shared.iter_mut().flatten().find(|(h, _)| *h == b) {
            *n += 1;
        } else if let Some(free) = self.shared.iter_mut().find(|s| s.is_none()) {
            *free = Some((b, 1));
        }
    }

    /// Copies `msg` out of the read buffer: into the current chunk if it is small.
    fn detach(&mut self, msg: Message) -> Message {
        let size = msg.size();
        if size > COPY_SHARED_MAX {
            return msg.detach();
        }
        if self.copies.capacity() < size {
            self.copies = BytesMut::with_capacity(COPY_CHUNK);
        }
        msg.detach_into(&mut self.copies)
    }

    /// Takes the next message, releasing its share of its read allocation.
    fn pop(&mut self) -> Option<Message> {
        let msg = self.messages.pop_front()?;
        self.bytes -= msg.retained_size();
        if self.messages.is_empty() {
            self.copies = BytesMut::new();
        }
        if let Some(b) = msg.shared_buffer() {
            for slot in &mut self.shared {
                if let Some((held, n)) = slot {
                    if *held == b {
                        *n -= 1;
                        if *n == 0 {
                            *slot = None;
                        }
                        break;
                    }
                }
            }
        }
        Some(msg)
    }
}

/// What `msg` will hold once queued: its frame as it is, or the compact copy
/// [`Inner::detach`] makes of subject, reply, headers and payload. (A chunk's unused tail
/// is not counted: at most a sixteenth of the chunk, and the chunk being filled.)
fn queued_size(msg: &Message, detach: bool) -> usize {
    if detach {
        msg.size() + std::mem::size_of::<Message>()
    } else {
        msg.retained_size()
    }
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
                let detach = !inner.may_share(&msg);
                let size = queued_size(&msg, detach);
                if inner.messages.len() >= self.limits.messages
                    || inner.bytes.saturating_add(size) > self.limits.bytes
                {
                    inner.dropped += 1;
                    let first = !inner.slow;
                    inner.slow = true;
                    Pushed::Dropped { first }
                } else {
                    let msg = if detach { inner.detach(msg) } else { msg };
                    debug_assert_eq!(msg.retained_size(), size);
                    inner.slow = false;
                    inner.bytes += size;
                    inner.share(&msg);
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
            if let Some(msg) = inner.pop() {
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
        match inner.pop() {
            Some(msg) => Taken::Message(msg),
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

    /// Messages as a connection delivers them, tagged with the read allocation they
    /// share: one 5-byte message on sid 1 per read of `reads`, each read padded with a
    /// 100 KiB message on sid 2, so that while the small ones are held every read lands
    /// in another allocation; with `same`, all in one read and one allocation.
    fn delivered(reads: usize, same: bool) -> Vec<Message> {
        use natsy_proto::connection::{Connection, ConnectionConfig, Event};
        let now = Instant::now();
        let mut conn = Connection::new(ConnectionConfig::default(), now).unwrap();
        assert!(matches!(conn.poll_event(), Some(Event::Dial { .. })));
        conn.handle_transport_connected(now);
        conn.handle_input(
            now,
            b"INFO {\"server_id\":\"N\",\"max_payload\":1048576}\r\n",
        );
        conn.handle_input(now, b"PONG\r\n");
        assert!(matches!(conn.poll_event(), Some(Event::Connected { .. })));
        assert_eq!(conn.subscribe("small", None).ok(), Some(1));
        assert_eq!(conn.subscribe("pad", None).ok(), Some(2));
        let mut pad = format!("MSG pad 2 {}\r\n", 100 * 1024).into_bytes();
        pad.resize(pad.len() + 100 * 1024, b'p');
        pad.extend_from_slice(b"\r\n");
        let mut small = Vec::new();
        let mut wire = Vec::new();
        let messages = |conn: &mut Connection| {
            std::iter::from_fn(|| match conn.poll_event() {
                Some(Event::Message(m)) => Some(m),
                _ => None,
            })
            .filter(|m| m.sid() == 1)
            .collect::<Vec<_>>()
        };
        for _ in 0..reads {
            wire.extend_from_slice(b"MSG small 1 5\r\nhello\r\n");
            if !same {
                wire.extend_from_slice(&pad);
                conn.handle_input(now, &wire);
                wire.clear();
            }
            small.extend(messages(&mut conn));
        }
        conn.handle_input(now, &wire);
        small.extend(messages(&mut conn));
        assert_eq!(small.len(), reads);
        small
    }

    #[test]
    fn a_queue_keeps_zero_copy_messages_of_four_read_allocations_at_most() {
        let q = SubQueue::new(PendingLimits::default());
        let msgs = delivered(MAX_SHARED_BUFFERS + 3, false);
        let buffers: Vec<_> = msgs.iter().map(Message::shared_buffer).collect();
        assert!(buffers.iter().all(Option::is_some));
        assert!(buffers.windows(2).all(|w| w[0] != w[1]), "{buffers:?}");
        let (first, rest) = msgs.split_at(MAX_SHARED_BUFFERS + 2);
        q.push_all(first.iter().cloned(), |_| {});
        let wire = "MSG small 1 5\r\nhello\r\n".len();
        let compact = "smallhello".len();
        let expected = MAX_SHARED_BUFFERS * (wire + ENTRY) + 2 * (compact + ENTRY);
        assert_eq!(q.pending(), (MAX_SHARED_BUFFERS + 2, expected));
        {
            // The two copies sit side by side in one chunk.
            let inner = q.lock();
            let copy = |i: usize| inner.messages[i].subject_bytes().as_ptr();
            let (a, b) = (MAX_SHARED_BUFFERS, MAX_SHARED_BUFFERS + 1);
            assert_eq!(copy(b), copy(a).wrapping_add(compact));
            assert!(inner.copies.capacity() > 0);
        }
        // Taking the oldest releases its allocation: the next message may share again.
        let Taken::Message(taken) = q.try_take() else {
            panic!("a message")
        };
        assert_eq!(taken.shared_buffer(), buffers[0]);
        q.push_all(rest.iter().cloned(), |_| {});
        let mut got = vec![taken];
        while let Taken::Message(m) = q.try_take() {
            got.push(m);
        }
        let kept: Vec<_> = got.iter().map(Message::shared_buffer).collect();
        let mut want = buffers[..MAX_SHARED_BUFFERS].to_vec();
        want.extend([None, None, buffers[MAX_SHARED_BUFFERS + 2]]);
        assert_eq!(kept, want);
        assert_eq!(got, msgs, "copies are the same messages, in order");
        assert_eq!(q.pending(), (0, 0));
        assert_eq!(
            q.lock().copies.capacity(),
            0,
            "an empty queue holds no chunk"
        );
    }

    #[test]
    fn messages_of_one_read_allocation_are_never_copied() {
        let q = SubQueue::new(PendingLimits::default());
        let msgs = delivered(1000, true);
        q.push_all(msgs.iter().cloned(), |_| {});
        let mut got = Vec::new();
        while let Taken::Message(m) = q.try_take() {
            assert_eq!(m.shared_buffer(), msgs[0].shared_buffer());
            got.push(m);
        }
        assert_eq!(got.len(), 1000);
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

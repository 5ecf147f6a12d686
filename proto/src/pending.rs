//! [`PendingQueue`]: the bounded queue of messages one subscription holds for its reader,
//! with nats.go's pending limits and slow-consumer episodes. Every driver puts the
//! messages proto delivers for a subscription into one of these (behind its own lock and
//! wake-up: a condition variable, a `Waker`), so limits, drops and memory bounds are the
//! same for every driver.
//!
//! Bounded by message count and bytes (nats.go `SetPendingLimits`). When either limit is
//! reached, new messages are dropped and counted, and the first drop of an episode is
//! reported so the driver can emit one slow-consumer event; the episode ends at the next
//! message that fits.
//!
//! Received messages are zero-copy slices of the connection's read buffer, and each keeps
//! the whole 128 KiB allocation it was cut from alive. For a reader that keeps up that is
//! free: it holds messages of one or two reads at a time. For a reader that fell behind
//! next to a busy subscription it was not: each of its small messages could pin an
//! allocation otherwise filled with messages long since handled, and 8,000 of them,
//! counted as 800 KB, kept 575 MB resident. So a queue keeps zero-copy messages from at
//! most [`MAX_SHARED_BUFFERS`] read allocations at a time; a message from another one is
//! [detached](crate::Message::detach) (its subject, reply, headers and payload
//! copied out) as it is queued. The copy is only made for a message that waits behind
//! others from several earlier reads, where its cost is small next to the time it will
//! wait. Copies of up to 8 KiB share chunks sixteen times their size (16 to 128 KiB) that
//! hold nothing but this queue's messages, in order, so they are freed as the reader
//! catches up and cost one allocation per chunk, not one (and the allocator's overhead)
//! per message. While the reader stays behind, the queue continues in its oldest chunk
//! whose messages are all gone rather than a new one: with an allocation per 4 KiB copy,
//! fresh memory (page faults under `sysmalloc`) was a fifth of a `pubsub` 4 KiB
//! receiver's CPU.

use std::collections::VecDeque;

use bytes::BytesMut;

use crate::message::{Message, SharedBuffer};
use crate::spares::Spares;

/// The read allocations one queue may keep alive through zero-copy messages: beyond its
/// pending bytes, a queue holds at most this many times 128 KiB. Four allocations are
/// about eight reads: a reader that is less than that behind never sees a copy.
pub const MAX_SHARED_BUFFERS: usize = 4;
/// The chunks detached messages are copied into: sixteen of the message's size, within
/// these bounds, so that a chunk's unused tail is at most a sixteenth of it and a queue
/// holding one small copy keeps no more than 16 KiB alive for it.
const COPY_CHUNK_MIN: usize = 16 * 1024;
const COPY_CHUNK_MAX: usize = 128 * 1024;
/// Detached messages up to this size share chunks; larger ones get an allocation of
/// their own.
const COPY_SHARED_MAX: usize = COPY_CHUNK_MAX / 16;
/// How far the chunks a queue keeps for reuse may exceed its queued bytes. It keeps
/// earlier chunks while it is not empty, oldest first, and continues in the oldest whose
/// messages are all gone (a lagging reader frees them in order). Chunks still holding
/// queued messages cost nothing extra; free ones are let go beyond this slack, so past
/// its pending bytes a queue keeps at most this much more alive, and nothing once it
/// empties.
const SPARE_COPY_SLACK: usize = 2 * COPY_CHUNK_MAX;

/// Limits on what a subscription may hold before its reader takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingLimits {
    /// Most messages held. Default 524,288 (nats.go `DefaultSubPendingMsgsLimit`).
    pub messages: usize,
    /// Most bytes of memory held by queued messages: each message's frame plus its queue
    /// entry ([`Message::retained_size`]), so the limit bounds memory, not
    /// just payloads. The frame is the whole wire frame of a message that still shares
    /// the read buffer, and only subject, reply, headers and payload of one copied out of
    /// it. Besides what it counts, a subscription keeps alive at most four 128 KiB read
    /// allocations (a reader further behind gets later messages copied out), the unused
    /// ends of the chunks its copies share (a sixteenth of each at most), and free
    /// chunks kept for reuse (up to its counted bytes plus 256 KiB, none once it is
    /// empty). Default 64 MiB (nats.go `DefaultSubPendingBytesLimit`, which counts
    /// payloads only).
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

/// What happened to a pushed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued for the reader.
    Queued,
    /// Dropped because a limit was reached; `first` is true for the first drop of an
    /// episode (report one slow-consumer event).
    Dropped {
        /// The first drop since the last message that fitted.
        first: bool,
    },
}

/// The queue itself. Not synchronised: the driver keeps it behind its own lock.
#[derive(Debug)]
pub struct PendingQueue {
    limits: PendingLimits,
    messages: VecDeque<Message>,
    bytes: usize,
    /// The read allocations queued zero-copy messages share, each with how many of them
    /// share it.
    shared: [Option<(SharedBuffer, usize)>; MAX_SHARED_BUFFERS],
    /// The rest of the chunk small detached messages are being copied into; let go when
    /// the queue empties.
    copies: BytesMut,
    /// The capacity of the chunk `copies` is on; 0 before the first chunk and once the
    /// queue emptied.
    copies_capacity: usize,
    /// Handles on earlier chunks, reused once their messages are gone; let go when the
    /// queue empties.
    spare_copies: Spares,
    dropped: u64,
    slow: bool,
}

impl PendingQueue {
    /// An empty queue with these limits.
    pub fn new(limits: PendingLimits) -> Self {
        PendingQueue {
            limits,
            messages: VecDeque::new(),
            bytes: 0,
            shared: [None; MAX_SHARED_BUFFERS],
            copies: BytesMut::new(),
            copies_capacity: 0,
            spare_copies: Spares::default(),
            dropped: 0,
            slow: false,
        }
    }

    /// Queues `msg`, or drops it if a limit would be passed (a dropped message is never
    /// copied).
    pub fn push(&mut self, msg: Message) -> Pushed {
        let detach = !self.may_share(&msg);
        let size = queued_size(&msg, detach);
        if self.messages.len() >= self.limits.messages
            || self.bytes.saturating_add(size) > self.limits.bytes
        {
            self.dropped += 1;
            let first = !self.slow;
            self.slow = true;
            return Pushed::Dropped { first };
        }
        let msg = if detach { self.detach(msg) } else { msg };
        debug_assert_eq!(msg.retained_size(), size);
        self.slow = false;
        self.bytes += size;
        self.share(&msg);
        self.messages.push_back(msg);
        Pushed::Queued
    }

    /// Messages queued.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Bytes held, as the byte limit counts them.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Messages dropped so far because a limit was reached.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether `msg` can be queued as it is: it shares no read allocation, or one that
    /// queued messages already keep alive, or there is room to keep one more.
    fn may_share(&self, msg: &Message) -> bool {
        msg.shared_buffer().is_none_or(|b| {
            self.shared
                .iter()
                .any(|s| s.is_none_or(|(held, _)| held == b))
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
            self.start_chunk((16 * size).clamp(COPY_CHUNK_MIN, COPY_CHUNK_MAX));
        }
        msg.detach_into(&mut self.copies)
    }

    /// Continues in another chunk of at least `capacity`: an earlier one whose messages
    /// were all dropped, or a new one. The current chunk's handle is kept as a spare.
    fn start_chunk(&mut self, capacity: usize) {
        let (next, next_capacity) = self
            .spare_copies
            .take(capacity)
            .unwrap_or_else(|| (BytesMut::with_capacity(capacity), capacity));
        let current = std::mem::replace(&mut self.copies, next);
        let current_capacity = std::mem::replace(&mut self.copies_capacity, next_capacity);
        // Before the first chunk (or after the queue emptied) there is nothing to keep.
        if current_capacity > 0 {
            self.spare_copies.keep(current, current_capacity);
        }
    }

    /// Takes the next message, releasing its share of its read allocation.
    pub fn pop(&mut self) -> Option<Message> {
        let msg = self.messages.pop_front()?;
        self.bytes -= msg.retained_size();
        if self.messages.is_empty() {
            self.copies = BytesMut::new();
            self.copies_capacity = 0;
            self.spare_copies.clear();
        } else {
            self.spare_copies.trim_to(self.bytes + SPARE_COPY_SLACK);
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
/// `detach` makes of subject, reply, headers and payload. (A chunk's unused tail
/// is not counted: at most a sixteenth of the chunk, and the chunk being filled.)
fn queued_size(msg: &Message, detach: bool) -> usize {
    if detach {
        msg.size() + std::mem::size_of::<Message>()
    } else {
        msg.retained_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

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
        use crate::connection::{Connection, ConnectionConfig, Event};
        let now = std::time::Instant::now();
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
        let mut pad = format!("MSG pad 2 {}\r\n", 120 * 1024).into_bytes();
        pad.resize(pad.len() + 120 * 1024, b'p');
        pad.extend_from_slice(b"\r\n");
        let mut small = Vec::new();
        let mut wire = Vec::new();
        for _ in 0..reads {
            wire.extend_from_slice(b"MSG small 1 5\r\nhello\r\n");
            if !same {
                wire.extend_from_slice(&pad);
                conn.handle_input(now, &wire);
                wire.clear();
            }
            small.extend(
                std::iter::from_fn(|| conn.poll_event())
                    .filter_map(|e| match e {
                        crate::connection::Event::Message(m) => Some(m),
                        _ => None,
                    })
                    .filter(|m| m.sid() == 1),
            );
        }
        conn.handle_input(now, &wire);
        small.extend(
            std::iter::from_fn(|| conn.poll_event())
                .filter_map(|e| match e {
                    crate::connection::Event::Message(m) => Some(m),
                    _ => None,
                })
                .filter(|m| m.sid() == 1),
        );
        assert_eq!(small.len(), reads);
        small
    }

    #[test]
    fn a_queue_keeps_zero_copy_messages_of_four_read_allocations_at_most() {
        let mut q = PendingQueue::new(PendingLimits::default());
        let msgs = delivered(MAX_SHARED_BUFFERS + 3, false);
        let buffers: Vec<_> = msgs.iter().map(Message::shared_buffer).collect();
        assert!(buffers.iter().all(Option::is_some));
        assert!(buffers.windows(2).all(|w| w[0] != w[1]), "{buffers:?}");
        let (first, rest) = msgs.split_at(MAX_SHARED_BUFFERS + 2);
        first.iter().cloned().for_each(|m| {
            q.push(m);
        });
        let wire = "MSG small 1 5\r\nhello\r\n".len();
        let compact = "smallhello".len();
        let expected = MAX_SHARED_BUFFERS * (wire + ENTRY) + 2 * (compact + ENTRY);
        assert_eq!((q.len(), q.bytes()), (MAX_SHARED_BUFFERS + 2, expected));
        {
            // The two copies sit side by side in one chunk.
            let inner = &q;
            let copy = |i: usize| inner.messages[i].subject_bytes().as_ptr();
            let (a, b) = (MAX_SHARED_BUFFERS, MAX_SHARED_BUFFERS + 1);
            assert_eq!(copy(b), copy(a).wrapping_add(compact));
            assert!(inner.copies.capacity() > 0);
        }
        // Taking the oldest releases its allocation: the next message may share again.
        let Some(taken) = q.pop() else {
            panic!("a message")
        };
        assert_eq!(taken.shared_buffer(), buffers[0]);
        rest.iter().cloned().for_each(|m| {
            q.push(m);
        });
        let mut got = vec![taken];
        while let Some(m) = q.pop() {
            got.push(m);
        }
        let kept: Vec<_> = got.iter().map(Message::shared_buffer).collect();
        let mut want = buffers[..MAX_SHARED_BUFFERS].to_vec();
        want.extend([None, None, buffers[MAX_SHARED_BUFFERS + 2]]);
        assert_eq!(kept, want);
        assert_eq!(got, msgs, "copies are the same messages, in order");
        assert_eq!((q.len(), q.bytes()), (0, 0));
        assert_eq!(q.copies.capacity(), 0, "an empty queue holds no chunk");
    }

    #[test]
    fn a_lagging_queue_copies_into_a_chunk_whose_messages_are_gone() {
        let mut q = PendingQueue::new(PendingLimits::default());
        let payload: &'static [u8] = &[7; 4000];
        // Sixteen copies fill a chunk.
        let (per_chunk, chunk) = (16, 16 * msg(payload).size());
        let at = |m: &Message| m.subject_bytes().as_ptr();
        let first: Vec<_> = (0..per_chunk).map(|_| q.detach(msg(payload))).collect();
        let first_chunk = at(&first[0]);
        assert!(first.iter().all(|m| m.payload() == payload));
        // The second chunk is new: the first one's messages are still held.
        let second: Vec<_> = (0..per_chunk).map(|_| q.detach(msg(payload))).collect();
        let second_chunk = at(&second[0]);
        assert!(!(first_chunk..first_chunk.wrapping_add(chunk)).contains(&second_chunk));
        // The first chunk's messages are gone: the third chunk is the first one again.
        drop(first);
        assert_eq!(
            q.spare_copies.len(),
            1,
            "the first chunk is kept, not freed"
        );
        let third = q.detach(msg(payload));
        assert_eq!(at(&third), first_chunk, "the freed chunk is reused");
        assert_eq!(
            q.spare_copies.len(),
            1,
            "the second one is kept in its place"
        );
        assert_eq!(third.payload(), payload);
        assert!(second.iter().all(|m| m.payload() == payload));
        // A queue that empties lets go of every chunk.
        q.push(third);
        assert!(q.pop().is_some());
        assert!(q.spare_copies.len() == 0 && q.copies.capacity() == 0);
    }

    #[test]
    fn chunks_fit_the_copies_and_free_ones_kept_are_bounded() {
        let mut q = PendingQueue::new(PendingLimits::default());
        let small = q.detach(msg(b"x"));
        assert_eq!(
            q.copies_capacity, COPY_CHUNK_MIN,
            "a small copy keeps 16 KiB alive"
        );
        drop(small);
        let payload: &'static [u8] = &[7; 4000];
        for _ in 0..400 {
            let copy = q.detach(msg(payload));
            q.push(copy);
        }
        assert_eq!(q.copies_capacity, 16 * msg(payload).size());
        while q.len() > 1 {
            drop(q.pop());
            let kept: usize = q.spare_copies.capacities().sum();
            assert_eq!(kept, q.spare_copies.bytes());
            assert!(
                kept <= q.bytes() + SPARE_COPY_SLACK,
                "{kept} > {}",
                q.bytes()
            );
        }
        drop(q.pop());
        assert_eq!((q.spare_copies.bytes(), q.copies_capacity), (0, 0));
    }

    #[test]
    fn messages_of_one_read_allocation_are_never_copied() {
        let mut q = PendingQueue::new(PendingLimits::default());
        let msgs = delivered(1000, true);
        msgs.iter().cloned().for_each(|m| {
            q.push(m);
        });
        let mut got = Vec::new();
        while let Some(m) = q.pop() {
            assert_eq!(m.shared_buffer(), msgs[0].shared_buffer());
            got.push(m);
        }
        assert_eq!(got.len(), 1000);
    }

    #[test]
    fn limits_drop_and_report_one_slow_consumer_per_episode() {
        let mut q = PendingQueue::new(PendingLimits {
            messages: 2,
            bytes: 1000,
        });
        let mut outcomes: Vec<Pushed> = [msg(b"a"), msg(b"b"), msg(b"c"), msg(b"d")]
            .into_iter()
            .map(|m| q.push(m))
            .collect();
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
        assert_eq!(q.pop(), Some(msg(b"a")));
        outcomes = [msg(b"e"), msg(b"f")]
            .into_iter()
            .map(|m| q.push(m))
            .collect();
        // "e" fits and ends the episode; "f" starts a new one.
        assert_eq!(outcomes, [Pushed::Queued, Pushed::Dropped { first: true }]);
        // Each message holds its frame ("s" + payload) and the Message value.
        assert_eq!((q.len(), q.bytes()), (2, 4 + 2 * ENTRY));
    }

    #[test]
    fn byte_limit_counts_the_frame_and_the_entry() {
        let mut q = PendingQueue::new(PendingLimits {
            messages: 100,
            bytes: 5 + ENTRY,
        });
        let outcomes: Vec<Pushed> = [msg(b"abc"), msg(b"d"), msg(b"e")]
            .into_iter()
            .map(|m| q.push(m))
            .collect();
        assert_eq!(
            outcomes,
            [
                Pushed::Queued,
                Pushed::Dropped { first: true },
                Pushed::Dropped { first: false }
            ]
        );
        assert_eq!((q.len(), q.bytes()), (1, 4 + ENTRY));
    }
}

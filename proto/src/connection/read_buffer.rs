//! The connection's read buffer: where input lands, waits to be parsed, and how its
//! memory is reused.
//!
//! The driver reads the transport straight into this buffer: [`ReadBuffer::lend`] hands
//! out the room after the unparsed bytes, in the same allocation, and
//! [`ReadBuffer::filled`] takes it back with the bytes read, joining them to the
//! unparsed ones without a copy. Reading into a buffer of the driver's and copying into
//! this one cost a `memmove` of every byte received (4.6% of a 4 KiB subscriber's CPU in
//! `perf`). The room is zero-initialised when an allocation is made or reused, because
//! `Read::read` wants initialised bytes and this crate has no `unsafe`: a `memset` once
//! per allocation instead of a copy per read.
//!
//! Parsed messages are zero-copy slices of this buffer, so an allocation stays alive for
//! as long as any message cut from it does. When the buffer runs out of room while
//! messages still hold it, new input has to go into another allocation. Taking a fresh
//! one every time meant fresh memory for every read: in `perf` of a 4 KiB subscriber,
//! page faults (`exc_page_fault`, `clear_page_erms`, memory-cgroup charging, unmapping)
//! were about 15% of the client's CPU. So the buffer keeps a few earlier allocations and
//! continues in one whose messages are all gone, allocating only when none is free.
//!
//! A frame larger than a standard allocation gets one of its own, sized from the frame
//! header once the parser has read it (`lend`'s `awaiting`): the bytes held so far are
//! copied once, the rest of the frame is read straight into place, reads stop at its
//! end, and nothing after the frame shares that allocation (a small message cut from its
//! tail would otherwise keep the whole large one alive). Growing to exactly what was held
//! plus one read, as this buffer once did, copied everything held on every read:
//! quadratic, 23 s for a 63 MiB message. Without a known frame size the buffer still
//! grows geometrically.
//!
//! Large frames of a few hundred KiB tend to come in streams (object store chunks). So
//! a frame allocation of up to 1 MiB is kept, like the standard ones, and a later frame
//! continues in it once its message is gone: 4 MiB of such allocations at most.

use std::num::NonZeroU64;
use std::ops::{Deref, DerefMut};

use bytes::BytesMut;

use crate::message::SharedBuffer;
use crate::spares::Spares;

/// The size of a new allocation: two reads' worth, so that a full read plus the start of
/// a frame left over from the last one fit.
pub(crate) const READ_ALLOCATION: usize = 128 * 1024;
/// The most one read is lent: half an allocation.
pub(crate) const READ_CHUNK: usize = 64 * 1024;
/// Less room than this left in an allocation, and the next read goes to another one: a
/// read into a sliver would cost a system call for a few bytes.
const MIN_ROOM: usize = 16 * 1024;
/// Earlier allocations kept for reuse; bounds what the buffer holds on to beyond the
/// messages themselves to `MAX_SPARES * READ_ALLOCATION`.
const MAX_SPARES: usize = 8;
/// The largest frame allocation kept for reuse by later large frames. Frames of a few
/// hundred KiB (object store chunks, large KV values) come in streams, where a fresh
/// allocation per frame cost page faults and an unmap each (a fifth of an object get's
/// CPU besides the hash); a single huge frame is rare and its memory goes back at once.
const MAX_REUSED_FRAME: usize = 1024 * 1024;
/// What the frame allocations kept for reuse may add up to: enough to outlast a pull
/// batch of such frames still waiting in a subscription, so the oldest is free again
/// when the next frame comes.
const FRAME_SPARE_BYTES: usize = 4 * 1024 * 1024;

/// Input waiting to be parsed; dereferences to the [`BytesMut`] the parser reads.
#[derive(Debug, Default)]
pub(crate) struct ReadBuffer {
    /// The unparsed bytes.
    buf: BytesMut,
    /// Initialised room right after `buf`, in the same allocation: where the next read
    /// lands.
    room: BytesMut,
    /// Part of `room` is lent out and not back yet.
    lent: bool,
    /// `buf`'s allocation has the standard size, so it may be kept as a spare later.
    standard: bool,
    /// `buf`'s allocation was made for the one large frame at its front, which will be
    /// its only user.
    own_frame: bool,
    /// Allocations continued in so far; the current one's number names it.
    allocations: u64,
    /// Handles (emptied) on earlier standard allocations; reusable once no message
    /// refers to them any more.
    spares: Vec<BytesMut>,
    /// The capacity of `buf`'s allocation when `own_frame`.
    frame_capacity: usize,
    /// Handles (emptied) on earlier frame allocations of at most [`MAX_REUSED_FRAME`],
    /// [`FRAME_SPARE_BYTES`] in all at most.
    frame_spares: Spares,
}

impl ReadBuffer {
    /// Room for the next read: at most [`READ_CHUNK`] initialised bytes right after the
    /// unparsed ones, to be given back with [`filled`](Self::filled).
    ///
    /// `awaiting` is the total size of the frame at the front of the buffer, when the
    /// parser knows it (its header was parsed, its payload is still arriving). A frame
    /// larger than a standard allocation is given an allocation of exactly its size, and
    /// the room lent ends at the frame's end: what follows is read after the frame was
    /// parsed and split off.
    pub(crate) fn lend(&mut self, awaiting: Option<usize>) -> BytesMut {
        if self.lent {
            // The last loan never came back (its bytes are lost with it): what followed
            // it is no longer contiguous with `buf`, so continue in another allocation.
            self.room = BytesMut::new();
        }
        let held = self.buf.len();
        let limit = match awaiting {
            Some(total) if total > READ_ALLOCATION && total > held => {
                if !self.own_frame || held + self.room.len() < total {
                    self.reserve_frame(total);
                }
                READ_CHUNK.min(total - held)
            }
            _ => {
                if self.room.len() < MIN_ROOM {
                    self.move_on(awaiting);
                }
                READ_CHUNK
            }
        };
        self.lent = true;
        self.room.split_to(limit.min(self.room.len()))
    }

    /// Takes back what [`lend`](Self::lend) gave out, its first `filled` bytes now input.
    /// They join the unparsed bytes without a copy; the rest is room again.
    pub(crate) fn filled(&mut self, mut space: BytesMut, filled: usize) {
        self.lent = false;
        let mut unused = space.split_off(filled.min(space.len()));
        // Contiguous (the loan came from right after `buf`): no copy. After a `clear`,
        // `buf` is empty and simply becomes the new bytes.
        self.buf.unsplit(space);
        let room = std::mem::take(&mut self.room);
        self.room = match unused.try_unsplit(room) {
            Ok(()) => unused,
            // The room was replaced while the loan was out (`clear`): keep the new one.
            Err(room) => room,
        };
    }

    /// Appends a copy of `data` (input that was not read into lent room), through the
    /// same room; returns what did not fit before the end of a large frame.
    #[cfg(test)]
    pub(crate) fn append<'a>(&mut self, data: &'a [u8], awaiting: Option<usize>) -> &'a [u8] {
        let mut rest = data;
        loop {
            let mut space = self.lend(awaiting);
            let n = space.len().min(rest.len());
            space[..n].copy_from_slice(&rest[..n]);
            self.filled(space, n);
            rest = &rest[n..];
            let frame_end = awaiting.is_some_and(|t| t > READ_ALLOCATION && self.buf.len() >= t);
            if rest.is_empty() || frame_end {
                return rest;
            }
        }
    }

    /// Drops the unparsed bytes (a new transport, or plain text before TLS).
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        // `room` no longer follows `buf`'s end: the next read goes to another allocation.
        self.room = BytesMut::new();
    }

    /// The allocation that messages cut from the buffer now share, or `None` when it was
    /// made for the one large frame at its front, whose message will own it alone.
    pub(crate) fn shared_buffer(&self) -> Option<SharedBuffer> {
        if self.own_frame {
            return None;
        }
        NonZeroU64::new(self.allocations).map(SharedBuffer::nth)
    }

    /// Makes room for a whole frame of `total` bytes (the held bytes are its start) in an
    /// allocation of its own.
    fn reserve_frame(&mut self, total: usize) {
        let next = self
            .reuse_frame(total)
            .unwrap_or_else(|| BytesMut::zeroed(total));
        let capacity = next.capacity();
        self.continue_in(next);
        self.standard = false;
        self.own_frame = true;
        self.frame_capacity = capacity;
    }

    /// An earlier frame allocation of at least `total` bytes whose message is gone,
    /// zeroed to `total` (the oldest first: the likeliest to be free).
    fn reuse_frame(&mut self, total: usize) -> Option<BytesMut> {
        let (mut spare, _) = self.frame_spares.take(total)?;
        spare.resize(total, 0);
        Some(spare)
    }

    /// Keeps `old`, an emptied handle on a frame allocation of `capacity`, for later
    /// frames, dropping the oldest handles beyond [`FRAME_SPARE_BYTES`].
    fn keep_frame_spare(&mut self, old: BytesMut, capacity: usize) {
        if capacity > MAX_REUSED_FRAME {
            return;
        }
        self.frame_spares.keep(old, capacity);
        self.frame_spares.trim_to(FRAME_SPARE_BYTES);
    }

    /// Continues in another allocation: a free spare when the held bytes and a read fit
    /// the standard size, a new allocation (at least the standard size, doubling what is
    /// held, so the copies stay linear in the bytes appended) otherwise.
    fn move_on(&mut self, awaiting: Option<usize>) {
        let held = self.buf.len();
        // A frame whose size is known needs only its rest; otherwise room for a read.
        let need = match awaiting {
            Some(total) if total > held => (total - held).min(READ_CHUNK),
            _ => READ_CHUNK,
        };
        let standard = held + need <= READ_ALLOCATION;
        let next = if standard {
            let spare = self
                .spares
                .iter_mut()
                .position(|s| s.try_reclaim(READ_ALLOCATION))
                .map(|i| self.spares.swap_remove(i));
            match spare {
                Some(mut spare) => {
                    spare.resize(READ_ALLOCATION, 0);
                    spare
                }
                None => BytesMut::zeroed(READ_ALLOCATION),
            }
        } else {
            BytesMut::zeroed((2 * held).max(held + READ_CHUNK))
        };
        self.continue_in(next);
        self.standard = standard;
        self.own_frame = false;
    }

    /// Moves the held bytes to the front of `next` (all initialised), whose rest becomes
    /// the room; the old allocation is kept as a spare when it has the standard size.
    fn continue_in(&mut self, mut next: BytesMut) {
        let held = self.buf.len();
        next[..held].copy_from_slice(&self.buf);
        let buf = next.split_to(held);
        let mut old = std::mem::replace(&mut self.buf, buf);
        // Rejoined when contiguous, so the spare is one handle; otherwise the room (only
        // zeros) is just dropped.
        let _ = old.try_unsplit(std::mem::replace(&mut self.room, next));
        old.clear();
        if self.standard && self.spares.len() < MAX_SPARES {
            self.spares.push(old);
        } else if self.own_frame {
            self.keep_frame_spare(old, self.frame_capacity);
        }
        self.allocations += 1;
    }
}

/// Room in the connection's read buffer for one read from the transport, from
/// [`Connection::read_space`](super::Connection::read_space); give it back, with how many
/// bytes were read into its front, to
/// [`Connection::handle_read`](super::Connection::handle_read).
///
/// It dereferences to initialised bytes, so it can be passed to any `Read::read`.
/// Holding it while reading needs no lock on the connection.
#[derive(Debug)]
pub struct ReadSpace(pub(super) BytesMut);

impl Deref for ReadSpace {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl DerefMut for ReadSpace {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl Deref for ReadBuffer {
    type Target = BytesMut;

    fn deref(&self) -> &BytesMut {
        &self.buf
    }
}

impl DerefMut for ReadBuffer {
    fn deref_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_out_in_order_across_allocations() {
        let mut rb = ReadBuffer::default();
        let mut held = Vec::new();
        let mut expected = Vec::new();
        let mut got = Vec::new();
        for i in 0..2000u32 {
            let data: Vec<u8> = (0..(i % 97 + 1)).map(|k| (i + k) as u8).collect();
            rb.append(&data, None);
            expected.extend_from_slice(&data);
            // Cut most of what is there, leaving a tail, and keep some cuts alive.
            let cut = rb.len() - rb.len() / 3;
            let frozen = rb.split_to(cut).freeze();
            got.extend_from_slice(&frozen);
            if i % 5 == 0 {
                held.push(frozen);
            }
            if held.len() > 20 {
                held.remove(0);
            }
        }
        got.extend_from_slice(&rb);
        assert_eq!(got, expected);
    }

    #[test]
    fn a_freed_allocation_is_reused_and_a_held_one_is_not() {
        let mut rb = ReadBuffer::default();
        // Fill a first allocation completely; a message keeps it alive.
        rb.append(&vec![1; READ_ALLOCATION], None);
        let first = rb.as_ptr();
        let first_id = rb.shared_buffer();
        let message = rb.split().freeze();
        // It is full and held: new input goes to a second allocation.
        rb.append(&[2; 10], None);
        let second = rb.as_ptr();
        assert_ne!(second, first);
        assert!(first_id.is_some() && rb.shared_buffer() != first_id);
        // Fill the second one too while the message still holds the first: a third.
        rb.append(&vec![3; READ_ALLOCATION - 10], None);
        let held_second = rb.split().freeze();
        rb.append(&[4; 10], None);
        assert!(
            rb.as_ptr() != first && rb.as_ptr() != second,
            "allocations messages still refer to are not reused"
        );
        // Once the message is gone, the first allocation is reused.
        drop(message);
        rb.append(&vec![5; READ_ALLOCATION - 10], None);
        let held_third = rb.split().freeze();
        rb.append(&[6; 10], None);
        assert_eq!(rb.as_ptr(), first, "the freed allocation is reused");
        assert_eq!(&rb[..], &[6; 10]);
        assert_eq!(held_second.len() + held_third.len(), 2 * READ_ALLOCATION);
    }

    #[test]
    fn a_large_frame_is_moved_once_and_shares_its_allocation_with_nothing() {
        let mut rb = ReadBuffer::default();
        let total = 5 * READ_ALLOCATION + 7;
        let read = 64 * 1024;
        // The first read brings the header: the parser does not know the size yet.
        assert!(rb.append(&vec![1; read], None).is_empty());
        // From the next read on it does: one allocation of the frame's size, filled in
        // place.
        assert!(rb.append(&vec![1; read], Some(total)).is_empty());
        let (start, capacity) = (rb.as_ptr(), rb.len() + rb.room.len());
        assert_eq!(capacity, total);
        assert_eq!(rb.shared_buffer(), None, "the frame's message will own it");
        let data = vec![1; read];
        let rest = loop {
            let rest = rb.append(&data, Some(total));
            assert_eq!(
                rb.as_ptr(),
                start,
                "the frame's bytes are never copied again"
            );
            if !rest.is_empty() {
                break rest;
            }
        };
        // The read that ends the frame stops at its end; what follows waits.
        assert_eq!(rb.len(), total);
        assert_eq!(rest.len(), read - (total - 2 * read) % read);
        let frame = rb.split_to(total).freeze();
        assert!(rb.append(rest, None).is_empty());
        assert!(
            !(start..start.wrapping_add(total)).contains(&rb.as_ptr()),
            "bytes after the frame go to another allocation"
        );
        assert!(rb.shared_buffer().is_some());
        drop(frame);
    }

    /// Reads `total` bytes of one large frame (header read first, as the parser sees
    /// it) and cuts it off as its message; returns the message.
    fn large_frame(rb: &mut ReadBuffer, total: usize, byte: u8) -> bytes::Bytes {
        assert!(rb.append(&vec![byte; 1024], None).is_empty());
        assert!(rb.append(&vec![byte; total - 1024], Some(total)).is_empty());
        assert_eq!(rb.len(), total);
        rb.split_to(total).freeze()
    }

    #[test]
    fn a_large_frame_reuses_the_allocation_of_one_whose_message_is_gone() {
        let mut rb = ReadBuffer::default();
        let total = READ_ALLOCATION + 300;
        let first = large_frame(&mut rb, total, 1);
        let second = large_frame(&mut rb, total, 2);
        assert_ne!(first.as_ptr(), second.as_ptr());
        // Both messages held: a third frame needs a new allocation.
        let third = large_frame(&mut rb, total, 3);
        assert!(third.as_ptr() != first.as_ptr() && third.as_ptr() != second.as_ptr());
        // The first message is gone: the next frame lands in its allocation.
        let first_at = first.as_ptr();
        drop(first);
        let fourth = large_frame(&mut rb, total, 4);
        assert_eq!(
            fourth.as_ptr(),
            first_at,
            "the freed frame allocation is reused"
        );
        assert!(fourth.iter().all(|&b| b == 4));
        assert!(second.iter().all(|&b| b == 2) && third.iter().all(|&b| b == 3));
        assert!(rb.frame_spares.bytes() <= FRAME_SPARE_BYTES);
    }

    #[test]
    fn frame_allocations_kept_are_bounded() {
        let mut rb = ReadBuffer::default();
        // Larger than the reuse limit: never kept.
        drop(large_frame(&mut rb, MAX_REUSED_FRAME + 1, 1));
        drop(large_frame(&mut rb, MAX_REUSED_FRAME + 1, 2));
        assert!(rb.frame_spares.capacities().all(|c| c <= MAX_REUSED_FRAME));
        // Many held frames: what is kept stays within the budget.
        let held: Vec<_> = (0..64)
            .map(|i| large_frame(&mut rb, READ_ALLOCATION + 1, i))
            .collect();
        let kept: usize = rb.frame_spares.capacities().sum();
        assert_eq!(kept, rb.frame_spares.bytes());
        assert!(
            kept <= FRAME_SPARE_BYTES && kept > FRAME_SPARE_BYTES / 2,
            "{kept}"
        );
        drop(held);
    }

    #[test]
    fn without_a_known_frame_size_the_buffer_grows_geometrically() {
        let mut rb = ReadBuffer::default();
        let read = 64 * 1024;
        let mut moves = 0;
        let mut at = rb.as_ptr();
        for _ in 0..256 {
            assert!(rb.append(&vec![1; read], None).is_empty());
            if rb.as_ptr() != at {
                moves += 1;
                at = rb.as_ptr();
            }
        }
        assert_eq!(rb.len(), 256 * read);
        // 16 MiB held: 128 KiB, then doubling, is 8 moves; growing by one read each
        // time would be 255.
        assert!(moves <= 9, "{moves} moves");
    }

    #[test]
    fn oversized_allocations_are_not_kept() {
        let mut rb = ReadBuffer::default();
        rb.append(&vec![1; 3 * READ_ALLOCATION], None);
        let big = rb.split().freeze();
        rb.append(&vec![2; READ_ALLOCATION], None);
        drop(big);
        assert!(
            rb.spares
                .iter_mut()
                .all(|s| s.try_reclaim(READ_ALLOCATION) && s.capacity() == READ_ALLOCATION),
            "only standard allocations are kept"
        );
    }

    #[test]
    fn reads_land_in_place_and_join_the_unparsed_bytes_without_a_copy() {
        let mut rb = ReadBuffer::default();
        let mut space = rb.lend(None);
        assert_eq!(space.len(), READ_CHUNK);
        let at = space.as_ptr();
        space[..5].copy_from_slice(b"hello");
        rb.filled(space, 5);
        assert_eq!((&rb[..], rb.as_ptr()), (&b"hello"[..], at));
        // The next loan starts right after the bytes read: the same allocation.
        let mut space = rb.lend(None);
        assert_eq!(space.as_ptr(), at.wrapping_add(5));
        space[..6].copy_from_slice(b" world");
        rb.filled(space, 6);
        assert_eq!((&rb[..], rb.as_ptr()), (&b"hello world"[..], at));
        // What the parser cuts off does not move the rest.
        let hello = rb.split_to(5).freeze();
        let space = rb.lend(None);
        assert_eq!(space.as_ptr(), at.wrapping_add(11));
        rb.filled(space, 0);
        assert_eq!(&rb[..], b" world");
        drop(hello);
    }

    #[test]
    fn a_loan_outlives_a_clear_and_a_lost_loan() {
        let mut rb = ReadBuffer::default();
        rb.append(b"partial frame", None);
        // Lent, then the transport changed: the bytes read into the loan are the new
        // transport's and are all that is held.
        let mut space = rb.lend(None);
        rb.clear();
        space[..3].copy_from_slice(b"new");
        rb.filled(space, 3);
        assert_eq!(&rb[..], b"new");
        let mut more = rb.lend(None);
        more[..4].copy_from_slice(b" one");
        rb.filled(more, 4);
        assert_eq!(&rb[..], b"new one");
        // A loan that never comes back: the next one is still after the held bytes.
        drop(rb.lend(None));
        let mut space = rb.lend(None);
        space[..1].copy_from_slice(b"!");
        rb.filled(space, 1);
        assert_eq!(&rb[..], b"new one!");
    }
}

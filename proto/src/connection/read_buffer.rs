//! The connection's read buffer: where input waits to be parsed, and how its memory is
//! reused.
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
//! header once the parser has read it ([`ReadBuffer::append`]'s `awaiting`): the bytes
//! held so far are copied once, the rest of the frame is read straight into place, and
//! nothing after the frame shares that allocation (a small message cut from its tail would
//! otherwise keep the whole large one alive). Growing to exactly what was held plus one
//! read, as this buffer once did, copied everything held on every read: quadratic, 23 s
//! for a 63 MiB message. Without a known frame size the buffer still grows geometrically.

use std::num::NonZeroU64;
use std::ops::{Deref, DerefMut};

use bytes::BytesMut;

use crate::message::SharedBuffer;

/// The size of a new allocation: two reads' worth (the client reads 64 KiB at a time), so
/// that a full read plus the start of a frame left over from the last one fit a spare.
pub(crate) const READ_ALLOCATION: usize = 128 * 1024;
/// Earlier allocations kept for reuse; bounds what the buffer holds on to beyond the
/// messages themselves to `MAX_SPARES * READ_ALLOCATION`.
const MAX_SPARES: usize = 8;

/// Input waiting to be parsed; dereferences to the [`BytesMut`] the parser reads.
#[derive(Debug, Default)]
pub(crate) struct ReadBuffer {
    buf: BytesMut,
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
}

impl ReadBuffer {
    /// Appends `data`, reusing a spare allocation when the current one is full.
    ///
    /// `awaiting` is the total size of the frame at the front of the buffer, when the
    /// parser knows it (its header was parsed, its payload is still arriving). A frame
    /// larger than a standard allocation is given an allocation of exactly its size, and
    /// only the bytes up to its end are appended: the rest is returned, to be appended
    /// after the frame was parsed and split off.
    pub(crate) fn append<'a>(&mut self, data: &'a [u8], awaiting: Option<usize>) -> &'a [u8] {
        let (now, rest) = match awaiting {
            Some(total) if total > READ_ALLOCATION && total > self.buf.len() => {
                self.reserve_frame(total);
                data.split_at((total - self.buf.len()).min(data.len()))
            }
            _ => (data, &[][..]),
        };
        if !self.buf.try_reclaim(now.len()) {
            let want = self.buf.len() + now.len();
            // Doubling what is held keeps the copies linear in the bytes appended.
            self.move_on(want, want.max(2 * self.buf.len()));
        }
        self.buf.extend_from_slice(now);
        rest
    }

    /// The allocation that messages cut from the buffer now share, or `None` when it was
    /// made for the one large frame at its front, whose message will own it alone.
    pub(crate) fn shared_buffer(&self) -> Option<SharedBuffer> {
        if self.own_frame {
            return None;
        }
        NonZeroU64::new(self.allocations).map(SharedBuffer::nth)
    }

    /// Makes room for a whole frame of `total` bytes (the held bytes are its start).
    fn reserve_frame(&mut self, total: usize) {
        if !self.buf.try_reclaim(total - self.buf.len()) {
            self.move_on(total, total);
            self.own_frame = true;
        }
    }

    /// Continues in another allocation with room for `want` bytes: a free spare when
    /// `want` fits the standard size, a new allocation of `capacity` bytes (at least the
    /// standard size) otherwise. The bytes held (the start of a frame still incomplete)
    /// are copied over.
    fn move_on(&mut self, want: usize, capacity: usize) {
        let standard = want <= READ_ALLOCATION;
        let spare = if standard {
            self.spares
                .iter_mut()
                .position(|s| s.try_reclaim(READ_ALLOCATION))
                .map(|i| self.spares.swap_remove(i))
        } else {
            None
        };
        let capacity = if standard {
            READ_ALLOCATION
        } else {
            capacity.max(want)
        };
        let next = spare.unwrap_or_else(|| BytesMut::with_capacity(capacity));
        let mut old = std::mem::replace(&mut self.buf, next);
        self.buf.extend_from_slice(&old);
        old.clear();
        if self.standard && self.spares.len() < MAX_SPARES {
            self.spares.push(old);
        }
        self.standard = standard;
        self.own_frame = false;
        self.allocations += 1;
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
        let (start, capacity) = (rb.as_ptr(), rb.capacity());
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
        assert!(
            rb.spares.is_empty(),
            "a large frame's allocation is not kept"
        );
        drop(big);
    }
}

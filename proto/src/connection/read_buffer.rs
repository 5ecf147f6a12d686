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

use std::ops::{Deref, DerefMut};

use bytes::BytesMut;

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
    /// Handles (emptied) on earlier standard allocations; reusable once no message
    /// refers to them any more.
    spares: Vec<BytesMut>,
}

impl ReadBuffer {
    /// Appends `data`, reusing a spare allocation when the current one is full.
    pub(crate) fn append(&mut self, data: &[u8]) {
        if !self.buf.try_reclaim(data.len()) {
            self.move_on(data.len());
        }
        self.buf.extend_from_slice(data);
    }

    /// Continues in another allocation with room for the bytes held plus `more`: a free
    /// spare if there is one, a new allocation otherwise. The bytes held (the start of a
    /// frame still incomplete) are copied over.
    fn move_on(&mut self, more: usize) {
        let want = self.buf.len() + more;
        let spare = if want <= READ_ALLOCATION {
            self.spares
                .iter_mut()
                .position(|s| s.try_reclaim(READ_ALLOCATION))
                .map(|i| self.spares.swap_remove(i))
        } else {
            None
        };
        let standard = want <= READ_ALLOCATION;
        let next = spare.unwrap_or_else(|| BytesMut::with_capacity(want.max(READ_ALLOCATION)));
        let mut old = std::mem::replace(&mut self.buf, next);
        self.buf.extend_from_slice(&old);
        old.clear();
        if self.standard && self.spares.len() < MAX_SPARES {
            self.spares.push(old);
        }
        self.standard = standard;
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
            rb.append(&data);
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
        rb.append(&vec![1; READ_ALLOCATION]);
        let first = rb.as_ptr();
        let message = rb.split().freeze();
        // It is full and held: new input goes to a second allocation.
        rb.append(&[2; 10]);
        let second = rb.as_ptr();
        assert_ne!(second, first);
        // Fill the second one too while the message still holds the first: a third.
        rb.append(&vec![3; READ_ALLOCATION - 10]);
        let held_second = rb.split().freeze();
        rb.append(&[4; 10]);
        assert!(
            rb.as_ptr() != first && rb.as_ptr() != second,
            "allocations messages still refer to are not reused"
        );
        // Once the message is gone, the first allocation is reused.
        drop(message);
        rb.append(&vec![5; READ_ALLOCATION - 10]);
        let held_third = rb.split().freeze();
        rb.append(&[6; 10]);
        assert_eq!(rb.as_ptr(), first, "the freed allocation is reused");
        assert_eq!(&rb[..], &[6; 10]);
        assert_eq!(held_second.len() + held_third.len(), 2 * READ_ALLOCATION);
    }

    #[test]
    fn oversized_allocations_are_not_kept() {
        let mut rb = ReadBuffer::default();
        rb.append(&vec![1; 3 * READ_ALLOCATION]);
        let big = rb.split().freeze();
        rb.append(&vec![2; READ_ALLOCATION]);
        assert!(
            rb.spares.is_empty(),
            "a large frame's allocation is not kept"
        );
        drop(big);
    }
}

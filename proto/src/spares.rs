//! [`Spares`]: emptied handles on allocations whose bytes went out as zero-copy
//! [`Bytes`](bytes::Bytes), kept so that a later buffer can continue in one of them once
//! nothing refers to it any more, instead of taking fresh pages. The read buffer's large
//! frames and the pending queue's copy chunks both use it.

use std::collections::VecDeque;

use bytes::BytesMut;

/// Handles on earlier allocations with their capacity, oldest first (a reader frees in
/// order, so the oldest is the likeliest to be free), and the capacity they add up to.
#[derive(Debug, Default)]
pub(crate) struct Spares {
    handles: VecDeque<(BytesMut, usize)>,
    bytes: usize,
}

impl Spares {
    /// An allocation of at least `capacity` that nothing else refers to any more, reclaimed
    /// to its start (empty, its whole capacity available), with that capacity.
    pub(crate) fn take(&mut self, capacity: usize) -> Option<(BytesMut, usize)> {
        let i = self
            .handles
            .iter_mut()
            .position(|(h, _)| h.try_reclaim(capacity))?;
        let (handle, kept) = self.handles.remove(i)?;
        self.bytes -= kept;
        Some((handle, kept))
    }

    /// Keeps `handle`, on an allocation of `capacity`, as the newest.
    pub(crate) fn keep(&mut self, handle: BytesMut, capacity: usize) {
        self.handles.push_back((handle, capacity));
        self.bytes += capacity;
    }

    /// Lets go of the oldest handles until those kept add up to `max` at most.
    pub(crate) fn trim_to(&mut self, max: usize) {
        while self.bytes > max {
            let Some((_, dropped)) = self.handles.pop_front() else {
                break;
            };
            self.bytes -= dropped;
        }
    }

    /// Lets go of every handle.
    pub(crate) fn clear(&mut self) {
        self.handles.clear();
        self.bytes = 0;
    }

    /// The capacity the kept handles add up to.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// How many handles are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.handles.len()
    }

    /// The capacity of each kept handle, oldest first.
    #[cfg(test)]
    pub(crate) fn capacities(&self) -> impl Iterator<Item = usize> + '_ {
        self.handles.iter().map(|(_, c)| *c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handle on an allocation of `capacity` and the frozen bytes that share it.
    fn shared(capacity: usize) -> (BytesMut, bytes::Bytes) {
        let mut buf = BytesMut::zeroed(capacity);
        let out = buf.split_to(capacity / 2).freeze();
        buf.clear();
        (buf, out)
    }

    #[test]
    fn only_an_allocation_nothing_refers_to_is_taken_oldest_first() {
        let mut s = Spares::default();
        let (a, a_out) = shared(64);
        let (b, b_out) = shared(64);
        let (a_at, b_at) = (a_out.as_ptr(), b_out.as_ptr());
        s.keep(a, 64);
        s.keep(b, 64);
        assert!(s.take(64).is_none(), "both still referred to");
        drop(b_out);
        drop(a_out);
        let (taken, capacity) = s.take(64).unwrap();
        assert_eq!((taken.as_ptr(), taken.capacity(), capacity), (a_at, 64, 64));
        assert!(s.take(128).is_none(), "too small");
        assert_eq!(s.take(64).unwrap().0.as_ptr(), b_at);
        assert_eq!((s.len(), s.bytes()), (0, 0));
    }

    #[test]
    fn trimming_lets_the_oldest_go() {
        let mut s = Spares::default();
        for capacity in [10, 20, 30] {
            s.keep(BytesMut::with_capacity(capacity), capacity);
        }
        s.trim_to(50);
        assert_eq!(s.capacities().collect::<Vec<_>>(), [20, 30]);
        s.trim_to(0);
        assert_eq!((s.len(), s.bytes()), (0, 0));
    }
}

//! [`Lease`]: output lent to a driver that writes it without holding the connection.
//!
//! A driver that shares the [`Connection`] behind a lock (user threads publish while it
//! writes) would otherwise hold that lock for the whole socket write, a copy of up to half
//! a MiB in the kernel, and every publisher would wait for it. Instead it takes owned
//! handles on the next bytes under the lock ([`Connection::lend_output`]), writes them
//! after releasing it, and reports what the socket took under the lock again
//! ([`Connection::handle_written`]). Meanwhile user calls may append; only one lease is
//! out at a time, and [`Connection::poll_transmit`] offers nothing while it is.
//!
//! What the connection does meanwhile to the bytes it lent (a forced reconnect moves its
//! unwritten publishes back to the reconnect buffer, a close discards them) cannot be
//! decided until the driver says how much was written. Those publishes are set aside as
//! orphans of the lease and settled by `handle_written`: the ones the socket took are
//! gone, the others are requeued or counted as discarded, as they would have been.

use std::io::IoSlice;

use bytes::Bytes;

use super::{Connection, State};
use crate::encode::fill_io_slices;

/// Owned handles on bytes [`Connection::lend_output`] lent to a driver; hand it back to
/// [`Connection::handle_written`]. Reuse one lease for every write: it keeps its
/// allocation, so steady-state writing allocates nothing.
///
/// ```
/// # use std::io::IoSlice;
/// # use std::time::Instant;
/// # use natsy_proto::connection::{Connection, ConnectionConfig, Lease};
/// let mut conn = Connection::new(ConnectionConfig::default(), Instant::now()).unwrap();
/// let mut lease = Lease::new();
/// if conn.lend_output(&mut lease, 64) {
///     // Release the lock that guards `conn` here, then write.
///     let mut slices = [IoSlice::new(&[]); 64];
///     let n = lease.io_slices(&mut slices);
///     let written = slices[..n].iter().map(|s| s.len()).sum(); // what the socket took
///     conn.handle_written(&mut lease, written);
/// }
/// ```
#[derive(Debug, Default)]
pub struct Lease {
    chunks: Vec<Bytes>,
    len: usize,
}

impl Lease {
    /// An empty lease.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes lent.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing lent.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fills `dst` with the lent bytes, in order; returns how many slices were filled.
    /// A lease holds at most the chunks asked for in `lend_output`.
    pub fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        fill_io_slices(dst, self.chunks.iter().map(|c| &c[..]))
    }

    fn clear(&mut self) {
        self.chunks.clear();
        self.len = 0;
    }
}

/// The stream positions of what is lent, and what became of them meanwhile.
#[derive(Debug)]
pub(super) struct Lent {
    start: u64,
    end: u64,
    /// `Some` once the output was cleared while lent: the lent bytes are no longer at
    /// its front, and the publishes among them wait here for `handle_written`.
    orphans: Option<Orphans>,
}

#[derive(Debug, Default)]
struct Orphans {
    /// Publishes to send on the next connection unless written: start and frame.
    requeue: Vec<(u64, Bytes)>,
    /// Starts of publishes to count as discarded unless written.
    discard: Vec<u64>,
}

impl Lent {
    /// Whether a publish starting at `start` is among the lent bytes.
    pub(super) fn holds(&self, start: u64) -> bool {
        start < self.end
    }

    /// The output is about to be cleared: from now on the lent bytes are settled by
    /// `handle_written` alone.
    pub(super) fn orphan(&mut self) {
        self.orphans.get_or_insert_with(Orphans::default);
    }

    pub(super) fn requeue_unless_written(&mut self, start: u64, frame: &[u8]) {
        let orphans = self.orphans.get_or_insert_with(Orphans::default);
        orphans.requeue.push((start, Bytes::copy_from_slice(frame)));
    }

    pub(super) fn discard_unless_written(&mut self, start: u64) {
        let orphans = self.orphans.get_or_insert_with(Orphans::default);
        orphans.discard.push(start);
    }

    /// Lent bytes still at the front of the output, for the statistics of a discard.
    pub(super) fn pending(&self, consumed: u64) -> usize {
        usize::try_from(self.end.saturating_sub(consumed)).unwrap_or(usize::MAX)
    }
}

impl Connection {
    /// Lends the next bytes to send, up to `max_chunks` chunks, as owned handles in
    /// `lease`, for a driver that writes them after releasing whatever guards this
    /// connection (see [`Lease`]). `false`: nothing to write, or a lease is already out.
    ///
    /// Until the lease comes back through [`handle_written`](Self::handle_written),
    /// [`poll_transmit`](Self::poll_transmit) offers nothing and
    /// [`advance_transmit`](Self::advance_transmit) does nothing: one write is in flight
    /// at a time. Return it before the next `handle_read` or `handle_timeout`.
    #[must_use]
    pub fn lend_output(&mut self, lease: &mut Lease, max_chunks: usize) -> bool {
        lease.clear();
        if self.lent.is_some() || self.out.is_empty() || max_chunks == 0 {
            return false;
        }
        lease.len = self.out.lend(&mut lease.chunks, max_chunks);
        let start = self.out.consumed();
        self.lent = Some(Lent {
            start,
            end: start + lease.len as u64,
            orphans: None,
        });
        true
    }

    /// Takes back `lease` after the transport took `written` of its bytes (0 after a
    /// failed write). The lease is emptied for reuse.
    pub fn handle_written(&mut self, lease: &mut Lease, written: usize) {
        let written = written.min(lease.len);
        lease.clear();
        let Some(lent) = self.lent.take() else {
            return;
        };
        match lent.orphans {
            None => self.advance_transmit(written),
            Some(orphans) => self.settle_orphans(orphans, lent.start + written as u64, lent.end),
        }
    }

    /// The lent publishes the transport did not begin are requeued or discarded, as the
    /// clear that orphaned them would have done.
    fn settle_orphans(&mut self, orphans: Orphans, written_end: u64, lent_end: u64) {
        let discarded = orphans
            .discard
            .iter()
            .filter(|&&s| s >= written_end)
            .count();
        if discarded > 0 {
            let bytes = usize::try_from(lent_end - written_end).unwrap_or(usize::MAX);
            self.count_discarded(discarded, bytes);
        }
        let requeue: Vec<&[u8]> = orphans
            .requeue
            .iter()
            .filter(|(s, _)| *s >= written_end)
            .map(|(_, frame)| &frame[..])
            .collect();
        if requeue.is_empty() {
            return;
        }
        if self.state == State::Closed {
            let bytes = requeue.iter().map(|f| f.len()).sum();
            self.count_discarded(requeue.len(), bytes);
        } else if self.writes_to_transport() {
            // A driver that connected again before returning the lease: after the rest.
            for frame in requeue {
                let start = self.out.stream_position();
                self.out.push_encoded(frame);
                self.pub_frames
                    .push_back((start, self.out.stream_position()));
            }
        } else {
            self.reconnect_buffer.requeue_front(requeue);
        }
    }
}

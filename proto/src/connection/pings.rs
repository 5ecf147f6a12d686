//! The FIFO of outstanding PINGs: the server answers PINGs in order, so each PONG
//! belongs to the oldest PING still waiting, whoever sent it (handshake, keepalive or a
//! flush).

use std::collections::VecDeque;

use super::event::FlushId;

/// Who sent a PING.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PingKind {
    /// The PING after CONNECT; its PONG completes the handshake.
    Handshake,
    /// A keepalive tick.
    Keepalive,
    /// A [`flush`](super::Connection::flush).
    Flush(FlushId),
    /// The last PING of a connection a forced reconnect retires: its PONG means every
    /// message the server sent for what we wrote before it has arrived.
    Retire,
}

/// Outstanding PINGs, oldest first.
#[derive(Debug, Default)]
pub(crate) struct PingQueue {
    outstanding: VecDeque<PingKind>,
}

impl PingQueue {
    /// Records a PING just written.
    pub(crate) fn push(&mut self, kind: PingKind) {
        self.outstanding.push_back(kind);
    }

    /// A PONG arrived: the oldest PING it answers, if any is outstanding.
    pub(crate) fn pong(&mut self) -> Option<PingKind> {
        self.outstanding.pop_front()
    }

    /// Forgets every PING (the transport is gone) and returns the flushes that were
    /// waiting, oldest first.
    pub(crate) fn take_flushes(&mut self) -> Vec<FlushId> {
        self.outstanding
            .drain(..)
            .filter_map(|k| match k {
                PingKind::Flush(id) => Some(id),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pongs_answer_pings_in_order() {
        let mut q = PingQueue::default();
        q.push(PingKind::Flush(FlushId(1)));
        q.push(PingKind::Keepalive);
        q.push(PingKind::Flush(FlushId(2)));
        assert_eq!(q.pong(), Some(PingKind::Flush(FlushId(1))));
        q.push(PingKind::Flush(FlushId(3)));
        assert_eq!(q.take_flushes(), vec![FlushId(2), FlushId(3)]);
        assert_eq!(q.pong(), None);
    }
}

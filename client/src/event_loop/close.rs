//! Closing for good: the bounded final write without the lock, what it could not send
//! counted as discarded, every waiter released, `Closed` emitted.

use std::time::{Duration, Instant};

use mio::Events;
use natsy_proto::connection::CloseReason;

use super::{EventLoop, CLOSE_FLUSH};
use crate::event::{Discarded, Event};
use crate::shared::{FirstConnect, FlushState, SlotState};
use crate::transport::Phase;
use crate::SubscriptionEnded;

impl EventLoop {
    /// After proto closed for good: gives what is still queued (a user `close` on an
    /// open connection) a bounded chance to reach the socket, waiting for writability
    /// without the lock; reports what could not be written as discarded; then releases
    /// every waiter and emits `Closed`.
    pub(super) fn finish_close(&mut self, reason: CloseReason) {
        #[cfg(all(feature = "tokio", unix))]
        self.leave_reactor();
        let shared = self.shared.clone();
        let deadline = Instant::now() + CLOSE_FLUSH;
        let mut events = Events::with_capacity(4);
        loop {
            {
                let core = self.write_pending(&shared, shared.lock());
                let open = self
                    .transport
                    .as_ref()
                    .is_some_and(|t| matches!(t.phase, Phase::Open));
                if !open || core.conn.transmit_len() == 0 || Instant::now() >= deadline {
                    break;
                }
            }
            let _ = self.poll.poll(&mut events, Some(Duration::from_millis(20)));
            if let Some(t) = self.transport.as_mut() {
                t.write_blocked = false;
            }
        }
        while let Some(t) = self.transport.as_mut() {
            if !t.tls_wants_write() || Instant::now() >= deadline {
                break;
            }
            t.write_blocked = false;
            if t.flush_tls().is_err() {
                break;
            }
            if t.write_blocked {
                let _ = self.poll.poll(&mut events, Some(Duration::from_millis(20)));
            }
        }
        self.drop_transport();

        let mut core = shared.lock();
        core.direct = None;
        core.conn.discard_unwritten();
        if matches!(core.first_connect, FirstConnect::Pending) {
            core.first_connect =
                FirstConnect::Failed(Box::new((core.last_attempt_error.clone(), reason.clone())));
        }
        core.closed = Some(reason.clone());
        self.shared.notify_drained(&mut core);
        for q in core.subs.values() {
            q.close(SubscriptionEnded::ConnectionClosed);
        }
        for state in core.flushes.values_mut() {
            if *state == FlushState::Pending {
                *state = FlushState::Failed;
            }
        }
        for (_, slot) in core.replies.drain() {
            slot.fill(SlotState::Closed);
        }
        let stats = core.conn.stats();
        let discarded = Discarded {
            messages: stats.discarded_msgs,
            bytes: stats.discarded_bytes,
        };
        // The loop ends here: no deadline will be served again, so every async wait is
        // woken to see the close.
        core.timers.fire_all();
        self.shared.notify_changed(&mut core);
        drop(core);
        self.shared.emit(Event::Closed { reason, discarded });
    }
}

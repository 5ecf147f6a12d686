//! The state shared by user threads and the event loop thread.
//!
//! One mutex guards the `proto::Connection` and the routing tables ([`Core`]). User calls
//! lock it briefly to encode an op; the loop locks it to feed input and to write. Waits
//! (flush, first connect) use condition variables on the same mutex; replies and
//! subscription messages have their own small queues so a slow reader never holds it.

use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use natsy_proto::connection::{AttemptError, CloseReason, Connection, FlushId, RequestId};
use natsy_proto::{Message, ServerAddr, Sid};

use crate::error::{PermissionError, PermissionOperation};
use crate::event::Event;
use crate::sub_queue::{Closed, Pushed, SubQueue};

/// How the first connect went, for `connect` to return.
#[derive(Debug, Clone)]
pub(crate) enum FirstConnect {
    Pending,
    Connected,
    Failed(Box<(Option<(ServerAddr, AttemptError)>, CloseReason)>),
}

/// Where a flush stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlushState {
    Pending,
    Done,
    Failed,
}

/// What a request's reply slot holds.
#[derive(Debug, Default)]
pub(crate) enum SlotState {
    #[default]
    Waiting,
    Reply(Message),
    /// The server refused the request's publish or its reply inbox.
    Refused(PermissionError),
    Closed,
}

/// One outstanding request's reply slot, filled by the loop, waited on by the requester.
#[derive(Debug, Default)]
pub(crate) struct ReplySlot {
    pub(crate) state: Mutex<SlotState>,
    pub(crate) ready: Condvar,
}

impl ReplySlot {
    pub(crate) fn fill(&self, state: SlotState) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
        self.ready.notify_all();
    }

    /// Takes what arrived, leaving `Waiting`.
    pub(crate) fn take(&self) -> SlotState {
        std::mem::take(&mut *self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Everything behind the one lock.
pub(crate) struct Core {
    pub(crate) conn: Connection,
    pub(crate) subs: HashMap<Sid, Arc<SubQueue>>,
    pub(crate) flushes: HashMap<FlushId, FlushState>,
    /// The reply slot of each request proto's muxer has waiting.
    pub(crate) replies: HashMap<RequestId, Arc<ReplySlot>>,
    /// Subscriptions that end when the server refuses a publish to one of the subjects
    /// listed (`Subscription::end_on_refused_publish`).
    pub(crate) publish_watches: HashMap<Sid, Vec<String>>,
    /// The loop has been woken (or will look at the output anyway): no need to wake it.
    pub(crate) wake_pending: bool,
    pub(crate) first_connect: FirstConnect,
    /// Publishers waiting for the outgoing queue to drain (backpressure).
    pub(crate) publish_waiters: usize,
    pub(crate) last_attempt_error: Option<(ServerAddr, AttemptError)>,
    /// Why the dialer last failed to get credentials (for `connect` to return it typed).
    pub(crate) last_credentials_error: Option<crate::CredentialsError>,
    pub(crate) closed: Option<CloseReason>,
    pub(crate) slow_consumer_drops: u64,
}

impl Core {
    /// Forgets subscription `sid` (its queue and what it watches); the queue, if any.
    pub(crate) fn remove_sub(&mut self, sid: Sid) -> Option<Arc<SubQueue>> {
        self.publish_watches.remove(&sid);
        self.subs.remove(&sid)
    }

    /// The server refused a publish to a subject: end every subscription watching that
    /// subject (`Subscription::end_on_refused_publish`), unsubscribing it. (Requests to
    /// it were failed by proto's muxer.)
    pub(crate) fn publish_refused(&mut self, e: &PermissionError) {
        if e.operation() != PermissionOperation::Publish {
            return;
        }
        let subject = e.subject();
        let ended: Vec<Sid> = self
            .publish_watches
            .iter()
            .filter(|(_, subjects)| subjects.iter().any(|s| s == subject))
            .map(|(sid, _)| *sid)
            .collect();
        for sid in ended {
            if let Some(q) = self.remove_sub(sid) {
                q.close(Closed::PermissionDenied(e.clone()));
            }
            // Nothing more is wanted: drop the interest on the server too.
            let _ = self.conn.unsubscribe(sid, None);
        }
    }
}

/// Routes received messages: consecutive messages for one subscription go into its queue
/// under one lock and one wake-up. Call [`flush`](Self::flush) before the core lock is
/// released.
pub(crate) struct RouteBatch {
    sid: Sid,
    messages: Vec<Message>,
}

impl RouteBatch {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        RouteBatch {
            sid: 0,
            messages: Vec::with_capacity(capacity),
        }
    }

    /// Routes one message, queueing what is held first when the subscription changes.
    pub(crate) fn route(&mut self, shared: &Shared, core: &mut Core, msg: Message) {
        if msg.sid() != self.sid {
            self.flush(shared, core);
            self.sid = msg.sid();
        }
        self.messages.push(msg);
    }

    /// Queues what is held.
    pub(crate) fn flush(&mut self, shared: &Shared, core: &mut Core) {
        if !self.messages.is_empty() {
            shared.deliver(core, self.sid, self.messages.drain(..));
        }
    }
}

/// The shared half of a client.
pub(crate) struct Shared {
    pub(crate) core: Mutex<Core>,
    /// Signalled when a flush completes or fails, on connect and on close.
    pub(crate) changed: Condvar,
    /// Signalled when the outgoing queue drains below the low-water mark while publishers
    /// wait, and on close.
    pub(crate) drained: Condvar,
    pub(crate) waker: mio::Waker,
    pub(crate) events: Option<Sender<Event>>,
}

impl Shared {
    /// Locks the core. A panic while the lock was held cannot leave the connection
    /// half-updated in a way later calls could not cope with (every mutation is a call
    /// into `Connection`, which keeps itself consistent), so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes sure the loop looks at new output soon; wakes it at most once per batch.
    pub(crate) fn wake(&self, core: &mut Core) {
        if !core.wake_pending {
            core.wake_pending = true;
            // A failed wake means the loop is gone, which `closed` reports.
            let _ = self.waker.wake();
        }
    }

    /// Backpressure for every op a user call queues (PUB, SUB, UNSUB, a request): once
    /// proto says the output is full (2 MiB wait for a socket slower than the caller),
    /// waits until the loop has drained it to the low mark (1 MiB) (or the client
    /// closed), as a full write buffer blocks a nats.go publisher, so memory stays
    /// bounded. The op itself is already queued.
    pub(crate) fn wait_for_room<'a>(&self, mut core: MutexGuard<'a, Core>) -> MutexGuard<'a, Core> {
        if !core.conn.output_full() {
            return core;
        }
        core.publish_waiters += 1;
        while !core.conn.output_drained() && core.closed.is_none() {
            core = self
                .drained
                .wait_timeout(core, std::time::Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        core.publish_waiters -= 1;
        core
    }

    /// Queues messages for subscription `sid` (one lock on its queue), counting drops and
    /// reporting the first of an episode; discarded if it was unsubscribed locally (what
    /// the server sent before seeing the UNSUB).
    pub(crate) fn deliver(
        &self,
        core: &mut Core,
        sid: Sid,
        messages: impl IntoIterator<Item = Message>,
    ) {
        let Some(q) = core.subs.get(&sid) else {
            return;
        };
        let mut drops = 0u64;
        let mut first_drop = false;
        q.push_all(messages, |p| {
            if let Pushed::Dropped { first } = p {
                drops += 1;
                first_drop |= first;
            }
        });
        core.slow_consumer_drops += drops;
        if first_drop {
            self.emit(Event::SlowConsumer { sid });
        }
    }

    /// Sends an event to the application, in order.
    pub(crate) fn emit(&self, event: Event) {
        if let Some(tx) = &self.events {
            // The dispatcher only ends when the client is gone; nothing is listening then.
            let _ = tx.send(event);
        }
    }
}

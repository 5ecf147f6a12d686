//! The state shared by user threads and the event loop thread: [`Shared`], the one lock
//! around [`Core`] and the condition variables waits use.
//!
//! User calls lock the core, mutate it (queue an op) and wake the loop; only the loop does
//! IO. Replies and subscription messages have their own small queues
//! ([`ReplySlot`](crate::reply_slot::ReplySlot), `SubQueue`), so a slow reader never holds
//! the core.

use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};

use natsy_proto::{Message, Sid};

pub(crate) use crate::core::{Core, FirstConnect, FlushState};
use crate::event::Event;
use crate::event_queue::EventQueue;
use crate::loop_waker::LoopWaker;
pub(crate) use crate::reply_slot::{ReplySlot, SlotState};
pub(crate) use crate::routing::RouteBatch;
use crate::sub_queue::SubQueue;
use natsy_proto::Pushed;

/// The shared half of a client.
pub(crate) struct Shared {
    pub(crate) core: Mutex<Core>,
    /// Signalled when a flush completes or fails, on connect and on close.
    pub(crate) changed: Condvar,
    /// Signalled when the outgoing queue drains below the low-water mark while publishers
    /// wait, and on close.
    pub(crate) drained: Condvar,
    pub(crate) waker: LoopWaker,
    pub(crate) events: Option<Sender<Event>>,
    /// Async event streams (`aio::Client::events`); dropped ones are pruned on emit.
    pub(crate) listeners: Mutex<Vec<Weak<EventQueue>>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
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
    /// the server sent before seeing the UNSUB). Returns the queue if its reader sleeps:
    /// the caller wakes it ([`SubQueue::wake`]) once the core lock is released.
    pub(crate) fn deliver(
        &self,
        core: &mut Core,
        sid: Sid,
        messages: impl IntoIterator<Item = Message>,
    ) -> Option<Arc<SubQueue>> {
        let Some(q) = core.subs.get(&sid) else {
            if let Some(responder) = core.responders.get(&sid).cloned() {
                answer_all(core, responder.as_ref(), messages);
            }
            return None;
        };
        let mut drops = 0u64;
        let mut first_drop = false;
        let wake = q.push_all(messages, |p| {
            if let Pushed::Dropped { first } = p {
                drops += 1;
                first_drop |= first;
            }
        });
        let wake = wake.then(|| q.clone());
        core.slow_consumer_drops += drops;
        if first_drop {
            self.emit(Event::SlowConsumer { sid });
        }
        wake
    }

    /// Wakes what waits on a change of state (connect, a flush, close): threads and tasks.
    pub(crate) fn notify_changed(&self, core: &mut Core) {
        self.changed.notify_all();
        core.changed_wakers.wake_all();
    }

    /// Wakes publishers waiting for room: threads and tasks.
    pub(crate) fn notify_drained(&self, core: &mut Core) {
        self.drained.notify_all();
        core.room_wakers.wake_all();
    }

    /// A new async event stream's queue, fed from now on.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn listen(&self, closed: bool) -> Arc<EventQueue> {
        let queue = Arc::new(EventQueue::default());
        if closed {
            queue.end();
        } else {
            let mut listeners = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
            listeners.push(Arc::downgrade(&queue));
        }
        queue
    }

    /// Sends an event to the application, in order.
    pub(crate) fn emit(&self, event: Event) {
        crate::trace::event(&event);
        {
            let mut listeners = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
            if !listeners.is_empty() {
                listeners.retain(|l| match l.upgrade() {
                    Some(queue) => {
                        queue.push(&event);
                        true
                    }
                    None => false,
                });
            }
        }
        if let Some(tx) = &self.events {
            // The dispatcher only ends when the client is gone; nothing is listening then.
            let _ = tx.send(event);
        }
    }
}

/// Answers each request with a reply subject from `responder`; a reply that cannot be
/// queued (closed, reconnect buffer full) is dropped: the asker times out, as for a
/// responder that is gone.
fn answer_all(
    core: &mut Core,
    responder: &dyn crate::core::Responder,
    messages: impl IntoIterator<Item = Message>,
) {
    for msg in messages {
        if let (Some(reply), Some(body)) = (msg.reply(), responder.answer(msg.subject())) {
            let _ = core.conn.publish(reply, None, None, body);
        }
    }
}

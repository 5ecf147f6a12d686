//! Routing received messages to subscription queues in batches, and waking their readers
//! once the core lock is released.

use std::sync::Arc;

use natsy_proto::{Message, Sid};

use crate::core::Core;
use crate::reply_slot::{ReplySlot, SlotState};
use crate::shared::Shared;
use crate::sub_queue::SubQueue;

/// Routes received messages: consecutive messages for one subscription go into its queue
/// under one lock. Call [`flush`](Self::flush) before the core lock is released and
/// [`wake_readers`](Self::wake_readers) after: a reader woken while the loop still holds
/// the core lock blocks on it at once if it publishes (a responder), which strace showed
/// as an extra futex wait and wake per request.
pub(crate) struct RouteBatch {
    sid: Sid,
    messages: Vec<Message>,
    /// Queues whose readers sleep and got messages.
    wake_subs: Vec<Arc<SubQueue>>,
    /// Reply slots filled.
    wake_replies: Vec<Arc<ReplySlot>>,
    /// Some reader was woken since [`take_woke`](Self::take_woke) last asked.
    woke: bool,
}

impl RouteBatch {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        RouteBatch {
            sid: 0,
            messages: Vec::with_capacity(capacity),
            wake_subs: Vec::with_capacity(16),
            wake_replies: Vec::with_capacity(16),
            woke: false,
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
            if let Some(q) = shared.deliver(core, self.sid, self.messages.drain(..)) {
                if !self
                    .wake_subs
                    .last()
                    .is_some_and(|last| Arc::ptr_eq(last, &q))
                {
                    self.wake_subs.push(q);
                }
            }
        }
    }

    /// Fills a request's reply slot; its requester is woken by `wake_readers`.
    pub(crate) fn fill(&mut self, slot: Arc<ReplySlot>, state: SlotState) {
        slot.set(state);
        self.wake_replies.push(slot);
    }

    /// Wakes the readers of what was routed. Call without the core lock.
    pub(crate) fn wake_readers(&mut self) {
        self.woke |= !self.wake_subs.is_empty() || !self.wake_replies.is_empty();
        for q in self.wake_subs.drain(..) {
            q.wake();
        }
        for slot in self.wake_replies.drain(..) {
            slot.wake();
        }
    }

    /// Whether a reader was woken since the last call.
    #[cfg_attr(not(all(feature = "tokio", unix)), allow(dead_code))]
    pub(crate) fn take_woke(&mut self) -> bool {
        std::mem::take(&mut self.woke)
    }
}

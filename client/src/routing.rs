//! Routing received messages to subscription queues in batches.

use natsy_proto::{Message, Sid};

use crate::core::Core;
use crate::shared::Shared;

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

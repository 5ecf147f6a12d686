//! A request's reply slot: filled by the loop thread, waited on by the requester.

use std::sync::{Condvar, Mutex};

use natsy_proto::Message;

use crate::error::PermissionError;

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
        self.set(state);
        self.wake();
    }

    /// Fills the slot without waking the requester: [`wake`](Self::wake) follows once
    /// the caller released the core lock.
    pub(crate) fn set(&self, state: SlotState) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
    }

    /// Wakes the requester.
    pub(crate) fn wake(&self) {
        self.ready.notify_all();
    }

    /// Takes what arrived, leaving `Waiting`.
    pub(crate) fn take(&self) -> SlotState {
        std::mem::take(&mut *self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

//! A request's reply slot: filled by the loop thread, waited on by the requester.

use std::sync::{Condvar, Mutex};
use std::task::{Context, Poll, Waker};

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

/// One outstanding request's reply slot, filled by the loop, waited on by the requester
/// (a thread on the condition variable, or a task through its waker).
#[derive(Debug, Default)]
pub(crate) struct ReplySlot {
    pub(crate) state: Mutex<SlotState>,
    pub(crate) ready: Condvar,
    waker: Mutex<Option<Waker>>,
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
        let waker = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Takes what arrived, or registers the task to be woken when it does.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<SlotState> {
        // The waker is registered before looking, so a fill in between wakes it.
        {
            let mut waker = self.waker.lock().unwrap_or_else(|e| e.into_inner());
            match &mut *waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                Some(w) => w.clone_from(cx.waker()),
                None => *waker = Some(cx.waker().clone()),
            }
        }
        match self.take() {
            SlotState::Waiting => Poll::Pending,
            done => Poll::Ready(done),
        }
    }

    /// Takes what arrived, leaving `Waiting`.
    pub(crate) fn take(&self) -> SlotState {
        std::mem::take(&mut *self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

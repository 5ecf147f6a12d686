//! A request's reply slot: filled by the loop thread, waited on by the requester.

use std::sync::{Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

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

/// A slot's state and whether a thread sleeps on it, under one lock.
#[derive(Debug, Default)]
struct Slot {
    state: SlotState,
    /// A requester thread is asleep on [`ReplySlot::ready`]: only then does a wake
    /// notify the condition variable (a notify is a `futex` call even with no waiter,
    /// and an async requester, woken through its waker, never waits there).
    thread_waits: bool,
}

/// One outstanding request's reply slot, filled by the loop, waited on by the requester
/// (a thread on the condition variable, or a task through its waker).
#[derive(Debug, Default)]
pub(crate) struct ReplySlot {
    slot: Mutex<Slot>,
    ready: Condvar,
    waker: Mutex<Option<Waker>>,
}

impl ReplySlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn fill(&self, state: SlotState) {
        self.set(state);
        self.wake();
    }

    /// Fills the slot without waking the requester: [`wake`](Self::wake) follows once
    /// the caller released the core lock.
    pub(crate) fn set(&self, state: SlotState) {
        self.lock().state = state;
    }

    /// Wakes the requester: the thread asleep on the slot, or the task's waker.
    pub(crate) fn wake(&self) {
        if self.lock().thread_waits {
            self.ready.notify_all();
        }
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
            crate::wakers::remember(&mut waker, cx.waker());
        }
        match self.take() {
            SlotState::Waiting => Poll::Pending,
            done => Poll::Ready(done),
        }
    }

    /// Takes what arrived, leaving `Waiting`.
    pub(crate) fn take(&self) -> SlotState {
        std::mem::take(&mut self.lock().state)
    }

    /// Takes what arrived, sleeping until something does or `deadline` passes (`None`:
    /// no deadline); `Waiting` when it passed first.
    pub(crate) fn wait_take(&self, deadline: Option<Instant>) -> SlotState {
        let mut slot = self.lock();
        loop {
            match std::mem::take(&mut slot.state) {
                SlotState::Waiting => {}
                arrived => return arrived,
            }
            slot = match crate::condvar_sleep::sleep_until(&self.ready, slot, deadline, |s, on| {
                s.thread_waits = on;
            }) {
                Ok(slot) => slot,
                Err(_) => return SlotState::Waiting,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn reply() -> SlotState {
        SlotState::Closed
    }

    #[test]
    fn a_fill_before_the_wait_is_taken_without_sleeping() {
        let slot = ReplySlot::default();
        slot.fill(reply());
        assert!(!slot.lock().thread_waits);
        assert!(matches!(slot.wait_take(None), SlotState::Closed));
    }

    #[test]
    fn a_sleeping_thread_is_marked_and_woken_by_a_fill() {
        let slot = Arc::new(ReplySlot::default());
        let waiter = {
            let slot = slot.clone();
            std::thread::spawn(move || slot.wait_take(None))
        };
        // The fill must come while the thread sleeps, or this test proves nothing.
        let give_up = Instant::now() + Duration::from_secs(10);
        while !slot.lock().thread_waits {
            assert!(
                Instant::now() < give_up,
                "the waiting thread never marked itself"
            );
            std::thread::yield_now();
        }
        slot.fill(reply());
        assert!(matches!(waiter.join().unwrap(), SlotState::Closed));
        assert!(!slot.lock().thread_waits, "the flag is cleared on waking");
    }

    #[test]
    fn a_deadline_that_passes_first_leaves_the_slot_waiting() {
        let slot = ReplySlot::default();
        let deadline = Instant::now() + Duration::from_millis(20);
        assert!(matches!(slot.wait_take(Some(deadline)), SlotState::Waiting));
        assert!(Instant::now() >= deadline);
        assert!(!slot.lock().thread_waits);
    }
}

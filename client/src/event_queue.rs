//! [`EventQueue`]: the queue behind an async [`Events`](crate::aio::Events) stream, fed by
//! `Shared::emit` beside the callback thread.
//!
//! It is bounded: a listener that stops reading keeps the newest [`EVENTS_KEPT`] events
//! (the oldest are dropped and counted), so the `Closed` event, always the last, is never
//! the one lost.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use crate::event::Event;

/// Events a listener that does not read keeps.
pub(crate) const EVENTS_KEPT: usize = 1024;

#[derive(Debug, Default)]
struct State {
    events: VecDeque<Event>,
    missed: u64,
    /// After `Closed`: nothing more will come.
    ended: bool,
    waker: Option<Waker>,
}

/// One listener's events.
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    state: Mutex<State>,
}

// Read by `aio::Events`; without the `async` feature the queues are only ever fed.
#[cfg_attr(not(feature = "async"), allow(dead_code))]
impl EventQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push(&self, event: &Event) {
        let mut state = self.lock();
        if state.ended {
            return;
        }
        if state.events.len() == EVENTS_KEPT {
            state.events.pop_front();
            state.missed += 1;
        }
        state.ended = matches!(event, Event::Closed { .. });
        state.events.push_back(event.clone());
        if let Some(w) = state.waker.take() {
            w.wake();
        }
    }

    /// The client is gone without a `Closed` (its loop never started).
    pub(crate) fn end(&self) {
        let mut state = self.lock();
        state.ended = true;
        if let Some(w) = state.waker.take() {
            w.wake();
        }
    }

    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let mut state = self.lock();
        if let Some(event) = state.events.pop_front() {
            return Poll::Ready(Some(event));
        }
        if state.ended {
            return Poll::Ready(None);
        }
        crate::wakers::remember(&mut state.waker, cx.waker());
        Poll::Pending
    }

    pub(crate) fn missed(&self) -> u64 {
        self.lock().missed
    }
}

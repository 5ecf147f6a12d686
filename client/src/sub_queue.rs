//! The queue between the event loop and one subscription's reader: proto's
//! [`PendingQueue`] (limits, slow-consumer episodes, memory bounds) behind a lock, with a
//! condition variable the reader sleeps on. The loop pushes a whole read's worth of
//! messages under one lock and wakes the reader once.

use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use natsy_proto::{Message, PendingLimits, PendingQueue, Pushed};

use crate::error::PermissionError;

/// Why a subscription's stream of messages ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscriptionEnded {
    /// `unsubscribe`, `drain` or drop.
    Unsubscribed,
    /// The `unsubscribe_after` limit was reached.
    LimitReached,
    /// The server refused the subscription, or a publish the subscription was waiting on
    /// the answers to (see [`Subscription::end_on_refused_publish`]).
    ///
    /// [`Subscription::end_on_refused_publish`]: crate::Subscription::end_on_refused_publish
    PermissionDenied(PermissionError),
    /// The connection was closed.
    ConnectionClosed,
}

impl fmt::Display for SubscriptionEnded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsubscribed => f.write_str("unsubscribed"),
            Self::LimitReached => f.write_str("auto-unsubscribe limit reached"),
            Self::PermissionDenied(e) => write!(f, "{e}"),
            Self::ConnectionClosed => f.write_str("connection closed"),
        }
    }
}

#[derive(Debug)]
struct State {
    queue: PendingQueue,
    closed: Option<SubscriptionEnded>,
    /// The task of an async reader waiting for a message.
    waker: Option<Waker>,
    /// Readers asleep on `ready`: a push wakes them only if there are any (a
    /// `notify_all` is a futex syscall even when nobody waits).
    waiting: usize,
}

impl State {
    /// Someone waits for the next message: a thread or a task.
    fn has_reader(&self) -> bool {
        self.waiting > 0 || self.waker.is_some()
    }
}

/// The queue itself.
#[derive(Debug)]
pub(crate) struct SubQueue {
    state: Mutex<State>,
    ready: Condvar,
}

/// A taken message or why none came.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Taken {
    Message(Message),
    Empty,
    Closed(SubscriptionEnded),
}

impl SubQueue {
    pub(crate) fn new(limits: PendingLimits) -> Self {
        SubQueue {
            state: Mutex::new(State {
                queue: PendingQueue::new(limits),
                closed: None,
                waker: None,
                waiting: 0,
            }),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A reader that panicked while holding the lock left consistent data behind:
        // every critical section is a few field updates with no calls out.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Pushes a batch. `on_push` sees each outcome; after a close, messages are
    /// discarded (the reader is gone) and not reported. Returns whether a reader sleeps
    /// and must be woken with [`wake`](Self::wake) once: the loop does that after
    /// releasing the core lock, so the reader does not wake only to block on it.
    #[must_use = "a sleeping reader must be woken with `wake`"]
    pub(crate) fn push_all(
        &self,
        messages: impl IntoIterator<Item = Message>,
        mut on_push: impl FnMut(Pushed),
    ) -> bool {
        let mut state = self.lock();
        if state.closed.is_some() {
            return false;
        }
        let mut queued = false;
        for msg in messages {
            let outcome = state.queue.push(msg);
            queued |= outcome == Pushed::Queued;
            on_push(outcome);
        }
        queued && state.has_reader()
    }

    /// Wakes the readers after a [`push_all`](Self::push_all) that asked for it: the
    /// threads asleep on the condition variable and the task's waker.
    pub(crate) fn wake(&self) {
        let mut state = self.lock();
        let waker = state.waker.take();
        let threads = state.waiting > 0;
        drop(state);
        if threads {
            self.ready.notify_all();
        }
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Closes the queue; messages already queued can still be taken.
    pub(crate) fn close(&self, why: SubscriptionEnded) {
        let mut state = self.lock();
        if state.closed.is_none() {
            state.closed = Some(why);
        }
        drop(state);
        self.wake();
    }

    /// Takes the next message, waiting until `deadline` (`None`: for ever).
    pub(crate) fn take(&self, deadline: Option<Instant>) -> Taken {
        let mut state = self.lock();
        loop {
            if let Some(msg) = state.queue.pop() {
                return Taken::Message(msg);
            }
            if let Some(why) = &state.closed {
                return Taken::Closed(why.clone());
            }
            state =
                match crate::condvar_sleep::sleep_until(&self.ready, state, deadline, |s, on| {
                    if on {
                        s.waiting += 1;
                    } else {
                        s.waiting -= 1;
                    }
                }) {
                    Ok(state) => state,
                    Err(_) => return Taken::Empty,
                };
        }
    }

    /// Takes the next message, or registers the task to be woken when one is queued or
    /// the queue closes.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Taken> {
        let mut state = self.lock();
        if let Some(msg) = state.queue.pop() {
            // Not waiting any more: pushes need not wake this task until it polls again.
            state.waker = None;
            return Poll::Ready(Taken::Message(msg));
        }
        if let Some(why) = &state.closed {
            return Poll::Ready(Taken::Closed(why.clone()));
        }
        crate::wakers::remember(&mut state.waker, cx.waker());
        Poll::Pending
    }

    /// Takes the next message if one is queued.
    pub(crate) fn try_take(&self) -> Taken {
        let mut state = self.lock();
        match state.queue.pop() {
            Some(msg) => Taken::Message(msg),
            None => state.closed.clone().map_or(Taken::Empty, Taken::Closed),
        }
    }

    /// (messages, bytes) held now.
    pub(crate) fn pending(&self) -> (usize, usize) {
        let state = self.lock();
        (state.queue.len(), state.queue.bytes())
    }

    /// Messages dropped so far because a limit was reached.
    pub(crate) fn dropped(&self) -> u64 {
        self.lock().queue.dropped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::sync::Arc;
    use std::time::Duration;

    fn msg(payload: &'static [u8]) -> Message {
        let mut frame = b"s".to_vec();
        frame.extend_from_slice(payload);
        Message::from_parts(
            Bytes::from(frame),
            1,
            0..1,
            None,
            None,
            1..1 + payload.len(),
        )
    }

    #[test]
    fn take_waits_for_a_push_from_another_thread_and_times_out_when_empty() {
        let q = Arc::new(SubQueue::new(PendingLimits::default()));
        let start = Instant::now();
        assert_eq!(
            q.take(Some(start + Duration::from_millis(20))),
            Taken::Empty
        );
        assert!(start.elapsed() >= Duration::from_millis(20));
        let q2 = q.clone();
        let t = std::thread::spawn(move || q2.take(None));
        std::thread::sleep(Duration::from_millis(10));
        while !q.push_all([msg(b"x")], |_| {}) {
            // The reader is not asleep yet: take the message back and try again.
            assert_eq!(q.try_take(), Taken::Message(msg(b"x")));
            std::thread::sleep(Duration::from_millis(1));
        }
        q.wake();
        assert_eq!(t.join().unwrap(), Taken::Message(msg(b"x")));
    }

    #[test]
    fn close_lets_queued_messages_drain_first() {
        let q = SubQueue::new(PendingLimits::default());
        assert!(!q.push_all([msg(b"x")], |_| {}), "nobody waits");
        q.close(SubscriptionEnded::LimitReached);
        q.close(SubscriptionEnded::Unsubscribed); // the first cause wins
        let mut outcomes = Vec::new();
        assert!(!q.push_all([msg(b"late")], |p| outcomes.push(p)));
        assert!(outcomes.is_empty(), "discarded after the close");
        assert_eq!(q.try_take(), Taken::Message(msg(b"x")));
        assert_eq!(q.try_take(), Taken::Closed(SubscriptionEnded::LimitReached));
        assert_eq!(q.take(None), Taken::Closed(SubscriptionEnded::LimitReached));
    }
}

//! The futures every async call is built from: [`Sleep`], a deadline served by the
//! connection's loop thread (no runtime timer), and [`CoreWait`], a condition on the
//! client's state re-checked whenever the loop signals a change, the async counterpart of
//! the blocking client's condition-variable waits.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::core::Core;
use crate::shared::Shared;
use crate::wakers::WaitKey;

/// A timer served by the connection's loop thread: the loop sleeps no longer than the
/// earliest deadline of its timers and wakes the task when it is due. It needs no async
/// runtime, so natsy's timeouts work on any executor.
///
/// Created by [`Client::sleep`](super::Client::sleep). Once the client has closed for
/// good, its loop no longer serves deadlines and a `Sleep` completes at once: everything
/// it could time out has failed with a closed error by then.
#[derive(Debug)]
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep {
    shared: Arc<Shared>,
    /// `None`: never (a timeout too large for the clock).
    deadline: Option<Instant>,
    key: Option<WaitKey>,
}

impl Sleep {
    pub(crate) fn until(shared: Arc<Shared>, deadline: Option<Instant>) -> Self {
        Sleep {
            shared,
            deadline,
            key: None,
        }
    }

    pub(crate) fn after(shared: Arc<Shared>, duration: Duration) -> Self {
        Self::until(shared, Instant::now().checked_add(duration))
    }

    /// When it completes (`None`: never, unless the client closes).
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.deadline.is_some_and(|d| Instant::now() >= d) {
            return Poll::Ready(());
        }
        let mut core = this.shared.lock();
        if core.closed.is_some() {
            return Poll::Ready(());
        }
        let Some(deadline) = this.deadline else {
            // No deadline: only the close ends it.
            let key = *this.key.get_or_insert_with(|| core.changed_wakers.key());
            core.changed_wakers.register(key, cx.waker());
            return Poll::Pending;
        };
        let key = *this.key.get_or_insert_with(|| core.timers.key());
        if core.timers.register(deadline, key, cx.waker()) {
            // The loop may be sleeping past this deadline, even while it waits for the
            // socket to take more (when user wakes are suppressed): wake it regardless.
            let _ = this.shared.waker.wake();
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let mut core = self.shared.lock();
            match self.deadline {
                Some(deadline) => core.timers.remove(deadline, key),
                None => core.changed_wakers.remove(key),
            }
        }
    }
}

/// Which signal of the loop a [`CoreWait`] waits for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Signal {
    /// `Shared::notify_changed`: connect, flushes, close.
    Changed,
    /// `Shared::notify_drained`: the outgoing queue is below its low mark.
    Room,
}

/// Waits until `check` returns `Some`, re-checking under the lock each time the loop
/// signals `signal`. Dropping it leaves nothing registered.
pub(crate) struct CoreWait<F> {
    shared: Arc<Shared>,
    signal: Signal,
    key: Option<WaitKey>,
    check: F,
}

impl<F, T> CoreWait<F>
where
    F: FnMut(&mut Core) -> Option<T> + Unpin,
{
    pub(crate) fn new(shared: Arc<Shared>, signal: Signal, check: F) -> Self {
        CoreWait {
            shared,
            signal,
            key: None,
            check,
        }
    }
}

impl<F, T> Future for CoreWait<F>
where
    F: FnMut(&mut Core) -> Option<T> + Unpin,
{
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = &mut *self;
        let mut core = this.shared.lock();
        if let Some(done) = (this.check)(&mut core) {
            if let Some(key) = this.key.take() {
                set(&mut core, this.signal).remove(key);
            }
            return Poll::Ready(done);
        }
        let wakers = set(&mut core, this.signal);
        let key = *this.key.get_or_insert_with(|| wakers.key());
        wakers.register(key, cx.waker());
        Poll::Pending
    }
}

impl<F> Drop for CoreWait<F> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut core = self.shared.lock();
            set(&mut core, self.signal).remove(key);
        }
    }
}

fn set(core: &mut Core, signal: Signal) -> &mut crate::wakers::WakerSet {
    match signal {
        Signal::Changed => &mut core.changed_wakers,
        Signal::Room => &mut core.room_wakers,
    }
}

/// Waits for room in the outgoing queue after an op was queued into a full one: the
/// async form of `Shared::wait_for_room`.
pub(crate) async fn room(shared: &Arc<Shared>) {
    CoreWait::new(shared.clone(), Signal::Room, |core: &mut Core| {
        (core.conn.output_drained() || core.closed.is_some()).then_some(())
    })
    .await
}

/// `fut`, or `None` once `deadline` passes first.
pub(crate) async fn with_deadline<F: Future>(
    shared: &Arc<Shared>,
    deadline: Option<Instant>,
    fut: F,
) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut sleep = Sleep::until(shared.clone(), deadline);
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        match Pin::new(&mut sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

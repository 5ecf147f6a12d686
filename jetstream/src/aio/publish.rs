//! Publishing from async code: [`Context::publish`] returning a [`PubAckFuture`], and the
//! [`AsyncPublisher`] whose bounded window awaits room instead of blocking. Headers,
//! [`PublishOptions`], ack parsing, [`AsyncPublishOptions`] and the window's in-flight
//! count are the blocking publisher's; only the waits are async.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context as TaskContext, Poll, Wake, Waker};

use bytes::Bytes;
use natsy::aio::Response;

use super::Context;
use crate::error::Error;
use crate::publish::{
    ack_from_reply, AsyncPublishOptions, InFlight, PubAck, PublishOptions, WhenFull,
};

impl Context {
    /// Publishes `payload` to `subject` and returns at once with the future of its ack
    /// (`async_nats` `js.publish(subject, payload).await?` → `PubAckFuture`; await it
    /// again for the [`PubAck`]).
    ///
    /// Errors of the first await mean nothing was sent (invalid subject, closed client);
    /// the [`PubAckFuture`] resolves to the ack or to the errors of
    /// [`crate::Context::publish_with`], except that "no responders" is
    /// [`Error::NoStreamResponse`] at once, not retried (as async-nats, and as the
    /// blocking [`AsyncPublisher`](crate::AsyncPublisher)).
    ///
    /// ```no_run
    /// # async fn run(js: natsy_jetstream::aio::Context) -> Result<(), Box<dyn std::error::Error>> {
    /// let ack = js.publish("orders.new", "17").await?.await?;
    /// println!("stored as {}", ack.sequence);
    /// # Ok(()) }
    /// ```
    pub async fn publish(
        &self,
        subject: impl AsRef<str>,
        payload: impl Into<Bytes>,
    ) -> Result<PubAckFuture, Error> {
        self.publish_with(subject, payload, &PublishOptions::new())
            .await
    }

    /// [`Context::publish`] with options (message id, expectations, headers, timeout).
    pub async fn publish_with(
        &self,
        subject: impl AsRef<str>,
        payload: impl Into<Bytes>,
        options: &PublishOptions,
    ) -> Result<PubAckFuture, Error> {
        let (headers, timeout) = options.prepare(self.timeout())?;
        let response = self
            .client()
            .send_request(subject, headers.as_ref(), payload)
            .await?;
        Ok(PubAckFuture {
            wait: AckWait::Single(response.timeout(timeout)),
        })
    }

    /// An async publisher with a bounded window of outstanding acks: the async form of
    /// [`crate::Context::async_publisher`].
    pub fn async_publisher(&self, options: AsyncPublishOptions) -> AsyncPublisher {
        AsyncPublisher {
            context: self.clone(),
            window: options.window.max(1),
            when_full: options.when_full,
            counter: Arc::new(InFlight::default()),
            entries: VecDeque::new(),
            unresolved_from: 0,
        }
    }
}

/// The ack of one publish, as a future (`async_nats::jetstream::context::PubAckFuture`).
/// Dropping it forgets the ack: a plain publish's request slot goes with it; a publish
/// of an [`AsyncPublisher`] keeps its outcome for [`AsyncPublisher::wait_all`].
#[derive(Debug)]
#[must_use = "a PubAckFuture does nothing unless awaited; dropping it forgets the ack"]
pub struct PubAckFuture {
    wait: AckWait,
}

#[derive(Debug)]
enum AckWait {
    /// [`Context::publish`]: the request itself.
    Single(Response),
    /// [`AsyncPublisher::publish`]: shared with the publisher.
    Windowed(Arc<Entry>),
}

impl Future for PubAckFuture {
    type Output = Result<PubAck, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        match &mut self.wait {
            AckWait::Single(response) => Pin::new(response).poll(cx).map(ack_from_reply),
            AckWait::Windowed(entry) => entry.poll(cx, HANDLE),
        }
    }
}

/// Who waits on an [`Entry`]: its handle, or the publisher (for room, or `wait_all`).
const HANDLE: usize = 0;
const PUBLISHER: usize = 1;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One publish of an [`AsyncPublisher`], shared by the publisher and its
/// [`PubAckFuture`]. Its request is polled with the entry itself as the waker, which
/// wakes both parties, so either may be the one awaiting it.
#[derive(Debug)]
struct Entry {
    state: Mutex<EntryState>,
    /// Kept apart from `state`: the loop thread wakes through this lock only, never
    /// while a poll holds `state` and waits for the client's.
    wakers: Mutex<[Option<Waker>; 2]>,
    counter: Arc<InFlight>,
}

#[derive(Debug)]
enum EntryState {
    Sent(Response),
    Done(Result<PubAck, Error>),
}

impl Wake for Entry {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let wakers = std::mem::take(&mut *lock(&self.wakers));
        for waker in wakers.into_iter().flatten() {
            waker.wake();
        }
    }
}

impl Entry {
    fn poll(self: &Arc<Self>, cx: &mut TaskContext<'_>, who: usize) -> Poll<Result<PubAck, Error>> {
        let mut state = lock(&self.state);
        let response = match &mut *state {
            EntryState::Done(r) => return Poll::Ready(r.clone()),
            EntryState::Sent(response) => response,
        };
        {
            let mut wakers = lock(&self.wakers);
            match &wakers[who] {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => wakers[who] = Some(cx.waker().clone()),
            }
        }
        let waker = Waker::from(self.clone());
        let mut own = TaskContext::from_waker(&waker);
        match Pin::new(response).poll(&mut own) {
            Poll::Ready(reply) => {
                let r = ack_from_reply(reply);
                *state = EntryState::Done(r.clone());
                drop(state);
                *lock(&self.wakers) = [None, None];
                self.counter.release();
                Poll::Ready(r)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn outcome(&self) -> Option<Result<PubAck, Error>> {
        match &*lock(&self.state) {
            EntryState::Done(r) => Some(r.clone()),
            EntryState::Sent(_) => None,
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        // Forgotten before its outcome (the publisher and the handle both gone, or a
        // cancelled `wait_all`): it no longer counts against the window.
        if matches!(*lock(&self.state), EntryState::Sent(_)) {
            self.counter.release();
        }
    }
}

/// Publishes without awaiting each ack, keeping at most `window` acks outstanding: the
/// async [`crate::AsyncPublisher`], with the same [`AsyncPublishOptions`] and
/// [`WhenFull`]. In [`WhenFull::Block`] mode a publish into a full window awaits the
/// oldest outstanding ack (no thread blocks); in [`WhenFull::Error`] mode it fails with
/// [`Error::WindowFull`], sending nothing.
///
/// Every publish ends in exactly one outcome: its [`PubAckFuture`] resolves to it, and
/// [`AsyncPublisher::wait_all`] returns the outcomes of all publishes since the last
/// call, in publish order.
///
/// ```no_run
/// # async fn run(js: natsy_jetstream::aio::Context) -> Result<(), Box<dyn std::error::Error>> {
/// use natsy_jetstream::{AsyncPublishOptions, WhenFull};
/// let mut publisher = js.async_publisher(AsyncPublishOptions { window: 100, when_full: WhenFull::Block });
/// for i in 0..1000 {
///     let _ack = publisher.publish("orders.new", format!("{i}")).await?;
/// }
/// for outcome in publisher.wait_all().await {
///     println!("{}", outcome?.sequence);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct AsyncPublisher {
    context: Context,
    window: usize,
    when_full: WhenFull,
    counter: Arc<InFlight>,
    /// Every publish since the last `wait_all`, oldest first.
    entries: VecDeque<Arc<Entry>>,
    /// Entries before this index are resolved.
    unresolved_from: usize,
}

impl AsyncPublisher {
    /// Publishes `payload` to `subject`, first awaiting room in the window.
    pub async fn publish(
        &mut self,
        subject: impl AsRef<str>,
        payload: impl Into<Bytes>,
    ) -> Result<PubAckFuture, Error> {
        self.publish_with(subject, payload, &PublishOptions::new())
            .await
    }

    /// Publishes with options; see [`crate::Context::publish_with`]. Errors mean nothing
    /// was sent. Dropped while it awaits room, it sends nothing.
    pub async fn publish_with(
        &mut self,
        subject: impl AsRef<str>,
        payload: impl Into<Bytes>,
        options: &PublishOptions,
    ) -> Result<PubAckFuture, Error> {
        let (headers, timeout) = options.prepare(self.context.timeout())?;
        self.make_room().await?;
        let response = self
            .context
            .client()
            .send_request(subject, headers.as_ref(), payload)
            .await?;
        self.counter.add();
        let entry = Arc::new(Entry {
            state: Mutex::new(EntryState::Sent(response.timeout(timeout))),
            wakers: Mutex::new([None, None]),
            counter: self.counter.clone(),
        });
        self.entries.push_back(entry.clone());
        Ok(PubAckFuture {
            wait: AckWait::Windowed(entry),
        })
    }

    /// Acks outstanding now.
    pub fn in_flight(&self) -> usize {
        self.counter.get()
    }

    /// Awaits room in the window (or fails, in `WhenFull::Error` mode).
    async fn make_room(&mut self) -> Result<(), Error> {
        std::future::poll_fn(|cx| {
            loop {
                if self.counter.get() < self.window {
                    return Poll::Ready(Ok(()));
                }
                let Some(oldest) = self.entries.get(self.unresolved_from) else {
                    // Every entry we hold is resolved: the count is the handles' business.
                    return Poll::Ready(Ok(()));
                };
                match oldest.poll(cx, PUBLISHER) {
                    Poll::Ready(_) => self.unresolved_from += 1,
                    Poll::Pending if self.when_full == WhenFull::Error => {
                        return Poll::Ready(Err(Error::WindowFull))
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await
    }

    /// Awaits every outstanding ack and returns the outcome of every publish since the
    /// last call, in publish order. Cancellation-safe: dropped before it completes, it
    /// takes nothing, and the next call returns every outcome.
    pub async fn wait_all(&mut self) -> Vec<Result<PubAck, Error>> {
        let entries = &self.entries;
        let mut next = self.unresolved_from;
        std::future::poll_fn(|cx| {
            while let Some(entry) = entries.get(next) {
                if entry.poll(cx, PUBLISHER).is_pending() {
                    return Poll::Pending;
                }
                next += 1;
            }
            Poll::Ready(())
        })
        .await;
        self.unresolved_from = 0;
        self.entries
            .drain(..)
            .map(|e| {
                e.outcome()
                    .unwrap_or(Err(Error::Request(natsy::RequestError::TimedOut)))
            })
            .collect()
    }
}

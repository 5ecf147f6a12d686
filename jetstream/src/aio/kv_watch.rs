//! [`Watch`] for async code: a bucket's changes as a [`futures_core::Stream`], on the
//! async [`OrderedConsumer`] and the blocking watch's sans-IO `WatchState` (which events
//! to report, when the initial values are over).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures_core::Stream;

use super::OrderedConsumer;
use crate::kv::{KvError, WatchEvent, WatchState};

/// A watch on a bucket ([`Store::watch`](super::kv::Store::watch)): a [`Stream`] of
/// `Result<WatchEvent, KvError>` — the current values, then
/// [`WatchEvent::InitialValuesDone`] (once, also for an empty bucket, first for
/// `updates_only`), then every change. It survives reconnects and leader changes (its
/// ordered consumer is recreated from the last revision + 1). The error that ends it is
/// yielded once, then `None`.
///
/// Dropping it at any point unsubscribes its inbox.
#[derive(Debug)]
pub struct Watch {
    consumer: OrderedConsumer,
    state: WatchState,
    ended: bool,
}

impl Watch {
    pub(crate) fn new(consumer: OrderedConsumer, state: WatchState) -> Self {
        Watch {
            consumer,
            state,
            ended: false,
        }
    }

    /// Times the underlying ordered consumer was recreated.
    pub fn resets(&self) -> u64 {
        self.consumer.resets()
    }

    /// Waits up to `timeout` for the next event: `Ok(None)` if none came (the blocking
    /// [`crate::kv::Watch::next_timeout`]). Cancellation-safe: an event is taken only
    /// when this returns it.
    pub async fn next_timeout(&mut self, timeout: Duration) -> Result<Option<WatchEvent>, KvError> {
        let mut sleep = self.consumer.sleep(timeout);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = self.poll_event(cx) {
                return Poll::Ready(r.map(Some));
            }
            Pin::new(&mut sleep).poll(cx).map(|()| Ok(None))
        })
        .await
    }

    fn poll_event(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<WatchEvent, KvError>> {
        loop {
            if self.state.poll_marker() {
                return Poll::Ready(Ok(WatchEvent::InitialValuesDone));
            }
            let (msg, seq) = std::task::ready!(self.consumer.poll_raw(cx))?;
            if let Some(event) = self.state.handle(&msg, seq) {
                return Poll::Ready(Ok(event));
            }
        }
    }
}

impl Stream for Watch {
    type Item = Result<WatchEvent, KvError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        match std::task::ready!(this.poll_event(cx)) {
            Ok(event) => Poll::Ready(Some(Ok(event))),
            Err(e) => {
                this.ended = true;
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}

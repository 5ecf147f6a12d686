//! Reading from the async object store: [`ObjectReader`] (an object's data as a
//! [`futures_io::AsyncRead`] and a [`Stream`] of verified chunks) and [`ObjectWatch`] (a
//! bucket's infos as a [`Stream`]), both on the async ordered-consumer driver and the
//! blocking store's sans-IO verifier and watch state.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{ready, Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_core::Stream;
use futures_io::AsyncRead;

use super::object::ObjectStore;
use super::object_ordered::AsyncOrdered;
use crate::error::Error;
use crate::object::chunk::{ChunkVerifier, ReadBuffer};
use crate::object::reader::chunk_consumer_config;
use crate::object::watch::WatchState;
use crate::object::{ObjectError, ObjectInfo, ObjectWatchEvent, ObjectWatchOptions};
use crate::ordered_machine::Sequences;

/// What one wait of the driver gives: the next message in order, `None` at the deadline.
type Outcome = Result<Option<(natsy::Message, Sequences)>, Error>;
type Next = (Box<AsyncOrdered>, Outcome);

/// The driver, idle or inside the wait for its next message (boxed when idle: it is
/// large, and moves into and out of the wait future).
enum Driver {
    Idle(Box<AsyncOrdered>),
    Waiting(Pin<Box<dyn Future<Output = Next> + Send>>),
    Gone,
}

impl Driver {
    /// The next message of the driver (`None` when there is no driver or at `wait`).
    fn poll_next(
        &mut self,
        cx: &mut TaskContext<'_>,
        wait: Option<Duration>,
    ) -> Poll<Option<Outcome>> {
        loop {
            match std::mem::replace(self, Driver::Gone) {
                Driver::Gone => return Poll::Ready(None),
                Driver::Idle(d) => {
                    let deadline = wait.map(|w| crate::deadline::after(Instant::now(), w));
                    *self = Driver::Waiting(Box::pin(async move {
                        let (d, outcome) = (*d).next(deadline).await;
                        (Box::new(d), outcome)
                    }));
                }
                Driver::Waiting(mut fut) => match fut.as_mut().poll(cx) {
                    Poll::Pending => {
                        *self = Driver::Waiting(fut);
                        return Poll::Pending;
                    }
                    Poll::Ready((d, outcome)) => {
                        *self = Driver::Idle(d);
                        return Poll::Ready(Some(outcome));
                    }
                },
            }
        }
    }
}

/// An object's data ([`ObjectStore::get`]), async: an [`AsyncRead`] and a [`Stream`] of
/// chunks (`Result<Bytes, ObjectError>`), with the checks of the blocking
/// [`crate::object::ObjectReader`]: count, size and SHA-256 digest are verified when the
/// last chunk arrives, before its bytes are handed out. Dropping it stops the fetch.
pub struct ObjectReader {
    info: ObjectInfo,
    driver: Driver,
    verifier: ChunkVerifier,
    buf: ReadBuffer,
    wait: Duration,
    failed: Option<ObjectError>,
    /// The stream form yielded the error: it ends now.
    reported: bool,
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("aio::ObjectReader")
            .field("info", &self.info)
            .field("done", &self.verifier.is_done())
            .finish()
    }
}

impl ObjectReader {
    pub(crate) async fn open(store: &ObjectStore, info: ObjectInfo) -> Result<Self, ObjectError> {
        let mut verifier = ChunkVerifier::new(&info)?;
        let driver = if info.chunks == 0 {
            verifier.finish()?;
            Driver::Gone
        } else {
            let config = chunk_consumer_config(&store.bucket, &info);
            let d = AsyncOrdered::start(&store.context, &store.stream, config).await?;
            if d.initial_pending() == 0 {
                return Err(ObjectError::ChunkCountMismatch {
                    expected: info.chunks,
                    actual: 0,
                });
            }
            Driver::Idle(Box::new(d))
        };
        Ok(ObjectReader {
            info,
            driver,
            verifier,
            buf: ReadBuffer::default(),
            wait: store.context.timeout().saturating_mul(2),
            failed: None,
            reported: false,
        })
    }

    /// The info of the object being read.
    pub fn info(&self) -> &ObjectInfo {
        &self.info
    }

    /// The next chunk, or `None` after the last one was verified.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, ObjectError> {
        poll_fn(|cx| self.poll_chunk(cx)).await
    }

    fn poll_chunk(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<Option<Bytes>, ObjectError>> {
        if !self.buf.is_empty() {
            return Poll::Ready(Ok(Some(self.buf.take())));
        }
        if let Some(e) = &self.failed {
            return Poll::Ready(Err(e.clone()));
        }
        let Some(next) = ready!(self.driver.poll_next(cx, Some(self.wait))) else {
            return Poll::Ready(Ok(None));
        };
        let outcome = match next {
            Ok(Some((msg, seq))) => self
                .verifier
                .handle_chunk(msg.payload(), seq.pending)
                .map(|_| Some(msg.payload_bytes())),
            Ok(None) => Err(ObjectError::TimedOut),
            Err(e) => Err(e.into()),
        };
        if self.verifier.is_done() || outcome.is_err() {
            self.driver = Driver::Gone;
        }
        if let Err(e) = &outcome {
            self.failed = Some(e.clone());
        }
        Poll::Ready(outcome)
    }
}

impl Stream for ObjectReader {
    type Item = Result<Bytes, ObjectError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.reported {
            return Poll::Ready(None);
        }
        match ready!(this.poll_chunk(cx)) {
            Ok(Some(c)) => Poll::Ready(Some(Ok(c))),
            Ok(None) => Poll::Ready(None),
            Err(e) => {
                this.reported = true;
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}

impl AsyncRead for ObjectReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        out: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        while this.buf.is_empty() {
            match ready!(this.poll_chunk(cx)) {
                Ok(Some(chunk)) => this.buf.set(chunk),
                Ok(None) => return Poll::Ready(Ok(0)),
                Err(e) => return Poll::Ready(Err(e.into_io())),
            }
        }
        Poll::Ready(Ok(this.buf.read_into(out)))
    }
}

/// A watch on a bucket ([`ObjectStore::watch`]), async: a [`Stream`] of
/// `Result<ObjectWatchEvent, ObjectError>`, the events of the blocking
/// [`crate::object::ObjectWatch`]. An error ends it.
pub struct ObjectWatch {
    driver: Driver,
    state: WatchState,
    queued: Option<ObjectWatchEvent>,
}

impl std::fmt::Debug for ObjectWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("aio::ObjectWatch").finish_non_exhaustive()
    }
}

impl ObjectWatch {
    pub(crate) async fn start(
        store: &ObjectStore,
        options: ObjectWatchOptions,
    ) -> Result<Self, ObjectError> {
        let config = options.ordered_config(&store.bucket);
        let d = AsyncOrdered::start(&store.context, &store.stream, config).await?;
        Ok(ObjectWatch {
            state: WatchState::new(&options, d.initial_pending()),
            driver: Driver::Idle(Box::new(d)),
            queued: None,
        })
    }

    /// The infos before [`ObjectWatchEvent::InitialValuesDone`].
    pub(crate) async fn initial_infos(&mut self) -> Result<Vec<ObjectInfo>, ObjectError> {
        let mut out = Vec::new();
        loop {
            match poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await {
                Some(Ok(ObjectWatchEvent::Info(i))) => out.push(i),
                Some(Ok(ObjectWatchEvent::InitialValuesDone)) | None => return Ok(out),
                Some(Err(e)) => return Err(e),
            }
        }
    }
}

impl Stream for ObjectWatch {
    type Item = Result<ObjectWatchEvent, ObjectError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(e) = this.queued.take() {
                return Poll::Ready(Some(Ok(e)));
            }
            if let Some(marker) = this.state.poll_marker() {
                return Poll::Ready(Some(Ok(marker)));
            }
            let Some(next) = ready!(this.driver.poll_next(cx, None)) else {
                return Poll::Ready(None);
            };
            match next {
                Ok(Some((msg, seq))) => match this.state.handle(msg.payload(), seq.pending) {
                    Ok(Some(event)) => {
                        this.queued = this.state.poll_marker();
                        return Poll::Ready(Some(Ok(event)));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        this.driver = Driver::Gone;
                        return Poll::Ready(Some(Err(e)));
                    }
                },
                Ok(None) => {}
                Err(e) => {
                    this.driver = Driver::Gone;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
        }
    }
}

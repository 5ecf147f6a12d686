//! Batch direct get for async code: [`Stream::direct_get_batch`] and its
//! [`DirectBatchStream`], the blocking API's request and `BatchReader` over a
//! [`natsy::aio::Subscriber`], with the context's timeout between replies as a
//! [`natsy::aio::Sleep`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures_core::Stream as FuturesStream;
use natsy::aio::{Sleep, Subscriber};

use super::Stream;
use crate::direct_batch::{batch_request, inbox_ended, BatchEnd, BatchReader, BatchStep};
use crate::error::Error;
use crate::stored::StoredMessage;
use crate::DirectBatch;

/// The messages of a batch direct get as a [`futures_core::Stream`] of
/// `Result<StoredMessage, Error>`: the async
/// [`DirectBatchMessages`](crate::DirectBatchMessages), with the same endings. Dropping
/// it unsubscribes.
#[derive(Debug)]
pub struct DirectBatchStream {
    client: natsy::aio::Client,
    sub: Subscriber,
    reader: BatchReader,
    timeout: Duration,
    /// The wait for the next reply, started when one is first awaited.
    sleep: Option<Sleep>,
}

impl DirectBatchStream {
    /// How the batch ended, once the stream returned `None` after the server's `EOB`;
    /// see [`DirectBatchMessages::end`](crate::DirectBatchMessages::end).
    pub fn end(&self) -> Option<BatchEnd> {
        self.reader.end()
    }

    fn fail(&mut self, e: Error) -> Poll<Option<Result<StoredMessage, Error>>> {
        self.reader.finish();
        self.sleep = None;
        Poll::Ready(Some(Err(e)))
    }
}

impl FuturesStream for DirectBatchStream {
    type Item = Result<StoredMessage, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.reader.is_finished() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.sub).poll_next(cx) {
            Poll::Ready(Some(msg)) => {
                this.sleep = None;
                match this.reader.handle(&msg) {
                    Ok(BatchStep::Message(m)) => Poll::Ready(Some(Ok(*m))),
                    Ok(BatchStep::Done) => Poll::Ready(None),
                    Err(e) => Poll::Ready(Some(Err(e))),
                }
            }
            Poll::Ready(None) => {
                let why = this
                    .sub
                    .end_reason()
                    .cloned()
                    .unwrap_or(natsy::SubscriptionEnded::ConnectionClosed);
                this.fail(inbox_ended(why))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let client = &this.client;
                let sleep = this.sleep.get_or_insert_with(|| client.sleep(timeout));
                match Pin::new(sleep).poll(cx) {
                    Poll::Ready(()) => this.fail(Error::Request(natsy::RequestError::TimedOut)),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl Stream {
    /// Many messages with one direct get, as a stream: see
    /// [`crate::Stream::direct_get_batch`].
    ///
    /// ```no_run
    /// # async fn run(stream: natsy_jetstream::aio::Stream) -> Result<(), natsy_jetstream::Error> {
    /// use futures_util::StreamExt;
    /// use natsy_jetstream::DirectBatch;
    /// let mut batch = stream.direct_get_batch(&DirectBatch::last_per_subject(["cfg.>"])).await?;
    /// while let Some(msg) = batch.next().await {
    ///     println!("{}", msg?.subject);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn direct_get_batch(&self, batch: &DirectBatch) -> Result<DirectBatchStream, Error> {
        let (endpoint, body) = batch_request(&self.name, batch)?;
        let ctx = &self.context;
        let client = ctx.client();
        let inbox = client.new_inbox();
        let sub = client
            .subscribe(&inbox)
            .await
            .map_err(crate::pull::subscribe_error)?;
        let subject = ctx.api_subject(&endpoint);
        // A refused request (or inbox) ends `sub` at once instead of at the timeout.
        sub.end_on_refused_publish(&subject);
        client
            .publish_with_reply(&subject, &inbox, body)
            .await
            .map_err(Error::Publish)?;
        Ok(DirectBatchStream {
            client: client.clone(),
            sub,
            reader: BatchReader::new(),
            timeout: ctx.timeout(),
            sleep: None,
        })
    }
}

//! Pause / resume, unpin and the consumer list for async code: the blocking API's calls
//! (`consumer_ops.rs`), awaited.

use super::{Consumer, Context, Stream};
use crate::consumer::ConsumerInfo;
use crate::consumer_ops::{consumer_list_call, pause_call, unpin_call, PauseResponse};
use crate::error::Error;
use crate::stream::Pager;

impl Context {
    /// Pauses a consumer until `until`: see [`crate::Context::pause_consumer`].
    pub async fn pause_consumer(
        &self,
        stream: &str,
        name: &str,
        until: time::OffsetDateTime,
    ) -> Result<PauseResponse, Error> {
        self.call(pause_call(stream, name, Some(until))?).await
    }

    /// Resumes a paused consumer now: see [`crate::Context::resume_consumer`].
    pub async fn resume_consumer(&self, stream: &str, name: &str) -> Result<PauseResponse, Error> {
        self.call(pause_call(stream, name, None)?).await
    }

    /// Unpins a priority group's pinned client: see [`crate::Context::unpin_consumer`].
    pub async fn unpin_consumer(&self, stream: &str, name: &str, group: &str) -> Result<(), Error> {
        self.call(unpin_call(stream, name, group)?).await
    }

    /// The info of every consumer on `stream` (all pages): see
    /// [`crate::Context::consumers`].
    pub async fn consumers(&self, stream: &str) -> Result<Vec<ConsumerInfo>, Error> {
        let mut pager = Pager::new();
        while let Some(offset) = pager.offset() {
            let (infos, total) = self.call(consumer_list_call(stream, offset)?).await?;
            pager.add(infos, total);
        }
        Ok(pager.finish())
    }
}

impl Consumer {
    /// [`Context::pause_consumer`] of this consumer.
    pub async fn pause(&self, until: time::OffsetDateTime) -> Result<PauseResponse, Error> {
        self.context
            .pause_consumer(&self.stream, &self.name, until)
            .await
    }

    /// [`Context::resume_consumer`] of this consumer.
    pub async fn resume(&self) -> Result<PauseResponse, Error> {
        self.context.resume_consumer(&self.stream, &self.name).await
    }

    /// [`Context::unpin_consumer`] of this consumer.
    pub async fn unpin(&self, group: &str) -> Result<(), Error> {
        self.context
            .unpin_consumer(&self.stream, &self.name, group)
            .await
    }

    /// The pin id this handle holds: see [`crate::Consumer::pin_id`].
    pub fn pin_id(&self) -> Option<String> {
        self.pin.get()
    }
}

impl Stream {
    /// [`Context::consumers`] on this stream.
    pub async fn consumers(&self) -> Result<Vec<ConsumerInfo>, Error> {
        self.context().consumers(self.name()).await
    }
}

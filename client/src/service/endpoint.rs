//! [`Endpoint`]: the requests of one service endpoint, and [`Request`]: one of them, with
//! the ways to answer it (plain, with headers, or as a service error).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use natsy_proto::HeaderMap;

use super::stats::StatsCell;
use super::wire::{ERROR_CODE_HEADER, ERROR_HEADER};
use crate::error::PublishError;
use crate::message::Message;
use crate::subscription::Subscription;

/// The requests of one endpoint: a blocking iterator; [`Endpoint::into_stream`] makes it
/// a [`Stream`](futures_core::Stream) for async code. It ends when the service stops (after the
/// requests already received) or the connection closes. Dropping it unsubscribes the
/// endpoint; the service still lists it.
#[derive(Debug)]
pub struct Endpoint {
    sub: Subscription,
    stats: Arc<StatsCell>,
}

impl Endpoint {
    pub(crate) fn new(sub: Subscription, stats: Arc<StatsCell>) -> Self {
        Endpoint { sub, stats }
    }

    fn request(&self, msg: Message) -> Request {
        self.stats.request();
        Request {
            msg,
            stats: self.stats.clone(),
            taken: Instant::now(),
            finished: false,
        }
    }

    /// Waits up to `timeout` for the next request.
    pub fn next_timeout(
        &mut self,
        timeout: std::time::Duration,
    ) -> Result<Request, crate::NextError> {
        let msg = self.sub.next_timeout(timeout)?;
        Ok(self.request(msg))
    }

    /// Sets the custom `data` this endpoint reports in `$SRV.STATS` (any JSON; `None`
    /// removes it). A value rather than nats.go's callback: discovery is answered on the
    /// connection's loop thread, where no user code runs.
    pub fn set_stats_data(&self, data: Option<serde_json::Value>) {
        self.stats.set_data(data);
    }
}

impl Iterator for Endpoint {
    type Item = Request;

    fn next(&mut self) -> Option<Request> {
        let msg = self.sub.next()?;
        Some(self.request(msg))
    }
}

impl Endpoint {
    /// The requests as a [`Stream`](futures_core::Stream), for async code (async-nats's
    /// `Endpoint`): `while let Some(req) = endpoint.next().await`.
    #[cfg(feature = "async")]
    pub fn into_stream(self) -> EndpointStream {
        EndpointStream(self)
    }
}

/// An [`Endpoint`] as a [`Stream`](futures_core::Stream) of [`Request`]s.
#[cfg(feature = "async")]
#[derive(Debug)]
pub struct EndpointStream(Endpoint);

#[cfg(feature = "async")]
impl EndpointStream {
    /// See [`Endpoint::set_stats_data`].
    pub fn set_stats_data(&self, data: Option<serde_json::Value>) {
        self.0.set_stats_data(data);
    }
}

#[cfg(feature = "async")]
impl futures_core::Stream for EndpointStream {
    type Item = Request;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Request>> {
        use crate::sub_queue::Taken;
        use std::task::Poll;
        let this = &mut self.get_mut().0;
        match this.sub.queue().poll_take(cx) {
            Poll::Ready(Taken::Message(m)) => {
                let msg = Message::new(m, this.sub.client().clone());
                Poll::Ready(Some(this.request(msg)))
            }
            Poll::Ready(Taken::Closed(_)) => Poll::Ready(None),
            Poll::Ready(Taken::Empty) | Poll::Pending => Poll::Pending,
        }
    }
}

/// One request to an endpoint. Answer it once, with [`Request::respond`] (or
/// [`respond_error`](Request::respond_error), which counts as an error in the stats);
/// the time from taking it to answering is its processing time. A request dropped
/// unanswered counts its time until the drop, and the asker times out.
///
/// It derefs to the [`Message`] (subject, headers, payload).
#[derive(Debug)]
pub struct Request {
    msg: Message,
    stats: Arc<StatsCell>,
    taken: Instant,
    finished: bool,
}

impl std::ops::Deref for Request {
    type Target = Message;

    fn deref(&self) -> &Message {
        &self.msg
    }
}

/// The headers of a service error reply: `Nats-Service-Error` and `-Code`.
fn error_headers(code: u32, description: &str) -> Result<HeaderMap, PublishError> {
    let mut h = HeaderMap::new();
    h.insert(ERROR_HEADER, description)
        .and_then(|()| h.insert(ERROR_CODE_HEADER, &code.to_string()))
        .map_err(PublishError::Validation)?;
    Ok(h)
}

impl Request {
    fn finish(&mut self, error: Option<String>) {
        if !self.finished {
            self.finished = true;
            self.stats.finished(self.taken.elapsed(), error);
        }
    }

    /// Answers with `payload`.
    pub fn respond(mut self, payload: impl Into<Bytes>) -> Result<(), PublishError> {
        self.finish(None);
        self.msg.respond(payload)
    }

    /// Answers with `headers` and `payload`.
    pub fn respond_with_headers(
        mut self,
        headers: &HeaderMap,
        payload: impl Into<Bytes>,
    ) -> Result<(), PublishError> {
        self.finish(None);
        self.msg.respond_with_headers(headers, payload)
    }

    /// Answers with a service error: the `Nats-Service-Error` (`description`) and
    /// `Nats-Service-Error-Code` (`code`) headers, and `payload` (often empty). Counted
    /// in the endpoint's `num_errors`, and its `last_error` becomes `code:description`.
    pub fn respond_error(
        mut self,
        code: u32,
        description: &str,
        payload: impl Into<Bytes>,
    ) -> Result<(), PublishError> {
        let headers = error_headers(code, description)?;
        self.finish(Some(format!("{code}:{description}")));
        self.msg.respond_with_headers(&headers, payload)
    }

    /// [`Request::respond`] for async code: awaits room instead of blocking the thread.
    #[cfg(feature = "async")]
    pub async fn respond_async(mut self, payload: impl Into<Bytes>) -> Result<(), PublishError> {
        self.finish(None);
        self.msg.respond_async(payload).await
    }

    /// [`Request::respond_error`] for async code.
    #[cfg(feature = "async")]
    pub async fn respond_error_async(
        mut self,
        code: u32,
        description: &str,
        payload: impl Into<Bytes>,
    ) -> Result<(), PublishError> {
        let headers = error_headers(code, description)?;
        self.finish(Some(format!("{code}:{description}")));
        let Some(reply) = self.msg.reply() else {
            return Err(PublishError::Validation(
                natsy_proto::ValidationError::InvalidReply,
            ));
        };
        crate::aio::Client::from(self.msg.client().clone())
            .publish_with_headers(reply, headers, payload)
            .await
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        self.finish(None);
    }
}

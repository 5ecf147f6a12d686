//! [`Message`]: a received message, with a handle to reply through.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;
use natsy_proto::HeaderMap;

use crate::client::Client;
use crate::error::PublishError;

/// A received message: subject, reply, headers, status and payload (zero-copy, see
/// [`natsy_proto::Message`], which this derefs to), plus [`Message::respond`] and
/// [`Message::respond_with_headers`].
#[derive(Clone)]
pub struct Message {
    inner: natsy_proto::Message,
    client: Client,
}

impl Message {
    pub(crate) fn new(inner: natsy_proto::Message, client: Client) -> Self {
        Message { inner, client }
    }

    #[cfg(all(feature = "async", feature = "service"))]
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Publishes `payload` to this message's reply subject.
    ///
    /// Fails with a validation error if the message has no reply subject. Like every
    /// publish it waits (blocking the thread) while the outgoing queue is full: async code
    /// uses [`Message::respond_async`].
    pub fn respond(&self, payload: impl Into<Bytes>) -> Result<(), PublishError> {
        match self.inner.reply() {
            Some(reply) => self.client.publish_reply(reply, None, payload.into()),
            None => Err(PublishError::Validation(
                natsy_proto::ValidationError::InvalidReply,
            )),
        }
    }

    /// Publishes `payload` with `headers` to this message's reply subject: a responder
    /// that answers with headers (or echoes the request's, as below). nats.go
    /// `RespondMsg` with a header.
    ///
    /// Fails with a validation error if the message has no reply subject.
    ///
    /// ```no_run
    /// let client = natsy::connect("nats://127.0.0.1:4222")?;
    /// for req in client.subscribe("svc.echo")? {
    ///     let headers = req.headers()?.unwrap_or_default();
    ///     req.respond_with_headers(&headers, req.payload_bytes())?;
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn respond_with_headers(
        &self,
        headers: &HeaderMap,
        payload: impl Into<Bytes>,
    ) -> Result<(), PublishError> {
        match self.inner.reply() {
            Some(reply) => self
                .client
                .publish_reply(reply, Some(headers), payload.into()),
            None => Err(PublishError::Validation(
                natsy_proto::ValidationError::InvalidReply,
            )),
        }
    }

    /// [`Message::respond`] for async code: awaits room in the outgoing queue instead of
    /// blocking the thread (see [`aio::Client::publish`](crate::aio::Client::publish)).
    ///
    /// ```no_run
    /// # async fn run(client: natsy::aio::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use futures_util::StreamExt;
    /// let mut requests = client.subscribe("svc.echo").await?;
    /// while let Some(req) = requests.next().await {
    ///     req.respond_async(req.payload_bytes()).await?;
    /// }
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "async")]
    pub async fn respond_async(&self, payload: impl Into<Bytes>) -> Result<(), PublishError> {
        match self.inner.reply() {
            Some(reply) => {
                let client = crate::aio::Client::from(self.client.clone());
                client.publish(reply, payload).await
            }
            None => Err(PublishError::Validation(
                natsy_proto::ValidationError::InvalidReply,
            )),
        }
    }

    /// The protocol-level message.
    pub fn into_inner(self) -> natsy_proto::Message {
        self.inner
    }
}

impl Deref for Message {
    type Target = natsy_proto::Message;

    fn deref(&self) -> &natsy_proto::Message {
        &self.inner
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

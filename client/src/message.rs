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

    /// Publishes `payload` to this message's reply subject.
    ///
    /// Fails with a validation error if the message has no reply subject.
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

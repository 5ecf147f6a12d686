//! [`JsMessage`] for async code: the blocking [`crate::JsMessage`] (metadata, the
//! one-terminal-ack rule, the ack bodies) with acknowledgements that await instead of
//! block.

use std::fmt;
use std::ops::Deref;
use std::time::Duration;

use crate::error::Error;
use crate::js_message::{AckError, AckKind, AckMetadata};

/// A message delivered by a JetStream consumer to async code
/// (`async_nats::jetstream::Message`). It derefs to [`natsy::Message`]; acknowledge it
/// with one of [`ack`](JsMessage::ack), [`double_ack`](JsMessage::double_ack),
/// [`nak`](JsMessage::nak), [`nak_with_delay`](JsMessage::nak_with_delay),
/// [`term`](JsMessage::term) or [`term_with_reason`](JsMessage::term_with_reason);
/// after one of those, further acks fail with [`AckError::AlreadyAcked`].
/// [`in_progress`](JsMessage::in_progress) may be sent any number of times before that.
///
/// The acks are the blocking message's: one claim, one body per kind; only the send is
/// awaited (room in the outgoing queue, or the confirmation of a double ack).
pub struct JsMessage {
    inner: crate::JsMessage,
}

impl fmt::Debug for JsMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl Deref for JsMessage {
    type Target = natsy::Message;

    fn deref(&self) -> &natsy::Message {
        self.inner.message()
    }
}

impl From<crate::JsMessage> for JsMessage {
    fn from(inner: crate::JsMessage) -> Self {
        JsMessage { inner }
    }
}

impl From<JsMessage> for crate::JsMessage {
    fn from(message: JsMessage) -> Self {
        message.inner
    }
}

/// Gives a claimed terminal ack back unless it was confirmed: a double ack dropped
/// while it waits counts as not confirmed, as a failed one does.
struct Unclaim<'a>(Option<&'a crate::JsMessage>);

impl Drop for Unclaim<'_> {
    fn drop(&mut self) {
        if let Some(m) = self.0 {
            m.unclaim();
        }
    }
}

impl JsMessage {
    /// The client message.
    pub fn message(&self) -> &natsy::Message {
        self.inner.message()
    }

    /// The client message, consuming the wrapper.
    pub fn into_message(self) -> natsy::Message {
        self.inner.into_message()
    }

    /// The same message with blocking acks (for a worker thread).
    pub fn into_blocking(self) -> crate::JsMessage {
        self.inner
    }

    /// The metadata encoded in the reply subject (`async_nats` `info()`).
    pub fn metadata(&self) -> Result<AckMetadata, Error> {
        self.inner.metadata()
    }

    /// True once a terminal ack was sent through this handle.
    pub fn is_acked(&self) -> bool {
        self.inner.is_acked()
    }

    fn client(&self) -> natsy::aio::Client {
        natsy::aio::Client::from(self.inner.context().client().clone())
    }

    async fn send(&self, kind: AckKind<'_>) -> Result<(), Error> {
        let terminal = kind.is_terminal();
        let reply = self.inner.begin_ack(terminal)?;
        // Queued on the first poll, with the claim: dropped later, it was sent.
        if let Err(e) = self.client().publish(reply, kind.body()).await {
            if terminal {
                self.inner.unclaim();
            }
            return Err(Error::Ack(AckError::Publish(e)));
        }
        Ok(())
    }

    /// Acknowledges the message (`+ACK`) without waiting for the server.
    pub async fn ack(&self) -> Result<(), Error> {
        self.send(AckKind::Ack).await
    }

    /// Acknowledges the message as a request and awaits (up to the context's timeout)
    /// the server's confirmation (`async_nats` `double_ack`). A timeout or failure is
    /// [`AckError::NotConfirmed`] and, like dropping the future before the answer, leaves
    /// the message not acknowledged.
    pub async fn double_ack(&self) -> Result<(), Error> {
        let reply = self.inner.begin_ack(true)?;
        let mut unclaim = Unclaim(Some(&self.inner));
        let timeout = self.inner.context().timeout();
        match self
            .client()
            .request_timeout(reply, AckKind::Ack.body(), timeout)
            .await
        {
            Ok(_) => {
                unclaim.0 = None;
                Ok(())
            }
            Err(e) => Err(Error::Ack(AckError::NotConfirmed(e))),
        }
    }

    /// Negatively acknowledges the message (`-NAK`): redelivered at once.
    pub async fn nak(&self) -> Result<(), Error> {
        self.send(AckKind::Nak(None)).await
    }

    /// Negatively acknowledges, asking for redelivery no earlier than `delay`.
    pub async fn nak_with_delay(&self, delay: Duration) -> Result<(), Error> {
        self.send(AckKind::Nak(Some(delay))).await
    }

    /// Still being worked on (`+WPI`): restarts the ack timer. Not terminal.
    pub async fn in_progress(&self) -> Result<(), Error> {
        self.send(AckKind::Progress).await
    }

    /// Terminates the message (`+TERM`): never redelivered.
    pub async fn term(&self) -> Result<(), Error> {
        self.send(AckKind::Term("")).await
    }

    /// Terminates the message with a reason for the server's advisory.
    pub async fn term_with_reason(&self, reason: &str) -> Result<(), Error> {
        self.send(AckKind::Term(reason)).await
    }
}

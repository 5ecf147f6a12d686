//! [`ReplyHandle`]: a request in flight, whose reply is collected later.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use natsy_proto::connection::RequestId;

use crate::client::Client;
use crate::error::RequestError;
use crate::message::Message;
use crate::shared::{ReplySlot, SlotState};

/// A request that has been sent; its reply (or its failure) is taken with
/// [`ReplyHandle::wait_timeout`] or [`ReplyHandle::try_take`].
///
/// Dropping the handle forgets the request: a reply arriving later is discarded and no
/// state is left behind.
///
/// ```no_run
/// # use std::time::Duration;
/// let client = natsy::connect("nats://127.0.0.1:4222")?;
/// let pending: Vec<_> = (0..10)
///     .map(|i| client.send_request("svc.echo", None, format!("{i}")))
///     .collect::<Result<_, _>>()?;
/// for handle in pending {
///     println!("{:?}", handle.wait_timeout(Duration::from_secs(1))?.payload());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ReplyHandle {
    client: Client,
    slot: Arc<ReplySlot>,
    id: RequestId,
}

fn finish(state: SlotState, client: &Client) -> Option<Result<Message, RequestError>> {
    match state {
        SlotState::Waiting => None,
        SlotState::Closed => Some(Err(RequestError::Closed)),
        SlotState::Refused(e) => Some(Err(RequestError::PermissionDenied(e))),
        SlotState::Reply(msg) if msg.is_no_responders() => Some(Err(RequestError::NoResponders)),
        SlotState::Reply(msg) => Some(Ok(Message::new(msg, client.clone()))),
    }
}

impl ReplyHandle {
    pub(crate) fn new(client: Client, slot: Arc<ReplySlot>, id: RequestId) -> Self {
        ReplyHandle { client, slot, id }
    }

    /// The reply if it has arrived, without waiting.
    pub fn try_take(&mut self) -> Option<Result<Message, RequestError>> {
        finish(self.slot.take(), &self.client)
    }

    /// The reply once it has arrived; registers the task to be woken when it does.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn poll_reply(&self, cx: &mut Context<'_>) -> Poll<Result<Message, RequestError>> {
        match self.slot.poll_take(cx) {
            Poll::Ready(state) => match finish(state, &self.client) {
                Some(done) => Poll::Ready(done),
                None => Poll::Pending,
            },
            Poll::Pending => Poll::Pending,
        }
    }

    /// The request's time is up: forgets it, and returns a reply that raced in or
    /// [`RequestError::TimedOut`].
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn expire(&self) -> Result<Message, RequestError> {
        self.client.forget_request(self.id);
        finish(self.slot.take(), &self.client).unwrap_or(Err(RequestError::TimedOut))
    }

    /// Waits for the reply up to the client's default request timeout.
    pub fn wait(self) -> Result<Message, RequestError> {
        let timeout = self.client.default_request_timeout();
        self.wait_timeout(timeout)
    }

    /// Waits for the reply up to `timeout` (`Duration::MAX`: for ever). A 503 "no
    /// responders" reply is [`RequestError::NoResponders`]. The thread sleeps until the
    /// loop thread hands it the reply: waiting costs no CPU.
    pub fn wait_timeout(self, timeout: Duration) -> Result<Message, RequestError> {
        // A timeout too large for the clock means no deadline: wait for ever.
        let deadline = Instant::now().checked_add(timeout);
        if let Some(done) = finish(self.slot.wait_take(deadline), &self.client) {
            return done;
        }
        // Timed out: forget the request (Drop), then take a reply that raced in.
        self.client.forget_request(self.id);
        finish(self.slot.take(), &self.client).unwrap_or(Err(RequestError::TimedOut))
    }
}

impl Drop for ReplyHandle {
    fn drop(&mut self) {
        self.client.forget_request(self.id);
    }
}

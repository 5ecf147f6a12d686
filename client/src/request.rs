//! [`ReplyHandle`]: a request in flight, whose reply is collected later.

use std::sync::Arc;
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

    /// Waits for the reply up to the client's default request timeout.
    pub fn wait(self) -> Result<Message, RequestError> {
        let timeout = self.client.default_request_timeout();
        self.wait_timeout(timeout)
    }

    /// Waits for the reply up to `timeout`. A 503 "no responders" reply is
    /// [`RequestError::NoResponders`].
    ///
    /// Before it sleeps, it yields the CPU and looks again for up to the client's
    /// `wait_spin`: the fastest way to a reply that comes within microseconds.
    pub fn wait_timeout(self, timeout: Duration) -> Result<Message, RequestError> {
        self.wait_inner(timeout, true)
    }

    /// Like [`wait_timeout`](Self::wait_timeout), but sleeps at once instead of spinning
    /// first: for a caller with many requests in flight, such as a window of JetStream
    /// asynchronous publishes, whose throughput is what matters. Spinning there took CPU
    /// from the server on the same machine: `natsy-bench js-pub` made about 10% fewer
    /// asynchronous publishes per second with it.
    pub fn wait_timeout_sleeping(self, timeout: Duration) -> Result<Message, RequestError> {
        self.wait_inner(timeout, false)
    }

    fn wait_inner(self, timeout: Duration, spin: bool) -> Result<Message, RequestError> {
        // A timeout too large for the clock means no deadline: wait for ever.
        let deadline = Instant::now().checked_add(timeout);
        if let Some(done) = finish(self.slot.take(), &self.client) {
            return done;
        }
        // About to wait on the server: send the request (and anything queued before it)
        // from this thread rather than waiting for the loop thread to wake up and do it.
        self.client.send_pending();
        if spin {
            let spun = self.client.spin_wait(deadline, || {
                finish(self.slot.take(), &self.client).or_else(|| {
                    self.client.poll_input();
                    finish(self.slot.take(), &self.client)
                })
            });
            if let Some(done) = spun {
                return done;
            }
        }
        let mut state = self.slot.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(done) = finish(std::mem::take(&mut *state), &self.client) {
                return done;
            }
            state = match deadline {
                None => self
                    .slot
                    .ready
                    .wait(state)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    self.slot
                        .ready
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        drop(state);
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

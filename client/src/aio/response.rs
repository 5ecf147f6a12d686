//! [`Response`]: the reply of a request in flight, as a future.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::wait::Sleep;
use crate::error::RequestError;
use crate::message::Message;
use crate::request::ReplyHandle;
use crate::shared::Shared;

/// A request that has been sent; await it for the reply, or
/// [`RequestError::TimedOut`] once its timeout passes (the client's request timeout
/// unless set with [`Response::timeout`]).
///
/// Dropping it forgets the request: a reply arriving later is discarded, nothing is
/// left behind.
///
/// ```no_run
/// # async fn run(client: natsy::aio::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let mut pending = Vec::new();
/// for i in 0..10 {
///     pending.push(client.send_request("svc.echo", None, format!("{i}")).await?);
/// }
/// for response in pending {
///     println!("{:?}", response.await?.payload());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a Response does nothing unless awaited; dropping it forgets the request"]
pub struct Response {
    handle: ReplyHandle,
    shared: Arc<Shared>,
    sent: Instant,
    sleep: Option<Sleep>,
    timeout: Duration,
}

impl Response {
    pub(crate) fn new(handle: ReplyHandle, shared: Arc<Shared>, timeout: Duration) -> Self {
        Response {
            handle,
            shared,
            sent: Instant::now(),
            sleep: None,
            timeout,
        }
    }

    /// Sets the timeout, counted from when the request was sent (`Duration::MAX`: none).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self.sleep = None;
        self
    }
}

impl Future for Response {
    type Output = Result<Message, RequestError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Poll::Ready(done) = this.handle.poll_reply(cx) {
            return Poll::Ready(done);
        }
        let (shared, deadline) = (&this.shared, this.sent.checked_add(this.timeout));
        let sleep = this
            .sleep
            .get_or_insert_with(|| Sleep::until(shared.clone(), deadline));
        match Pin::new(sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(this.handle.expire()),
            Poll::Pending => Poll::Pending,
        }
    }
}

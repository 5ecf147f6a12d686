//! [`Client`]: the async handle, the same connection as the blocking
//! [`natsy::Client`](crate::Client) with awaited waits instead of blocked threads.

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use natsy_proto::connection::{CloseReason, State};
use natsy_proto::{HeaderMap, ServerAddr, ServerInfo};

use super::events::Events;
use super::response::Response;
use super::subscriber::Subscriber;
use super::wait::{room, with_deadline, CoreWait, Signal, Sleep};
use crate::client::{close_outcome, drain_outcome, flush_outcome, CLOSE_WAIT};
use crate::core::Core;
use crate::error::{
    CloseError, ConnectError, DrainError, FlushError, PublishError, RequestError, SubscribeError,
};
use crate::message::Message;
use crate::options::{ConnectOptions, ToServerAddrs};
use crate::Statistics;

/// Connects to `servers` with default options (`async_nats::connect`): see
/// [`ConnectOptions::connect_async`].
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = natsy::aio::connect("nats://127.0.0.1:4222").await?;
/// client.publish("greet.joe", "hello").await?;
/// client.flush().await?;
/// # Ok(()) }
/// ```
pub async fn connect(servers: impl ToServerAddrs) -> Result<Client, ConnectError> {
    ConnectOptions::new().connect_async(servers).await
}

impl ConnectOptions {
    /// Connects without blocking the calling task: the async form of
    /// [`ConnectOptions::connect`] (`async_nats::ConnectOptions::connect`). Resolves once
    /// connected (or, with `retry_on_failed_connect`, once the first attempt was made).
    ///
    /// DNS, credential providers and signers run on the dial threads as for the blocking
    /// client; only the options' own files (CA, creds, nkey seed) are read here, at once,
    /// so a bad one fails this call with a typed error.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = natsy::ConnectOptions::new()
    ///     .name("worker")
    ///     .connect_async("nats://127.0.0.1:4222")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn connect_async(
        self,
        servers: impl ToServerAddrs,
    ) -> impl Future<Output = Result<Client, ConnectError>> + Send + 'static {
        let started = servers
            .to_server_addrs()
            .map_err(ConnectError::InvalidUrl)
            .and_then(|servers| crate::Client::start(servers, self));
        async move {
            let inner = started?;
            let connected = {
                let probe = inner.clone();
                CoreWait::new(
                    inner.shared().clone(),
                    Signal::Changed,
                    move |core: &mut Core| probe.connected(core),
                )
            };
            connected.await?;
            Ok(Client { inner })
        }
    }
}

/// An async NATS client, the counterpart of `async_nats::Client`. Cheap to clone; every
/// clone shares one connection. `Send + Sync`; works on any executor.
///
/// It is the blocking [`natsy::Client`](crate::Client)'s connection seen through futures:
/// [`Client::blocking`] and `From` convert between the two without a second connection,
/// so one process can publish from a thread pool and subscribe from tasks.
///
/// The connection is driven by natsy's own loop thread (one per connection, whatever
/// the number of tasks, subscriptions or requests): awaiting never blocks an executor
/// thread, and there is no runtime to pick.
#[derive(Clone)]
pub struct Client {
    inner: crate::Client,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("aio::Client")
            .field("state", &self.connection_state())
            .finish()
    }
}

impl From<crate::Client> for Client {
    fn from(inner: crate::Client) -> Self {
        Client { inner }
    }
}

impl From<Client> for crate::Client {
    fn from(client: Client) -> Self {
        client.inner
    }
}

impl Client {
    /// The same connection as a blocking client, for code that runs on its own threads.
    pub fn blocking(&self) -> &crate::Client {
        &self.inner
    }

    /// Waits for room when an op was queued into a full outgoing queue (2 MiB ahead of
    /// the socket, until 1 MiB): the awaited form of a blocked publisher.
    async fn room_if(&self, full: bool) {
        if full {
            room(self.inner.shared()).await;
        }
    }

    /// Publishes `payload` to `subject` (`async_nats::Client::publish`).
    ///
    /// Completes once the message is queued for the socket (or the reconnect buffer),
    /// exactly as [`natsy::Client::publish`](crate::Client::publish) returns; a publisher
    /// more than 2 MiB ahead of the socket awaits room first, without blocking its
    /// executor thread. The message is queued on the first poll: dropping the future
    /// after that does not take it back. async-nats queues into a channel and reports
    /// nothing more; here a refused publish is an error of this call.
    pub async fn publish(
        &self,
        subject: impl AsRef<str>,
        payload: impl Into<Bytes>,
    ) -> Result<(), PublishError> {
        self.publish_inner(subject.as_ref(), None, None, payload.into())
            .await
    }

    /// Publishes with headers.
    pub async fn publish_with_headers(
        &self,
        subject: impl AsRef<str>,
        headers: HeaderMap,
        payload: impl Into<Bytes>,
    ) -> Result<(), PublishError> {
        self.publish_inner(subject.as_ref(), None, Some(&headers), payload.into())
            .await
    }

    /// Publishes with a reply subject.
    pub async fn publish_with_reply(
        &self,
        subject: impl AsRef<str>,
        reply: impl AsRef<str>,
        payload: impl Into<Bytes>,
    ) -> Result<(), PublishError> {
        self.publish_inner(subject.as_ref(), Some(reply.as_ref()), None, payload.into())
            .await
    }

    /// Publishes with a reply subject and headers.
    pub async fn publish_with_reply_and_headers(
        &self,
        subject: impl AsRef<str>,
        reply: impl AsRef<str>,
        headers: HeaderMap,
        payload: impl Into<Bytes>,
    ) -> Result<(), PublishError> {
        let reply = reply.as_ref();
        self.publish_inner(
            subject.as_ref(),
            Some(reply),
            Some(&headers),
            payload.into(),
        )
        .await
    }

    /// Queues a publish with a reply subject at once, without awaiting room (the
    /// outgoing queue may go past its 2 MiB mark): for small protocol messages sent from
    /// inside a `poll`, such as natsy-jetstream's pull requests. Everything else should
    /// await [`Client::publish_with_reply`].
    pub fn publish_with_reply_now(
        &self,
        subject: &str,
        reply: &str,
        payload: impl Into<Bytes>,
    ) -> Result<(), PublishError> {
        self.inner
            .queue_publish(subject, Some(reply), None, payload.into())
            .map(drop)
    }

    /// Queues a publish at once, without awaiting room, as
    /// [`Client::publish_with_reply_now`]: for small protocol messages sent from inside a
    /// `poll`, such as natsy-jetstream's flow control answers.
    pub fn publish_now(
        &self,
        subject: &str,
        payload: impl Into<Bytes>,
    ) -> Result<(), PublishError> {
        self.inner
            .queue_publish(subject, None, None, payload.into())
            .map(drop)
    }

    async fn publish_inner(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&HeaderMap>,
        payload: Bytes,
    ) -> Result<(), PublishError> {
        let full = {
            let core = self.inner.queue_publish(subject, reply, headers, payload)?;
            core.conn.output_full()
        };
        self.room_if(full).await;
        Ok(())
    }

    /// Subscribes to `subject` (`async_nats::Client::subscribe`): a
    /// [`futures_core::Stream`] of messages.
    ///
    /// ```no_run
    /// # async fn run(client: natsy::aio::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use futures_util::StreamExt;
    /// let mut sub = client.subscribe("greet.*").await?;
    /// while let Some(msg) = sub.next().await {
    ///     println!("{}: {:?}", msg.subject(), msg.payload());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn subscribe(&self, subject: impl AsRef<str>) -> Result<Subscriber, SubscribeError> {
        self.subscribe_inner(subject.as_ref(), None).await
    }

    /// Subscribes as a member of queue group `queue`
    /// (`async_nats::Client::queue_subscribe`).
    pub async fn queue_subscribe(
        &self,
        subject: impl AsRef<str>,
        queue: impl AsRef<str>,
    ) -> Result<Subscriber, SubscribeError> {
        self.subscribe_inner(subject.as_ref(), Some(queue.as_ref()))
            .await
    }

    async fn subscribe_inner(
        &self,
        subject: &str,
        queue: Option<&str>,
    ) -> Result<Subscriber, SubscribeError> {
        let (sub, full) = {
            let (sub, core) = self.inner.queue_sub(subject, queue)?;
            (sub, core.conn.output_full())
        };
        // Made before awaiting: dropped while waiting for room, it unsubscribes.
        let sub = Subscriber::new(sub);
        self.room_if(full).await;
        Ok(sub)
    }

    /// Sends a request and awaits the first reply, up to the default request timeout
    /// (`async_nats::Client::request`). Typed failures as for the blocking
    /// [`request`](crate::Client::request): no responders, permission denied, timed out.
    ///
    /// Cancellation-safe: dropping the future at any point forgets the request (no reply
    /// slot is left behind, unlike async-nats issue #1617).
    pub async fn request(
        &self,
        subject: impl AsRef<str>,
        payload: impl Into<Bytes>,
    ) -> Result<Message, RequestError> {
        self.start_request(subject.as_ref(), None, payload.into(), true)
            .await?
            .await
    }

    /// [`Client::request`] with headers.
    pub async fn request_with_headers(
        &self,
        subject: impl AsRef<str>,
        headers: HeaderMap,
        payload: impl Into<Bytes>,
    ) -> Result<Message, RequestError> {
        self.start_request(subject.as_ref(), Some(&headers), payload.into(), true)
            .await?
            .await
    }

    /// [`Client::request`] with an explicit timeout (`Duration::MAX`: none).
    pub async fn request_timeout(
        &self,
        subject: impl AsRef<str>,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Message, RequestError> {
        self.start_request(subject.as_ref(), None, payload.into(), true)
            .await?
            .timeout(timeout)
            .await
    }

    /// Sends a request and returns at once with its [`Response`], a future of the reply:
    /// how many requests are kept in flight from one task (JetStream's async publish).
    /// The reply's timeout starts now; dropping the `Response` forgets the request.
    pub async fn send_request(
        &self,
        subject: impl AsRef<str>,
        headers: Option<&HeaderMap>,
        payload: impl Into<Bytes>,
    ) -> Result<Response, RequestError> {
        self.start_request(subject.as_ref(), headers, payload.into(), false)
            .await
    }

    /// Queues a request (`waits`: its reply is awaited at once, so it may be written from
    /// this thread when the loop is idle) and returns its [`Response`].
    async fn start_request(
        &self,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: Bytes,
        waits: bool,
    ) -> Result<Response, RequestError> {
        let (handle, full) = {
            let (handle, core) = self.inner.queue_request(subject, headers, payload, waits)?;
            (handle, core.conn.output_full())
        };
        let response = Response::new(
            handle,
            self.inner.shared().clone(),
            self.inner.default_request_timeout(),
        );
        self.room_if(full).await;
        Ok(response)
    }

    /// A new unique inbox subject (`async_nats::Client::new_inbox`).
    pub fn new_inbox(&self) -> String {
        self.inner.new_inbox()
    }

    /// Waits until the server has processed everything published before, up to the flush
    /// timeout (default 10 s).
    pub async fn flush(&self) -> Result<(), FlushError> {
        self.flush_timeout(self.inner.options().flush_timeout).await
    }

    /// [`Client::flush`] with an explicit timeout. Dropping the future forgets the flush.
    pub async fn flush_timeout(&self, timeout: Duration) -> Result<(), FlushError> {
        let deadline = Instant::now().checked_add(timeout);
        let shared = self.inner.shared();
        let id = self.inner.begin_flush(&mut shared.lock())?;
        // Forgets the flush however this future ends: dropped, timed out or done
        // (`flush_outcome` already removed it then).
        let _forget = OnDrop(|| {
            shared.lock().flushes.remove(&id);
        });
        let done = CoreWait::new(shared.clone(), Signal::Changed, move |core: &mut Core| {
            flush_outcome(core, id)
        });
        with_deadline(shared, deadline, done)
            .await
            .unwrap_or(Err(FlushError::TimedOut))
    }

    /// Drains (`async_nats::Client::drain`): as [`natsy::Client::drain`](crate::Client::drain),
    /// awaited. The client is closed when it completes, whatever the result.
    pub async fn drain(&self) -> Result<(), DrainError> {
        let deadline = Instant::now().checked_add(self.inner.options().drain_timeout);
        let left = || {
            deadline.map_or(Duration::MAX, |d| {
                d.saturating_duration_since(Instant::now())
            })
        };
        self.inner.drain_subscriptions();
        let flushed = self.flush_timeout(left()).await;
        self.inner.end_drained_queues();
        // Requests in flight get until the deadline (as the blocking drain, every 5 ms).
        while self.inner.pending_requests() > 0 && left() > Duration::ZERO {
            self.sleep(Duration::from_millis(5).min(left())).await;
        }
        let unanswered = self.inner.pending_requests();
        drain_outcome(flushed, unanswered, self.close().await)
    }

    /// Closes the connection: as [`natsy::Client::close`](crate::Client::close), awaited.
    pub async fn close(&self) -> Result<(), CloseError> {
        let Some((before, core)) = self.inner.begin_close() else {
            return Ok(());
        };
        drop(core);
        let shared = self.inner.shared();
        let closed = CoreWait::new(shared.clone(), Signal::Changed, |core: &mut Core| {
            core.closed.is_some().then_some(())
        });
        let _ = with_deadline(shared, Instant::now().checked_add(CLOSE_WAIT), closed).await;
        close_outcome(before, &shared.lock())
    }

    /// The connection's events from now on, as a stream that ends after
    /// [`Event::Closed`](crate::Event::Closed) (`async_nats::ConnectOptions::event_callback`
    /// as a stream; the callback option works too).
    pub fn events(&self) -> Events {
        let shared = self.inner.shared();
        let core = shared.lock();
        let queue = shared.listen(core.closed.is_some());
        drop(core);
        Events::new(queue)
    }

    /// A timer served by the connection's loop thread, for timeouts that need no runtime.
    pub fn sleep(&self, duration: Duration) -> Sleep {
        Sleep::after(self.inner.shared().clone(), duration)
    }

    /// Drops the connection and reconnects at once: see
    /// [`natsy::Client::force_reconnect`](crate::Client::force_reconnect).
    pub fn force_reconnect(&self) {
        self.inner.force_reconnect();
    }

    /// Bytes waiting to be sent (see [`natsy::Client::buffered`](crate::Client::buffered)).
    pub fn buffered(&self) -> usize {
        self.inner.buffered()
    }

    /// Outstanding requests.
    pub fn pending_requests(&self) -> usize {
        self.inner.pending_requests()
    }

    /// Async waits registered with the loop thread: tasks waiting for a change, for room
    /// and for a deadline. For monitoring and leak tests: a future that completed or was
    /// dropped leaves none behind.
    pub fn registered_waits(&self) -> usize {
        let core = self.inner.shared().lock();
        core.changed_wakers.len() + core.room_wakers.len() + core.timers.len()
    }

    /// Message and byte counters.
    pub fn statistics(&self) -> Statistics {
        self.inner.statistics()
    }

    /// Connecting, connected, reconnecting or closed (`async_nats::Client::connection_state`).
    pub fn connection_state(&self) -> State {
        self.inner.connection_state()
    }

    /// Why the client closed, if it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.inner.close_reason()
    }

    /// The INFO of the server we are connected to (`async_nats::Client::server_info`).
    pub fn server_info(&self) -> Option<ServerInfo> {
        self.inner.server_info()
    }

    /// The servers the client knows.
    pub fn servers(&self) -> Vec<ServerAddr> {
        self.inner.servers()
    }

    /// The largest headers + payload the server accepts, once connected.
    pub fn max_payload(&self) -> Option<usize> {
        self.inner.max_payload()
    }
}

/// Runs its closure when dropped: the clean-up of a future, cancelled or not.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

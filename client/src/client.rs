//! [`Client`]: the thread-safe handle users publish, subscribe and request through.

use std::fmt;
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use natsy_proto::connection::{
    AttemptError, CloseReason, Connection, FlushId, RequestId, State, Stats as ConnStats,
};
use natsy_proto::{HeaderMap, ServerAddr, ServerInfo, Sid};
use rand::RngCore;

use crate::error::{
    CloseError, ConnectError, DrainError, FlushError, PublishError, RequestError, SubscribeError,
};
use crate::event_loop::EventLoop;
use crate::loop_waker::LoopWaker;
use crate::message::Message;
use crate::options::ConnectOptions;
use crate::request::ReplyHandle;
use crate::shared::{Core, FirstConnect, FlushState, ReplySlot, Shared};
use crate::sub_queue::SubQueue;
use crate::subscription::Subscription;

/// Connects to `servers` with default options: see [`ConnectOptions::connect`].
///
/// ```no_run
/// let client = natsy::connect("nats://127.0.0.1:4222")?;
/// client.publish("greet.joe", "hello")?;
/// client.flush()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connect(servers: impl crate::ToServerAddrs) -> Result<Client, ConnectError> {
    ConnectOptions::new().connect(servers)
}

/// Counters for one client, over its whole life (all reconnects included), from
/// [`Client::statistics`].
///
/// The first five are nats.go's `Statistics` (`InMsgs`, `InBytes`, `OutMsgs`, `OutBytes`,
/// `Reconnects`); the rest are what natsy adds so that nothing it drops or holds is
/// invisible. Counters only grow, except `buffered_bytes`, which is a level. Bytes are
/// payload bytes unless the field says otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Statistics {
    /// Messages received for a live subscription or request (nats.go `InMsgs`), counted
    /// when they arrive, so messages later dropped by a slow consumer are included.
    /// Messages for a subscription already gone are not counted.
    pub in_messages: u64,
    /// Payload bytes of those messages, headers excluded (nats.go `InBytes`).
    pub in_bytes: u64,
    /// Publishes accepted (nats.go `OutMsgs`): written to the socket, queued for it, or
    /// held in the reconnect buffer. Requests and replies count; a publish refused with
    /// a [`PublishError`](crate::PublishError) does not. Discarded ones are included
    /// (see `discarded_messages`).
    pub out_messages: u64,
    /// Payload bytes of those publishes, headers excluded (nats.go `OutBytes`).
    pub out_bytes: u64,
    /// Successful reconnects; the first connect is not one (nats.go `Reconnects`).
    pub reconnects: u64,
    /// natsy: wire bytes (protocol line, headers and payload) of the publishes held in
    /// the reconnect buffer now, waiting for a connection. 0 while connected. A level,
    /// not a counter; nats.go has `Buffered()` for the same.
    pub buffered_bytes: u64,
    /// natsy: messages received but dropped because their subscription's
    /// [`PendingLimits`](crate::PendingLimits) were reached (a slow consumer), over all
    /// subscriptions; also per subscription as
    /// [`Subscription::dropped`](crate::Subscription::dropped). nats.go counts these per
    /// subscription only.
    pub dropped_messages: u64,
    /// natsy: accepted publishes discarded unsent when the client closed (the reconnect
    /// buffer, or what the final write of [`Client::close`] could not get out);
    /// `out_messages` counts every publish accepted, these included. nats.go discards
    /// them without a count.
    pub discarded_messages: u64,
    /// natsy: wire bytes of the discarded publishes (with, after a final write, other
    /// ops queued among them).
    pub discarded_bytes: u64,
}

/// How long `close` waits for the loop to finish it (its final write takes at most 1 s).
pub(crate) const CLOSE_WAIT: Duration = Duration::from_secs(3);

/// What a close discarded, from the counters before it and the core after it.
pub(crate) fn close_outcome(before: ConnStats, core: &Core) -> Result<(), CloseError> {
    let after = core.conn.stats();
    let discarded = crate::Discarded {
        messages: after.discarded_msgs - before.discarded_msgs,
        bytes: after.discarded_bytes - before.discarded_bytes,
    };
    if discarded.messages > 0 {
        Err(CloseError { discarded })
    } else {
        Ok(())
    }
}

/// Flush `id`'s result once the loop has one (and then forgets it).
pub(crate) fn flush_outcome(core: &mut Core, id: FlushId) -> Option<Result<(), FlushError>> {
    match core.flushes.get(&id).copied() {
        Some(FlushState::Pending) => None,
        Some(FlushState::Done) => {
            core.flushes.remove(&id);
            Some(Ok(()))
        }
        Some(FlushState::Failed) | None => {
            core.flushes.remove(&id);
            Some(Err(if core.conn.state() == State::Closed {
                FlushError::Closed
            } else {
                FlushError::Disconnected
            }))
        }
    }
}

/// A drain's result from its flush, the requests left unanswered and its close.
pub(crate) fn drain_outcome(
    flushed: Result<(), FlushError>,
    unanswered_requests: usize,
    closed: Result<(), CloseError>,
) -> Result<(), DrainError> {
    let discarded = closed.err().map(|e| e.discarded).unwrap_or_default();
    match flushed {
        Err(FlushError::TimedOut) => Err(DrainError::TimedOut {
            unanswered_requests,
            publishes_confirmed: false,
            discarded,
        }),
        _ if unanswered_requests > 0 => Err(DrainError::TimedOut {
            unanswered_requests,
            publishes_confirmed: flushed.is_ok(),
            discarded,
        }),
        Err(e) => Err(DrainError::Flush(e)),
        Ok(()) => closed.map_err(DrainError::Close),
    }
}

/// Closes the connection when the last `Client` clone (and every `Subscription`) is gone.
struct Handle {
    shared: Arc<Shared>,
    options: ConnectOptions,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let mut core = self.shared.lock();
        core.conn.close(Instant::now());
        self.shared.wake(&mut core);
    }
}

/// A NATS client. Cheap to clone; every clone shares one connection. `Send + Sync`.
///
/// Dropping the last clone (and the last [`Subscription`]) closes the connection; no
/// runtime is needed for that.
#[derive(Clone)]
pub struct Client {
    handle: Arc<Handle>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("state", &self.connection_state())
            .finish()
    }
}

fn os_seed() -> u64 {
    rand::rng().next_u64()
}

impl Client {
    /// Starts the connection's loop thread without waiting for the first connect.
    pub(crate) fn start(
        servers: Vec<ServerAddr>,
        options: ConnectOptions,
    ) -> Result<Client, ConnectError> {
        let tls_config = {
            // Build it now so a bad CA file fails `connect`, not a background attempt.
            if options.tls.wanted() || servers.iter().any(|s| s.tls) {
                Some(crate::tls::client_config(&options.tls).map_err(ConnectError::Tls)?)
            } else {
                None
            }
        };
        // Files are read now so a bad one fails `connect` with a typed error; a provider
        // is called by the dialer, bounded by `connect_timeout` like every attempt.
        let first_auth = match &options.auth {
            crate::credentials::AuthSource::Provider(_) => None,
            source => Some(source.resolve().map_err(ConnectError::Credentials)?),
        };
        let seed = os_seed();
        let conn = Connection::new(options.connection_config(servers, seed), Instant::now())
            .map_err(ConnectError::InvalidUrl)?;

        let poll = mio::Poll::new().map_err(|e| ConnectError::Io(e.to_string()))?;
        #[cfg(all(feature = "tokio", unix))]
        let on_tokio = options.tokio_runtime.clone();
        #[cfg(not(all(feature = "tokio", unix)))]
        let on_tokio: Option<std::convert::Infallible> = None;
        let waker = match &on_tokio {
            #[cfg(all(feature = "tokio", unix))]
            Some(_) => LoopWaker::Task(Default::default()),
            #[cfg(not(all(feature = "tokio", unix)))]
            Some(never) => match *never {},
            None => LoopWaker::Poller(
                mio::Waker::new(poll.registry(), crate::event_loop::WAKER)
                    .map_err(|e| ConnectError::Io(e.to_string()))?,
            ),
        };
        let events = options.event_callback.clone().map(|callback| {
            let (tx, rx) = mpsc::channel();
            std::thread::Builder::new()
                .name("natsy-events".into())
                .spawn(move || {
                    for event in rx {
                        callback(event);
                    }
                })
                .map(|_| tx)
        });
        let events = events
            .transpose()
            .map_err(|e| ConnectError::Io(e.to_string()))?;
        let shared = Arc::new(Shared {
            core: Mutex::new(Core::new(conn)),
            changed: Condvar::new(),
            drained: Condvar::new(),
            waker,
            events,
            listeners: Mutex::new(Vec::new()),
        });
        let event_loop = EventLoop::new(
            shared.clone(),
            poll,
            tls_config,
            options.auth.clone(),
            first_auth,
            options.resolver.clone(),
            options.websocket_compression,
        );
        let span = crate::trace::connection_span(options.name.as_deref());
        match on_tokio {
            #[cfg(all(feature = "tokio", unix))]
            Some(runtime) => {
                // Sockets register with the reactor as they are dialed (`register_socket`,
                // which enters the runtime's context itself).
                let event_loop = event_loop.on_runtime(runtime.clone());
                drop(runtime.spawn(crate::trace::instrument(
                    span,
                    crate::event_loop::run_on_tokio(event_loop),
                )));
            }
            #[cfg(not(all(feature = "tokio", unix)))]
            Some(never) => match never {},
            None => {
                std::thread::Builder::new()
                    .name("natsy-loop".into())
                    .spawn(move || crate::trace::run_in(span, || event_loop.run()))
                    .map_err(|e| ConnectError::Io(e.to_string()))?;
            }
        }

        Ok(Client {
            handle: Arc::new(Handle { shared, options }),
        })
    }

    /// Connects, blocking until the first connect is decided (see [`Client::connected`]).
    pub(crate) fn connect(
        servers: Vec<ServerAddr>,
        options: ConnectOptions,
    ) -> Result<Client, ConnectError> {
        let client = Client::start(servers, options)?;
        let shared = &client.handle.shared;
        let mut core = shared.lock();
        loop {
            if let Some(outcome) = client.connected(&core) {
                drop(core);
                return outcome.map(|()| client);
            }
            core = shared.changed.wait(core).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// How the first connect went, once decided: connected, failed, or (with
    /// `retry_on_failed_connect`) a first attempt made. Woken by `Shared::notify_changed`.
    pub(crate) fn connected(&self, core: &Core) -> Option<Result<(), ConnectError>> {
        match &core.first_connect {
            FirstConnect::Connected => Some(Ok(())),
            FirstConnect::Failed(failure) => {
                Some(Err(match (&failure.0, &core.last_credentials_error) {
                    // Credentials that could not be had are the caller's to fix: say so
                    // with the typed error, as for a bad file at connect.
                    (Some((_, AttemptError::Credentials(_))), Some(e)) => {
                        ConnectError::Credentials(e.clone())
                    }
                    (Some((server, error)), _) => ConnectError::Attempt {
                        server: Box::new(server.clone()),
                        error: Box::new(error.clone()),
                    },
                    (None, _) => ConnectError::Closed(failure.1.clone()),
                }))
            }
            FirstConnect::Pending => (self.handle.options.retry_on_failed_connect
                && core.last_attempt_error.is_some())
            .then_some(Ok(())),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    #[cfg(feature = "async")]
    pub(crate) fn options(&self) -> &ConnectOptions {
        &self.handle.options
    }

    fn publish_inner(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&HeaderMap>,
        payload: Bytes,
    ) -> Result<(), PublishError> {
        let core = self.queue_publish(subject, reply, headers, payload)?;
        drop(self.shared().wait_for_room(core));
        Ok(())
    }

    /// Queues a publish and wakes the loop; the caller decides about room (blocking:
    /// `Shared::wait_for_room`, async: an awaited wait).
    pub(crate) fn queue_publish(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&HeaderMap>,
        payload: Bytes,
    ) -> Result<MutexGuard<'_, Core>, PublishError> {
        let shared = self.shared();
        let mut core = shared.lock();
        core.conn.publish(subject, reply, headers, payload)?;
        shared.wake(&mut core);
        Ok(core)
    }

    /// A reply from `Message::respond*`: like a publish, but written from this thread
    /// when the loop sleeps with nothing to write (`write_now_or_wake`), as nats.c's
    /// `SendAsap` responder does; while the loop is busy it batches as a publish does.
    pub(crate) fn publish_reply(
        &self,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: Bytes,
    ) -> Result<(), PublishError> {
        let shared = self.shared();
        let mut core = shared.lock();
        core.conn.publish(subject, None, headers, payload)?;
        let core = crate::event_loop::write_now_or_wake(shared, core);
        drop(shared.wait_for_room(core));
        Ok(())
    }

    /// Publishes `payload` to `subject`.
    ///
    /// Returns once the message is queued for the socket (or, while reconnecting, in the
    /// reconnect buffer). A publisher more than 2 MiB ahead of the socket waits here
    /// first ([`Client::buffered`]). Use [`Client::flush`] to know the server has it.
    ///
    /// When a message can still be lost after `Ok(())`, and how you learn of it:
    /// - The connection dies after the socket took the message but before the server
    ///   processed it (the at-most-once window of core NATS): nothing reports this;
    ///   `flush` fails with [`FlushError::Disconnected`] for a flush made after it.
    ///   Messages the socket had not taken yet are kept and sent after the reconnect.
    /// - The client closes for good (user [`close`](Client::close), `max_reconnects`
    ///   exhausted, a fatal server error) while the message is in the reconnect buffer,
    ///   or `close`'s bounded final write cannot get it out: it is discarded and counted
    ///   in [`CloseError`], [`Event::Closed`](crate::Event::Closed)'s `discarded` and
    ///   [`Statistics::discarded_messages`].
    ///
    /// Otherwise it is refused with a [`PublishError`]: invalid subject, too large,
    /// reconnect buffer full or disabled, client closed.
    pub fn publish(&self, subject: &str, payload: impl Into<Bytes>) -> Result<(), PublishError> {
        self.publish_inner(subject, None, None, payload.into())
    }

    /// Publishes with headers.
    pub fn publish_with_headers(
        &self,
        subject: &str,
        headers: &HeaderMap,
        payload: impl Into<Bytes>,
    ) -> Result<(), PublishError> {
        self.publish_inner(subject, None, Some(headers), payload.into())
    }

    /// Publishes with a reply subject.
    pub fn publish_with_reply(
        &self,
        subject: &str,
        reply: &str,
        payload: impl Into<Bytes>,
    ) -> Result<(), PublishError> {
        self.publish_inner(subject, Some(reply), None, payload.into())
    }

    /// Publishes with a reply subject and headers.
    pub fn publish_with_reply_and_headers(
        &self,
        subject: &str,
        reply: &str,
        headers: &HeaderMap,
        payload: impl Into<Bytes>,
    ) -> Result<(), PublishError> {
        self.publish_inner(subject, Some(reply), Some(headers), payload.into())
    }

    /// A new unique inbox subject, `<inbox prefix>.<nuid>` (from the connection's seeded
    /// RNG).
    pub fn new_inbox(&self) -> String {
        self.shared().lock().conn.new_inbox()
    }

    /// Subscribes to `subject` (wildcards allowed).
    pub fn subscribe(&self, subject: &str) -> Result<Subscription, SubscribeError> {
        self.subscribe_inner(subject, None)
    }

    /// Subscribes as a member of queue group `queue`: each message goes to one member.
    pub fn queue_subscribe(
        &self,
        subject: &str,
        queue: &str,
    ) -> Result<Subscription, SubscribeError> {
        self.subscribe_inner(subject, Some(queue))
    }

    fn subscribe_inner(
        &self,
        subject: &str,
        queue: Option<&str>,
    ) -> Result<Subscription, SubscribeError> {
        let (sub, core) = self.queue_sub(subject, queue)?;
        drop(self.shared().wait_for_room(core));
        Ok(sub)
    }

    /// Queues a SUB with its message queue and wakes the loop; the caller decides about
    /// room.
    pub(crate) fn queue_sub(
        &self,
        subject: &str,
        queue: Option<&str>,
    ) -> Result<(Subscription, MutexGuard<'_, Core>), SubscribeError> {
        let shared = self.shared();
        let mut core = shared.lock();
        let sid = core.conn.subscribe(subject, queue)?;
        let q = Arc::new(SubQueue::new(self.handle.options.pending_limits));
        core.subs.insert(sid, q.clone());
        shared.wake(&mut core);
        Ok((Subscription::new(sid, q, self.clone()), core))
    }

    /// Subscribes without waiting for room (a service's endpoints): the subscription and
    /// its queue.
    #[cfg(feature = "service")]
    pub(crate) fn subscribe_now(
        &self,
        subject: &str,
        queue: Option<&str>,
    ) -> Result<(Subscription, Arc<SubQueue>), SubscribeError> {
        let (sub, core) = self.queue_sub(subject, queue)?;
        let q = core.subs.get(&sub.sid()).cloned();
        drop(core);
        let q = q.ok_or(SubscribeError::Closed)?;
        Ok((sub, q))
    }

    /// Subscribes `subjects` for `responder`, answered on the loop thread.
    #[cfg(feature = "service")]
    pub(crate) fn add_responder(
        &self,
        subjects: &[String],
        responder: Arc<dyn crate::core::Responder>,
    ) -> Result<Vec<Sid>, SubscribeError> {
        let shared = self.shared();
        let mut core = shared.lock();
        let mut sids = Vec::with_capacity(subjects.len());
        for subject in subjects {
            match core.conn.subscribe(subject, None) {
                Ok(sid) => {
                    core.responders.insert(sid, responder.clone());
                    sids.push(sid);
                }
                Err(e) => {
                    for sid in sids {
                        core.responders.remove(&sid);
                        let _ = core.conn.unsubscribe(sid, None);
                    }
                    return Err(e);
                }
            }
        }
        shared.wake(&mut core);
        Ok(sids)
    }

    /// Unsubscribes responder subscriptions.
    #[cfg(feature = "service")]
    pub(crate) fn remove_responders(&self, sids: &[Sid]) {
        let shared = self.shared();
        let mut core = shared.lock();
        for sid in sids {
            core.responders.remove(sid);
            let _ = core.conn.unsubscribe(*sid, None);
        }
        shared.wake(&mut core);
    }

    /// Ends subscription `sid` if the server refuses a publish to `subject`.
    pub(crate) fn end_on_refused_publish(&self, sid: Sid, subject: &str) {
        let mut core = self.shared().lock();
        if core.subs.contains_key(&sid) {
            core.publish_watches
                .entry(sid)
                .or_default()
                .push(subject.to_string());
        }
    }

    /// Unsubscribes `sid` now, or after `max` total deliveries.
    pub(crate) fn unsubscribe_sid(&self, sid: Sid, max: Option<u64>) -> Result<(), SubscribeError> {
        let (result, core) = self.queue_unsubscribe(sid, max);
        drop(self.shared().wait_for_room(core));
        result
    }

    /// Unsubscribes `sid` without waiting for room in the outgoing queue (for `Drop`).
    pub(crate) fn unsubscribe_sid_now(&self, sid: Sid) -> Result<(), SubscribeError> {
        self.queue_unsubscribe(sid, None).0
    }

    /// Queues the UNSUB of `sid` and wakes the loop; the caller decides about room.
    pub(crate) fn queue_unsubscribe(
        &self,
        sid: Sid,
        max: Option<u64>,
    ) -> (Result<(), SubscribeError>, MutexGuard<'_, Core>) {
        let shared = self.shared();
        let mut core = shared.lock();
        if max.is_none() {
            core.remove_sub(sid);
        }
        let result = core.conn.unsubscribe(sid, max);
        shared.wake(&mut core);
        (result, core)
    }

    /// Sends a request and waits for the first reply, up to the default request timeout
    /// (10 s unless set with [`ConnectOptions::request_timeout`]).
    ///
    /// Replies come through one wildcard inbox subscription shared by all requests. A
    /// "no responders" answer fails at once with [`RequestError::NoResponders`]. A request
    /// the server refuses (this user may not publish to `subject`, or not subscribe to the
    /// reply inbox) fails as soon as its `-ERR` arrives with
    /// [`RequestError::PermissionDenied`], naming the subject; nats.go waits for the
    /// timeout. A request that times out leaves nothing behind.
    pub fn request(
        &self,
        subject: &str,
        payload: impl Into<Bytes>,
    ) -> Result<Message, RequestError> {
        self.request_inner(
            subject,
            None,
            payload.into(),
            self.handle.options.request_timeout,
        )
    }

    /// [`Client::request`] with headers.
    pub fn request_with_headers(
        &self,
        subject: &str,
        headers: &HeaderMap,
        payload: impl Into<Bytes>,
    ) -> Result<Message, RequestError> {
        self.request_inner(
            subject,
            Some(headers),
            payload.into(),
            self.handle.options.request_timeout,
        )
    }

    /// [`Client::request`] with an explicit timeout.
    pub fn request_timeout(
        &self,
        subject: &str,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Message, RequestError> {
        self.request_inner(subject, None, payload.into(), timeout)
    }

    /// [`Client::request`] with optional headers and an explicit timeout.
    pub fn request_with(
        &self,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Message, RequestError> {
        self.request_inner(subject, headers, payload.into(), timeout)
    }

    fn request_inner(
        &self,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Message, RequestError> {
        // The caller waits for the reply next: send the request from this thread.
        self.start_request(subject, headers, payload, true)?
            .wait_timeout(timeout)
    }

    /// Sends a request without waiting: the reply is collected later through the returned
    /// [`ReplyHandle`]. This is how many requests are kept in flight from one thread (for
    /// example JetStream asynchronous publishing). Dropping the handle forgets the request.
    ///
    /// The request goes out with the next write of the loop thread, together with others
    /// queued meanwhile.
    pub fn send_request(
        &self,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: impl Into<Bytes>,
    ) -> Result<ReplyHandle, RequestError> {
        self.start_request(subject, headers, payload.into(), false)
    }

    /// Registers a reply slot and publishes the request through proto's muxer. `waits`:
    /// the caller waits for the reply at once, so the request may be written from this
    /// thread when the loop is idle (`write_now_or_wake`).
    fn start_request(
        &self,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: Bytes,
        waits: bool,
    ) -> Result<ReplyHandle, RequestError> {
        let (handle, core) = self.queue_request(subject, headers, payload, waits)?;
        drop(self.shared().wait_for_room(core));
        Ok(handle)
    }

    /// Queues a request with its reply slot and wakes the loop (or, with `waits`, when
    /// the caller waits for the reply at once, may write it from this thread: see
    /// `write_now_or_wake`); the caller decides about room.
    pub(crate) fn queue_request(
        &self,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: Bytes,
        waits: bool,
    ) -> Result<(ReplyHandle, MutexGuard<'_, Core>), RequestError> {
        let shared = self.shared();
        let slot = Arc::new(ReplySlot::default());
        let mut core = shared.lock();
        let id = core
            .conn
            .request(subject, headers, payload)
            .map_err(RequestError::from_proto)?;
        core.replies.insert(id, slot.clone());
        if waits {
            core = crate::event_loop::write_now_or_wake(shared, core);
        } else {
            // The loop sends it with whatever else is queued: a caller keeping many
            // requests in flight makes one write per loop turn, not one per request.
            shared.wake(&mut core);
        }
        Ok((ReplyHandle::new(self.clone(), slot, id), core))
    }

    /// Forgets a request's reply slot (timed out or abandoned).
    pub(crate) fn forget_request(&self, id: RequestId) {
        let mut core = self.shared().lock();
        core.replies.remove(&id);
        core.conn.cancel_request(id);
    }

    /// The default request timeout.
    pub(crate) fn default_request_timeout(&self) -> Duration {
        self.handle.options.request_timeout
    }

    /// Bytes waiting to be sent: what the socket has not taken yet (publishes and every
    /// other op) and, while disconnected, the reconnect buffer (nats.go `Buffered`).
    ///
    /// A publisher that gets more than 2 MiB ahead of the socket waits in
    /// [`Client::publish`] until the queue is below 1 MiB, so while connected this stays
    /// within 2 MiB plus one message per publishing thread.
    ///
    /// ```no_run
    /// let client = natsy::connect("nats://127.0.0.1:4222")?;
    /// client.publish("updates", "hello")?;
    /// println!("{} bytes not yet on the wire", client.buffered());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn buffered(&self) -> usize {
        let core = self.shared().lock();
        core.conn.transmit_len() + core.conn.reconnect_buffer_len()
    }

    /// Outstanding requests (for monitoring and leak tests).
    pub fn pending_requests(&self) -> usize {
        self.shared().lock().conn.pending_requests()
    }

    /// Waits until the server has processed everything published before this call
    /// (a PING answered by a PONG), up to the flush timeout (default 10 s).
    pub fn flush(&self) -> Result<(), FlushError> {
        self.flush_timeout(self.handle.options.flush_timeout)
    }

    /// [`Client::flush`] with an explicit timeout.
    pub fn flush_timeout(&self, timeout: Duration) -> Result<(), FlushError> {
        // A timeout too large for the clock means no deadline: wait for ever.
        let deadline = Instant::now().checked_add(timeout);
        let shared = self.shared();
        let mut core = shared.lock();
        let id = self.begin_flush(&mut core)?;
        loop {
            if let Some(done) = flush_outcome(&mut core, id) {
                return done;
            }
            core = match deadline {
                None => shared.changed.wait(core).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        core.flushes.remove(&id);
                        return Err(FlushError::TimedOut);
                    }
                    shared
                        .changed
                        .wait_timeout(core, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    /// Queues a flush's PING and wakes the loop; [`flush_outcome`] tells when it is done.
    pub(crate) fn begin_flush(&self, core: &mut Core) -> Result<FlushId, FlushError> {
        let id = core.conn.flush(Instant::now())?;
        core.flushes.insert(id, FlushState::Pending);
        self.shared().wake(core);
        Ok(id)
    }

    /// Drains: unsubscribes every subscription (their readers still get what already
    /// arrived), lets outstanding requests finish, flushes what was published, and closes.
    /// Publishing is refused once the subscriptions are drained. Bounded by the drain
    /// timeout (default 30 s; `Duration::MAX` waits for ever).
    ///
    /// The client is closed when this returns, whatever the result. An error says what
    /// was left: [`DrainError::TimedOut`] with the unanswered requests, whether the
    /// publishes were confirmed and what the close discarded.
    pub fn drain(&self) -> Result<(), DrainError> {
        let deadline = Instant::now().checked_add(self.handle.options.drain_timeout);
        let left = || {
            deadline.map_or(Duration::MAX, |d| {
                d.saturating_duration_since(Instant::now())
            })
        };
        let expired = || deadline.is_some_and(|d| Instant::now() >= d);
        self.drain_subscriptions();
        // Messages already sent to us arrive before the PONG of this flush.
        let flushed = self.flush_timeout(left());
        self.end_drained_queues();
        // Requests in flight get until the deadline.
        while self.pending_requests() > 0 && !expired() {
            std::thread::sleep(Duration::from_millis(5));
        }
        let unanswered_requests = self.pending_requests();
        drain_outcome(flushed, unanswered_requests, self.close())
    }

    /// The first step of a drain: every subscription but the request muxer's is
    /// unsubscribed, its queue kept open for what the server sent before the UNSUB.
    pub(crate) fn drain_subscriptions(&self) {
        let sids: Vec<Sid> = {
            let core = self.shared().lock();
            let mux = core.conn.request_inbox_sid();
            core.subs
                .keys()
                .copied()
                .filter(|s| Some(*s) != mux)
                .collect()
        };
        for sid in sids {
            let _ = self.unsubscribe_sid_keep_queue(sid);
        }
    }

    /// After the drain's flush: nothing more can arrive, so the queues end after what
    /// they hold.
    pub(crate) fn end_drained_queues(&self) {
        let core = self.shared().lock();
        for q in core.subs.values() {
            q.close(crate::SubscriptionEnded::Unsubscribed);
        }
    }

    /// Sends UNSUB but keeps routing what the server sent before it, and keeps the
    /// subscription's queue open, so its reader still gets everything (see
    /// `Connection::drain_subscription`).
    pub(crate) fn unsubscribe_sid_keep_queue(&self, sid: Sid) -> Result<(), SubscribeError> {
        let shared = self.shared();
        let mut core = shared.lock();
        let result = core.conn.drain_subscription(sid);
        shared.wake(&mut core);
        result
    }

    /// Closes the connection. What is queued for an open connection is written first
    /// (bounded by one second: nats.go flushes on close too); subscriptions end and
    /// waiters are released. Idempotent: a second call returns `Ok(())`.
    ///
    /// Accepted publishes that could not be sent (the client was disconnected and they
    /// waited in the reconnect buffer, or the socket did not take them in time) are
    /// discarded, and this returns a [`CloseError`] saying how many; the `Closed` event
    /// and [`Client::statistics`] report them too.
    pub fn close(&self) -> Result<(), CloseError> {
        let shared = self.shared();
        let Some((before, mut core)) = self.begin_close() else {
            return Ok(());
        };
        // Wait for the loop to finish the close (its final write is bounded by one
        // second), so `close` returning means closed.
        let deadline = Instant::now() + CLOSE_WAIT;
        while core.closed.is_none() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            core = shared
                .changed
                .wait_timeout(core, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        close_outcome(before, &core)
    }

    /// Closes the connection unless it is closed already; the counters before, to tell
    /// what the close discarded.
    pub(crate) fn begin_close(&self) -> Option<(ConnStats, MutexGuard<'_, Core>)> {
        let shared = self.shared();
        let mut core = shared.lock();
        if core.closed.is_some() {
            return None;
        }
        let before = core.conn.stats();
        core.conn.close(Instant::now());
        shared.wake(&mut core);
        Some((before, core))
    }

    /// Drops the current connection and reconnects at once, without waiting for the
    /// reconnect delay (nats.go `ForceReconnect`). Subscriptions are restored and queued
    /// publishes kept, as for any reconnect. Works even with `no_reconnect`.
    ///
    /// Nothing published around the call is lost: the old connection is retired with a
    /// last PING and closed when its PONG arrives (at most the connect timeout later),
    /// so messages published before the call reach the server and what it sends back
    /// for them is received; publishes, subscribes and flushes made after the call wait
    /// in the reconnect buffer and go out on the new connection, in order. nats.go
    /// closes the socket at once, losing what was in flight.
    pub fn force_reconnect(&self) {
        let shared = self.shared();
        let mut core = shared.lock();
        core.conn.force_reconnect(Instant::now());
        shared.wake(&mut core);
    }

    /// Why the client closed, if it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.shared().lock().closed.clone()
    }

    /// Connecting, connected, reconnecting or closed.
    pub fn connection_state(&self) -> State {
        self.shared().lock().conn.state()
    }

    /// The INFO of the server we are connected to (the latest one).
    pub fn server_info(&self) -> Option<ServerInfo> {
        self.shared().lock().conn.server_info().cloned()
    }

    /// The servers the client knows, in the order it would try them.
    pub fn servers(&self) -> Vec<ServerAddr> {
        self.shared().lock().conn.servers()
    }

    /// The largest headers + payload the server accepts, once connected.
    pub fn max_payload(&self) -> Option<usize> {
        self.shared().lock().conn.max_payload()
    }

    /// Message and byte counters.
    pub fn statistics(&self) -> Statistics {
        let core = self.shared().lock();
        let s = core.conn.stats();
        Statistics {
            in_messages: s.in_msgs,
            in_bytes: s.in_bytes,
            out_messages: s.out_msgs,
            out_bytes: s.out_bytes,
            reconnects: s.reconnects,
            buffered_bytes: core.conn.reconnect_buffer_len() as u64,
            dropped_messages: core.slow_consumer_drops,
            discarded_messages: s.discarded_msgs,
            discarded_bytes: s.discarded_bytes,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.on_drop();
    }
}

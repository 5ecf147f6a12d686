//! Pulling from a consumer: one pull ([`Consumer::fetch`] with [`FetchOptions`]), a
//! continuous stream of pulls ([`Consumer::messages`] → [`Messages`]), the status replies
//! that end or interrupt pulls, and [`PullError`].
//!
//! Status replies are handled as the protocol digest (§6.5) says: `100` heartbeats reset
//! the heartbeat timer; `404` and `408` end a fetch normally; `409` "Message Size Exceeds
//! MaxBytes", "Batch Completed" and "Leadership Change" end a pull but are not errors;
//! `409` "Consumer Deleted" and `400` are terminal errors; `409` "Exceeded MaxWaiting" and
//! "Exceeded MaxRequest…" are reported; `503` means nobody serves the consumer.

use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

use crate::consumer::Consumer;
use crate::context::Context;
use crate::error::{ApiErrorKind, Error};
use crate::js_message::JsMessage;
use crate::wire::nanos;

/// Why a pull ended with an error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PullError {
    /// `409 Consumer Deleted`, or the consumer is gone (terminal).
    ConsumerDeleted,
    /// `400`: the server refused the pull request; the text is its description (terminal).
    BadRequest(String),
    /// No message and no heartbeat for twice the idle heartbeat interval.
    NoHeartbeat,
    /// `409 Exceeded MaxWaiting`: too many pull requests wait on the consumer.
    MaxWaitingExceeded,
    /// `409 Exceeded MaxRequestBatch / MaxRequestExpires / MaxRequestMaxBytes`: the request
    /// asks for more than the consumer allows; the text is the server's description.
    MaxRequestExceeded(String),
    /// `409 Message Size Exceeds MaxBytes` before any message: a message is larger than
    /// the request's `max_bytes`.
    MessageSizeExceedsMaxBytes,
    /// `409 Server Shutdown`.
    ServerShutdown,
    /// `503`: nobody answered the pull request (the consumer or stream is not served).
    NoResponders,
    /// Neither messages nor a status arrived before the local deadline.
    TimedOut,
    /// Any other status reply.
    Status {
        /// The status code.
        code: u16,
        /// The status description.
        description: String,
    },
    /// The client closed, so the pull's inbox subscription ended (terminal).
    Closed,
}

impl PullError {
    /// True for errors after which pulling from this consumer cannot go on: the consumer
    /// was deleted, the request is invalid, or the client closed. [`Messages`] ends after
    /// reporting one of these.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            PullError::ConsumerDeleted | PullError::BadRequest(_) | PullError::Closed
        )
    }
}

impl fmt::Display for PullError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PullError::ConsumerDeleted => f.write_str("the consumer was deleted"),
            PullError::BadRequest(d) => write!(f, "bad pull request: {d}"),
            PullError::NoHeartbeat => f.write_str("idle heartbeats stopped"),
            PullError::MaxWaitingExceeded => f.write_str("too many pull requests waiting"),
            PullError::MaxRequestExceeded(d) => write!(f, "pull request over a limit: {d}"),
            PullError::MessageSizeExceedsMaxBytes => {
                f.write_str("a message is larger than the request's max_bytes")
            }
            PullError::ServerShutdown => f.write_str("the server is shutting down"),
            PullError::NoResponders => f.write_str("no responders for the pull request"),
            PullError::TimedOut => f.write_str("the pull request timed out"),
            PullError::Status { code, description } => {
                write!(f, "unexpected status {code} {description}")
            }
            PullError::Closed => f.write_str("the client is closed"),
        }
    }
}

impl std::error::Error for PullError {}

/// What a status reply to a pull request means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    /// 100: idle heartbeat.
    Heartbeat,
    /// 404: no messages (no_wait).
    NoMessages,
    /// 408: the request expired (or was replaced).
    Expired,
    /// 409 Message Size Exceeds MaxBytes: the request's byte budget is spent.
    MaxBytes,
    /// 409 Batch Completed.
    BatchCompleted,
    /// 409 Leadership Change: the request is gone, pull again.
    LeadershipChange,
    /// 423: pin id mismatch (priority groups), pull again.
    PinMismatch,
    /// Anything reported as an error.
    Error(PullError),
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.as_bytes()
            .iter()
            .zip(prefix.as_bytes())
            .all(|(a, b)| a.eq_ignore_ascii_case(b))
}

/// Classifies a status reply by code and description (digest §6.5).
pub(crate) fn classify(code: u16, description: &str) -> Status {
    let d = description.trim();
    match code {
        100 => Status::Heartbeat,
        404 => Status::NoMessages,
        408 => Status::Expired,
        409 => {
            let is = |p: &str| starts_with_ignore_case(d, p);
            if is("Message Size Exceeds MaxBytes") {
                Status::MaxBytes
            } else if is("Batch Completed") {
                Status::BatchCompleted
            } else if is("Leadership Change") {
                Status::LeadershipChange
            } else if is("Consumer Deleted") {
                Status::Error(PullError::ConsumerDeleted)
            } else if is("Exceeded MaxWaiting") {
                Status::Error(PullError::MaxWaitingExceeded)
            } else if is("Exceeded MaxRequest") {
                Status::Error(PullError::MaxRequestExceeded(d.to_string()))
            } else if is("Server Shutdown") {
                Status::Error(PullError::ServerShutdown)
            } else {
                Status::Error(PullError::Status {
                    code,
                    description: d.to_string(),
                })
            }
        }
        400 => Status::Error(PullError::BadRequest(d.to_string())),
        423 => Status::PinMismatch,
        503 => Status::Error(PullError::NoResponders),
        _ => Status::Error(PullError::Status {
            code,
            description: d.to_string(),
        }),
    }
}

/// `Nats-Pending-Messages` and `Nats-Pending-Bytes` of a status reply: what the ended
/// request had not delivered.
fn pending_counts(msg: &natsy::Message) -> (Option<u64>, Option<u64>) {
    let Ok(Some(headers)) = msg.headers() else {
        return (None, None);
    };
    let get = |name: &str| headers.get(name).and_then(|v| v.trim().parse::<u64>().ok());
    (get("Nats-Pending-Messages"), get("Nats-Pending-Bytes"))
}

/// The JSON body of a pull request (digest §6.4).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub(crate) struct PullRequest {
    pub(crate) batch: usize,
    #[serde(with = "nanos::option", skip_serializing_if = "Option::is_none")]
    pub(crate) expires: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_bytes: Option<usize>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) no_wait: bool,
    #[serde(with = "nanos::option", skip_serializing_if = "Option::is_none")]
    pub(crate) idle_heartbeat: Option<Duration>,
}

impl PullRequest {
    fn validate(&self) -> Result<(), Error> {
        if self.batch == 0 {
            return Err(Error::InvalidArgument("batch must be at least 1"));
        }
        if self.max_bytes == Some(0) {
            return Err(Error::InvalidArgument("max_bytes must be at least 1"));
        }
        if let Some(hb) = self.idle_heartbeat {
            if hb.is_zero() {
                return Err(Error::InvalidArgument("idle_heartbeat must not be zero"));
            }
            match self.expires {
                Some(e) if hb <= e / 2 => {}
                _ => {
                    return Err(Error::InvalidArgument(
                        "idle_heartbeat must be at most expires / 2",
                    ))
                }
            }
        }
        Ok(())
    }

    fn body(&self) -> Result<Bytes, Error> {
        serde_json::to_vec(self)
            .map(Bytes::from)
            .map_err(|e| Error::InvalidResponse(e.to_string()))
    }
}

/// Options of one pull ([`Consumer::fetch`]).
///
/// ```
/// use std::time::Duration;
/// use natsy_jetstream::FetchOptions;
/// let opts = FetchOptions { batch: 100, expires: Some(Duration::from_secs(2)), ..Default::default() };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// Messages to ask for (default 1; nats.go `Fetch(batch)`).
    pub batch: usize,
    /// How long the server keeps the request open (default 30 s, as nats.go). `None`
    /// only with `no_wait`.
    pub expires: Option<Duration>,
    /// At most this many bytes in total (nats.go `FetchMaxBytes`).
    pub max_bytes: Option<usize>,
    /// Answer at once with what is there; `404` if nothing (nats.go `FetchNoWait`).
    pub no_wait: bool,
    /// Ask for idle heartbeats this often; must be at most `expires / 2`. `None` (the
    /// default) means 5 s when `expires` is at least 10 s, else none (as nats.go).
    pub idle_heartbeat: Option<Duration>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            batch: 1,
            expires: Some(Duration::from_secs(30)),
            max_bytes: None,
            no_wait: false,
            idle_heartbeat: None,
        }
    }
}

/// Options of a continuous pull ([`Consumer::messages_with`]); defaults as nats.go
/// `Consume`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumeOptions {
    /// Messages per pull (default 500, nats.go `PullMaxMessages`). A new pull is sent when
    /// half of it has been delivered.
    pub batch: usize,
    /// Bytes per pull (default none, nats.go `PullMaxBytes`). A new pull is also sent when
    /// half of these have been delivered.
    pub max_bytes: Option<usize>,
    /// How long each pull stays open on the server (default 30 s, nats.go `PullExpiry`).
    pub expires: Duration,
    /// Idle heartbeat interval (default 15 s = expires / 2; nats.go
    /// `PullHeartbeat`); at most `expires / 2`. Silence for twice this re-pulls.
    pub idle_heartbeat: Duration,
}

impl Default for ConsumeOptions {
    fn default() -> Self {
        ConsumeOptions {
            batch: 500,
            max_bytes: None,
            expires: Duration::from_secs(30),
            idle_heartbeat: Duration::from_secs(15),
        }
    }
}

/// Messages and bytes asked for by pulls in flight and not yet delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Outstanding {
    pub(crate) messages: u64,
    pub(crate) bytes: u64,
}

impl Outstanding {
    /// A message of `size` bytes arrived.
    pub(crate) fn delivered(&mut self, size: u64) {
        self.messages = self.messages.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(size);
    }

    /// A pull ended with these counts undelivered; without counts, forget everything
    /// (re-pulling too much is harmless, stalling is not).
    pub(crate) fn release(&mut self, messages: Option<u64>, bytes: Option<u64>) {
        match messages {
            Some(m) => {
                self.messages = self.messages.saturating_sub(m);
                self.bytes = self.bytes.saturating_sub(bytes.unwrap_or(0));
            }
            None => self.reset(),
        }
    }

    /// No pull is known to be in flight any more.
    pub(crate) fn reset(&mut self) {
        *self = Outstanding::default();
    }

    /// The next pull's batch and byte budget, once at most half of `batch` (or of
    /// `max_bytes`) is still outstanding.
    pub(crate) fn next_pull(
        &self,
        batch: u64,
        max_bytes: Option<u64>,
    ) -> Option<(u64, Option<u64>)> {
        let low_msgs = self.messages <= batch / 2;
        let low_bytes = max_bytes.is_some_and(|mb| self.bytes <= mb / 2);
        if !(low_msgs || low_bytes) {
            return None;
        }
        let want = batch.saturating_sub(self.messages);
        let want_bytes = max_bytes.map(|mb| mb.saturating_sub(self.bytes));
        if want == 0 || want_bytes == Some(0) {
            return None;
        }
        Some((want, want_bytes))
    }

    /// A pull for these counts was sent.
    pub(crate) fn add(&mut self, messages: u64, bytes: Option<u64>) {
        self.messages = self.messages.saturating_add(messages);
        self.bytes = self.bytes.saturating_add(bytes.unwrap_or(0));
    }
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl Consumer {
    /// The subject pull requests go to.
    fn next_subject(&self) -> String {
        self.context
            .api_subject(&format!("CONSUMER.MSG.NEXT.{}.{}", self.stream, self.name))
    }

    /// Sends one pull request and collects its messages until the batch is full or the
    /// request ends (a batch may end early: `404` no messages, `408` expired, `409`
    /// max bytes / batch completed / leadership change). Those endings are not errors.
    ///
    /// Errors (`409 Consumer Deleted`, `400`, `503`, missing heartbeats, ...) are
    /// returned as [`Error::Pull`] when no message arrived before them; messages that did
    /// arrive are returned instead, and the condition shows again on the next call. A pull
    /// the server refuses to let this user publish (or whose inbox it refuses) fails at
    /// once with [`Error::PermissionDenied`], not at `expires`.
    ///
    /// ```no_run
    /// # let client = natsy::connect("nats://127.0.0.1:4222")?;
    /// # let js = natsy_jetstream::new(client);
    /// let consumer = js.get_consumer("orders", "worker")?;
    /// let batch = consumer.fetch(natsy_jetstream::FetchOptions { batch: 10, ..Default::default() })?;
    /// for msg in batch {
    ///     msg.ack()?;
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fetch(&self, opts: FetchOptions) -> Result<Vec<JsMessage>, Error> {
        if opts.expires.is_none() && !opts.no_wait {
            return Err(Error::InvalidArgument("a fetch needs expires or no_wait"));
        }
        let idle_heartbeat = opts.idle_heartbeat.or_else(|| match opts.expires {
            Some(e) if !opts.no_wait && e >= Duration::from_secs(10) => {
                Some(Duration::from_secs(5))
            }
            _ => None,
        });
        let request = PullRequest {
            batch: opts.batch,
            expires: opts.expires.filter(|e| !e.is_zero()),
            max_bytes: opts.max_bytes,
            no_wait: opts.no_wait,
            idle_heartbeat,
        };
        request.validate()?;
        let client = self.context.client();
        let inbox = client.new_inbox();
        let mut sub = client
            .subscribe(&inbox)
            .map_err(|e| Error::Request(natsy::RequestError::Subscribe(e)))?;
        let subject = self.next_subject();
        // A refused pull (or inbox) ends `sub` at once: no message would ever come.
        sub.end_on_refused_publish(&subject);
        client
            .publish_with_reply(&subject, &inbox, request.body()?)
            .map_err(Error::Publish)?;
        let start = Instant::now();
        // The server ends the request at `expires`; give its 408 time to arrive.
        let deadline = match request.expires {
            Some(e) if !opts.no_wait => {
                crate::deadline::after(start, e.saturating_add(Duration::from_secs(1).max(e / 10)))
            }
            _ => crate::deadline::after(start, self.context.timeout()),
        };
        let mut last_activity = start;
        let mut messages = Vec::new();
        let finish = |messages: Vec<JsMessage>, e: PullError| {
            if messages.is_empty() {
                Err(Error::Pull(e))
            } else {
                Ok(messages)
            }
        };
        while messages.len() < opts.batch {
            let now = Instant::now();
            let mut wake = deadline;
            if let Some(hb) = idle_heartbeat {
                let hb_deadline = crate::deadline::after(last_activity, hb.saturating_mul(2));
                if now >= hb_deadline {
                    return finish(messages, PullError::NoHeartbeat);
                }
                wake = wake.min(hb_deadline);
            }
            if now >= deadline {
                return finish(messages, PullError::TimedOut);
            }
            let msg = match sub.next_timeout(wake - now) {
                Ok(m) => m,
                Err(natsy::NextError::TimedOut) => continue,
                Err(natsy::NextError::Closed(natsy::Closed::PermissionDenied(e)))
                    if messages.is_empty() =>
                {
                    return Err(Error::PermissionDenied(e));
                }
                Err(_) => return finish(messages, PullError::Closed),
            };
            last_activity = Instant::now();
            let Some(code) = msg.status() else {
                messages.push(JsMessage::new(msg, self.context.clone()));
                continue;
            };
            let description = msg.description().unwrap_or_default();
            match classify(code.as_u16(), &description) {
                Status::Heartbeat => {}
                Status::NoMessages
                | Status::Expired
                | Status::BatchCompleted
                | Status::LeadershipChange
                | Status::PinMismatch => break,
                Status::MaxBytes => return finish(messages, PullError::MessageSizeExceedsMaxBytes),
                Status::Error(e) => return finish(messages, e),
            }
        }
        Ok(messages)
    }

    /// A continuous stream of messages with the default [`ConsumeOptions`]: see
    /// [`Consumer::messages_with`].
    pub fn messages(&self) -> Result<Messages, Error> {
        self.messages_with(ConsumeOptions::default())
    }

    /// A continuous stream of messages: pulls of `batch` messages kept flowing (a new one
    /// when half has arrived), with idle heartbeats. It pulls again after missed
    /// heartbeats, a reconnect, a `409 Leadership Change` and each `408` expiry, so it
    /// never stalls while the consumer has messages pending. It ends with
    /// [`PullError::ConsumerDeleted`] when the consumer is deleted, and with
    /// [`Error::PermissionDenied`] as soon as the server refuses its pulls or its inbox.
    ///
    /// ```no_run
    /// # let client = natsy::connect("nats://127.0.0.1:4222")?;
    /// # let js = natsy_jetstream::new(client);
    /// let consumer = js.get_consumer("orders", "worker")?;
    /// for msg in consumer.messages()? {
    ///     let msg = msg?;
    ///     msg.ack()?;
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn messages_with(&self, opts: ConsumeOptions) -> Result<Messages, Error> {
        PullRequest {
            batch: opts.batch,
            expires: Some(opts.expires),
            max_bytes: opts.max_bytes,
            no_wait: false,
            idle_heartbeat: Some(opts.idle_heartbeat),
        }
        .validate()?;
        let client = self.context.client();
        let inbox = client.new_inbox();
        let sub = client
            .subscribe(&inbox)
            .map_err(|e| Error::Request(natsy::RequestError::Subscribe(e)))?;
        let subject = self.next_subject();
        sub.end_on_refused_publish(&subject);
        let now = Instant::now();
        Ok(Messages {
            context: self.context.clone(),
            stream: self.stream.clone(),
            consumer: self.name.clone(),
            subject,
            reconnects: client.statistics().reconnects,
            inbox,
            sub,
            opts,
            outstanding: Outstanding::default(),
            last_activity: now,
            retry_at: None,
            terminal: None,
            ended: false,
            pulls: 0,
            missed_heartbeats: 0,
        })
    }
}

/// How often [`Messages`] wakes up while idle to notice a reconnect.
const RECONNECT_CHECK: Duration = Duration::from_millis(250);
/// How long [`Messages`] waits before pulling again after a refused pull.
const RETRY_DELAY: Duration = Duration::from_millis(250);

/// A continuous pull from a consumer ([`Consumer::messages`]): a blocking iterator of
/// `Result<JsMessage, Error>`, plus [`Messages::next_timeout`].
///
/// A terminal error ([`PullError::is_terminal`]) is yielded once and ends the iterator;
/// other errors (max waiting, max request limits) are yielded and pulling goes on.
/// Dropping it unsubscribes its inbox; pulls still open on the server expire by
/// themselves.
#[derive(Debug)]
pub struct Messages {
    context: Context,
    stream: String,
    consumer: String,
    subject: String,
    inbox: String,
    sub: natsy::Subscription,
    opts: ConsumeOptions,
    outstanding: Outstanding,
    last_activity: Instant,
    reconnects: u64,
    retry_at: Option<Instant>,
    terminal: Option<Error>,
    ended: bool,
    pulls: u64,
    missed_heartbeats: u64,
}

impl Messages {
    /// Pull requests sent so far.
    pub fn pulls(&self) -> u64 {
        self.pulls
    }

    /// Times the heartbeats stopped for twice the interval (each followed by a new pull).
    pub fn missed_heartbeats(&self) -> u64 {
        self.missed_heartbeats
    }

    /// Waits up to `timeout` for the next message: `Ok(None)` if none came. After a
    /// terminal error every call returns that error again.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<JsMessage>, Error> {
        self.poll(Some(crate::deadline::after(Instant::now(), timeout)))
    }

    fn fail(&mut self, e: PullError) -> Result<Option<JsMessage>, Error> {
        self.end(Error::Pull(e))
    }

    /// Ends the iterator with `e`: returned now and by every later call.
    fn end(&mut self, e: Error) -> Result<Option<JsMessage>, Error> {
        self.terminal = Some(e.clone());
        Err(e)
    }

    fn pull(&mut self, now: Instant) -> Result<(), Error> {
        if self.retry_at.is_some_and(|t| now < t) {
            return Ok(());
        }
        self.retry_at = None;
        let Some((batch, max_bytes)) = self
            .outstanding
            .next_pull(to_u64(self.opts.batch), self.opts.max_bytes.map(to_u64))
        else {
            return Ok(());
        };
        let body = PullRequest {
            batch: to_usize(batch),
            expires: Some(self.opts.expires),
            max_bytes: max_bytes.map(to_usize),
            no_wait: false,
            idle_heartbeat: Some(self.opts.idle_heartbeat),
        }
        .body()?;
        match self
            .context
            .client()
            .publish_with_reply(&self.subject, &self.inbox, body)
        {
            Ok(()) => {
                self.outstanding.add(batch, max_bytes);
                self.pulls += 1;
            }
            Err(natsy::PublishError::Closed) => return Err(Error::Pull(PullError::Closed)),
            // Not sent (e.g. the reconnect buffer is full): try again shortly.
            Err(_) => self.retry_at = Some(now + RETRY_DELAY),
        }
        Ok(())
    }

    /// Forgets the pulls in flight and pulls again (now, or after `delay`).
    fn repull(&mut self, now: Instant, delay: Option<Duration>) {
        self.outstanding.reset();
        self.retry_at = delay.map(|d| crate::deadline::after(now, d));
    }

    fn poll(&mut self, deadline: Option<Instant>) -> Result<Option<JsMessage>, Error> {
        if let Some(e) = &self.terminal {
            return Err(e.clone());
        }
        let hb_limit = self.opts.idle_heartbeat.saturating_mul(2);
        loop {
            let now = Instant::now();
            let reconnects = self.context.client().statistics().reconnects;
            if reconnects != self.reconnects {
                // Pulls sent on the old connection may be gone with it.
                self.reconnects = reconnects;
                self.last_activity = now;
                self.repull(now, None);
            }
            if now >= crate::deadline::after(self.last_activity, hb_limit) {
                self.missed_heartbeats += 1;
                self.last_activity = now;
                self.repull(now, None);
            }
            if let Err(e) = self.pull(now) {
                if let Error::Pull(p) = e {
                    return self.fail(p);
                }
                return Err(e);
            }
            let mut wake =
                crate::deadline::after(self.last_activity, hb_limit).min(now + RECONNECT_CHECK);
            if let Some(t) = self.retry_at {
                wake = wake.min(t);
            }
            if let Some(d) = deadline {
                if now >= d {
                    return Ok(None);
                }
                wake = wake.min(d);
            }
            let msg = match self.sub.next_timeout(wake.saturating_duration_since(now)) {
                Ok(m) => m,
                Err(natsy::NextError::TimedOut) => continue,
                // The pulls or the inbox were refused: nothing will ever arrive.
                Err(natsy::NextError::Closed(natsy::Closed::PermissionDenied(e))) => {
                    return self.end(Error::PermissionDenied(e))
                }
                Err(_) => return self.fail(PullError::Closed),
            };
            let now = Instant::now();
            self.last_activity = now;
            let Some(code) = msg.status() else {
                self.outstanding.delivered(to_u64(msg.size()));
                return Ok(Some(JsMessage::new(msg, self.context.clone())));
            };
            let description = msg.description().unwrap_or_default();
            match classify(code.as_u16(), &description) {
                Status::Heartbeat => {}
                Status::Expired | Status::BatchCompleted | Status::MaxBytes => {
                    let (m, b) = pending_counts(&msg);
                    self.outstanding.release(m, b);
                }
                // Only no_wait pulls get 404; ours do not, so treat it as an ended pull.
                Status::NoMessages => self.repull(now, Some(RETRY_DELAY)),
                Status::LeadershipChange | Status::PinMismatch => self.repull(now, None),
                Status::Error(PullError::ServerShutdown) => {
                    // A reconnect follows; pull again once it is through.
                    self.repull(now, Some(RETRY_DELAY));
                }
                Status::Error(PullError::NoResponders) => {
                    // Nobody serves the consumer: deleted, or a leader is being elected.
                    match self.context.consumer_info(&self.stream, &self.consumer) {
                        Err(e)
                            if matches!(
                                e.api_kind(),
                                Some(ApiErrorKind::ConsumerNotFound)
                                    | Some(ApiErrorKind::StreamNotFound)
                            ) =>
                        {
                            return self.fail(PullError::ConsumerDeleted)
                        }
                        _ => self.repull(Instant::now(), Some(RETRY_DELAY)),
                    }
                }
                Status::Error(e) if e.is_terminal() => return self.fail(e),
                Status::Error(e) => {
                    // Reported; this request is gone, pull again a little later.
                    self.repull(now, Some(RETRY_DELAY));
                    return Err(Error::Pull(e));
                }
            }
        }
    }
}

impl Iterator for Messages {
    type Item = Result<JsMessage, Error>;

    /// Blocks until the next message. Yields a terminal error once, then `None`.
    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        if self.terminal.is_some() {
            self.ended = true;
            return None;
        }
        match self.poll(None) {
            Ok(Some(m)) => Some(Ok(m)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_replies_are_classified_as_the_digest_says() {
        assert_eq!(classify(100, "Idle Heartbeat"), Status::Heartbeat);
        assert_eq!(classify(404, "No Messages"), Status::NoMessages);
        assert_eq!(classify(408, "Request Timeout"), Status::Expired);
        assert_eq!(classify(408, "Interest Expired"), Status::Expired);
        assert_eq!(
            classify(409, "Message Size Exceeds MaxBytes"),
            Status::MaxBytes
        );
        assert_eq!(classify(409, "Batch Completed"), Status::BatchCompleted);
        assert_eq!(classify(409, "Leadership Change"), Status::LeadershipChange);
        assert_eq!(
            classify(409, "Consumer Deleted"),
            Status::Error(PullError::ConsumerDeleted)
        );
        assert_eq!(
            classify(409, " consumer deleted "),
            Status::Error(PullError::ConsumerDeleted)
        );
        assert_eq!(
            classify(409, "Exceeded MaxWaiting"),
            Status::Error(PullError::MaxWaitingExceeded)
        );
        for d in [
            "Exceeded MaxRequestBatch of 10",
            "Exceeded MaxRequestExpires of 1s",
            "Exceeded MaxRequestMaxBytes of 100",
        ] {
            assert_eq!(
                classify(409, d),
                Status::Error(PullError::MaxRequestExceeded(d.into()))
            );
        }
        assert_eq!(
            classify(409, "Server Shutdown"),
            Status::Error(PullError::ServerShutdown)
        );
        assert_eq!(
            classify(409, "Something New"),
            Status::Error(PullError::Status {
                code: 409,
                description: "Something New".into()
            })
        );
        assert_eq!(
            classify(400, "Bad Request - heartbeat value too large"),
            Status::Error(PullError::BadRequest(
                "Bad Request - heartbeat value too large".into()
            ))
        );
        assert_eq!(classify(423, "Nats-Pin-Id mismatch"), Status::PinMismatch);
        assert_eq!(classify(503, ""), Status::Error(PullError::NoResponders));
        assert_eq!(
            classify(500, "x"),
            Status::Error(PullError::Status {
                code: 500,
                description: "x".into()
            })
        );
        // Short descriptions never index out of bounds.
        assert!(matches!(classify(409, ""), Status::Error(_)));
        assert!(matches!(classify(409, "Bat"), Status::Error(_)));
    }

    #[test]
    fn terminal_errors() {
        assert!(PullError::ConsumerDeleted.is_terminal());
        assert!(PullError::BadRequest(String::new()).is_terminal());
        assert!(PullError::Closed.is_terminal());
        assert!(!PullError::MaxWaitingExceeded.is_terminal());
        assert!(!PullError::NoHeartbeat.is_terminal());
        assert!(!PullError::NoResponders.is_terminal());
    }

    #[test]
    fn pull_request_body_and_validation() {
        let r = PullRequest {
            batch: 10,
            expires: Some(Duration::from_secs(2)),
            max_bytes: Some(1024),
            no_wait: false,
            idle_heartbeat: Some(Duration::from_secs(1)),
        };
        r.validate().unwrap();
        assert_eq!(
            r.body().unwrap(),
            Bytes::from_static(
                br#"{"batch":10,"expires":2000000000,"max_bytes":1024,"idle_heartbeat":1000000000}"#
            )
        );
        let nw = PullRequest {
            batch: 1,
            expires: None,
            max_bytes: None,
            no_wait: true,
            idle_heartbeat: None,
        };
        nw.validate().unwrap();
        assert_eq!(
            nw.body().unwrap(),
            Bytes::from_static(br#"{"batch":1,"no_wait":true}"#)
        );
        let too_big = PullRequest {
            idle_heartbeat: Some(Duration::from_millis(1001)),
            ..r
        };
        assert!(matches!(too_big.validate(), Err(Error::InvalidArgument(_))));
        let no_expiry = PullRequest {
            batch: 1,
            expires: None,
            max_bytes: None,
            no_wait: false,
            idle_heartbeat: Some(Duration::from_secs(1)),
        };
        assert!(matches!(
            no_expiry.validate(),
            Err(Error::InvalidArgument(_))
        ));
        let zero = PullRequest {
            batch: 0,
            expires: None,
            max_bytes: None,
            no_wait: true,
            idle_heartbeat: None,
        };
        assert!(matches!(zero.validate(), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn outstanding_counts_drive_repulls_at_half() {
        let mut o = Outstanding::default();
        assert_eq!(o.next_pull(500, None), Some((500, None)));
        o.add(500, None);
        assert_eq!(o.next_pull(500, None), None);
        for _ in 0..249 {
            o.delivered(100);
        }
        assert_eq!(o.messages, 251);
        assert_eq!(o.next_pull(500, None), None);
        o.delivered(100);
        assert_eq!(o.next_pull(500, None), Some((250, None)));
        o.add(250, None);
        // A 408 tells how much of the expired pull was not delivered.
        o.release(Some(100), Some(0));
        assert_eq!(o.messages, 400);
        // Without counts, forget everything.
        o.release(None, None);
        assert_eq!(o, Outstanding::default());
        // Over-delivery (a pull from before a reset) never underflows.
        o.delivered(10);
        assert_eq!(o, Outstanding::default());
    }

    #[test]
    fn outstanding_bytes_also_trigger_repulls() {
        let mut o = Outstanding::default();
        assert_eq!(o.next_pull(1000, Some(4096)), Some((1000, Some(4096))));
        o.add(1000, Some(4096));
        o.delivered(1000);
        assert_eq!(o.next_pull(1000, Some(4096)), None);
        o.delivered(1100);
        // 1996 bytes left of 4096: below half.
        assert_eq!(o.next_pull(1000, Some(4096)), Some((2, Some(2100))));
    }
}

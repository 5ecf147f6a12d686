//! Pulling from a consumer: one pull ([`Consumer::fetch`] with [`FetchOptions`]), a
//! continuous stream of pulls ([`Consumer::messages`] → [`Messages`]), and [`PullError`].
//!
//! Both are thin blocking drivers of one sans-IO state machine (`pull_machine.rs`), which
//! holds the whole policy: request sizes and re-pull thresholds, heartbeat checks, retry
//! backoff, and what each status reply means (digest §6.5: `100` heartbeats reset the
//! heartbeat timer; `404` and `408` end a fetch normally; `409` "Message Size Exceeds
//! MaxBytes", "Batch Completed" and "Leadership Change" end a pull but are not errors;
//! `409` "Consumer Deleted" and `400` are terminal errors; `409` "Exceeded MaxWaiting"
//! and "Exceeded MaxRequest…" are reported; `503` means nobody serves the consumer). A
//! driver publishes the pulls the machine asks for, waits on the inbox until the
//! machine's next timeout, and feeds it what arrived, with `Instant::now()`.
//!
//! ## Noticing reconnects
//!
//! ADR-37 wants a continuous pull to pause its heartbeat check while the client is
//! disconnected and to pull afresh on reconnect. [`Messages`] learns of both by looking at
//! the client (the `reconnects` counter of [`natsy::Client::statistics`], and after a
//! timeout [`natsy::Client::connection_state`]; one short lock each) only when its wait
//! on the inbox is about to start or has timed out — never on a timer of its own, and
//! never while messages are queued. The wait's timeout comes from the machine: twice the idle
//! heartbeat while pulls are in flight, one heartbeat interval while disconnected. So a
//! reconnect is acted on at the latest one heartbeat interval after the client is back
//! (often at once: the first wake-up after it), and an idle consumer wakes up only for
//! its heartbeats. A subscription-level reconnect signal from the client would make this
//! immediate; the machine already takes it (`PullMachine::handle_reconnected`).

use std::fmt;
use std::time::{Duration, Instant};

use crate::consumer::Consumer;
use crate::context::Context;
use crate::error::{ApiErrorKind, Error};
use crate::js_message::JsMessage;
use crate::pull_machine::{
    fetch_timeout, Delivery, Limits, PriorityRequest, PullMachine, PullRequest,
};

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
    /// `423`: the pull carried a pin id that is not the consumer's pinned client any more
    /// (priority group `pinned_client`; it was unpinned or its pin expired). The pin id
    /// is forgotten, so the next pull goes without it and waits to be pinned again.
    PinIdMismatch,
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
            PullError::PinIdMismatch => {
                f.write_str("this client is not the consumer's pinned client any more")
            }
            PullError::Status { code, description } => {
                write!(f, "unexpected status {code} {description}")
            }
            PullError::Closed => f.write_str("the client is closed"),
        }
    }
}

impl std::error::Error for PullError {}

/// The priority group a pull belongs to (ADR-42, server 2.11+), for a consumer with
/// [`ConsumerConfig::priority_groups`](crate::ConsumerConfig::priority_groups) and a
/// [`PriorityPolicy`](crate::PriorityPolicy).
///
/// With `pinned_client` the pin id (`Nats-Pin-Id` of the messages this client was given)
/// is remembered by the [`Consumer`] handle and sent with its later pulls, as nats.go
/// does; a `423` forgets it ([`PullError::PinIdMismatch`]).
///
/// ```
/// use natsy_jetstream::{FetchOptions, PullPriority};
/// let opts = FetchOptions {
///     batch: 10,
///     priority: Some(PullPriority { min_pending: Some(100), ..PullPriority::group("jobs") }),
///     ..Default::default()
/// };
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullPriority {
    /// The group, one of the consumer's `priority_groups` (nats.go `PullPriorityGroup`).
    pub group: String,
    /// `overflow`: served only while the consumer has at least this many messages
    /// pending (nats.go `PullMinPending`).
    pub min_pending: Option<u64>,
    /// `overflow`: served only while at least this many messages wait for an ack
    /// (nats.go `PullMinAckPending`).
    pub min_ack_pending: Option<u64>,
    /// `prioritized`: 0 (served first) to 9 (nats.go `PullPriority`).
    pub priority: Option<u8>,
}

impl PullPriority {
    /// Group `group` with no other condition.
    pub fn group(group: &str) -> Self {
        PullPriority {
            group: group.to_string(),
            ..Default::default()
        }
    }

    pub(crate) fn request(&self) -> PriorityRequest {
        PriorityRequest {
            group: self.group.clone(),
            min_pending: self.min_pending,
            min_ack_pending: self.min_ack_pending,
            priority: self.priority,
            id: None,
        }
    }
}

/// The pin id a [`Consumer`] handle (and its clones) holds for its pulls.
#[derive(Debug, Clone, Default)]
pub(crate) struct PinSlot(std::sync::Arc<std::sync::Mutex<Option<String>>>);

impl PinSlot {
    pub(crate) fn get(&self) -> Option<String> {
        self.0.lock().map(|g| g.clone()).unwrap_or_default()
    }

    pub(crate) fn set(&self, id: Option<&str>) {
        if let Ok(mut g) = self.0.lock() {
            *g = id.map(str::to_string);
        }
    }

    /// Copies the machine's pin id here if it changed.
    pub(crate) fn sync(&self, machine: &mut PullMachine) {
        if machine.take_pin_change() {
            self.set(machine.pin_id());
        }
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
    /// The priority group of the pull (default none).
    pub priority: Option<PullPriority>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            batch: 1,
            expires: Some(Duration::from_secs(30)),
            max_bytes: None,
            no_wait: false,
            idle_heartbeat: None,
            priority: None,
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
    /// The priority group of every pull (default none).
    pub priority: Option<PullPriority>,
}

impl Default for ConsumeOptions {
    fn default() -> Self {
        ConsumeOptions {
            batch: 500,
            max_bytes: None,
            expires: Duration::from_secs(30),
            idle_heartbeat: Duration::from_secs(15),
            priority: None,
        }
    }
}

impl FetchOptions {
    /// A `no_wait` pull of `batch` messages: no `expires`, no heartbeats
    /// ([`Consumer::fetch_no_wait`]).
    pub fn no_wait(batch: usize) -> Self {
        FetchOptions {
            batch,
            expires: None,
            no_wait: true,
            ..Default::default()
        }
    }

    /// The machine of one fetch with these options, checked before anything is sent
    /// (blocking and async).
    pub(crate) fn machine(&self, api_timeout: Duration) -> Result<PullMachine, Error> {
        if self.expires.is_none() && !self.no_wait {
            return Err(Error::InvalidArgument("a fetch needs expires or no_wait"));
        }
        let idle_heartbeat = self.idle_heartbeat.or_else(|| match self.expires {
            Some(e) if !self.no_wait && e >= Duration::from_secs(10) => {
                Some(Duration::from_secs(5))
            }
            _ => None,
        });
        let request = PullRequest {
            batch: self.batch,
            expires: self.expires.filter(|e| !e.is_zero()),
            max_bytes: self.max_bytes,
            no_wait: self.no_wait,
            idle_heartbeat,
            priority: self.priority.as_ref().map(PullPriority::request),
        };
        request.validate()?;
        let timeout = fetch_timeout(&request, api_timeout);
        Ok(PullMachine::fetch(request, timeout))
    }

    /// Room reserved up front for the messages of one fetch.
    pub(crate) fn capacity(&self) -> usize {
        self.batch.min(FETCH_PREALLOCATED)
    }
}

/// What a fetch returns once its machine is finished: the messages, or the error when
/// none arrived before it (blocking and async).
pub(crate) fn fetch_outcome<M>(
    machine: &mut PullMachine,
    messages: Vec<M>,
) -> Result<Vec<M>, Error> {
    match machine.poll_error() {
        Some(e) if messages.is_empty() => Err(Error::Pull(e)),
        _ => Ok(messages),
    }
}

/// A fetch's inbox ended: a refusal before any message is the fetch's error; anything
/// else ends the machine (blocking and async).
pub(crate) fn fetch_inbox_ended(
    machine: &mut PullMachine,
    why: natsy::SubscriptionEnded,
    got_messages: bool,
) -> Result<(), Error> {
    match why {
        natsy::SubscriptionEnded::PermissionDenied(e) if !got_messages => {
            Err(Error::PermissionDenied(e))
        }
        _ => {
            machine.handle_closed();
            Ok(())
        }
    }
}

impl ConsumeOptions {
    /// The machine of a continuous pull with these options, checked first.
    pub(crate) fn machine(&self) -> Result<PullMachine, Error> {
        PullRequest {
            batch: self.batch,
            expires: Some(self.expires),
            max_bytes: self.max_bytes,
            no_wait: false,
            idle_heartbeat: Some(self.idle_heartbeat),
            priority: self.priority.as_ref().map(PullPriority::request),
        }
        .validate()?;
        let limits = Limits::new(to_u64(self.batch), self.max_bytes.map(to_u64));
        Ok(
            PullMachine::consume(limits, self.expires, self.idle_heartbeat)
                .with_priority(self.priority.as_ref().map(PullPriority::request)),
        )
    }
}

/// The subject pull requests of `consumer` on `stream` go to.
pub(crate) fn next_subject(context: &Context, stream: &str, consumer: &str) -> String {
    context.api_subject(&format!("CONSUMER.MSG.NEXT.{stream}.{consumer}"))
}

/// The inbox subscription could not be made.
pub(crate) fn subscribe_error(e: natsy::SubscribeError) -> Error {
    Error::Request(natsy::RequestError::Subscribe(e))
}

impl Consumer {
    /// Sends one pull request and collects its messages until the batch is full or the
    /// request ends (a batch may end early: `404` no messages, `408` expired, `409`
    /// max bytes / batch completed / leadership change). Those endings are not errors.
    ///
    /// **It waits** (nats.go `Fetch` semantics): the server holds the request up to
    /// `expires` until `batch` messages are there, so a fetch on a quiet consumer takes
    /// `expires` and returns what came. async-nats's `fetch` is a *no-wait* pull instead,
    /// returning at once with what is there: that is [`Consumer::fetch_no_wait`] here (or
    /// `no_wait: true` in the options).
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
        let mut machine = opts
            .machine(self.context.timeout())?
            .with_pin_id(self.pin.get());
        let client = self.context.client();
        let inbox = client.new_inbox();
        let mut sub = client.subscribe(&inbox).map_err(subscribe_error)?;
        let subject = next_subject(&self.context, &self.stream, &self.name);
        // A refused pull (or inbox) ends `sub` at once: no message would ever come.
        sub.end_on_refused_publish(&subject);
        if let Some(pull) = machine.poll_pull(Instant::now()) {
            client
                .publish_with_reply(&subject, &inbox, pull.body()?)
                .map_err(Error::Publish)?;
        }
        let mut messages = Vec::with_capacity(opts.capacity());
        while !machine.is_finished() {
            let now = Instant::now();
            let wait = machine
                .poll_timeout()
                .map_or(Duration::MAX, |t| t.saturating_duration_since(now));
            match sub.next_timeout(wait) {
                Ok(msg) => {
                    let delivery = machine.handle_message(Instant::now(), &msg);
                    self.pin.sync(&mut machine);
                    if delivery == Delivery::Message {
                        messages.push(JsMessage::new(msg, self.context.clone()));
                    }
                }
                Err(natsy::NextError::TimedOut) => machine.handle_timeout(Instant::now()),
                Err(natsy::NextError::Ended(why)) => {
                    fetch_inbox_ended(&mut machine, why, !messages.is_empty())?
                }
                Err(_) => machine.handle_closed(),
            }
        }
        fetch_outcome(&mut machine, messages)
    }

    /// One pull that returns at once with what the consumer has now, up to `batch`
    /// messages, possibly none: a `no_wait` pull (async-nats `fetch` semantics; nats.go
    /// `FetchNoWait`). The server's `404 No Messages` / `408` that end it are not errors.
    ///
    /// [`Consumer::fetch`] instead waits (nats.go `Fetch`): up to `expires` for the
    /// whole batch. For `max_bytes` or a priority group, call `fetch` with
    /// `no_wait: true` and `expires: None`, which is what this does.
    ///
    /// ```no_run
    /// # let js = natsy_jetstream::new(natsy::connect("nats://127.0.0.1:4222")?);
    /// let consumer = js.get_consumer("orders", "worker")?;
    /// let ready = consumer.fetch_no_wait(100)?; // returns at once, maybe empty
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fetch_no_wait(&self, batch: usize) -> Result<Vec<JsMessage>, Error> {
        self.fetch(FetchOptions::no_wait(batch))
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
        let machine = opts.machine()?.with_pin_id(self.pin.get());
        let client = self.context.client();
        let inbox = client.new_inbox();
        let sub = client.subscribe(&inbox).map_err(subscribe_error)?;
        let state = ConsumeState::new(&self.context, &self.stream, &self.name, inbox, machine)
            .with_pin(self.pin.clone());
        sub.end_on_refused_publish(&state.subject);
        Ok(Messages {
            context: self.context.clone(),
            sub,
            state,
            ended: false,
        })
    }
}

/// A fetch reserves room for at most this many messages up front; more grow the vector.
const FETCH_PREALLOCATED: usize = 1024;

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Everything of a continuous pull but its inbox and its waits: the machine, what it
/// pulls from and replies to, the connection watch and the terminal error. The blocking
/// [`Messages`] and the async [`aio::Messages`](crate::aio::Messages) each drive one, so
/// they send pulls, notice reconnects and end the same way.
#[derive(Debug)]
pub(crate) struct ConsumeState {
    pub(crate) stream: String,
    pub(crate) consumer: String,
    pub(crate) subject: String,
    pub(crate) inbox: String,
    pub(crate) machine: PullMachine,
    /// The client's reconnect count when the connection was last looked at.
    reconnects: u64,
    pub(crate) terminal: Option<Error>,
    /// The consumer handle's pin id, kept up to date with the machine's.
    pin: PinSlot,
}

impl ConsumeState {
    pub(crate) fn new(
        context: &Context,
        stream: &str,
        consumer: &str,
        inbox: String,
        machine: PullMachine,
    ) -> Self {
        ConsumeState {
            stream: stream.to_string(),
            consumer: consumer.to_string(),
            subject: next_subject(context, stream, consumer),
            inbox,
            machine,
            reconnects: context.client().statistics().reconnects,
            terminal: None,
            pin: PinSlot::default(),
        }
    }

    /// Shares the pin id with the consumer handle `pin` belongs to.
    pub(crate) fn with_pin(mut self, pin: PinSlot) -> Self {
        self.pin = pin;
        self
    }

    /// A message arrived on the inbox: the machine's verdict, the pin id passed on.
    pub(crate) fn handle_message(&mut self, now: Instant, msg: &natsy::proto::Message) -> Delivery {
        let delivery = self.machine.handle_message(now, msg);
        self.pin.sync(&mut self.machine);
        delivery
    }

    /// Ends the pull with `e`: returned now and by every later call.
    pub(crate) fn end(&mut self, e: Error) -> Error {
        self.terminal = Some(e.clone());
        e
    }

    /// The inbox subscription ended: refused by permissions, or the client closed.
    pub(crate) fn inbox_closed(&mut self, why: natsy::SubscriptionEnded) -> Error {
        self.machine.handle_closed();
        match why {
            // The pulls or the inbox were refused: nothing will ever arrive.
            natsy::SubscriptionEnded::PermissionDenied(e) => self.end(Error::PermissionDenied(e)),
            _ => self.end(Error::Pull(PullError::Closed)),
        }
    }

    /// Publishes the pull the machine wants now, if any, with `publish(subject, reply,
    /// body)`, which must not wait for anything.
    pub(crate) fn send_pull(
        &mut self,
        now: Instant,
        publish: impl FnOnce(&str, &str, bytes::Bytes) -> Result<(), natsy::PublishError>,
    ) {
        let Some(pull) = self.machine.poll_pull(now) else {
            return;
        };
        let sent = pull
            .body()
            .map(|body| publish(&self.subject, &self.inbox, body));
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(natsy::PublishError::Closed)) => self.machine.handle_closed(),
            // Not sent (e.g. the reconnect buffer is full): the machine retries later.
            _ => self.machine.handle_pull_failed(now),
        }
    }

    /// The machine's next error, if any: a terminal one ends the pull.
    pub(crate) fn poll_error(&mut self) -> Option<Error> {
        let e = Error::Pull(self.machine.poll_error()?);
        Some(if self.machine.is_finished() {
            self.end(e)
        } else {
            e
        })
    }

    /// Looks at the client's connection and tells the machine what changed; true after
    /// a reconnect. See the module docs for why this happens only when the wait starts
    /// or times out. Before a wait it reads only the reconnect counter (one short lock);
    /// the connection state is read too after a timeout, or while disconnected.
    pub(crate) fn watch_connection(
        &mut self,
        client: &natsy::Client,
        now: Instant,
        timed_out: bool,
    ) -> bool {
        // The state first: a reconnect that completes between the two reads is then
        // still seen by the counter.
        let state = (timed_out || !self.machine.is_connected()).then(|| client.connection_state());
        let reconnects = client.statistics().reconnects;
        if state == Some(natsy::State::Reconnecting) {
            self.machine.handle_disconnected(now);
        }
        // A connection made after a failed first pass is no reconnect, but it ends a
        // disconnection all the same.
        let back = state == Some(natsy::State::Connected) && !self.machine.is_connected();
        if reconnects == self.reconnects && !back {
            return false;
        }
        self.reconnects = reconnects;
        self.machine.handle_reconnected(now);
        true
    }

    /// The answer to the consumer lookup after a `503`: a consumer (or stream) that is
    /// gone ends the pull; any other answer (a leader election, a timeout) leaves the
    /// retry the machine scheduled.
    pub(crate) fn consumer_checked(&mut self, info: Result<crate::ConsumerInfo, Error>) {
        if let Err(e) = info {
            if matches!(
                e.api_kind(),
                Some(ApiErrorKind::ConsumerNotFound) | Some(ApiErrorKind::StreamNotFound)
            ) {
                self.machine.handle_consumer_deleted();
            }
        }
    }
}

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
    sub: natsy::Subscription,
    state: ConsumeState,
    ended: bool,
}

impl Messages {
    /// Pull requests sent so far.
    pub fn pulls(&self) -> u64 {
        self.state.machine.pulls()
    }

    /// Times the heartbeats stopped for twice the interval (each followed by a new pull).
    pub fn missed_heartbeats(&self) -> u64 {
        self.state.machine.missed_heartbeats()
    }

    /// Waits up to `timeout` for the next message: `Ok(None)` if none came. After a
    /// terminal error every call returns that error again.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<JsMessage>, Error> {
        self.poll(Some(crate::deadline::after(Instant::now(), timeout)))
    }

    fn poll(&mut self, deadline: Option<Instant>) -> Result<Option<JsMessage>, Error> {
        if let Some(e) = &self.state.terminal {
            return Err(e.clone());
        }
        let client = self.context.client();
        loop {
            let now = Instant::now();
            self.state.send_pull(now, |subject, inbox, body| {
                client.publish_with_reply(subject, inbox, body)
            });
            if let Some(e) = self.state.poll_error() {
                return Err(e);
            }
            let msg = match self.sub.try_next() {
                Ok(Some(msg)) => msg,
                Ok(None) => {
                    // Nothing queued: about to sleep, the moment to look at the
                    // connection (pull afresh first if it came back).
                    if self.state.watch_connection(client, now, false) {
                        continue;
                    }
                    let mut wake = self.state.machine.poll_timeout();
                    if let Some(d) = deadline {
                        if now >= d {
                            return Ok(None);
                        }
                        wake = Some(wake.map_or(d, |w| w.min(d)));
                    }
                    let wait = wake.map_or(Duration::MAX, |w| w.saturating_duration_since(now));
                    match self.sub.next_timeout(wait) {
                        Ok(msg) => msg,
                        Err(natsy::NextError::TimedOut) => {
                            let now = Instant::now();
                            self.state.watch_connection(client, now, true);
                            self.state.machine.handle_timeout(now);
                            continue;
                        }
                        Err(natsy::NextError::Ended(why)) => {
                            return Err(self.state.inbox_closed(why))
                        }
                        Err(_) => {
                            return Err(self
                                .state
                                .inbox_closed(natsy::SubscriptionEnded::ConnectionClosed))
                        }
                    }
                }
                Err(why) => return Err(self.state.inbox_closed(why)),
            };
            match self.state.handle_message(Instant::now(), &msg) {
                Delivery::Message => return Ok(Some(JsMessage::new(msg, self.context.clone()))),
                Delivery::Status => {}
                Delivery::CheckConsumer => {
                    let info = self
                        .context
                        .consumer_info(&self.state.stream, &self.state.consumer);
                    self.state.consumer_checked(info);
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
        if self.state.terminal.is_some() {
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

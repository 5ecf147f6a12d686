//! [`OrderedMachine`]: the ordered consumer's policy (ADR-17) as a sans-IO state machine —
//! which ephemeral consumer to create and from which stream sequence, which delivered
//! messages to hand out, and when to throw the consumer away and start again.
//!
//! It does no IO, reads no clock and never blocks: every input takes `now`. The blocking
//! driver is [`OrderedConsumer`](crate::OrderedConsumer); an async driver reuses this
//! machine as it is.
//!
//! # Delivery form: pull
//!
//! ADR-17 was written for push consumers with flow control; nats.go's `jetstream` package
//! and async-nats's `pull::OrderedConfig` now implement ordered consumers on pull
//! consumers, and so does this machine. A pull consumer is flow-controlled by
//! construction: the server sends only what the pulls in flight asked for, so there are no
//! flow-control requests to answer (the server sends those to push consumers only), no
//! deliver subject to allocate, and the idle heartbeats, re-pull thresholds and status
//! handling are the ones [`PullMachine`] already implements and tests.
//!
//! # Contract
//!
//! **Getters:** [`consumer_name`](OrderedMachine::consumer_name),
//! [`stream_sequence`](OrderedMachine::stream_sequence),
//! [`resets`](OrderedMachine::resets), [`is_active`](OrderedMachine::is_active),
//! [`is_finished`](OrderedMachine::is_finished).
//!
//! **Inputs (`handle_*`):**
//! - [`handle_message`](OrderedMachine::handle_message): every message on the inbox.
//!   [`Delivery::Message`] means hand it out; it reads the message in place and does not
//!   allocate.
//! - [`handle_created`](OrderedMachine::handle_created) /
//!   [`handle_create_failed`](OrderedMachine::handle_create_failed): the answer to the
//!   create polled last.
//! - [`handle_timeout`](OrderedMachine::handle_timeout), once `now` reaches
//!   [`poll_timeout`](OrderedMachine::poll_timeout).
//! - [`handle_disconnected`](OrderedMachine::handle_disconnected) /
//!   [`handle_reconnected`](OrderedMachine::handle_reconnected).
//! - [`handle_pull_failed`](OrderedMachine::handle_pull_failed),
//!   [`handle_closed`](OrderedMachine::handle_closed).
//!
//! **Outputs (`poll_*`), drained in this order after every input:**
//! - [`poll_delete`](OrderedMachine::poll_delete): a consumer given up; delete it (best
//!   effort: it is ephemeral and goes away by itself after its inactive threshold).
//! - [`poll_create`](OrderedMachine::poll_create): the consumer to create now; answer
//!   with `handle_created` or `handle_create_failed`.
//! - [`poll_pull`](OrderedMachine::poll_pull): a pull request to publish to
//!   `CONSUMER.MSG.NEXT.<stream>.<consumer_name>`.
//! - [`poll_error`](OrderedMachine::poll_error): the terminal error, once.
//! - [`poll_timeout`](OrderedMachine::poll_timeout).
//!
//! # Policy (ADR-17)
//!
//! - The consumer is ephemeral, in memory, R1, `ack_policy: none`, `max_deliver: 1`,
//!   with a unique name `<prefix>_<n>` (n counts the consumers made).
//! - The first consumer starts where the configuration says; every later one at the last
//!   handed-out stream sequence + 1 (`by_start_sequence`), or where the first one would
//!   have if nothing was handed out yet.
//! - A user message's consumer sequence must be the last + 1. A gap means a message was
//!   lost: the consumer is reset (recreated from the last stream sequence + 1) and the
//!   message dropped. A stream sequence at or below the last handed out is a duplicate and
//!   is dropped. Messages from an earlier consumer (another name in the ack subject) are
//!   dropped.
//! - Missed heartbeats (twice the idle heartbeat without a word while a pull is in
//!   flight), a reconnect, `409 Consumer Deleted` and a `503` to a pull all reset.
//! - A failed create is retried after 250 ms, doubling up to 2 s, except when the stream
//!   is gone ([`OrderedError::StreamNotFound`]) or the server refuses the call, which end
//!   the consumer.

use std::fmt;
use std::time::{Duration, Instant};

use natsy::proto::Message;

use crate::consumer::{AckPolicy, ConsumerConfig, DeliverPolicy, ReplayPolicy};
use crate::error::{ApiErrorKind, Error};
use crate::pull::PullError;
use crate::pull_machine::{Delivery as PullDelivery, Limits, PullMachine, PullRequest};

const RETRY_MIN: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// How an ordered consumer starts and pulls. Defaults: everything from the start, all
/// subjects, batch 500, pulls open 30 s, heartbeats every 5 s (nats.go's
/// `OrderedConsumerConfig` defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OrderedConfig {
    /// Only these subjects (all when empty). nats.go: `FilterSubjects`.
    pub filter_subjects: Vec<String>,
    /// Where the first consumer starts. nats.go: `DeliverPolicy` (default all).
    pub deliver_policy: DeliverPolicy,
    /// With [`DeliverPolicy::ByStartSequence`]: the first sequence. nats.go: `OptStartSeq`.
    pub opt_start_seq: Option<u64>,
    /// With [`DeliverPolicy::ByStartTime`]: the start time. nats.go: `OptStartTime`.
    pub opt_start_time: Option<time::OffsetDateTime>,
    /// Deliver headers only, no payloads. nats.go: `HeadersOnly` (default false).
    pub headers_only: bool,
    /// Replay at the original pace. nats.go: `ReplayPolicy` (default instant).
    pub replay_policy: ReplayPolicy,
    /// How long the server keeps a consumer nobody pulls from. nats.go:
    /// `InactiveThreshold` (default 5 min).
    pub inactive_threshold: Duration,
    /// Messages in flight at most (default 500, nats.go's `PullMaxMessages`).
    pub batch: usize,
    /// How long each pull stays open on the server (default 30 s).
    pub expires: Duration,
    /// The idle heartbeat of each pull (default 5 s; at most `expires / 2`).
    pub idle_heartbeat: Duration,
}

impl Default for OrderedConfig {
    fn default() -> Self {
        OrderedConfig {
            filter_subjects: Vec::new(),
            deliver_policy: DeliverPolicy::All,
            opt_start_seq: None,
            opt_start_time: None,
            headers_only: false,
            replay_policy: ReplayPolicy::Instant,
            inactive_threshold: Duration::from_secs(300),
            batch: 500,
            expires: Duration::from_secs(30),
            idle_heartbeat: Duration::from_secs(5),
        }
    }
}

impl OrderedConfig {
    /// Checks what the server (or the pull policy) would refuse.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        PullRequest {
            batch: self.batch,
            expires: Some(self.expires),
            max_bytes: None,
            no_wait: false,
            idle_heartbeat: Some(self.idle_heartbeat),
            priority: None,
        }
        .validate()?;
        if self.filter_subjects.iter().any(|s| s.is_empty()) {
            return Err(Error::InvalidArgument("filter subjects must not be empty"));
        }
        Ok(())
    }
}

/// Why an ordered consumer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OrderedError {
    /// The stream does not exist (any more).
    StreamNotFound,
    /// The server refused to create the consumer for a reason that retrying will not
    /// change (permissions, a bad configuration).
    CreateRefused(Box<Error>),
    /// The client closed, or the inbox subscription ended.
    Closed,
}

impl fmt::Display for OrderedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderedError::StreamNotFound => f.write_str("the stream does not exist"),
            OrderedError::CreateRefused(e) => write!(f, "creating the consumer failed: {e}"),
            OrderedError::Closed => f.write_str("the client closed"),
        }
    }
}

impl std::error::Error for OrderedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OrderedError::CreateRefused(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// What the `$JS.ACK` reply of a delivered message says, read in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sequences {
    /// Its stream sequence.
    pub(crate) stream: u64,
    /// Its sequence in the consumer that delivered it.
    pub(crate) consumer: u64,
    /// Messages pending for the consumer after this one.
    pub(crate) pending: u64,
    /// When it was stored, in nanoseconds since the Unix epoch.
    pub(crate) timestamp_ns: u64,
}

/// Reads consumer name and sequences from a v1 or v2 ack subject without allocating.
pub(crate) fn parse_ack(reply: &str) -> Option<(&str, Sequences)> {
    let mut t = [""; 12];
    let mut n = 0;
    for token in reply.split('.') {
        if n == t.len() {
            break;
        }
        t[n] = token;
        n += 1;
    }
    if n < 9 || t[0] != "$JS" || t[1] != "ACK" || (n != 9 && n < 11) {
        return None;
    }
    let base = if n == 9 { 2 } else { 4 };
    let num = |i: usize| -> Option<u64> {
        let s = t[base + i];
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let consumer = t[base + 1];
    if consumer.is_empty() {
        return None;
    }
    Some((
        consumer,
        Sequences {
            stream: num(3)?,
            consumer: num(4)?,
            timestamp_ns: num(5)?,
            pending: num(6)?,
        },
    ))
}

/// What to do with a message given to [`OrderedMachine::handle_message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// The next message in order: hand it out.
    Message(Sequences),
    /// Nothing to hand out (a status, a duplicate, a stale or out-of-order message).
    Skip,
}

#[derive(Debug, Clone)]
enum Phase {
    /// A consumer is wanted (at `not_before`, after a failed create).
    NeedConsumer { not_before: Option<Instant> },
    /// A create was polled; its answer is awaited.
    Creating,
    /// The consumer exists; pulls flow.
    Active(Box<PullMachine>),
    /// Ended.
    Finished,
}

/// The ordered consumer's state machine; see the [module docs](self).
#[derive(Debug, Clone)]
pub(crate) struct OrderedMachine {
    config: OrderedConfig,
    prefix: String,
    name: String,
    serial: u64,
    phase: Phase,
    stream_seq: u64,
    consumer_seq: u64,
    delivered_any: bool,
    retry_delay: Duration,
    connected: bool,
    resets: u64,
    to_delete: Option<String>,
    error: Option<OrderedError>,
}

impl OrderedMachine {
    /// A machine for `config` (validated by the caller) whose consumers are named
    /// `<prefix>_<n>`; the prefix must be unique (the driver takes it from a new inbox).
    pub(crate) fn new(config: OrderedConfig, prefix: &str) -> Self {
        OrderedMachine {
            config,
            prefix: prefix.to_string(),
            name: String::new(),
            serial: 0,
            phase: Phase::NeedConsumer { not_before: None },
            stream_seq: 0,
            consumer_seq: 0,
            delivered_any: false,
            retry_delay: RETRY_MIN,
            connected: true,
            resets: 0,
            to_delete: None,
            error: None,
        }
    }

    // ---- Getters ----

    /// The current consumer's name (empty before the first create).
    pub(crate) fn consumer_name(&self) -> &str {
        &self.name
    }

    /// The last stream sequence handed out (0: none yet).
    pub(crate) fn stream_sequence(&self) -> u64 {
        self.stream_seq
    }

    /// Times the consumer was thrown away and created again.
    pub(crate) fn resets(&self) -> u64 {
        self.resets
    }

    /// True while a consumer exists and pulls flow.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn is_active(&self) -> bool {
        matches!(self.phase, Phase::Active(_))
    }

    /// True once ended; see [`poll_error`](Self::poll_error).
    pub(crate) fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished)
    }

    // ---- Inputs ----

    /// A message arrived on the inbox at `now`.
    #[must_use]
    pub(crate) fn handle_message(&mut self, now: Instant, msg: &Message) -> Delivery {
        let Phase::Active(pull) = &mut self.phase else {
            return Delivery::Skip;
        };
        if msg.status().is_none() {
            // A user message: it must come from the current consumer, in order.
            let Some((consumer, seq)) = msg.reply().and_then(parse_ack) else {
                return Delivery::Skip;
            };
            if consumer != self.name {
                return Delivery::Skip;
            }
            let _ = pull.handle_message(now, msg);
            if seq.consumer != self.consumer_seq + 1 {
                self.reset(now);
                return Delivery::Skip;
            }
            self.consumer_seq = seq.consumer;
            if seq.stream <= self.stream_seq {
                return Delivery::Skip;
            }
            self.stream_seq = seq.stream;
            self.delivered_any = true;
            return Delivery::Message(seq);
        }
        match pull.handle_message(now, msg) {
            PullDelivery::CheckConsumer => self.reset(now),
            PullDelivery::Message | PullDelivery::Status => self.after_pull(now),
        }
        Delivery::Skip
    }

    /// The consumer polled last was created; `num_pending` is from its info.
    pub(crate) fn handle_created(&mut self, now: Instant) {
        if !matches!(self.phase, Phase::Creating) {
            return;
        }
        self.retry_delay = RETRY_MIN;
        let c = &self.config;
        let mut pull = PullMachine::consume(
            Limits::new(to_u64(c.batch), None),
            c.expires,
            c.idle_heartbeat,
        );
        if !self.connected {
            pull.handle_disconnected(now);
        }
        self.phase = Phase::Active(Box::new(pull));
    }

    /// Creating the consumer polled last failed with `error`.
    pub(crate) fn handle_create_failed(&mut self, now: Instant, error: &Error) {
        if !matches!(self.phase, Phase::Creating) {
            return;
        }
        match error.api_kind() {
            Some(ApiErrorKind::StreamNotFound) => return self.finish(OrderedError::StreamNotFound),
            Some(ApiErrorKind::BadRequest) => {
                return self.finish(OrderedError::CreateRefused(Box::new(error.clone())))
            }
            _ => {}
        }
        if error.is_permission_error() || matches!(error, Error::InvalidArgument(_)) {
            return self.finish(OrderedError::CreateRefused(Box::new(error.clone())));
        }
        // The consumer may exist on the server even though the answer was lost.
        self.to_delete = Some(self.name.clone());
        self.phase = Phase::NeedConsumer {
            not_before: Some(crate::deadline::after(now, self.retry_delay)),
        };
        self.retry_delay = (self.retry_delay * 2).min(RETRY_MAX);
    }

    /// The time in [`poll_timeout`](Self::poll_timeout) has come.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        match &mut self.phase {
            Phase::Active(pull) => {
                pull.handle_timeout(now);
                self.after_pull(now);
            }
            Phase::NeedConsumer { not_before } if not_before.is_some_and(|t| t <= now) => {
                *not_before = None;
            }
            _ => {}
        }
    }

    /// The client lost its connection.
    pub(crate) fn handle_disconnected(&mut self, now: Instant) {
        self.connected = false;
        if let Phase::Active(pull) = &mut self.phase {
            pull.handle_disconnected(now);
        }
    }

    /// The client connected again: the consumer may have missed messages or be gone
    /// with its server, so start a new one from the last sequence + 1.
    pub(crate) fn handle_reconnected(&mut self, now: Instant) {
        self.connected = true;
        if matches!(self.phase, Phase::Active(_) | Phase::Creating) {
            self.reset(now);
        } else if let Phase::NeedConsumer { not_before } = &mut self.phase {
            *not_before = None;
        }
    }

    /// The pull polled last could not be published.
    pub(crate) fn handle_pull_failed(&mut self, now: Instant) {
        if let Phase::Active(pull) = &mut self.phase {
            pull.handle_pull_failed(now);
        }
    }

    /// The client closed or the inbox ended: terminal.
    pub(crate) fn handle_closed(&mut self) {
        self.finish(OrderedError::Closed);
    }

    // ---- Outputs ----

    /// A consumer given up on, to delete (best effort).
    pub(crate) fn poll_delete(&mut self) -> Option<String> {
        self.to_delete.take().filter(|n| !n.is_empty())
    }

    /// The consumer to create now, if one is due. It counts as sent: answer with
    /// [`handle_created`](Self::handle_created) or
    /// [`handle_create_failed`](Self::handle_create_failed).
    pub(crate) fn poll_create(&mut self, now: Instant) -> Option<ConsumerConfig> {
        let Phase::NeedConsumer { not_before } = self.phase else {
            return None;
        };
        if !self.connected || not_before.is_some_and(|t| now < t) {
            return None;
        }
        self.serial += 1;
        self.name.clear();
        self.name.push_str(&self.prefix);
        self.name.push('_');
        self.name.push_str(&self.serial.to_string());
        self.consumer_seq = 0;
        self.phase = Phase::Creating;
        let c = &self.config;
        let (deliver_policy, opt_start_seq, opt_start_time) = if self.delivered_any {
            (
                DeliverPolicy::ByStartSequence,
                Some(self.stream_seq + 1),
                None,
            )
        } else {
            (c.deliver_policy, c.opt_start_seq, c.opt_start_time)
        };
        let (filter_subject, filter_subjects) = match c.filter_subjects.as_slice() {
            [one] => (Some(one.clone()), Vec::new()),
            many => (None, many.to_vec()),
        };
        Some(ConsumerConfig {
            name: Some(self.name.clone()),
            deliver_policy,
            opt_start_seq,
            opt_start_time,
            ack_policy: AckPolicy::None,
            max_deliver: Some(1),
            filter_subject,
            filter_subjects,
            replay_policy: c.replay_policy,
            inactive_threshold: Some(c.inactive_threshold),
            headers_only: c.headers_only,
            num_replicas: Some(1),
            mem_storage: true,
            ..Default::default()
        })
    }

    /// The next pull request to publish, if one is due.
    #[must_use]
    pub(crate) fn poll_pull(&mut self, now: Instant) -> Option<PullRequest> {
        match &mut self.phase {
            Phase::Active(pull) => pull.poll_pull(now),
            _ => None,
        }
    }

    /// The error that ended the machine, once.
    pub(crate) fn poll_error(&mut self) -> Option<OrderedError> {
        self.error.take()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Active(pull) => pull.poll_timeout(),
            Phase::NeedConsumer { not_before } => *not_before,
            _ => None,
        }
    }

    // ---- Internals ----

    /// After the pull machine took an input: lost heartbeats or a terminal pull error
    /// mean the consumer is gone or unreachable; start again.
    fn after_pull(&mut self, now: Instant) {
        let Phase::Active(pull) = &mut self.phase else {
            return;
        };
        if pull.missed_heartbeats() > 0 {
            return self.reset(now);
        }
        match pull.poll_error() {
            Some(PullError::Closed) => self.finish(OrderedError::Closed),
            Some(e) if e.is_terminal() => self.reset(now),
            // Non-terminal errors (max waiting, ...) leave the retry the pull scheduled.
            _ => {
                if pull.is_finished() {
                    self.reset(now);
                }
            }
        }
    }

    /// Throws the consumer away and asks for a new one from the last sequence + 1.
    fn reset(&mut self, _now: Instant) {
        if self.is_finished() {
            return;
        }
        self.resets += 1;
        self.to_delete = Some(self.name.clone());
        self.phase = Phase::NeedConsumer { not_before: None };
    }

    fn finish(&mut self, e: OrderedError) {
        if self.is_finished() {
            return;
        }
        self.phase = Phase::Finished;
        self.error = Some(e);
    }
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;

//! [`PullMachine`]: the pull consumer's policy as a sans-IO state machine — which pull
//! requests to send and when, what each status reply means, when heartbeats count as lost,
//! and when a fetch is over (ADR-37; protocol digest §6.4, §6.5).
//!
//! It does no IO, reads no clock and never blocks: every input takes `now` (which must
//! not go backwards), and the blocking drivers in `pull.rs`
//! ([`Consumer::fetch`](crate::Consumer::fetch) and [`Messages`](crate::Messages))
//! publish, wait and read the clock. Both drivers use this one machine, so a fetch and a
//! continuous pull classify statuses, count heartbeats and size their requests the same
//! way, and the whole policy is tested on a virtual clock.
//!
//! # Contract
//!
//! Two modes, chosen by the constructor: [`PullMachine::fetch`] (one pull, then finished)
//! and [`PullMachine::consume`] (pulls kept flowing for ever, until a terminal error).
//!
//! **Getters:** [`is_finished`](PullMachine::is_finished),
//! [`is_connected`](PullMachine::is_connected), [`pulls`](PullMachine::pulls),
//! [`missed_heartbeats`](PullMachine::missed_heartbeats).
//!
//! **Inputs (`handle_*`):**
//! - [`handle_message`](PullMachine::handle_message): every message the pull's inbox
//!   receives, user message or status reply. The returned [`Delivery`] says whether to hand
//!   the message to the user. It reads the message in place; a user message costs no
//!   allocation.
//! - [`handle_timeout`](PullMachine::handle_timeout): once `now` has reached
//!   [`poll_timeout`](PullMachine::poll_timeout). Calling it early is harmless.
//! - [`handle_disconnected`](PullMachine::handle_disconnected) /
//!   [`handle_reconnected`](PullMachine::handle_reconnected): the client lost / regained its
//!   connection. While disconnected no pull is sent and silence is not a lost heartbeat;
//!   a reconnect forgets the pulls in flight and pulls afresh.
//! - [`handle_pull_failed`](PullMachine::handle_pull_failed): the pull just polled could
//!   not be published (for instance a full reconnect buffer); it is retried after a backoff.
//! - [`handle_closed`](PullMachine::handle_closed): the client closed or the inbox ended.
//! - [`handle_consumer_deleted`](PullMachine::handle_consumer_deleted): the driver looked
//!   the consumer up after [`Delivery::CheckConsumer`] and it is gone.
//!
//! **Outputs (`poll_*`):**
//! - [`poll_pull`](PullMachine::poll_pull): the next pull request to publish to
//!   `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` with the inbox as reply. Returning one
//!   counts it as sent; if it was not, say so with `handle_pull_failed`.
//! - [`poll_error`](PullMachine::poll_error): an error to report, each once. A terminal
//!   one ([`PullError::is_terminal`]) also finishes the machine.
//! - [`poll_timeout`](PullMachine::poll_timeout): when to call `handle_timeout` next (the
//!   heartbeat check, the end of a retry backoff, or a fetch's local deadline).
//!
//! After every input, drain the outputs in this order: `poll_pull`, `poll_error`, then
//! `poll_timeout`; stop once [`is_finished`](PullMachine::is_finished). A driver:
//!
//! ```text
//! loop {
//!     while let Some(pull) = machine.poll_pull(now) {
//!         if publish(subject, inbox, pull.body()).is_err() { machine.handle_pull_failed(now) }
//!     }
//!     if let Some(e) = machine.poll_error() { report(e) }
//!     if machine.is_finished() { break }
//!     match inbox.next_until(machine.poll_timeout()) {
//!         Message(m) => if machine.handle_message(now, &m) == Delivery::Message { hand_out(m) },
//!         TimedOut => machine.handle_timeout(now),
//!     }
//! }
//! ```
//!
//! # Policy
//!
//! - **Counting (ADR-37).** Outstanding messages and bytes are what the pulls in flight
//!   asked for and have not delivered: a pull adds its `batch` and `max_bytes`, a user
//!   message subtracts one and its size, and a status that ends a pull (`408`, `409 Batch
//!   Completed`, `409 Message Size Exceeds MaxBytes`) subtracts its `Nats-Pending-Messages`
//!   and `Nats-Pending-Bytes` (or forgets everything when it has none: re-pulling too much
//!   is harmless, stalling is not).
//! - **Re-pull threshold.** In consume mode a new pull goes out once outstanding messages
//!   fall to half the batch, or outstanding bytes to half of `max_bytes`; it asks for what
//!   fills the batch (and byte budget) up again.
//! - **Heartbeats.** While a pull is in flight, any message (user or status) restarts a
//!   timer of twice the idle heartbeat. When it runs out a fetch ends with
//!   [`PullError::NoHeartbeat`]; a continuous pull counts a missed heartbeat, forgets its
//!   pulls and pulls afresh. While disconnected the timer only schedules a look at the
//!   connection again, one heartbeat interval later.
//! - **Statuses** (digest §6.5). `100` only restarts the heartbeat timer. A fetch ends
//!   at its batch, or at `404`, `408`, `409 Batch Completed`, `409 Leadership Change`,
//!   and `423` (with [`PullError::PinIdMismatch`], forgetting the pin id); any other status ends it too, with an error. A continuous pull re-pulls at once after `409 Leadership Change` and `423`,
//!   after a backoff after `404`, `409 Server Shutdown`, `503` and the reported errors
//!   (`409 Exceeded MaxWaiting / MaxRequest…`, unknown statuses); `409 Consumer Deleted`
//!   and `400` are terminal.
//! - **Backoff.** Retries wait 250 ms, doubling up to 2 s; a user message, a heartbeat
//!   or a reconnect resets it.

use std::time::{Duration, Instant};

use bytes::Bytes;
use natsy::proto::Message;
use serde::Serialize;

use crate::error::Error;
use crate::pull::PullError;
use crate::wire::nanos;

/// The first wait before pulling again after a refused or unsent pull.
const RETRY_MIN: Duration = Duration::from_millis(250);
/// The longest wait before pulling again.
const RETRY_MAX: Duration = Duration::from_secs(2);

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

/// Classifies a status message, reading (and allocating) its description only for the
/// codes whose meaning depends on it: a heartbeat costs nothing.
fn status_of(code: u16, msg: &Message) -> Status {
    match code {
        100 | 404 | 408 | 423 | 503 => classify(code, ""),
        _ => classify(code, &msg.description().unwrap_or_default()),
    }
}

/// `Nats-Pending-Messages` and `Nats-Pending-Bytes` of a status reply: what the ended
/// request had not delivered.
fn pending_counts(msg: &Message) -> (Option<u64>, Option<u64>) {
    let Ok(Some(headers)) = msg.headers() else {
        return (None, None);
    };
    let get = |name: &str| headers.get(name).and_then(|v| v.trim().parse::<u64>().ok());
    (get("Nats-Pending-Messages"), get("Nats-Pending-Bytes"))
}

/// The JSON body of a pull request (digest §6.4).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
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
    /// Priority group fields (ADR-42): `group`, `min_pending`, `min_ack_pending`,
    /// `priority`, and `id` (the pin id, filled in by the machine when it is polled).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub(crate) priority: Option<PriorityRequest>,
}

/// The priority group fields of a pull request (ADR-42).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct PriorityRequest {
    pub(crate) group: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) min_pending: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) min_ack_pending: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) priority: Option<u8>,
    /// The pin id of a pinned client (`Nats-Pin-Id` of the messages it was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
}

/// `Nats-Pin-Id` of a delivered message, read only from a message with headers.
fn pin_id_of(msg: &Message) -> Option<String> {
    msg.header_block()?;
    let headers = msg.headers().ok()??;
    let id = headers.get("Nats-Pin-Id")?.trim();
    (!id.is_empty()).then(|| id.to_string())
}

impl PullRequest {
    /// Checks what the server would refuse with a `400`, before anything is sent.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.batch == 0 {
            return Err(Error::InvalidArgument("batch must be at least 1"));
        }
        if self.max_bytes == Some(0) {
            return Err(Error::InvalidArgument("max_bytes must be at least 1"));
        }
        if let Some(p) = &self.priority {
            if p.group.is_empty()
                || p.group.len() > 16
                || !p
                    .group
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'=' | b'-'))
            {
                return Err(Error::InvalidArgument(
                    "priority group must be 1 to 16 of A-Z a-z 0-9 / _ = -",
                ));
            }
            if p.priority.is_some_and(|n| n > 9) {
                return Err(Error::InvalidArgument("priority must be 0 to 9"));
            }
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

    /// The JSON body to publish.
    pub(crate) fn body(&self) -> Result<Bytes, Error> {
        serde_json::to_vec(self)
            .map(Bytes::from)
            .map_err(|e| Error::InvalidResponse(e.to_string()))
    }
}

/// How long a fetch waits for its pull, from when the pull is sent: `expires` plus time
/// for the server's `408` to arrive (a tenth of `expires`, at least 1 s), or the API
/// timeout for a `no_wait` pull, which the server answers at once.
pub(crate) fn fetch_timeout(request: &PullRequest, api_timeout: Duration) -> Duration {
    match request.expires {
        Some(e) if !request.no_wait => e.saturating_add(Duration::from_secs(1).max(e / 10)),
        _ => api_timeout,
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

    /// The next pull's batch and byte budget, once at most `limits.threshold_messages` (or
    /// `limits.threshold_bytes`) is still outstanding: what fills the batch up again.
    pub(crate) fn next_pull(&self, limits: &Limits) -> Option<(u64, Option<u64>)> {
        let low_msgs = self.messages <= limits.threshold_messages;
        let low_bytes = limits.threshold_bytes.is_some_and(|t| self.bytes <= t);
        if !(low_msgs || low_bytes) {
            return None;
        }
        let want = limits.batch.saturating_sub(self.messages);
        let want_bytes = limits.max_bytes.map(|mb| mb.saturating_sub(self.bytes));
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

    /// A pull for these counts was not sent after all.
    fn remove(&mut self, messages: u64, bytes: Option<u64>) {
        self.messages = self.messages.saturating_sub(messages);
        self.bytes = self.bytes.saturating_sub(bytes.unwrap_or(0));
    }
}

/// What a continuous pull keeps in flight, and when it tops up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Messages in flight at most.
    pub(crate) batch: u64,
    /// Bytes in flight at most.
    pub(crate) max_bytes: Option<u64>,
    /// Pull again once this few messages are outstanding (ADR-37 default: half).
    pub(crate) threshold_messages: u64,
    /// Or once this few bytes are outstanding (half of `max_bytes`).
    pub(crate) threshold_bytes: Option<u64>,
}

impl Limits {
    /// `batch` and `max_bytes` with ADR-37's default thresholds, half of each.
    pub(crate) fn new(batch: u64, max_bytes: Option<u64>) -> Self {
        Limits {
            batch,
            max_bytes,
            threshold_messages: batch / 2,
            threshold_bytes: max_bytes.map(|mb| mb / 2),
        }
    }
}

/// What to do with a message given to [`PullMachine::handle_message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// A user message: hand it out.
    Message,
    /// A status reply, taken in; nothing to hand out. Poll for what follows from it.
    Status,
    /// A `503` to a continuous pull: nobody serves the consumer, which may have been
    /// deleted or may be electing a leader. Look it up; if it is gone, call
    /// [`PullMachine::handle_consumer_deleted`]. A retry is already scheduled.
    CheckConsumer,
}

/// The machine's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// Twice the idle heartbeat after the last message while a pull is in flight; while
    /// disconnected, when to look at the connection again.
    Heartbeat,
    /// The end of a retry backoff (consume).
    Retry,
    /// A fetch's local deadline.
    Expiry,
}

impl Timer {
    const COUNT: usize = 3;
}

/// One slot per [`Timer`]; the next wake-up is the earliest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct TimerTable([Option<Instant>; Timer::COUNT]);

impl TimerTable {
    fn get(&self, t: Timer) -> Option<Instant> {
        self.0[t as usize]
    }

    fn set(&mut self, t: Timer, at: Instant) {
        self.0[t as usize] = Some(at);
    }

    fn stop(&mut self, t: Timer) {
        self.0[t as usize] = None;
    }

    fn expired(&self, t: Timer, now: Instant) -> bool {
        self.get(t).is_some_and(|at| at <= now)
    }

    fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }

    fn clear(&mut self) {
        *self = TimerTable::default();
    }
}

/// Fetch or consume, with what each needs.
#[derive(Debug, Clone)]
enum Mode {
    /// One pull; `request` until it is polled.
    Fetch {
        request: Option<PullRequest>,
        timeout: Duration,
    },
    /// Pulls kept flowing.
    Consume {
        limits: Limits,
        expires: Duration,
        priority: Option<PriorityRequest>,
    },
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn after(at: Instant, d: Duration) -> Instant {
    crate::deadline::after(at, d)
}

/// The pull consumer's state machine; see the [module docs](self) for its contract.
#[derive(Debug, Clone)]
pub(crate) struct PullMachine {
    mode: Mode,
    idle_heartbeat: Option<Duration>,
    outstanding: Outstanding,
    /// The counts of the pull last polled, until the next one (for `handle_pull_failed`).
    last_pull: Option<(u64, Option<u64>)>,
    timers: TimerTable,
    retry_delay: Duration,
    connected: bool,
    finished: bool,
    terminal: Option<PullError>,
    error: Option<PullError>,
    pulls: u64,
    missed_heartbeats: u64,
    /// The pin id to send with priority-group pulls; set from delivered messages'
    /// `Nats-Pin-Id`, forgotten at a `423`.
    pin_id: Option<String>,
    /// `pin_id` changed since [`take_pin_change`](Self::take_pin_change) last looked.
    pin_changed: bool,
    /// Pulls name a priority group: delivered messages may carry a pin id.
    learns_pins: bool,
}

impl PullMachine {
    fn new(mode: Mode, idle_heartbeat: Option<Duration>) -> Self {
        PullMachine {
            mode,
            idle_heartbeat: idle_heartbeat.filter(|hb| !hb.is_zero()),
            outstanding: Outstanding::default(),
            last_pull: None,
            timers: TimerTable::default(),
            retry_delay: RETRY_MIN,
            connected: true,
            finished: false,
            terminal: None,
            error: None,
            pulls: 0,
            missed_heartbeats: 0,
            pin_id: None,
            pin_changed: false,
            learns_pins: false,
        }
    }

    /// One pull of `request`, waited for `timeout` after it is sent (see
    /// [`fetch_timeout`]). Finished at its batch, at a status that ends it, when its
    /// heartbeats stop, or at `timeout`.
    pub(crate) fn fetch(request: PullRequest, timeout: Duration) -> Self {
        let idle_heartbeat = request.idle_heartbeat;
        let learns_pins = request.priority.is_some();
        let mut machine = PullMachine::new(
            Mode::Fetch {
                request: Some(request),
                timeout,
            },
            idle_heartbeat,
        );
        machine.learns_pins = learns_pins;
        machine
    }

    /// Pulls kept flowing within `limits`, each open for `expires` on the server, with
    /// idle heartbeats every `idle_heartbeat`.
    pub(crate) fn consume(limits: Limits, expires: Duration, idle_heartbeat: Duration) -> Self {
        PullMachine::new(
            Mode::Consume {
                limits,
                expires,
                priority: None,
            },
            Some(idle_heartbeat),
        )
    }

    /// Every pull of a continuous pull carries these priority group fields.
    pub(crate) fn with_priority(mut self, priority: Option<PriorityRequest>) -> Self {
        self.learns_pins = priority.is_some();
        if let Mode::Consume { priority: p, .. } = &mut self.mode {
            *p = priority;
        }
        self
    }

    /// Starts with this pin id (the consumer handle's, from earlier pulls).
    pub(crate) fn with_pin_id(mut self, pin_id: Option<String>) -> Self {
        self.pin_id = pin_id;
        self
    }

    // ---- Getters ----

    /// True once a fetch is over or a terminal error happened: no more pulls, no more
    /// timeouts.
    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    /// False between [`handle_disconnected`](Self::handle_disconnected) and
    /// [`handle_reconnected`](Self::handle_reconnected).
    pub(crate) fn is_connected(&self) -> bool {
        self.connected
    }

    /// Pull requests sent so far.
    pub(crate) fn pulls(&self) -> u64 {
        self.pulls
    }

    /// Times the heartbeats stopped for twice the interval while connected.
    pub(crate) fn missed_heartbeats(&self) -> u64 {
        self.missed_heartbeats
    }

    /// The pin id the next priority-group pull will carry.
    pub(crate) fn pin_id(&self) -> Option<&str> {
        self.pin_id.as_deref()
    }

    /// True once after the pin id changed (learned or forgotten): the driver then
    /// copies [`pin_id`](Self::pin_id) to the consumer handle, for its later pulls.
    pub(crate) fn take_pin_change(&mut self) -> bool {
        std::mem::take(&mut self.pin_changed)
    }

    #[cfg(test)]
    fn outstanding(&self) -> Outstanding {
        self.outstanding
    }

    // ---- Inputs ----

    /// A message arrived on the pull's inbox at `now`.
    #[must_use]
    pub(crate) fn handle_message(&mut self, now: Instant, msg: &Message) -> Delivery {
        self.heard_from_server(now);
        let Some(code) = msg.status() else {
            if self.learns_pins {
                self.learn_pin(msg);
            }
            self.outstanding.delivered(to_u64(msg.size()));
            self.retry_delay = RETRY_MIN;
            if matches!(self.mode, Mode::Fetch { .. }) && self.outstanding.messages == 0 {
                self.finish();
            }
            return Delivery::Message;
        };
        if self.finished {
            return Delivery::Status;
        }
        let status = status_of(code.as_u16(), msg);
        if status == Status::Heartbeat {
            self.retry_delay = RETRY_MIN;
            return Delivery::Status;
        }
        match self.mode {
            Mode::Fetch { .. } => {
                match status {
                    Status::MaxBytes => self.fail(PullError::MessageSizeExceedsMaxBytes),
                    Status::PinMismatch => {
                        self.forget_pin();
                        self.fail(PullError::PinIdMismatch);
                    }
                    Status::Error(e) => self.fail(e),
                    _ => {}
                }
                self.finish();
                Delivery::Status
            }
            Mode::Consume { .. } => self.consume_status(now, status, msg),
        }
    }

    fn consume_status(&mut self, now: Instant, status: Status, msg: &Message) -> Delivery {
        match status {
            Status::Heartbeat => {}
            Status::Expired | Status::BatchCompleted | Status::MaxBytes => {
                let (m, b) = pending_counts(msg);
                self.outstanding.release(m, b);
            }
            // Only no_wait pulls get 404; ours do not, so treat it as an ended pull.
            Status::NoMessages => self.retry_later(now),
            Status::LeadershipChange => self.forget_pulls(),
            // Another client holds the pin now: pull again at once, without the old id
            // (that pull waits until this client is pinned again); reported as nats.go.
            Status::PinMismatch => {
                self.forget_pin();
                self.forget_pulls();
                self.report(PullError::PinIdMismatch);
            }
            // A reconnect follows; pull again once it is through (or after the backoff).
            Status::Error(PullError::ServerShutdown) => self.retry_later(now),
            Status::Error(PullError::NoResponders) => {
                self.retry_later(now);
                return Delivery::CheckConsumer;
            }
            Status::Error(e) if e.is_terminal() => self.fail(e),
            Status::Error(e) => {
                // Reported; this request is gone, pull again a little later.
                self.retry_later(now);
                self.report(e);
            }
        }
        Delivery::Status
    }

    /// The time in [`poll_timeout`](Self::poll_timeout) has come (or passed).
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        if self.timers.expired(Timer::Retry, now) {
            self.timers.stop(Timer::Retry);
        }
        if self.timers.expired(Timer::Heartbeat, now) {
            if !self.connected {
                // Silence is expected; look at the connection again later.
                self.recheck_connection(now);
            } else {
                match self.mode {
                    Mode::Fetch { .. } => {
                        self.fail(PullError::NoHeartbeat);
                        self.finish();
                    }
                    Mode::Consume { .. } => {
                        self.missed_heartbeats += 1;
                        crate::trace::warning!(
                            missed = self.missed_heartbeats,
                            "pull: idle heartbeat missed, pulling afresh"
                        );
                        self.forget_pulls();
                    }
                }
            }
        }
        if self.timers.expired(Timer::Expiry, now) {
            self.fail(PullError::TimedOut);
            self.finish();
        }
    }

    /// The client lost its connection (or was seen without one at `now`): send no pulls
    /// and do not count silence as lost heartbeats until it is back.
    pub(crate) fn handle_disconnected(&mut self, now: Instant) {
        if self.connected {
            crate::trace::debug!("pull: paused while disconnected");
        }
        self.connected = false;
        if !self.finished {
            self.recheck_connection(now);
        }
    }

    /// The client connected again: pulls sent on the old connection may be gone with it,
    /// so a continuous pull forgets them and pulls afresh at once (ADR-37). A fetch only
    /// restarts its heartbeat timer; its pull ends at its deadline if it was lost.
    pub(crate) fn handle_reconnected(&mut self, now: Instant) {
        if !self.connected {
            crate::trace::debug!("pull: resumed after a reconnect");
        }
        self.connected = true;
        if self.finished {
            return;
        }
        self.retry_delay = RETRY_MIN;
        match self.mode {
            Mode::Fetch { .. } => {
                self.timers.stop(Timer::Heartbeat);
                if self.outstanding.messages > 0 {
                    self.start_heartbeat(now);
                }
            }
            Mode::Consume { .. } => {
                self.timers.stop(Timer::Retry);
                self.forget_pulls();
            }
        }
    }

    /// The pull last returned by [`poll_pull`](Self::poll_pull) was not published (the
    /// reconnect buffer was full, ...): forget it and try again after a backoff. A fetch
    /// is over.
    pub(crate) fn handle_pull_failed(&mut self, now: Instant) {
        crate::trace::debug!(retry_in = ?self.retry_delay, "pull: request not sent");
        if let Some((m, b)) = self.last_pull.take() {
            self.outstanding.remove(m, b);
            self.pulls = self.pulls.saturating_sub(1);
        }
        match self.mode {
            Mode::Fetch { .. } => self.finish(),
            Mode::Consume { .. } => {
                if self.outstanding.messages == 0 {
                    self.timers.stop(Timer::Heartbeat);
                }
                self.backoff(now);
            }
        }
    }

    /// The client closed, or the inbox subscription ended: terminal.
    pub(crate) fn handle_closed(&mut self) {
        self.fail(PullError::Closed);
    }

    /// After [`Delivery::CheckConsumer`]: the consumer (or its stream) does not exist.
    pub(crate) fn handle_consumer_deleted(&mut self) {
        self.fail(PullError::ConsumerDeleted);
    }

    // ---- Outputs ----

    /// The next pull request to publish, if one is due at `now`. It counts as sent; if
    /// publishing fails, call [`handle_pull_failed`](Self::handle_pull_failed).
    #[must_use]
    pub(crate) fn poll_pull(&mut self, now: Instant) -> Option<PullRequest> {
        if self.finished || !self.connected {
            return None;
        }
        let request = match &mut self.mode {
            Mode::Fetch { request, timeout } => {
                let mut request = request.take()?;
                if let Some(p) = &mut request.priority {
                    p.id.clone_from(&self.pin_id);
                }
                let deadline = after(now, *timeout);
                self.timers.set(Timer::Expiry, deadline);
                request
            }
            Mode::Consume {
                limits,
                expires,
                priority,
            } => {
                if self.timers.get(Timer::Retry).is_some_and(|t| now < t) {
                    return None;
                }
                self.timers.stop(Timer::Retry);
                let (batch, max_bytes) = self.outstanding.next_pull(limits)?;
                PullRequest {
                    batch: to_usize(batch),
                    expires: Some(*expires),
                    max_bytes: max_bytes.map(to_usize),
                    no_wait: false,
                    idle_heartbeat: self.idle_heartbeat,
                    priority: priority.clone().map(|mut p| {
                        p.id.clone_from(&self.pin_id);
                        p
                    }),
                }
            }
        };
        let counts = (to_u64(request.batch), request.max_bytes.map(to_u64));
        self.outstanding.add(counts.0, counts.1);
        self.last_pull = Some(counts);
        self.pulls += 1;
        self.start_heartbeat(now);
        Some(request)
    }

    /// The next error to report, once each. A terminal one has finished the machine.
    #[must_use]
    pub(crate) fn poll_error(&mut self) -> Option<PullError> {
        self.error.take()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next; `None`: only on input.
    #[must_use]
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        self.timers.next()
    }

    // ---- Internals ----

    /// A message of a pinned consumer carries the pin id this client now holds.
    fn learn_pin(&mut self, msg: &Message) {
        if let Some(id) = pin_id_of(msg) {
            if self.pin_id.as_deref() != Some(id.as_str()) {
                self.pin_id = Some(id);
                self.pin_changed = true;
            }
        }
    }

    fn forget_pin(&mut self) {
        if self.pin_id.take().is_some() {
            self.pin_changed = true;
        }
    }

    /// Any message restarts the heartbeat timer of a pull in flight.
    fn heard_from_server(&mut self, now: Instant) {
        if self.connected && self.timers.get(Timer::Heartbeat).is_some() {
            self.start_heartbeat(now);
        }
    }

    fn start_heartbeat(&mut self, now: Instant) {
        if let Some(hb) = self.idle_heartbeat {
            self.timers
                .set(Timer::Heartbeat, after(now, hb.saturating_mul(2)));
        }
    }

    /// While disconnected, the heartbeat slot says when to look at the connection again:
    /// one heartbeat interval on.
    fn recheck_connection(&mut self, now: Instant) {
        if let Some(hb) = self.idle_heartbeat {
            self.timers.set(Timer::Heartbeat, after(now, hb));
        }
    }

    /// No pull is known to be in flight: the next `poll_pull` asks for a full batch.
    fn forget_pulls(&mut self) {
        self.outstanding.reset();
        self.last_pull = None;
        self.timers.stop(Timer::Heartbeat);
    }

    /// The pulls in flight are gone; pull again after the backoff.
    fn retry_later(&mut self, now: Instant) {
        self.forget_pulls();
        self.backoff(now);
    }

    fn backoff(&mut self, now: Instant) {
        self.timers.set(Timer::Retry, after(now, self.retry_delay));
        self.retry_delay = self.retry_delay.saturating_mul(2).min(RETRY_MAX);
    }

    fn report(&mut self, e: PullError) {
        if self.terminal.is_none() {
            self.error = Some(e);
        }
    }

    /// Records `e`: reported once; if terminal, it also finishes the machine for good.
    fn fail(&mut self, e: PullError) {
        if self.terminal.is_some() {
            return;
        }
        crate::trace::warning!(error = %e, terminal = e.is_terminal(), "pull: error");
        if e.is_terminal() {
            self.terminal = Some(e.clone());
            self.finish();
        }
        self.error = Some(e);
    }

    fn finish(&mut self) {
        if !self.finished {
            crate::trace::debug!(pulls = self.pulls, "pull: finished");
        }
        self.finished = true;
        self.timers.clear();
    }
}

#[cfg(test)]
mod tests;

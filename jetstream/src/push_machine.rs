//! [`PushMachine`]: the push consumer's policy as a sans-IO state machine — which
//! status messages on the deliver subject mean what, which flow control requests to
//! answer, when heartbeats count as missed, and when a gap in the consumer sequence is
//! to be reported (ADR-8 / ADR-9; nats.go's legacy push subscriptions).
//!
//! It does no IO, reads no clock and never blocks: every input takes `now` (which must
//! not go backwards). The drivers ([`PushMessages`](crate::PushMessages) and
//! [`aio::PushMessages`](crate::aio::PushMessages)) subscribe to the deliver subject,
//! wait on it until [`poll_timeout`](PushMachine::poll_timeout), publish the replies
//! the machine asks for and look the consumer up when it asks.
//!
//! # Contract
//!
//! **Getters:** [`is_finished`](PushMachine::is_finished),
//! [`missed_heartbeats`](PushMachine::missed_heartbeats),
//! [`flow_control_replies`](PushMachine::flow_control_replies).
//!
//! **Inputs (`handle_*`):**
//! - [`handle_message`](PushMachine::handle_message): every message of the deliver
//!   subscription, in the order the user takes them; the returned [`PushDelivery`] says
//!   whether to hand it out. Status messages never are.
//! - [`handle_timeout`](PushMachine::handle_timeout): once `now` has reached
//!   `poll_timeout` (early is harmless).
//! - [`handle_consumer_deleted`](PushMachine::handle_consumer_deleted): the lookup asked
//!   for by [`poll_check_consumer`](PushMachine::poll_check_consumer) found no consumer.
//! - [`handle_closed`](PushMachine::handle_closed): the subscription ended.
//!
//! **Outputs (`poll_*`)**, drained after every input in this order:
//! - [`poll_reply`](PushMachine::poll_reply): a subject to publish an empty message to
//!   (a flow control answer).
//! - [`poll_check_consumer`](PushMachine::poll_check_consumer): true once after missed
//!   heartbeats: look the consumer up (when connected); gone → `handle_consumer_deleted`.
//! - [`poll_error`](PushMachine::poll_error): errors to report, each once, oldest first.
//!   A terminal one ([`PushError::is_terminal`]) comes last: the machine is finished.
//! - [`poll_timeout`](PushMachine::poll_timeout): when to call `handle_timeout`.
//!
//! # Policy
//!
//! - **Flow control.** `100 FlowControl Request` carries a reply subject; it is answered
//!   when the machine is given it. The drivers feed messages in the order the user takes
//!   them, so the answer goes out once the user has taken every message delivered before
//!   the request — nats.go's rule (it answers once the messages before it are delivered).
//!   A heartbeat with `Nats-Consumer-Stalled` names the reply of a request the server is
//!   still waiting on: answered at once, as nats.go.
//! - **Heartbeats.** With an idle heartbeat configured, any message restarts a timer of
//!   twice the interval (nats.go's threshold). When it runs out the machine reports
//!   [`PushError::NoHeartbeat`], asks for a consumer lookup, and starts the timer again:
//!   silence goes on being reported every two intervals, and the consumer goes on
//!   (the server may be restarting, the client reconnecting). A lookup that finds the
//!   consumer gone ends it with [`PushError::ConsumerDeleted`].
//! - **Sequence gaps.** A heartbeat's `Nats-Last-Consumer` is the last consumer sequence
//!   the server delivered. If a message was handed out before and its consumer sequence
//!   differs, messages were lost on the way (a slow consumer, a reconnect):
//!   [`PushError::SequenceMismatch`], once per gap. Not checked in a deliver group,
//!   where each member sees only part of the sequence.
//! - **Other statuses** are reported ([`PushError::Status`]) and dropped; `409 Consumer
//!   Deleted` ends the consumer.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use natsy::proto::Message;

use crate::push::PushError;

/// At most this many replies or errors wait to be polled; older ones are dropped first
/// (the server only honours its latest flow control request anyway).
const QUEUE_MAX: usize = 8;

/// What to do with a message given to [`PushMachine::handle_message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushDelivery {
    /// A user message: hand it out.
    Message,
    /// A status message, taken in: poll for what follows from it.
    Status,
}

/// How a push subscription is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PushSettings {
    /// The consumer's `idle_heartbeat`; `None`: silence is never reported.
    pub(crate) idle_heartbeat: Option<Duration>,
    /// Compare heartbeats' `Nats-Last-Consumer` with the messages handed out (off in a
    /// deliver group).
    pub(crate) check_sequences: bool,
}

/// The push consumer's state machine; see the [module docs](self).
#[derive(Debug, Clone)]
pub(crate) struct PushMachine {
    settings: PushSettings,
    heartbeat_due: Option<Instant>,
    /// Consumer and stream sequence of the last message handed out.
    last: Option<(u64, u64)>,
    /// The server's last consumer sequence a gap was reported for.
    reported_gap: Option<u64>,
    replies: VecDeque<String>,
    errors: VecDeque<PushError>,
    check_consumer: bool,
    finished: bool,
    missed_heartbeats: u64,
    flow_control_replies: u64,
}

/// A token of an ack subject, as a number.
fn token_number(token: Option<&str>) -> Option<u64> {
    token?.parse().ok()
}

/// Consumer and stream sequence of an ack reply subject, v1 (9 tokens) or v2 (11 or
/// more), without allocating.
fn sequences_of(reply: &str) -> Option<(u64, u64)> {
    let rest = reply.strip_prefix("$JS.ACK.")?;
    let n = rest.split('.').count() + 2;
    // After `$JS.ACK.`: v1 `<stream>.<consumer>.<delivered>.<sseq>.<cseq>...`, v2 with
    // `<domain>.<hash>.` in front.
    let skip = match n {
        9 => 3,
        n if n >= 11 => 5,
        _ => return None,
    };
    let mut tokens = rest.split('.').skip(skip);
    let sseq = token_number(tokens.next())?;
    let cseq = token_number(tokens.next())?;
    Some((cseq, sseq))
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

impl PushMachine {
    /// A push subscription made at `now`: the heartbeat timer starts now.
    pub(crate) fn new(settings: PushSettings, now: Instant) -> Self {
        let mut machine = PushMachine {
            settings: PushSettings {
                idle_heartbeat: settings.idle_heartbeat.filter(|hb| !hb.is_zero()),
                ..settings
            },
            heartbeat_due: None,
            last: None,
            reported_gap: None,
            replies: VecDeque::new(),
            errors: VecDeque::new(),
            check_consumer: false,
            finished: false,
            missed_heartbeats: 0,
            flow_control_replies: 0,
        };
        machine.restart_heartbeat(now);
        machine
    }

    // ---- Getters ----

    /// True after a terminal error: nothing more to do. (The drivers go by the terminal
    /// error they were given; the tests by this.)
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    /// Times twice the heartbeat interval passed in silence.
    pub(crate) fn missed_heartbeats(&self) -> u64 {
        self.missed_heartbeats
    }

    /// Flow control requests (and stalled notices) answered.
    pub(crate) fn flow_control_replies(&self) -> u64 {
        self.flow_control_replies
    }

    // ---- Inputs ----

    /// A message of the deliver subscription, taken by the user at `now`.
    #[must_use]
    pub(crate) fn handle_message(&mut self, now: Instant, msg: &Message) -> PushDelivery {
        if self.finished {
            return match msg.status() {
                None => PushDelivery::Message,
                Some(_) => PushDelivery::Status,
            };
        }
        self.restart_heartbeat(now);
        let Some(code) = msg.status() else {
            if self.settings.check_sequences {
                if let Some(seqs) = msg.reply().and_then(sequences_of) {
                    self.last = Some(seqs);
                }
            }
            return PushDelivery::Message;
        };
        let code = code.as_u16();
        let description = msg.description().unwrap_or_default();
        let description = description.trim();
        match code {
            100 if starts_with_ignore_case(description, "FlowControl") => {
                if let Some(reply) = msg.reply().filter(|r| !r.is_empty()) {
                    self.reply(reply.to_string());
                }
            }
            100 => self.heartbeat(msg),
            409 if starts_with_ignore_case(description, "Consumer Deleted") => {
                self.fail(PushError::ConsumerDeleted)
            }
            _ => self.report(PushError::Status {
                code,
                description: description.to_string(),
            }),
        }
        PushDelivery::Status
    }

    /// The time in [`poll_timeout`](Self::poll_timeout) has come (or passed).
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.finished || self.heartbeat_due.is_none_or(|t| t > now) {
            return;
        }
        self.missed_heartbeats += 1;
        crate::trace::warning!(
            missed = self.missed_heartbeats,
            "push: idle heartbeats missed"
        );
        self.report(PushError::NoHeartbeat);
        self.check_consumer = true;
        self.restart_heartbeat(now);
    }

    /// The consumer lookup found no consumer (or no stream): terminal.
    pub(crate) fn handle_consumer_deleted(&mut self) {
        self.fail(PushError::ConsumerDeleted);
    }

    /// The subscription ended (client closed): terminal.
    pub(crate) fn handle_closed(&mut self) {
        self.fail(PushError::Closed);
    }

    // ---- Outputs ----

    /// A subject to publish an empty message to: a flow control answer.
    #[must_use]
    pub(crate) fn poll_reply(&mut self) -> Option<String> {
        self.replies.pop_front()
    }

    /// True once after missed heartbeats: look the consumer up.
    #[must_use]
    pub(crate) fn poll_check_consumer(&mut self) -> bool {
        std::mem::take(&mut self.check_consumer) && !self.finished
    }

    /// The next error to report, oldest first, each once.
    #[must_use]
    pub(crate) fn poll_error(&mut self) -> Option<PushError> {
        self.errors.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout); `None`: only on input.
    #[must_use]
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        self.heartbeat_due
    }

    // ---- Internals ----

    fn heartbeat(&mut self, msg: &Message) {
        let Ok(Some(headers)) = msg.headers() else {
            return;
        };
        if let Some(stalled) = headers.get("Nats-Consumer-Stalled") {
            let stalled = stalled.trim();
            if !stalled.is_empty() {
                self.reply(stalled.to_string());
            }
        }
        if !self.settings.check_sequences {
            return;
        }
        let Some((cseq, sseq)) = self.last else {
            return;
        };
        let server = headers
            .get("Nats-Last-Consumer")
            .and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(server) = server {
            if server != cseq && self.reported_gap != Some(server) {
                self.reported_gap = Some(server);
                self.report(PushError::SequenceMismatch {
                    consumer_sequence: cseq,
                    last_consumer_sequence: server,
                    stream_resume_sequence: sseq.saturating_add(1),
                });
            }
        }
    }

    fn restart_heartbeat(&mut self, now: Instant) {
        self.heartbeat_due = self
            .settings
            .idle_heartbeat
            .map(|hb| crate::deadline::after(now, hb.saturating_mul(2)));
    }

    fn reply(&mut self, subject: String) {
        if self.replies.len() >= QUEUE_MAX {
            self.replies.pop_front();
        }
        self.flow_control_replies += 1;
        self.replies.push_back(subject);
    }

    fn report(&mut self, e: PushError) {
        if self.finished {
            return;
        }
        if self.errors.len() >= QUEUE_MAX {
            self.errors.pop_front();
        }
        self.errors.push_back(e);
    }

    fn fail(&mut self, e: PushError) {
        if self.finished {
            return;
        }
        crate::trace::warning!(error = %e, "push: consumer ended");
        self.report(e);
        self.finished = true;
        self.heartbeat_due = None;
        self.check_consumer = false;
    }
}

#[cfg(test)]
mod tests;

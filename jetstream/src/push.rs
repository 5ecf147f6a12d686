//! Push consumers: [`Consumer::push_messages`] subscribes to a push consumer's deliver
//! subject (in its deliver group, if any) and yields its messages as [`PushMessages`], a
//! blocking iterator; [`PushError`] is what it reports besides messages.
//!
//! The policy (flow control answers, heartbeat checks, sequence gaps, what each status
//! means) is the sans-IO `push_machine.rs`, shared with the async
//! [`aio::PushMessages`](crate::aio::PushMessages); this driver waits on the
//! subscription until the machine's next timeout, publishes the replies it asks for and
//! looks the consumer up after missed heartbeats. No thread or timer of its own: the
//! heartbeat check happens while the user waits in [`PushMessages::next_timeout`] or
//! the iterator.

use std::fmt;
use std::time::{Duration, Instant};

use crate::consumer::{Consumer, ConsumerInfo};
use crate::context::Context;
use crate::error::{ApiErrorKind, Error};
use crate::js_message::JsMessage;
use crate::push_machine::{PushDelivery, PushMachine, PushSettings};

/// What a push consumer reports besides messages.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushError {
    /// Neither a message nor a heartbeat for twice the consumer's `idle_heartbeat`
    /// (nats.go `ErrConsumerNotActive`). Reported again every two intervals while the
    /// silence lasts; the consumer goes on.
    NoHeartbeat,
    /// A heartbeat says the server delivered up to `last_consumer_sequence`, but the last
    /// message received had `consumer_sequence`: messages were lost on the way (nats.go
    /// `ErrConsumerSequenceMismatch`). The consumer goes on; to read the gap again,
    /// recreate it from `stream_resume_sequence`, the stream sequence after the last
    /// message received (nats.go reports the last received one itself).
    SequenceMismatch {
        /// The consumer sequence of the last message received.
        consumer_sequence: u64,
        /// The server's last delivered consumer sequence.
        last_consumer_sequence: u64,
        /// The first stream sequence not received.
        stream_resume_sequence: u64,
    },
    /// The consumer (or its stream) is gone (terminal).
    ConsumerDeleted,
    /// An unexpected status message on the deliver subject; dropped.
    Status {
        /// The status code.
        code: u16,
        /// The status description.
        description: String,
    },
    /// The client closed, so the subscription ended (terminal).
    Closed,
}

impl PushError {
    /// True for errors after which nothing more arrives: the consumer was deleted or the
    /// client closed. [`PushMessages`] ends after reporting one.
    pub fn is_terminal(&self) -> bool {
        matches!(self, PushError::ConsumerDeleted | PushError::Closed)
    }
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::NoHeartbeat => f.write_str("idle heartbeats stopped"),
            PushError::SequenceMismatch {
                consumer_sequence,
                last_consumer_sequence,
                stream_resume_sequence,
            } => write!(
                f,
                "messages lost: received up to consumer sequence {consumer_sequence}, \
                 the server delivered up to {last_consumer_sequence}; resume from stream \
                 sequence {stream_resume_sequence}"
            ),
            PushError::ConsumerDeleted => f.write_str("the consumer was deleted"),
            PushError::Status { code, description } => {
                write!(f, "unexpected status {code} {description}")
            }
            PushError::Closed => f.write_str("the client is closed"),
        }
    }
}

impl std::error::Error for PushError {}

/// The deliver subject, group and machine of a push consumer, checked (blocking and
/// async).
pub(crate) fn push_setup(
    info: &ConsumerInfo,
    now: Instant,
) -> Result<(String, Option<String>, PushMachine), Error> {
    let config = &info.config;
    let subject = config
        .deliver_subject
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or(Error::InvalidArgument(
            "not a push consumer (no deliver_subject)",
        ))?;
    let group = config.deliver_group.clone().filter(|g| !g.is_empty());
    // In a deliver group each heartbeat reaches one member only: neither silence nor
    // `Nats-Last-Consumer` says anything about one member's share. (nats.go refuses a
    // queue subscription to a consumer with heartbeats or flow control; natsy subscribes,
    // answers the flow control requests and stalled notices a member is given, and does
    // not check heartbeats.)
    let settings = PushSettings {
        idle_heartbeat: config.idle_heartbeat.filter(|_| group.is_none()),
        check_sequences: group.is_none(),
    };
    Ok((subject, group, PushMachine::new(settings, now)))
}

/// Everything of a push subscription but its waits: the machine, whom to look up, the
/// terminal error (blocking and async).
#[derive(Debug)]
pub(crate) struct PushState {
    pub(crate) stream: String,
    pub(crate) consumer: String,
    pub(crate) machine: PushMachine,
    pub(crate) terminal: Option<Error>,
}

impl PushState {
    pub(crate) fn new(stream: &str, consumer: &str, machine: PushMachine) -> Self {
        PushState {
            stream: stream.to_string(),
            consumer: consumer.to_string(),
            machine,
            terminal: None,
        }
    }

    /// Publishes the machine's replies with `publish(subject)`, which must not wait.
    pub(crate) fn send_replies(
        &mut self,
        mut publish: impl FnMut(&str) -> Result<(), natsy::PublishError>,
    ) {
        while let Some(reply) = self.machine.poll_reply() {
            if let Err(natsy::PublishError::Closed) = publish(&reply) {
                self.machine.handle_closed();
            }
            // Any other failure (a full reconnect buffer): the server asks again in its
            // next heartbeat's `Nats-Consumer-Stalled`.
        }
    }

    /// The machine's next error; a terminal one is kept and returned by later calls.
    pub(crate) fn poll_error(&mut self) -> Option<Error> {
        let e = self.machine.poll_error()?;
        let terminal = e.is_terminal();
        let e = Error::Push(e);
        if terminal {
            self.terminal = Some(e.clone());
        }
        Some(e)
    }

    /// The answer to the lookup after missed heartbeats: a consumer or stream that is
    /// gone ends the subscription; anything else (a timeout, a leader election) not.
    pub(crate) fn consumer_checked(&mut self, info: Result<ConsumerInfo, Error>) {
        if let Err(e) = info {
            if matches!(
                e.api_kind(),
                Some(ApiErrorKind::ConsumerNotFound) | Some(ApiErrorKind::StreamNotFound)
            ) {
                self.machine.handle_consumer_deleted();
            }
        }
    }

    /// The subscription ended.
    pub(crate) fn closed(&mut self, why: natsy::SubscriptionEnded) -> Error {
        self.machine.handle_closed();
        let e = match why {
            natsy::SubscriptionEnded::PermissionDenied(e) => Error::PermissionDenied(e),
            _ => Error::Push(PushError::Closed),
        };
        // Drop what the machine queued: this error is the one to report.
        while self.machine.poll_error().is_some() {}
        self.terminal = Some(e.clone());
        e
    }
}

impl Consumer {
    /// Subscribes to this push consumer's deliver subject (as a member of its deliver
    /// group, if it has one) and yields its messages (nats.go `js.SubscribeSync` bound
    /// to the consumer; async-nats `consumer.messages()` of a push consumer).
    ///
    /// Flow control requests are answered and heartbeats checked as the messages are
    /// taken; status messages are never handed out. In a deliver group heartbeats are
    /// not checked, since each reaches one member only (nats.go refuses such a
    /// subscription instead). Missed heartbeats and sequence gaps
    /// are yielded as [`Error::Push`] and the subscription goes on; it ends with
    /// [`PushError::ConsumerDeleted`] once a lookup after missed heartbeats finds the
    /// consumer gone. Fails with [`Error::InvalidArgument`] for a pull consumer.
    ///
    /// A push consumer delivers while someone listens on its subject: a durable one
    /// keeps its place between subscriptions, an ephemeral one is deleted by the server
    /// after its `inactive_threshold` without subscribers.
    ///
    /// ```no_run
    /// use natsy_jetstream::ConsumerConfig;
    /// # let js = natsy_jetstream::new(natsy::connect("nats://127.0.0.1:4222")?);
    /// let consumer = js.create_consumer("orders", ConsumerConfig {
    ///     durable_name: Some("mailer".into()),
    ///     deliver_subject: Some("deliver.mailer".into()),
    ///     idle_heartbeat: Some(std::time::Duration::from_secs(5)),
    ///     flow_control: true,
    ///     ..Default::default()
    /// })?;
    /// // Ends after a terminal error (consumer deleted, client closed).
    /// for msg in consumer.push_messages()? {
    ///     match msg {
    ///         Ok(msg) => msg.ack()?,
    ///         Err(e) => eprintln!("push consumer: {e}"), // missed heartbeats, gaps, ...
    ///     }
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn push_messages(&self) -> Result<PushMessages, Error> {
        let (subject, group, machine) = push_setup(&self.info, Instant::now())?;
        let client = self.context.client();
        let sub = match &group {
            Some(g) => client.queue_subscribe(&subject, g),
            None => client.subscribe(&subject),
        }
        .map_err(crate::pull::subscribe_error)?;
        Ok(PushMessages {
            context: self.context.clone(),
            sub,
            state: PushState::new(&self.stream, &self.name, machine),
            ended: false,
        })
    }
}

/// A push consumer's messages ([`Consumer::push_messages`]): a blocking iterator of
/// `Result<JsMessage, Error>`, plus [`PushMessages::next_timeout`].
///
/// Non-terminal errors ([`PushError::NoHeartbeat`], [`PushError::SequenceMismatch`],
/// unexpected statuses) are yielded and delivery goes on; a terminal one is yielded
/// once and ends the iterator. Dropping it unsubscribes.
#[derive(Debug)]
pub struct PushMessages {
    context: Context,
    sub: natsy::Subscription,
    state: PushState,
    ended: bool,
}

impl PushMessages {
    /// Times twice the heartbeat interval passed without a message or heartbeat.
    pub fn missed_heartbeats(&self) -> u64 {
        self.state.machine.missed_heartbeats()
    }

    /// Flow control requests answered so far.
    pub fn flow_control_replies(&self) -> u64 {
        self.state.machine.flow_control_replies()
    }

    /// Waits up to `timeout` for the next message: `Ok(None)` if none came. Reported
    /// conditions come as `Err` (see the type docs); after a terminal one every call
    /// returns it again.
    ///
    /// After missed heartbeats the consumer is looked up (one API request), so such a
    /// call may take up to the context's API timeout longer than `timeout`.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<JsMessage>, Error> {
        self.poll(Some(crate::deadline::after(Instant::now(), timeout)))
    }

    fn poll(&mut self, deadline: Option<Instant>) -> Result<Option<JsMessage>, Error> {
        let client = self.context.client();
        loop {
            self.state
                .send_replies(|subject| client.publish(subject, bytes::Bytes::new()));
            if self.state.machine.poll_check_consumer()
                && client.connection_state() == natsy::State::Connected
            {
                let info = self
                    .context
                    .consumer_info(&self.state.stream, &self.state.consumer);
                self.state.consumer_checked(info);
            }
            if let Some(e) = self.state.poll_error() {
                return Err(e);
            }
            if let Some(e) = &self.state.terminal {
                return Err(e.clone());
            }
            let msg = match self.sub.try_next() {
                Ok(Some(msg)) => msg,
                Ok(None) => {
                    let now = Instant::now();
                    let mut wake = self.state.machine.poll_timeout();
                    // Due before the caller's deadline is looked at, so a caller polling
                    // with zero timeouts is still told of missed heartbeats.
                    if wake.is_some_and(|w| w <= now) {
                        self.state.machine.handle_timeout(now);
                        continue;
                    }
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
                            self.state.machine.handle_timeout(Instant::now());
                            continue;
                        }
                        Err(natsy::NextError::Ended(why)) => return Err(self.state.closed(why)),
                        Err(_) => {
                            return Err(self
                                .state
                                .closed(natsy::SubscriptionEnded::ConnectionClosed))
                        }
                    }
                }
                Err(why) => return Err(self.state.closed(why)),
            };
            if self.state.machine.handle_message(Instant::now(), &msg) == PushDelivery::Message {
                return Ok(Some(JsMessage::new(msg, self.context.clone())));
            }
        }
    }
}

impl Iterator for PushMessages {
    type Item = Result<JsMessage, Error>;

    /// Blocks until the next message or reported condition; a terminal error once, then
    /// `None`.
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

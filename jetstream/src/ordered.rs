//! [`OrderedConsumer`]: the blocking driver of [`OrderedMachine`] — every message of a
//! stream (or of some subjects) exactly once and in order, with no consumer to manage.
//!
//! The driver creates the consumers the machine asks for (a blocking API request),
//! publishes its pulls, waits on one inbox and tells the machine about timeouts and
//! reconnects; all policy is in the machine.

use std::time::{Duration, Instant};

use crate::context::Context;
use crate::error::Error;
use crate::ordered_machine::{Delivery, OrderedConfig, OrderedError, OrderedMachine, Sequences};
use crate::JsMessage;

/// An ordered consumer (ADR-17): reads a stream in order, each message once, recreating
/// its ephemeral pull consumer from the last stream sequence + 1 after a gap, lost
/// heartbeats or a reconnect. Nothing is acknowledged (`ack_policy: none`).
///
/// Made by [`Context::ordered_consumer`]; read with [`OrderedConsumer::next_timeout`] or
/// the blocking iterator [`OrderedConsumer::messages`]. Dropping it unsubscribes its
/// inbox; the server deletes its consumer after the inactive threshold.
#[derive(Debug)]
pub struct OrderedConsumer {
    context: Context,
    sub: natsy::Subscription,
    core: OrderedCore,
}

/// What the blocking and the async ordered consumer share: the machine, the inbox, the
/// pull subject of the current consumer and the reconnect counter, with the steps both
/// drivers take around their waits. Only the waits differ (a blocked thread, a polled
/// future).
#[derive(Debug)]
pub(crate) struct OrderedCore {
    pub(crate) stream: String,
    pub(crate) inbox: String,
    pub(crate) machine: OrderedMachine,
    /// `<api prefix>.CONSUMER.MSG.NEXT.<stream>.<consumer>` of the current consumer.
    pull_subject: String,
    /// `num_pending` of the first consumer when it was created.
    pub(crate) initial_pending: u64,
    reconnects: u64,
    created_any: bool,
    pub(crate) terminal: Option<Error>,
}

impl OrderedCore {
    /// Checks `stream` and `config`; `inbox` is a new inbox of `client`, whose last token
    /// names the consumers.
    pub(crate) fn new(
        client: &natsy::Client,
        stream: &str,
        config: OrderedConfig,
        inbox: String,
    ) -> Result<Self, Error> {
        crate::consumer::check_name(stream, "stream name")?;
        config.validate()?;
        let prefix = inbox.rsplit('.').next().unwrap_or("ordered").to_string();
        Ok(OrderedCore {
            stream: stream.to_string(),
            inbox,
            machine: OrderedMachine::new(config, &prefix),
            pull_subject: String::new(),
            initial_pending: 0,
            reconnects: client.statistics().reconnects,
            created_any: false,
            terminal: None,
        })
    }

    /// The answer to the create polled last: `Ok(num_pending)` of the new consumer.
    pub(crate) fn created(&mut self, api_prefix: &str, now: Instant, answer: Result<u64, Error>) {
        match answer {
            Ok(pending) => {
                if !self.created_any {
                    self.created_any = true;
                    self.initial_pending = pending;
                }
                self.machine.handle_created(now);
                self.pull_subject.clear();
                self.pull_subject.push_str(api_prefix);
                self.pull_subject.push_str(".CONSUMER.MSG.NEXT.");
                self.pull_subject.push_str(&self.stream);
                self.pull_subject.push('.');
                self.pull_subject.push_str(self.machine.consumer_name());
            }
            Err(e) => self.machine.handle_create_failed(now, &e),
        }
    }

    /// The `CONSUMER.DELETE` subject of a consumer given up on, if any: published with
    /// the inbox as reply and not waited for (the answer lands on the inbox and is
    /// skipped).
    pub(crate) fn poll_delete(&mut self, api_prefix: &str) -> Option<String> {
        let old = self.machine.poll_delete()?;
        Some(format!(
            "{api_prefix}.CONSUMER.DELETE.{}.{old}",
            self.stream
        ))
    }

    /// Publishes every pull the machine wants now with `publish(subject, reply, body)`,
    /// which must not wait for anything.
    pub(crate) fn send_pulls(
        &mut self,
        now: Instant,
        mut publish: impl FnMut(&str, &str, bytes::Bytes) -> Result<(), natsy::PublishError>,
    ) {
        while let Some(pull) = self.machine.poll_pull(now) {
            let sent = pull
                .body()
                .map(|body| publish(&self.pull_subject, &self.inbox, body));
            match sent {
                Ok(Ok(())) => {}
                Ok(Err(natsy::PublishError::Closed)) => self.machine.handle_closed(),
                _ => self.machine.handle_pull_failed(now),
            }
        }
    }

    /// The machine's terminal error, kept for every later call.
    pub(crate) fn poll_error(&mut self) -> Option<Error> {
        let e = Error::Ordered(self.machine.poll_error()?);
        Some(self.end(e))
    }

    /// Ends the consumer with `e`: returned now and by every later call.
    pub(crate) fn end(&mut self, e: Error) -> Error {
        self.terminal = Some(e.clone());
        e
    }

    /// The inbox subscription ended: refused by permissions, or the client closed.
    pub(crate) fn inbox_ended(&mut self, why: natsy::SubscriptionEnded) -> Error {
        match why {
            natsy::SubscriptionEnded::PermissionDenied(e) => self.end(Error::PermissionDenied(e)),
            _ => self.end(Error::Ordered(OrderedError::Closed)),
        }
    }

    /// Tells the machine about a reconnect (or a disconnection seen after a timeout);
    /// true after a reconnect.
    pub(crate) fn watch_connection(
        &mut self,
        client: &natsy::Client,
        now: Instant,
        timed_out: bool,
    ) -> bool {
        let state = timed_out.then(|| client.connection_state());
        let reconnects = client.statistics().reconnects;
        if state == Some(natsy::State::Reconnecting) {
            self.machine.handle_disconnected(now);
        }
        if reconnects == self.reconnects {
            return false;
        }
        self.reconnects = reconnects;
        self.machine.handle_reconnected(now);
        true
    }
}

impl Context {
    /// An ordered consumer on `stream`. Creates its first consumer before returning, so a
    /// missing stream fails here with [`ApiErrorKind::StreamNotFound`](crate::ApiErrorKind::StreamNotFound).
    ///
    /// ```no_run
    /// let js = natsy_jetstream::new(natsy::connect("nats://127.0.0.1:4222")?);
    /// let mut orders = js.ordered_consumer("orders", Default::default())?;
    /// for msg in orders.messages() {
    ///     let msg = msg?;
    ///     println!("{} {:?}", msg.subject(), msg.payload());
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ordered_consumer(
        &self,
        stream: &str,
        config: OrderedConfig,
    ) -> Result<OrderedConsumer, Error> {
        let client = self.client();
        let inbox = client.new_inbox();
        let core = OrderedCore::new(client, stream, config, inbox)?;
        let sub = client
            .subscribe(&core.inbox)
            .map_err(|e| Error::Request(natsy::RequestError::Subscribe(e)))?;
        let mut consumer = OrderedConsumer {
            context: self.clone(),
            sub,
            core,
        };
        let now = Instant::now();
        if let Some(cfg) = consumer.core.machine.poll_create(now) {
            let info = self.create_consumer(stream, cfg)?;
            let pending = info.cached_info().num_pending;
            consumer.core.created(self.api_prefix(), now, Ok(pending));
        }
        Ok(consumer)
    }
}

impl OrderedConsumer {
    /// The stream it reads.
    pub fn stream_name(&self) -> &str {
        &self.core.stream
    }

    /// The current consumer's name (it changes at every reset).
    pub fn consumer_name(&self) -> &str {
        self.core.machine.consumer_name()
    }

    /// The stream sequence of the last message handed out (0: none yet).
    pub fn stream_sequence(&self) -> u64 {
        self.core.machine.stream_sequence()
    }

    /// Times the consumer was recreated (after a gap, lost heartbeats, a reconnect).
    pub fn resets(&self) -> u64 {
        self.core.machine.resets()
    }

    /// Messages the first consumer had pending when it was created.
    pub(crate) fn initial_pending(&self) -> u64 {
        self.core.initial_pending
    }

    /// Waits up to `timeout` for the next message: `Ok(None)` if none came. After the
    /// consumer ended ([`Error::Ordered`]), every call returns that error again.
    ///
    /// Recreating the consumer is one API request made inside this call, so a call that
    /// resets may take up to the context's API timeout longer than `timeout`.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<JsMessage>, Error> {
        let deadline = crate::deadline::after(Instant::now(), timeout);
        Ok(self
            .next_raw(Some(deadline))?
            .map(|(m, _)| JsMessage::new(m, self.context.clone())))
    }

    /// A blocking iterator over the messages; it yields the error that ends the consumer
    /// once, then `None`.
    pub fn messages(&mut self) -> OrderedMessages<'_> {
        OrderedMessages {
            consumer: self,
            ended: false,
        }
    }

    /// Does what the machine asks: delete, create, pull. Returns its terminal error.
    fn drive(&mut self, now: Instant) -> Option<Error> {
        let client = self.context.client();
        if let Some(subject) = self.core.poll_delete(self.context.api_prefix()) {
            let _ = client.publish_with_reply(&subject, &self.core.inbox, bytes::Bytes::new());
        }
        if let Some(cfg) = self.core.machine.poll_create(now) {
            let answer = self
                .context
                .create_consumer(&self.core.stream, cfg)
                .map(|c| c.cached_info().num_pending);
            self.core
                .created(self.context.api_prefix(), Instant::now(), answer);
        }
        self.core.send_pulls(now, |subject, inbox, body| {
            client.publish_with_reply(subject, inbox, body)
        });
        self.core.poll_error()
    }

    /// The next message in order with its sequences, or `None` at `deadline`.
    pub(crate) fn next_raw(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Option<(natsy::Message, Sequences)>, Error> {
        if let Some(e) = &self.core.terminal {
            return Err(e.clone());
        }
        loop {
            let now = Instant::now();
            if let Some(e) = self.drive(now) {
                return Err(e);
            }
            let msg = match self.sub.try_next() {
                Ok(Some(msg)) => msg,
                Ok(None) => {
                    if self
                        .core
                        .watch_connection(self.context.client(), now, false)
                    {
                        continue;
                    }
                    let mut wake = self.core.machine.poll_timeout();
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
                            self.core.watch_connection(self.context.client(), now, true);
                            self.core.machine.handle_timeout(now);
                            continue;
                        }
                        Err(_) => {
                            self.core.machine.handle_closed();
                            continue;
                        }
                    }
                }
                Err(why) => return Err(self.core.inbox_ended(why)),
            };
            if let Delivery::Message(seq) = self.core.machine.handle_message(Instant::now(), &msg) {
                return Ok(Some((msg, seq)));
            }
        }
    }
}

/// The blocking iterator of [`OrderedConsumer::messages`].
#[derive(Debug)]
pub struct OrderedMessages<'a> {
    consumer: &'a mut OrderedConsumer,
    ended: bool,
}

impl Iterator for OrderedMessages<'_> {
    type Item = Result<JsMessage, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        match self.consumer.next_raw(None) {
            Ok(Some((m, _))) => Some(Ok(JsMessage::new(m, self.consumer.context.clone()))),
            Ok(None) => None,
            Err(e) => {
                self.ended = true;
                Some(Err(e))
            }
        }
    }
}

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
    stream: String,
    inbox: String,
    sub: natsy::Subscription,
    machine: OrderedMachine,
    /// `CONSUMER.MSG.NEXT.<stream>.<consumer>` of the current consumer.
    pull_subject: String,
    /// `num_pending` of the first consumer when it was created.
    initial_pending: u64,
    reconnects: u64,
    terminal: Option<Error>,
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
        crate::consumer::check_name(stream, "stream name")?;
        config.validate()?;
        let client = self.client();
        let inbox = client.new_inbox();
        let prefix = inbox.rsplit('.').next().unwrap_or("ordered").to_string();
        let sub = client
            .subscribe(&inbox)
            .map_err(|e| Error::Request(natsy::RequestError::Subscribe(e)))?;
        let mut consumer = OrderedConsumer {
            context: self.clone(),
            stream: stream.to_string(),
            inbox,
            sub,
            machine: OrderedMachine::new(config, &prefix),
            pull_subject: String::new(),
            initial_pending: 0,
            reconnects: client.statistics().reconnects,
            terminal: None,
        };
        let now = Instant::now();
        if let Some(cfg) = consumer.machine.poll_create(now) {
            let info = self.create_consumer(stream, cfg)?;
            consumer.initial_pending = info.cached_info().num_pending;
            consumer.activated(now);
        }
        Ok(consumer)
    }
}

impl OrderedConsumer {
    /// The stream it reads.
    pub fn stream_name(&self) -> &str {
        &self.stream
    }

    /// The current consumer's name (it changes at every reset).
    pub fn consumer_name(&self) -> &str {
        self.machine.consumer_name()
    }

    /// The stream sequence of the last message handed out (0: none yet).
    pub fn stream_sequence(&self) -> u64 {
        self.machine.stream_sequence()
    }

    /// Times the consumer was recreated (after a gap, lost heartbeats, a reconnect).
    pub fn resets(&self) -> u64 {
        self.machine.resets()
    }

    /// Messages the first consumer had pending when it was created.
    pub(crate) fn initial_pending(&self) -> u64 {
        self.initial_pending
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

    fn activated(&mut self, now: Instant) {
        self.machine.handle_created(now);
        self.pull_subject.clear();
        self.pull_subject.push_str(self.context.api_prefix());
        self.pull_subject.push_str(".CONSUMER.MSG.NEXT.");
        self.pull_subject.push_str(&self.stream);
        self.pull_subject.push('.');
        self.pull_subject.push_str(self.machine.consumer_name());
    }

    fn end(&mut self, e: Error) -> Error {
        self.terminal = Some(e.clone());
        e
    }

    /// Does what the machine asks: delete, create, pull. Returns its terminal error.
    fn drive(&mut self, now: Instant) -> Option<Error> {
        if let Some(old) = self.machine.poll_delete() {
            // Best effort, not waited for: the answer lands on the inbox and is skipped.
            let subject = self
                .context
                .api_subject(&format!("CONSUMER.DELETE.{}.{old}", self.stream));
            let _ = self.context.client().publish_with_reply(
                &subject,
                &self.inbox,
                bytes::Bytes::new(),
            );
        }
        if let Some(cfg) = self.machine.poll_create(now) {
            match self.context.create_consumer(&self.stream, cfg) {
                Ok(_) => self.activated(Instant::now()),
                Err(e) => self.machine.handle_create_failed(Instant::now(), &e),
            }
        }
        while let Some(pull) = self.machine.poll_pull(now) {
            let sent = pull.body().map(|body| {
                self.context
                    .client()
                    .publish_with_reply(&self.pull_subject, &self.inbox, body)
            });
            match sent {
                Ok(Ok(())) => {}
                Ok(Err(natsy::PublishError::Closed)) => self.machine.handle_closed(),
                _ => self.machine.handle_pull_failed(now),
            }
        }
        self.machine.poll_error().map(Error::Ordered)
    }

    /// Tells the machine about a reconnect (or a disconnection seen after a timeout).
    fn watch_connection(&mut self, now: Instant, timed_out: bool) -> bool {
        let client = self.context.client();
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

    /// The next message in order with its sequences, or `None` at `deadline`.
    pub(crate) fn next_raw(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Option<(natsy::Message, Sequences)>, Error> {
        if let Some(e) = &self.terminal {
            return Err(e.clone());
        }
        loop {
            let now = Instant::now();
            if let Some(e) = self.drive(now) {
                return Err(self.end(e));
            }
            let msg = match self.sub.try_next() {
                Ok(Some(msg)) => msg,
                Ok(None) => {
                    if self.watch_connection(now, false) {
                        continue;
                    }
                    let mut wake = self.machine.poll_timeout();
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
                            self.watch_connection(now, true);
                            self.machine.handle_timeout(now);
                            continue;
                        }
                        Err(_) => {
                            self.machine.handle_closed();
                            continue;
                        }
                    }
                }
                Err(natsy::SubscriptionEnded::PermissionDenied(e)) => {
                    return Err(self.end(Error::PermissionDenied(e)));
                }
                Err(_) => {
                    return Err(self.end(Error::Ordered(OrderedError::Closed)));
                }
            };
            if let Delivery::Message(seq) = self.machine.handle_message(Instant::now(), &msg) {
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

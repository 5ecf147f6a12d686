//! The async driver of the ordered consumer's sans-IO machine, for the object store's
//! chunk reads and watches: creates the consumers the machine asks for, queues its
//! pulls, waits on one inbox and the loop thread's timer, and tells the machine about
//! timeouts and reconnects (the blocking driver is [`crate::OrderedConsumer`]).
//!
//! Each wait takes the driver by value and hands it back with the outcome, so a reader
//! or stream can keep the wait as a boxed `'static` future between polls, and dropping
//! that future (at any point) drops the driver with it: nothing is left half-created.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;

use futures_core::Stream as _;
use natsy::aio::Subscriber;

use super::pull::Timer;
use super::Context;
use crate::error::Error;
use crate::ordered_machine::{Delivery, OrderedConfig, OrderedError, OrderedMachine, Sequences};

/// An ordered consumer driven from async code; see the [module docs](self).
pub(crate) struct AsyncOrdered {
    context: Context,
    stream: String,
    inbox: String,
    sub: Subscriber,
    machine: OrderedMachine,
    pull_subject: String,
    initial_pending: u64,
    reconnects: u64,
    timer: Timer,
    terminal: Option<Error>,
}

impl std::fmt::Debug for AsyncOrdered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncOrdered")
            .field("stream", &self.stream)
            .field("consumer", &self.machine.consumer_name())
            .finish()
    }
}

/// What one wait ended with.
enum Waited {
    Message(natsy::Message),
    TimedOut,
    Closed(natsy::SubscriptionEnded),
}

impl AsyncOrdered {
    /// Subscribes its inbox and creates the first consumer, so a missing stream fails
    /// here.
    pub(crate) async fn start(
        context: &Context,
        stream: &str,
        config: OrderedConfig,
    ) -> Result<Self, Error> {
        crate::consumer::check_name(stream, "stream name")?;
        config.validate()?;
        let client = context.client();
        let inbox = client.new_inbox();
        let prefix = inbox.rsplit('.').next().unwrap_or("ordered").to_string();
        let sub = client
            .subscribe(&inbox)
            .await
            .map_err(|e| Error::Request(natsy::RequestError::Subscribe(e)))?;
        let mut this = AsyncOrdered {
            context: context.clone(),
            stream: stream.to_string(),
            inbox,
            sub,
            machine: OrderedMachine::new(config, &prefix),
            pull_subject: String::new(),
            initial_pending: 0,
            reconnects: client.statistics().reconnects,
            timer: Timer::default(),
            terminal: None,
        };
        if let Some(cfg) = this.machine.poll_create(Instant::now()) {
            let consumer = context.create_consumer(stream, cfg).await?;
            this.initial_pending = consumer.cached_info().num_pending;
            this.activated();
        }
        Ok(this)
    }

    /// Messages the first consumer had pending when it was created.
    pub(crate) fn initial_pending(&self) -> u64 {
        self.initial_pending
    }

    fn activated(&mut self) {
        self.machine.handle_created(Instant::now());
        self.pull_subject = format!(
            "{}.CONSUMER.MSG.NEXT.{}.{}",
            self.context.api_prefix(),
            self.stream,
            self.machine.consumer_name()
        );
    }

    /// Does what the machine asks (delete, create, pull); returns its terminal error.
    async fn drive(&mut self) -> Option<Error> {
        let client = self.context.client().clone();
        if let Some(old) = self.machine.poll_delete() {
            // Best effort: the answer lands on the inbox and is skipped.
            let subject = self
                .context
                .api_subject(&format!("CONSUMER.DELETE.{}.{old}", self.stream));
            let _ = client.publish_with_reply_now(&subject, &self.inbox, bytes::Bytes::new());
        }
        if let Some(cfg) = self.machine.poll_create(Instant::now()) {
            match self.context.create_consumer(&self.stream, cfg).await {
                Ok(_) => self.activated(),
                Err(e) => self.machine.handle_create_failed(Instant::now(), &e),
            }
        }
        let now = Instant::now();
        while let Some(pull) = self.machine.poll_pull(now) {
            // Queued at once: a pull is small.
            let sent = pull
                .body()
                .map(|body| client.publish_with_reply_now(&self.pull_subject, &self.inbox, body));
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

    /// The next message in order with its sequences, or `None` at `deadline`; the
    /// driver comes back with it.
    #[allow(clippy::type_complexity)]
    pub(crate) async fn next(
        mut self,
        deadline: Option<Instant>,
    ) -> (Self, Result<Option<(natsy::Message, Sequences)>, Error>) {
        let outcome = self.next_inner(deadline).await;
        if let Err(e) = &outcome {
            self.terminal = Some(e.clone());
        }
        (self, outcome)
    }

    async fn next_inner(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Option<(natsy::Message, Sequences)>, Error> {
        if let Some(e) = &self.terminal {
            return Err(e.clone());
        }
        loop {
            if let Some(e) = self.drive().await {
                return Err(e);
            }
            let waited = poll_fn(|cx| {
                if let Poll::Ready(m) = Pin::new(&mut self.sub).poll_next(cx) {
                    return Poll::Ready(match m {
                        Some(m) => Waited::Message(m),
                        None => Waited::Closed(
                            self.sub
                                .end_reason()
                                .cloned()
                                .unwrap_or(natsy::SubscriptionEnded::ConnectionClosed),
                        ),
                    });
                }
                let now = Instant::now();
                if self.watch_connection(now, false) {
                    // Reset: go round to create the new consumer.
                    return Poll::Ready(Waited::TimedOut);
                }
                let wake = match (self.machine.poll_timeout(), deadline) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let client = self.context.client().clone();
                self.timer
                    .poll(cx, &client, wake)
                    .map(|()| Waited::TimedOut)
            })
            .await;
            let msg = match waited {
                Waited::Message(m) => m,
                Waited::TimedOut => {
                    let now = Instant::now();
                    if deadline.is_some_and(|d| now >= d) {
                        return Ok(None);
                    }
                    self.watch_connection(now, true);
                    self.machine.handle_timeout(now);
                    continue;
                }
                Waited::Closed(natsy::SubscriptionEnded::PermissionDenied(e)) => {
                    return Err(Error::PermissionDenied(e));
                }
                Waited::Closed(_) => return Err(Error::Ordered(OrderedError::Closed)),
            };
            if let Delivery::Message(seq) = self.machine.handle_message(Instant::now(), &msg) {
                return Ok(Some((msg, seq)));
            }
        }
    }
}

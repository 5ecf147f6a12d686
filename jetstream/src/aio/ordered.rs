//! [`OrderedConsumer`] for async code: the blocking ordered consumer's machine
//! (`OrderedMachine`) and its shared driver steps (`ordered::OrderedCore`: pull subject,
//! pulls, deletes, reconnects), with the waits as polls: the inbox is a
//! [`Subscriber`], the machine's timeout a loop-thread [`Sleep`](natsy::aio::Sleep), and
//! a consumer (re)create an awaited API request kept in the consumer while it runs.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream;
use natsy::aio::Subscriber;

use super::pull::{end_reason, Timer};
use super::{Context, JsMessage};
use crate::error::Error;
use crate::ordered::OrderedCore;
use crate::ordered_machine::{Delivery, OrderedConfig, Sequences};

/// A consumer create in flight: `Ok(num_pending)` of the new consumer.
type Creating = Pin<Box<dyn Future<Output = Result<u64, Error>> + Send>>;

/// An ordered consumer (ADR-17) for async code: every message of a stream (or of some
/// subjects) once and in stream order, recreating its ephemeral pull consumer from the
/// last stream sequence + 1 after a gap, lost heartbeats, a reconnect or a deleted
/// consumer (`async_nats` `stream.create_consumer(pull::OrderedConfig { .. })` and its
/// `messages()`).
///
/// A [`Stream`] of `Result<JsMessage, Error>`: the error that ends it
/// ([`Error::Ordered`], [`Error::PermissionDenied`]) is yielded once, then `None`. Or
/// [`OrderedConsumer::next_timeout`]. The policy is the blocking
/// [`crate::OrderedConsumer`]'s, from the same machine.
///
/// No task of its own: pulls go out, heartbeats are checked and consumers are recreated
/// while it is polled. Dropping it (or a `next_timeout` future) at any point is safe:
/// the inbox is unsubscribed with it, and the server deletes the consumer after its
/// inactive threshold.
pub struct OrderedConsumer {
    context: Context,
    sub: Subscriber,
    core: OrderedCore,
    timer: Timer,
    creating: Option<Creating>,
    ended: bool,
}

impl std::fmt::Debug for OrderedConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("aio::OrderedConsumer")
            .field("core", &self.core)
            .field("creating", &self.creating.is_some())
            .finish()
    }
}

impl Context {
    /// An ordered consumer on `stream`: see [`crate::Context::ordered_consumer`]. The
    /// first consumer is created before this returns, so a missing stream fails here
    /// with [`ApiErrorKind::StreamNotFound`](crate::ApiErrorKind::StreamNotFound).
    ///
    /// ```no_run
    /// # async fn run(js: natsy_jetstream::aio::Context) -> Result<(), Box<dyn std::error::Error>> {
    /// use futures_util::StreamExt;
    /// let mut orders = js.ordered_consumer("ORDERS", Default::default()).await?;
    /// while let Some(msg) = orders.next().await {
    ///     let msg = msg?;
    ///     println!("{} {:?}", msg.subject(), msg.payload());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn ordered_consumer(
        &self,
        stream: &str,
        config: OrderedConfig,
    ) -> Result<OrderedConsumer, Error> {
        let client = self.client();
        let core = OrderedCore::new(client.blocking(), stream, config, client.new_inbox())?;
        let sub = client
            .subscribe(&core.inbox)
            .await
            .map_err(crate::pull::subscribe_error)?;
        let mut consumer = OrderedConsumer {
            context: self.clone(),
            sub,
            core,
            timer: Timer::default(),
            creating: None,
            ended: false,
        };
        let now = Instant::now();
        if let Some(cfg) = consumer.core.machine.poll_create(now) {
            let created = self.create_consumer(stream, cfg).await?;
            let pending = created.cached_info().num_pending;
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

    /// A timer on the consumer's connection.
    pub(crate) fn sleep(&self, timeout: Duration) -> natsy::aio::Sleep {
        self.context.client().sleep(timeout)
    }

    /// Waits up to `timeout` for the next message: `Ok(None)` if none came. After the
    /// consumer ended, every call returns that error again (the blocking
    /// [`crate::OrderedConsumer::next_timeout`]).
    ///
    /// Cancellation-safe: a message is taken from the consumer only when this returns
    /// it. A consumer create under way when the timeout fires goes on at the next call.
    pub async fn next_timeout(&mut self, timeout: Duration) -> Result<Option<JsMessage>, Error> {
        let blocking = self.context.blocking().clone();
        Ok(self
            .next_raw_timeout(timeout)
            .await?
            .map(|(m, _)| JsMessage::from(crate::JsMessage::new(m, blocking))))
    }

    /// The next message with its sequences, or `None` after `timeout`.
    pub(crate) async fn next_raw_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<(natsy::Message, Sequences)>, Error> {
        let mut sleep = self.sleep(timeout);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = self.poll_raw(cx) {
                return Poll::Ready(r.map(Some));
            }
            Pin::new(&mut sleep).poll(cx).map(|()| Ok(None))
        })
        .await
    }

    /// The next message in order with its sequences; a terminal error every time once
    /// ended. Does what the machine asks (delete, create, pull) before each wait.
    pub(crate) fn poll_raw(
        &mut self,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Result<(natsy::Message, Sequences), Error>> {
        // Disjoint borrows: the context is read while the core changes.
        let OrderedConsumer {
            context,
            sub,
            core,
            timer,
            creating,
            ..
        } = self;
        let client = context.client();
        let api_prefix = context.api_prefix();
        loop {
            if let Some(e) = &core.terminal {
                return Poll::Ready(Err(e.clone()));
            }
            if let Some(create) = creating {
                let answer = std::task::ready!(create.as_mut().poll(cx));
                *creating = None;
                core.created(api_prefix, Instant::now(), answer);
            }
            let now = Instant::now();
            if let Some(subject) = core.poll_delete(api_prefix) {
                // Best effort, not waited for: the answer lands on the inbox and is skipped.
                let _ = client.publish_with_reply_now(&subject, &core.inbox, bytes::Bytes::new());
            }
            if let Some(cfg) = core.machine.poll_create(now) {
                let context = context.clone();
                let stream = core.stream.clone();
                *creating = Some(Box::pin(async move {
                    context
                        .create_consumer(&stream, cfg)
                        .await
                        .map(|c| c.cached_info().num_pending)
                }));
                continue;
            }
            core.send_pulls(now, |subject, inbox, body| {
                client.publish_with_reply_now(subject, inbox, body)
            });
            if let Some(e) = core.poll_error() {
                return Poll::Ready(Err(e));
            }
            let msg = match Pin::new(&mut *sub).poll_next(cx) {
                Poll::Ready(Some(msg)) => msg,
                Poll::Ready(None) => {
                    return Poll::Ready(Err(core.inbox_ended(end_reason(sub))));
                }
                Poll::Pending => {
                    // Nothing queued: about to sleep, the moment to look at the
                    // connection (start afresh first if it came back).
                    if core.watch_connection(client.blocking(), now, false) {
                        continue;
                    }
                    let deadline = core.machine.poll_timeout();
                    std::task::ready!(timer.poll(cx, client, deadline));
                    let now = Instant::now();
                    core.watch_connection(client.blocking(), now, true);
                    core.machine.handle_timeout(now);
                    continue;
                }
            };
            if let Delivery::Message(seq) = core.machine.handle_message(Instant::now(), &msg) {
                return Poll::Ready(Ok((msg, seq)));
            }
        }
    }
}

impl Stream for OrderedConsumer {
    type Item = Result<JsMessage, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        match std::task::ready!(this.poll_raw(cx)) {
            Ok((msg, _)) => {
                let msg = crate::JsMessage::new(msg, this.context.blocking().clone());
                Poll::Ready(Some(Ok(JsMessage::from(msg))))
            }
            Err(e) => {
                this.ended = true;
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}

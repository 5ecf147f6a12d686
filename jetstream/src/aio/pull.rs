//! Pulling from async code: [`Consumer::fetch`] as a future and [`Consumer::messages`]
//! as a [`futures_core::Stream`]. Both drive the blocking API's sans-IO `PullMachine`
//! and share its option checks, outcome rules and continuous-pull state
//! (`pull::ConsumeState`: sending pulls, watching the connection, ending); the waits are
//! a [`natsy::aio::Subscriber`] poll and a [`natsy::aio::Sleep`] until the machine's
//! `poll_timeout`, served by the connection's loop thread.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use futures_core::Stream;
use natsy::aio::{Sleep, Subscriber};
use natsy::SubscriptionEnded;

use super::{Consumer, JsMessage};
use crate::consumer::ConsumerInfo;
use crate::error::Error;
use crate::pull::{
    fetch_inbox_ended, fetch_outcome, next_subject, subscribe_error, ConsumeOptions, ConsumeState,
    FetchOptions,
};
use crate::pull_machine::Delivery;

/// A machine's timeout as a [`Sleep`] on the loop thread, kept while the deadline holds.
#[derive(Debug, Default)]
pub(crate) struct Timer {
    sleep: Option<(Instant, Sleep)>,
}

impl Timer {
    /// Ready once `deadline` has passed; `None` never fires (and drops the sleep).
    pub(crate) fn poll(
        &mut self,
        cx: &mut TaskContext<'_>,
        client: &natsy::aio::Client,
        deadline: Option<Instant>,
    ) -> Poll<()> {
        let Some(deadline) = deadline else {
            self.sleep = None;
            return Poll::Pending;
        };
        let now = Instant::now();
        if now >= deadline {
            self.sleep = None;
            return Poll::Ready(());
        }
        // A sleep due no later than the deadline is kept: firing early only makes the
        // machine look at its timers early, which is harmless, and a deadline that moves
        // with every message (the heartbeat check) then costs no new timer per message.
        let sleep = match &mut self.sleep {
            Some((at, sleep)) if *at <= deadline => sleep,
            slot => {
                let sleep = client.sleep(deadline - now);
                &mut slot.insert((deadline, sleep)).1
            }
        };
        match Pin::new(sleep).poll(cx) {
            Poll::Ready(()) => {
                self.sleep = None;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// What a wait on a pull's inbox ended with.
enum Next {
    Message(natsy::Message),
    TimedOut,
    Ended(SubscriptionEnded),
}

pub(crate) fn end_reason(sub: &Subscriber) -> SubscriptionEnded {
    sub.end_reason()
        .cloned()
        .unwrap_or(SubscriptionEnded::ConnectionClosed)
}

/// The next message of `sub`, or the timeout at `deadline`.
fn poll_next(
    cx: &mut TaskContext<'_>,
    client: &natsy::aio::Client,
    sub: &mut Subscriber,
    timer: &mut Timer,
    deadline: Option<Instant>,
) -> Poll<Next> {
    match Pin::new(&mut *sub).poll_next(cx) {
        Poll::Ready(Some(msg)) => Poll::Ready(Next::Message(msg)),
        Poll::Ready(None) => Poll::Ready(Next::Ended(end_reason(sub))),
        Poll::Pending => timer.poll(cx, client, deadline).map(|()| Next::TimedOut),
    }
}

impl Consumer {
    /// One pull, awaited: the blocking [`crate::Consumer::fetch`] with the same options,
    /// outcomes and errors.
    ///
    /// **It waits** (nats.go `Fetch` semantics): up to `expires` for the whole batch.
    /// async-nats's `consumer.fetch().max_messages(n)` is a *no-wait* pull that returns
    /// at once with what is there: that is [`Consumer::fetch_no_wait`] here. For
    /// async-nats's waiting `consumer.batch()`, use this.
    ///
    /// Cancellation-safe: dropped at any point, it unsubscribes its inbox and leaves no
    /// timer behind; a pull already sent expires on the server.
    ///
    /// ```no_run
    /// # async fn run(consumer: natsy_jetstream::aio::Consumer) -> Result<(), Box<dyn std::error::Error>> {
    /// use natsy_jetstream::FetchOptions;
    /// for msg in consumer.fetch(FetchOptions { batch: 10, ..Default::default() }).await? {
    ///     msg.ack().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn fetch(&self, opts: FetchOptions) -> Result<Vec<JsMessage>, Error> {
        let mut machine = opts
            .machine(self.context.timeout())?
            .with_pin_id(self.pin.get());
        let client = self.context.client();
        let inbox = client.new_inbox();
        let mut sub = client.subscribe(&inbox).await.map_err(subscribe_error)?;
        let blocking = self.context.blocking();
        let subject = next_subject(blocking, &self.stream, &self.name);
        // A refused pull (or inbox) ends `sub` at once: no message would ever come.
        sub.end_on_refused_publish(&subject);
        if let Some(pull) = machine.poll_pull(Instant::now()) {
            client
                .publish_with_reply(&subject, &inbox, pull.body()?)
                .await
                .map_err(Error::Publish)?;
        }
        let mut messages = Vec::with_capacity(opts.capacity());
        let mut timer = Timer::default();
        while !machine.is_finished() {
            let deadline = machine.poll_timeout();
            let next =
                std::future::poll_fn(|cx| poll_next(cx, client, &mut sub, &mut timer, deadline))
                    .await;
            match next {
                Next::Message(msg) => {
                    let delivery = machine.handle_message(Instant::now(), &msg);
                    self.pin.sync(&mut machine);
                    if delivery == Delivery::Message {
                        messages.push(JsMessage::from(crate::JsMessage::new(
                            msg,
                            blocking.clone(),
                        )));
                    }
                }
                Next::TimedOut => machine.handle_timeout(Instant::now()),
                Next::Ended(why) => fetch_inbox_ended(&mut machine, why, !messages.is_empty())?,
            }
        }
        fetch_outcome(&mut machine, messages)
    }

    /// One pull that returns at once with what the consumer has now, up to `batch`
    /// messages, possibly none (async-nats `consumer.fetch().max_messages(batch)`
    /// semantics; nats.go `FetchNoWait`): the blocking [`crate::Consumer::fetch_no_wait`].
    /// [`Consumer::fetch`] waits for the batch instead (nats.go `Fetch`).
    ///
    /// ```no_run
    /// # async fn run(consumer: natsy_jetstream::aio::Consumer) -> Result<(), Box<dyn std::error::Error>> {
    /// let ready = consumer.fetch_no_wait(100).await?; // at once, maybe empty
    /// # Ok(()) }
    /// ```
    pub async fn fetch_no_wait(&self, batch: usize) -> Result<Vec<JsMessage>, Error> {
        self.fetch(FetchOptions::no_wait(batch)).await
    }

    /// A continuous pull with the default [`ConsumeOptions`] (`async_nats`
    /// `consumer.messages().await?`): see [`Consumer::messages_with`].
    pub async fn messages(&self) -> Result<Messages, Error> {
        self.messages_with(ConsumeOptions::default()).await
    }

    /// A continuous pull as a [`Stream`] of `Result<JsMessage, Error>`: the blocking
    /// [`crate::Consumer::messages_with`] (same re-pulls, heartbeat checks, reconnect
    /// handling and terminal errors), awaited.
    ///
    /// ```no_run
    /// # async fn run(consumer: natsy_jetstream::aio::Consumer) -> Result<(), Box<dyn std::error::Error>> {
    /// use futures_util::StreamExt;
    /// let mut messages = consumer.messages().await?;
    /// while let Some(msg) = messages.next().await {
    ///     msg?.ack().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn messages_with(&self, opts: ConsumeOptions) -> Result<Messages, Error> {
        let machine = opts.machine()?.with_pin_id(self.pin.get());
        let client = self.context.client();
        let inbox = client.new_inbox();
        let sub = client.subscribe(&inbox).await.map_err(subscribe_error)?;
        let state = ConsumeState::new(
            self.context.blocking(),
            &self.stream,
            &self.name,
            inbox,
            machine,
        )
        .with_pin(self.pin.clone());
        sub.end_on_refused_publish(&state.subject);
        Ok(Messages {
            context: self.context.clone(),
            sub,
            state,
            timer: Timer::default(),
            check: None,
            ended: false,
        })
    }
}

type ConsumerCheck = Pin<Box<dyn Future<Output = Result<ConsumerInfo, Error>> + Send>>;

/// A continuous pull from a consumer ([`Consumer::messages`]): a [`Stream`] of
/// `Result<JsMessage, Error>` (`async_nats::jetstream::consumer::pull::Stream`).
///
/// A terminal error ([`PullError::is_terminal`](crate::PullError::is_terminal)) is
/// yielded once and ends the stream; other errors are yielded and pulling goes on.
/// Dropping it unsubscribes its inbox and drops its timer; pulls still open on the
/// server expire by themselves. No task or thread of its own: pulls go out and
/// heartbeats are checked while it is polled.
pub struct Messages {
    context: super::Context,
    sub: Subscriber,
    state: ConsumeState,
    timer: Timer,
    /// The consumer lookup after a `503`, in flight (rare: the only allocation).
    check: Option<ConsumerCheck>,
    ended: bool,
}

impl std::fmt::Debug for Messages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("aio::Messages")
            .field("sub", &self.sub)
            .field("state", &self.state)
            .field("checking_consumer", &self.check.is_some())
            .finish()
    }
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
}

impl Stream for Messages {
    type Item = Result<JsMessage, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        if this.state.terminal.is_some() {
            this.ended = true;
            return Poll::Ready(None);
        }
        let client = this.context.client();
        loop {
            if let Some(check) = &mut this.check {
                let info = std::task::ready!(check.as_mut().poll(cx));
                this.check = None;
                this.state.consumer_checked(info);
            }
            let now = Instant::now();
            // Queued at once: a pull is small, and a poll cannot wait for room.
            this.state.send_pull(now, |subject, inbox, body| {
                client.publish_with_reply_now(subject, inbox, body)
            });
            if let Some(e) = this.state.poll_error() {
                return Poll::Ready(Some(Err(e)));
            }
            let msg = match Pin::new(&mut this.sub).poll_next(cx) {
                Poll::Ready(Some(msg)) => msg,
                Poll::Ready(None) => {
                    let why = end_reason(&this.sub);
                    return Poll::Ready(Some(Err(this.state.inbox_closed(why))));
                }
                Poll::Pending => {
                    // Nothing queued: about to sleep, the moment to look at the
                    // connection (pull afresh first if it came back).
                    if this.state.watch_connection(client.blocking(), now, false) {
                        continue;
                    }
                    let deadline = this.state.machine.poll_timeout();
                    std::task::ready!(this.timer.poll(cx, client, deadline));
                    let now = Instant::now();
                    this.state.watch_connection(client.blocking(), now, true);
                    this.state.machine.handle_timeout(now);
                    continue;
                }
            };
            match this.state.handle_message(Instant::now(), &msg) {
                Delivery::Message => {
                    let msg = crate::JsMessage::new(msg, this.context.blocking().clone());
                    return Poll::Ready(Some(Ok(JsMessage::from(msg))));
                }
                Delivery::Status => {}
                Delivery::CheckConsumer => {
                    let context = this.context.clone();
                    let (stream, consumer) =
                        (this.state.stream.clone(), this.state.consumer.clone());
                    this.check = Some(Box::pin(async move {
                        context.consumer_info(&stream, &consumer).await
                    }));
                }
            }
        }
    }
}

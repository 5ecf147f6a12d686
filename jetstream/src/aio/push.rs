//! Push consumers for async code: [`Consumer::push_messages`] and the [`PushMessages`]
//! stream. The blocking API's sans-IO push machine and `push::PushState` hold the whole
//! policy; this driver polls the [`Subscriber`] and a loop-thread timer until the
//! machine's next timeout, queues its flow control answers, and looks the consumer up
//! after missed heartbeats.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use futures_core::Stream;
use natsy::aio::Subscriber;

use super::pull::{end_reason, Timer};
use super::{Consumer, JsMessage};
use crate::consumer::ConsumerInfo;
use crate::error::Error;
use crate::pull::subscribe_error;
use crate::push::{push_setup, PushState};
use crate::push_machine::PushDelivery;

impl Consumer {
    /// Subscribes to this push consumer's deliver subject (in its deliver group, if any):
    /// the blocking [`crate::Consumer::push_messages`] as a [`Stream`] (async-nats
    /// `consumer.messages()` of a push consumer), with the same flow control answers,
    /// heartbeat checks and errors.
    ///
    /// ```no_run
    /// # async fn run(consumer: natsy_jetstream::aio::Consumer) -> Result<(), Box<dyn std::error::Error>> {
    /// use futures_util::StreamExt;
    /// let mut messages = consumer.push_messages().await?;
    /// while let Some(msg) = messages.next().await {
    ///     match msg {
    ///         Ok(msg) => msg.ack().await?,
    ///         Err(e) => eprintln!("push consumer: {e}"), // ends after a terminal one
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn push_messages(&self) -> Result<PushMessages, Error> {
        let (subject, group, machine) = push_setup(&self.info, Instant::now())?;
        let client = self.context.client();
        let sub = match &group {
            Some(g) => client.queue_subscribe(&subject, g).await,
            None => client.subscribe(&subject).await,
        }
        .map_err(subscribe_error)?;
        Ok(PushMessages {
            context: self.context.clone(),
            sub,
            state: PushState::new(&self.stream, &self.name, machine),
            timer: Timer::default(),
            check: None,
            ended: false,
        })
    }
}

type ConsumerCheck = Pin<Box<dyn Future<Output = Result<ConsumerInfo, Error>> + Send>>;

/// A push consumer's messages ([`Consumer::push_messages`]): a [`Stream`] of
/// `Result<JsMessage, Error>`, the async [`crate::PushMessages`].
///
/// Non-terminal errors (missed heartbeats, sequence gaps) are yielded and delivery goes
/// on; a terminal one is yielded once and ends the stream. Dropping it unsubscribes and
/// drops its timer. No task of its own: heartbeats are checked while it is polled.
pub struct PushMessages {
    context: super::Context,
    sub: Subscriber,
    state: PushState,
    timer: Timer,
    /// The consumer lookup after missed heartbeats, in flight.
    check: Option<ConsumerCheck>,
    ended: bool,
}

impl std::fmt::Debug for PushMessages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("aio::PushMessages")
            .field("sub", &self.sub)
            .field("state", &self.state)
            .field("checking_consumer", &self.check.is_some())
            .finish()
    }
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
}

impl Stream for PushMessages {
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
            this.state
                .send_replies(|subject| client.publish_now(subject, bytes::Bytes::new()));
            if this.state.machine.poll_check_consumer()
                && client.connection_state() == natsy::State::Connected
            {
                let context = this.context.clone();
                let (stream, consumer) = (this.state.stream.clone(), this.state.consumer.clone());
                this.check = Some(Box::pin(async move {
                    context.consumer_info(&stream, &consumer).await
                }));
                continue;
            }
            if let Some(e) = this.state.poll_error() {
                return Poll::Ready(Some(Err(e)));
            }
            if let Some(e) = &this.state.terminal {
                return Poll::Ready(Some(Err(e.clone())));
            }
            let msg = match Pin::new(&mut this.sub).poll_next(cx) {
                Poll::Ready(Some(msg)) => msg,
                Poll::Ready(None) => {
                    let why = end_reason(&this.sub);
                    return Poll::Ready(Some(Err(this.state.closed(why))));
                }
                Poll::Pending => {
                    let deadline = this.state.machine.poll_timeout();
                    std::task::ready!(this.timer.poll(cx, client, deadline));
                    this.state.machine.handle_timeout(Instant::now());
                    continue;
                }
            };
            if this.state.machine.handle_message(Instant::now(), &msg) == PushDelivery::Message {
                let msg = crate::JsMessage::new(msg, this.context.blocking().clone());
                return Poll::Ready(Some(Ok(JsMessage::from(msg))));
            }
        }
    }
}

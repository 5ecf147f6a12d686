//! [`Subscriber`]: a subscription as a [`Stream`] of messages.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use natsy_proto::Sid;

use super::wait::room;
use crate::error::{FlushError, SubscribeError};
use crate::message::Message;
use crate::sub_queue::{SubscriptionEnded, Taken};
use crate::subscription::Subscription;

/// A subscription as a [`futures_core::Stream`] of [`Message`]s
/// (`async_nats::Subscriber`): `sub.next().await` with `StreamExt`. The stream ends
/// (`None`) when the subscription does; [`Subscriber::end_reason`] says why, which
/// async-nats cannot tell.
///
/// Dropping it unsubscribes, without waiting for anything.
#[derive(Debug)]
pub struct Subscriber {
    inner: Subscription,
    ended: Option<SubscriptionEnded>,
}

impl Subscriber {
    pub(crate) fn new(inner: Subscription) -> Self {
        Subscriber { inner, ended: None }
    }

    /// The subscription id.
    pub fn sid(&self) -> Sid {
        self.inner.sid()
    }

    /// Why the stream ended, once it has.
    pub fn end_reason(&self) -> Option<&SubscriptionEnded> {
        self.ended.as_ref()
    }

    /// The next message if one is waiting; `Err` once the subscription has ended.
    pub fn try_next(&mut self) -> Result<Option<Message>, SubscriptionEnded> {
        self.inner.try_next()
    }

    /// See [`Subscription::end_on_refused_publish`].
    pub fn end_on_refused_publish(&self, subject: &str) {
        self.inner.end_on_refused_publish(subject);
    }

    /// Unsubscribes now (`async_nats::Subscriber::unsubscribe`). Messages already
    /// received are discarded.
    pub async fn unsubscribe(mut self) -> Result<(), SubscribeError> {
        self.inner.set_unsubscribed();
        self.inner.queue().close(SubscriptionEnded::Unsubscribed);
        let client = self.inner.client().clone();
        let full = {
            let (result, core) = client.queue_unsubscribe(self.inner.sid(), None);
            result?;
            core.conn.output_full()
        };
        if full {
            room(client.shared()).await;
        }
        Ok(())
    }

    /// Unsubscribes once `max` messages in total have been delivered
    /// (`async_nats::Subscriber::unsubscribe_after`); the stream ends after the last.
    pub async fn unsubscribe_after(&mut self, max: u64) -> Result<(), SubscribeError> {
        let client = self.inner.client().clone();
        let full = {
            let (result, core) = client.queue_unsubscribe(self.inner.sid(), Some(max));
            result?;
            core.conn.output_full()
        };
        if full {
            room(client.shared()).await;
        }
        Ok(())
    }

    /// Drains (`async_nats::Subscriber::drain`): unsubscribes, awaits the server's
    /// confirmation, and ends the stream after the messages already received.
    pub async fn drain(&mut self) -> Result<(), FlushError> {
        if self.inner.set_unsubscribed() {
            return Ok(());
        }
        let client = super::Client::from(self.inner.client().clone());
        let _ = client
            .blocking()
            .unsubscribe_sid_keep_queue(self.inner.sid());
        let result = client.flush().await;
        self.inner.queue().close(SubscriptionEnded::Unsubscribed);
        // Nothing more can arrive: stop routing (no second UNSUB is sent).
        let _ = client.blocking().unsubscribe_sid_now(self.inner.sid());
        result
    }

    /// Messages and bytes waiting to be taken.
    pub fn pending(&self) -> (usize, usize) {
        self.inner.pending()
    }

    /// Messages dropped because the pending limits were reached.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped()
    }
}

impl Stream for Subscriber {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        let this = &mut *self;
        if this.ended.is_some() {
            return Poll::Ready(None);
        }
        match this.inner.queue().poll_take(cx) {
            Poll::Ready(Taken::Message(m)) => {
                Poll::Ready(Some(Message::new(m, this.inner.client().clone())))
            }
            Poll::Ready(Taken::Closed(why)) => {
                this.ended = Some(why);
                Poll::Ready(None)
            }
            Poll::Ready(Taken::Empty) | Poll::Pending => Poll::Pending,
        }
    }
}

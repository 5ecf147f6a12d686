//! [`Subscription`]: a blocking stream of messages for one subject.

use std::sync::Arc;
use std::time::{Duration, Instant};

use natsy_proto::Sid;

use crate::client::Client;
use crate::error::{FlushError, NextError, SubscribeError};
use crate::message::Message;
use crate::sub_queue::{SubQueue, SubscriptionEnded, Taken};

/// A subscription. Iterate it (blocking) or use [`Subscription::next_timeout`] /
/// [`Subscription::try_next`].
///
/// Dropping it unsubscribes; that needs no runtime and never blocks on the network.
///
/// ```no_run
/// let client = natsy::connect("nats://127.0.0.1:4222")?;
/// let mut sub = client.subscribe("greet.*")?;
/// for msg in sub.by_ref().take(3) {
///     println!("{}: {:?}", msg.subject(), msg.payload());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Subscription {
    sid: Sid,
    queue: Arc<SubQueue>,
    client: Client,
    unsubscribed: bool,
}

impl Subscription {
    pub(crate) fn new(sid: Sid, queue: Arc<SubQueue>, client: Client) -> Self {
        Subscription {
            sid,
            queue,
            client,
            unsubscribed: false,
        }
    }

    fn wrap(&self, taken: Taken) -> Result<Option<Message>, SubscriptionEnded> {
        match taken {
            Taken::Message(m) => Ok(Some(Message::new(m, self.client.clone()))),
            Taken::Empty => Ok(None),
            Taken::Closed(why) => Err(why),
        }
    }

    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn queue(&self) -> &SubQueue {
        &self.queue
    }

    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Marks the subscription unsubscribed (its `Drop` then does nothing more).
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn set_unsubscribed(&mut self) -> bool {
        std::mem::replace(&mut self.unsubscribed, true)
    }

    /// The subscription id.
    pub fn sid(&self) -> Sid {
        self.sid
    }

    /// Ends this subscription with [`SubscriptionEnded::PermissionDenied`] (and unsubscribes it) if
    /// the server refuses a publish to `subject` while it is open.
    ///
    /// For a subscription that collects the answers to messages this client publishes to
    /// `subject` with this subscription's subject as reply (a JetStream pull, a
    /// scatter-gather request): when the server refuses them, no answer will ever come,
    /// and a reader waiting for one learns it at once instead of at its timeout. Can be
    /// called for several subjects. nats.go has no equivalent.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// let client = natsy::connect("nats://127.0.0.1:4222")?;
    /// let inbox = client.new_inbox();
    /// let mut answers = client.subscribe(&inbox)?;
    /// answers.end_on_refused_publish("svc.census");
    /// client.publish_with_reply("svc.census", &inbox, "who is there?")?;
    /// while let Ok(msg) = answers.next_timeout(Duration::from_secs(1)) {
    ///     println!("{:?}", msg.payload());
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn end_on_refused_publish(&self, subject: &str) {
        self.client.end_on_refused_publish(self.sid, subject);
    }

    /// Waits up to `timeout` (`Duration::MAX`: for ever) for the next message. The
    /// thread sleeps until the loop thread queues one: waiting costs no CPU.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Message, NextError> {
        // A timeout too large for the clock means no deadline: wait for ever.
        match self.wrap(self.queue.take(Instant::now().checked_add(timeout))) {
            Ok(Some(m)) => Ok(m),
            Ok(None) => Err(NextError::TimedOut),
            Err(why) => Err(NextError::Ended(why)),
        }
    }

    /// The next message if one is waiting; `Err` once the subscription has ended.
    pub fn try_next(&mut self) -> Result<Option<Message>, SubscriptionEnded> {
        self.wrap(self.queue.try_take())
    }

    /// Unsubscribes now. Messages already received are discarded.
    pub fn unsubscribe(mut self) -> Result<(), SubscribeError> {
        self.unsubscribed = true;
        self.queue.close(SubscriptionEnded::Unsubscribed);
        self.client.unsubscribe_sid(self.sid, None)
    }

    /// Unsubscribes automatically once `max` messages in total have been delivered
    /// (counting those already delivered; nats.go `AutoUnsubscribe`). The iterator ends
    /// after the last one.
    pub fn unsubscribe_after(&mut self, max: u64) -> Result<(), SubscribeError> {
        self.client.unsubscribe_sid(self.sid, Some(max))
    }

    /// Drains: unsubscribes, waits until the server has confirmed it (so nothing more is
    /// on its way), and ends the subscription after the messages already received, which
    /// the iterator still yields.
    pub fn drain(&mut self) -> Result<(), FlushError> {
        if self.unsubscribed {
            return Ok(());
        }
        self.unsubscribed = true;
        let _ = self.client.unsubscribe_sid_keep_queue(self.sid);
        let result = self.client.flush();
        self.queue.close(SubscriptionEnded::Unsubscribed);
        // Nothing more can arrive: stop routing (no second UNSUB is sent).
        let _ = self.client.unsubscribe_sid(self.sid, None);
        result
    }

    /// Messages and bytes waiting to be taken.
    pub fn pending(&self) -> (usize, usize) {
        self.queue.pending()
    }

    /// Messages dropped because the pending limits were reached.
    pub fn dropped(&self) -> u64 {
        self.queue.dropped()
    }

    pub(crate) fn on_drop(&mut self) {
        if !self.unsubscribed {
            self.unsubscribed = true;
            self.queue.close(SubscriptionEnded::Unsubscribed);
            // Already unsubscribed or closed: nothing to do. A drop never waits for room
            // in the outgoing queue: it may run on an executor thread.
            let _ = self.client.unsubscribe_sid_now(self.sid);
        }
    }
}

impl Iterator for Subscription {
    type Item = Message;

    /// Blocks until the next message; `None` once the subscription has ended
    /// (unsubscribed, drained, auto-unsubscribe limit reached, or client closed).
    fn next(&mut self) -> Option<Message> {
        self.wrap(self.queue.take(None)).ok().flatten()
    }
}

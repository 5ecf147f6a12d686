//! The subscription table: sids, subjects, queue groups and auto-unsubscribe counters,
//! kept across reconnects so every subscription can be resent.

use std::collections::BTreeMap;

use crate::encode::OutQueue;
use crate::error::ValidationError;
use crate::message::Sid;

/// One live subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subscription {
    pub(crate) subject: String,
    pub(crate) queue: Option<String>,
    /// `UNSUB sid max`: total deliveries after which the subscription ends.
    pub(crate) max: Option<u64>,
    /// Messages delivered so far.
    pub(crate) delivered: u64,
    /// Being drained: UNSUB was sent, but messages the server sent before it still route
    /// here until the sid is removed. Not resent after a reconnect.
    pub(crate) draining: bool,
}

/// What happened to a subscription after a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// No live subscription has that sid (normal right after an UNSUB): drop the message.
    Unknown,
    /// Deliver; the subscription stays.
    Live,
    /// Deliver; that was the last message (`max` reached) and the subscription is gone.
    Last,
}

/// Live subscriptions by sid; sids count up from 1 and are never reused.
#[derive(Debug, Clone)]
pub(crate) struct Subscriptions {
    next_sid: Sid,
    subs: BTreeMap<Sid, Subscription>,
}

impl Default for Subscriptions {
    fn default() -> Self {
        Subscriptions {
            next_sid: 1,
            subs: BTreeMap::new(),
        }
    }
}

impl Subscriptions {
    /// Records a new subscription and returns its sid.
    pub(crate) fn insert(&mut self, subject: String, queue: Option<String>) -> Sid {
        let sid = self.next_sid;
        self.next_sid = self.next_sid.saturating_add(1);
        self.subs.insert(
            sid,
            Subscription {
                subject,
                queue,
                max: None,
                delivered: 0,
                draining: false,
            },
        );
        sid
    }

    /// Removes a subscription.
    pub(crate) fn remove(&mut self, sid: Sid) -> Option<Subscription> {
        self.subs.remove(&sid)
    }

    /// Live subscriptions.
    pub(crate) fn len(&self) -> usize {
        self.subs.len()
    }

    /// Sets the auto-unsubscribe limit. Returns `None` for an unknown sid, `Some(true)` when
    /// the limit is already reached (the subscription was removed), `Some(false)` otherwise.
    pub(crate) fn set_max(&mut self, sid: Sid, max: u64) -> Option<bool> {
        let sub = self.subs.get_mut(&sid)?;
        if sub.delivered >= max {
            self.subs.remove(&sid);
            Some(true)
        } else {
            sub.max = Some(max);
            Some(false)
        }
    }

    /// Marks a subscription as draining. Returns `None` for an unknown sid, else whether it
    /// was already draining.
    pub(crate) fn set_draining(&mut self, sid: Sid) -> Option<bool> {
        let sub = self.subs.get_mut(&sid)?;
        Some(std::mem::replace(&mut sub.draining, true))
    }

    /// Counts one delivery to `sid`.
    pub(crate) fn deliver(&mut self, sid: Sid) -> Delivery {
        let Some(sub) = self.subs.get_mut(&sid) else {
            return Delivery::Unknown;
        };
        sub.delivered = sub.delivered.saturating_add(1);
        match sub.max {
            Some(max) if sub.delivered >= max => {
                self.subs.remove(&sid);
                Delivery::Last
            }
            _ => Delivery::Live,
        }
    }

    /// The sid a subscribe permission violation refers to: the one named by a
    /// `(sid "N")` suffix if live, else the lowest live sid with that subject and queue.
    pub(crate) fn find_refused(
        &self,
        subject: &str,
        queue: Option<&str>,
        named_sid: Option<Sid>,
    ) -> Option<Sid> {
        if let Some(sid) = named_sid.filter(|sid| self.subs.contains_key(sid)) {
            return Some(sid);
        }
        self.subs
            .iter()
            .find(|(_, s)| s.subject == subject && s.queue.as_deref() == queue)
            .map(|(sid, _)| *sid)
    }

    /// Writes `SUB` for every live subscription that is not draining, in sid order, each followed by
    /// `UNSUB sid remaining` when it has an auto-unsubscribe limit.
    pub(crate) fn resend(&self, out: &mut OutQueue) -> Result<(), ValidationError> {
        for (sid, sub) in self.subs.iter().filter(|(_, s)| !s.draining) {
            out.subscribe(&sub.subject, sub.queue.as_deref(), *sid)?;
            if let Some(max) = sub.max {
                // Subscriptions whose limit was reached are removed at once, so
                // `remaining` is at least 1 here.
                out.unsubscribe(*sid, Some(max.saturating_sub(sub.delivered)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_count_up_and_limits_end_subscriptions() {
        let mut s = Subscriptions::default();
        let a = s.insert("a".into(), None);
        let b = s.insert("b".into(), Some("q".into()));
        assert_eq!((a, b), (1, 2));
        assert_eq!(s.set_max(a, 2), Some(false));
        assert_eq!(s.deliver(a), Delivery::Live);
        assert_eq!(s.deliver(a), Delivery::Last);
        assert_eq!(s.deliver(a), Delivery::Unknown);
        assert_eq!(s.deliver(b), Delivery::Live);
        assert_eq!(s.set_max(b, 1), Some(true));
        assert_eq!(s.len(), 0);
        assert_eq!(s.set_max(99, 1), None);
        assert_eq!(s.insert("c".into(), None), 3);
    }

    #[test]
    fn draining_subscriptions_still_route_but_are_not_resent() {
        let mut s = Subscriptions::default();
        let a = s.insert("a".into(), None);
        let b = s.insert("b".into(), None);
        assert_eq!(s.set_draining(a), Some(false));
        assert_eq!(s.set_draining(a), Some(true));
        assert_eq!(s.set_draining(99), None);
        assert_eq!(s.deliver(a), Delivery::Live);
        let mut out = OutQueue::new();
        s.resend(&mut out).unwrap();
        let mut slices = [std::io::IoSlice::new(&[]); 8];
        let n = out.io_slices(&mut slices);
        let text: Vec<u8> = slices[..n].iter().flat_map(|x| x.iter().copied()).collect();
        assert_eq!(text, format!("SUB b {b}\r\n").as_bytes());
    }

    #[test]
    fn refused_subscription_lookup_prefers_the_named_sid() {
        let mut s = Subscriptions::default();
        let a = s.insert("x".into(), None);
        let b = s.insert("x".into(), None);
        let c = s.insert("x".into(), Some("q".into()));
        assert_eq!(s.find_refused("x", None, None), Some(a));
        assert_eq!(s.find_refused("x", None, Some(b)), Some(b));
        assert_eq!(s.find_refused("x", Some("q"), None), Some(c));
        assert_eq!(s.find_refused("y", None, None), None);
    }
}

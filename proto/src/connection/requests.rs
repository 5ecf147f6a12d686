//! The request muxer: every request of a connection gets its reply through one wildcard
//! inbox subscription (`<inbox prefix>.<nuid>.*`), told apart by a token at the end of the
//! reply subject (nats.go's "new style" requests).
//!
//! It lives here, not in a driver, so that every driver (blocking, async, a user's own)
//! multiplexes the same way: the driver only maps [`RequestId`]s to its waiters.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::message::Sid;
use crate::server_error::ServerError;

/// Identifies one [`Connection::request`](super::Connection::request); its reply comes as
/// [`Event::Reply`](super::Event::Reply), or its failure as
/// [`Event::RequestFailed`](super::Event::RequestFailed), with the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// The requests waiting for a reply, and the inbox subscription their replies come on.
#[derive(Debug, Default)]
pub(crate) struct Requests {
    /// The wildcard inbox subscription, once the first request made it.
    pub(crate) sid: Option<Sid>,
    /// `<inbox prefix>.<nuid>.`: a reply subject is this plus the request's id.
    pub(crate) prefix: String,
    next: u64,
    /// Each waiting request's subject: a refused publish to it fails the request.
    waiting: HashMap<u64, String>,
    /// The server refused the inbox subscription: requests fail at once with this until
    /// the next connection (which may be to a server that allows it).
    pub(crate) inbox_refused: Option<ServerError>,
}

impl Requests {
    /// The next id and its reply subject.
    pub(crate) fn next_reply(&mut self) -> (RequestId, String) {
        self.next = self.next.wrapping_add(1);
        let mut reply = String::with_capacity(self.prefix.len() + 20);
        reply.push_str(&self.prefix);
        // Writing into a String cannot fail.
        let _ = write!(reply, "{}", self.next);
        (RequestId(self.next), reply)
    }

    /// Records a request published to `subject` as waiting.
    pub(crate) fn insert(&mut self, id: RequestId, subject: &str) {
        self.waiting.insert(id.0, subject.to_string());
    }

    /// Forgets a request; true if it was waiting.
    pub(crate) fn remove(&mut self, id: RequestId) -> bool {
        self.waiting.remove(&id.0).is_some()
    }

    /// Requests waiting.
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }

    /// The request a reply subject belongs to, if it is one of ours and still waiting;
    /// it stops waiting.
    pub(crate) fn take_reply(&mut self, reply_subject: &str) -> Option<RequestId> {
        let token = reply_subject.strip_prefix(self.prefix.as_str())?;
        let id: u64 = token.parse().ok()?;
        self.waiting.remove(&id).map(|_| RequestId(id))
    }

    /// Takes every waiting request published to `subject`.
    pub(crate) fn take_published_to(&mut self, subject: &str) -> Vec<RequestId> {
        let ids: Vec<u64> = self
            .waiting
            .iter()
            .filter(|(_, s)| s.as_str() == subject)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .filter(|id| self.waiting.remove(id).is_some())
            .map(RequestId)
            .collect()
    }

    /// Takes every waiting request.
    pub(crate) fn take_all(&mut self) -> Vec<RequestId> {
        let mut ids: Vec<RequestId> = self.waiting.drain().map(|(id, _)| RequestId(id)).collect();
        ids.sort();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_subjects_map_back_to_their_request_once() {
        let mut r = Requests {
            prefix: "_INBOX.abc.".into(),
            ..Requests::default()
        };
        let (a, reply_a) = r.next_reply();
        let (b, reply_b) = r.next_reply();
        assert_eq!(reply_a, "_INBOX.abc.1");
        assert_eq!(reply_b, "_INBOX.abc.2");
        r.insert(a, "svc.a");
        r.insert(b, "svc.b");
        assert_eq!(r.take_reply("_INBOX.abc.2"), Some(b));
        assert_eq!(r.take_reply("_INBOX.abc.2"), None, "answered once");
        assert_eq!(r.take_reply("_INBOX.other.1"), None);
        assert_eq!(r.take_reply("_INBOX.abc.x"), None);
        assert_eq!(r.take_published_to("svc.a"), vec![a]);
        assert_eq!(r.len(), 0);
    }
}

//! [`JsMessage`]: a message delivered by a JetStream consumer, its [`AckMetadata`] parsed
//! from the `$JS.ACK` reply subject, and the acknowledgements sent back through it.

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;

use crate::context::Context;
use crate::error::Error;

/// Why an ack subject could not be parsed into [`AckMetadata`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataError {
    /// The message has no reply subject, so it did not come from a JetStream consumer.
    NoReply,
    /// The subject does not start with `$JS.ACK.`.
    NotAckSubject,
    /// The subject has a number of tokens other than 9 or 11 and more.
    TokenCount(usize),
    /// A numeric token (named) is not an unsigned decimal number.
    InvalidNumber(&'static str),
    /// A stream or consumer token is empty.
    EmptyToken(&'static str),
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetadataError::NoReply => f.write_str("the message has no reply subject"),
            MetadataError::NotAckSubject => {
                f.write_str("the reply subject is not a $JS.ACK subject")
            }
            MetadataError::TokenCount(n) => {
                write!(f, "an ack subject has 9 or at least 11 tokens, not {n}")
            }
            MetadataError::InvalidNumber(what) => {
                write!(f, "the {what} token is not an unsigned decimal number")
            }
            MetadataError::EmptyToken(what) => write!(f, "the {what} token is empty"),
        }
    }
}

impl std::error::Error for MetadataError {}

/// Why an acknowledgement was not sent (or not confirmed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AckError {
    /// The message was already acknowledged with a terminal ack (ack, nak or term);
    /// nothing was sent.
    AlreadyAcked,
    /// The message has no reply subject to acknowledge through.
    NoReply,
    /// Publishing the ack failed.
    Publish(natsy::PublishError),
    /// A double ack got no confirmation (timeout, no responders, closed client).
    NotConfirmed(natsy::RequestError),
}

impl fmt::Display for AckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AckError::AlreadyAcked => f.write_str("the message was already acknowledged"),
            AckError::NoReply => f.write_str("the message has no reply subject to ack through"),
            AckError::Publish(e) => write!(f, "sending the ack failed: {e}"),
            AckError::NotConfirmed(e) => write!(f, "the ack was not confirmed: {e}"),
        }
    }
}

impl std::error::Error for AckError {}

/// What the server encodes in a delivered message's `$JS.ACK` reply subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckMetadata {
    /// The stream the message is stored in.
    pub stream: String,
    /// The consumer that delivered it.
    pub consumer: String,
    /// How many times it has been delivered (1 on the first delivery).
    pub delivered: u64,
    /// Its sequence in the stream.
    pub stream_sequence: u64,
    /// The consumer's delivery sequence.
    pub consumer_sequence: u64,
    /// When it was stored, in nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    /// Messages still pending for the consumer after this one.
    pub pending: u64,
    /// The JetStream domain (v2 subjects only; `None` for v1 subjects and for `_`).
    pub domain: Option<String>,
    /// The account hash (v2 subjects only).
    pub account_hash: Option<String>,
}

fn number(token: &str, what: &'static str) -> Result<u64, MetadataError> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MetadataError::InvalidNumber(what));
    }
    token
        .parse::<u64>()
        .map_err(|_| MetadataError::InvalidNumber(what))
}

fn name(token: &str, what: &'static str) -> Result<String, MetadataError> {
    if token.is_empty() {
        return Err(MetadataError::EmptyToken(what));
    }
    Ok(token.to_string())
}

impl AckMetadata {
    /// When it was stored: [`timestamp_ns`](Self::timestamp_ns) as a time.
    pub fn timestamp(&self) -> time::OffsetDateTime {
        crate::wire::from_unix_nanos(self.timestamp_ns)
    }

    /// Parses an ack subject, v1 (`$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.
    /// <ts>.<pending>`, 9 tokens) or v2 (`$JS.ACK.<domain>.<acchash>.<stream>.<consumer>.
    /// <delivered>.<sseq>.<cseq>.<ts>.<pending>[.<more>]`, 11 or more tokens).
    ///
    /// ```
    /// let m = natsy_jetstream::AckMetadata::parse("$JS.ACK.orders.worker.2.10.7.1700000000000000000.3")?;
    /// assert_eq!((m.stream.as_str(), m.delivered, m.stream_sequence, m.pending), ("orders", 2, 10, 3));
    /// # Ok::<(), natsy_jetstream::MetadataError>(())
    /// ```
    pub fn parse(subject: &str) -> Result<AckMetadata, MetadataError> {
        let tokens: Vec<&str> = subject.split('.').collect();
        let n = tokens.len();
        if n != 9 && n < 11 {
            return Err(MetadataError::TokenCount(n));
        }
        if tokens.first() != Some(&"$JS") || tokens.get(1) != Some(&"ACK") {
            return Err(MetadataError::NotAckSubject);
        }
        // v1 has the stream at index 2; v2 shifts everything by the domain and hash.
        let (base, domain, account_hash) = if n == 9 {
            (2, None, None)
        } else {
            let domain = tokens.get(2).copied().unwrap_or_default();
            let hash = tokens.get(3).copied().unwrap_or_default();
            let domain = (domain != "_" && !domain.is_empty()).then(|| domain.to_string());
            (4, domain, Some(hash.to_string()))
        };
        let at = |i: usize| tokens.get(base + i).copied().unwrap_or_default();
        Ok(AckMetadata {
            stream: name(at(0), "stream")?,
            consumer: name(at(1), "consumer")?,
            delivered: number(at(2), "delivered")?,
            stream_sequence: number(at(3), "stream sequence")?,
            consumer_sequence: number(at(4), "consumer sequence")?,
            timestamp_ns: number(at(5), "timestamp")?,
            pending: number(at(6), "pending")?,
            domain,
            account_hash,
        })
    }
}

/// A message delivered by a JetStream consumer.
///
/// It derefs to the client's [`natsy::Message`] (subject, headers, payload). Acknowledge
/// it with one of [`ack`](JsMessage::ack), [`double_ack`](JsMessage::double_ack),
/// [`nak`](JsMessage::nak), [`nak_with_delay`](JsMessage::nak_with_delay),
/// [`term`](JsMessage::term) or [`term_with_reason`](JsMessage::term_with_reason); after
/// one of those, further acks fail locally with [`AckError::AlreadyAcked`].
/// [`in_progress`](JsMessage::in_progress) may be sent any number of times before that.
pub struct JsMessage {
    message: natsy::Message,
    context: Context,
    acked: AtomicBool,
}

impl fmt::Debug for JsMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsMessage")
            .field("message", &self.message)
            .field("acked", &self.acked.load(Ordering::Relaxed))
            .finish()
    }
}

impl Deref for JsMessage {
    type Target = natsy::Message;

    fn deref(&self) -> &natsy::Message {
        &self.message
    }
}

impl JsMessage {
    /// Wraps a message delivered by a consumer; acks go through `context`'s client.
    pub fn new(message: natsy::Message, context: Context) -> Self {
        JsMessage {
            message,
            context,
            acked: AtomicBool::new(false),
        }
    }

    /// The client message.
    pub fn message(&self) -> &natsy::Message {
        &self.message
    }

    /// The client message, consuming the wrapper (no more acks through it).
    pub fn into_message(self) -> natsy::Message {
        self.message
    }

    /// The metadata encoded in the reply subject: stream, consumer, delivery count,
    /// sequences, timestamp, pending, domain.
    pub fn metadata(&self) -> Result<AckMetadata, Error> {
        let reply = self
            .message
            .reply()
            .ok_or(Error::Metadata(MetadataError::NoReply))?;
        AckMetadata::parse(reply).map_err(Error::Metadata)
    }

    /// True once a terminal ack (ack, nak, term) was sent through this handle.
    pub fn is_acked(&self) -> bool {
        self.acked.load(Ordering::Acquire)
    }

    /// Checks that an ack of this kind may be sent and claims the terminal ack: returns
    /// the subject to send it to. The first half of every ack, blocking or async; if
    /// sending then fails, [`JsMessage::unclaim`].
    pub(crate) fn begin_ack(&self, terminal: bool) -> Result<&str, Error> {
        let reply = self.message.reply().ok_or(Error::Ack(AckError::NoReply))?;
        if terminal {
            if self.acked.swap(true, Ordering::AcqRel) {
                return Err(Error::Ack(AckError::AlreadyAcked));
            }
        } else if self.is_acked() {
            return Err(Error::Ack(AckError::AlreadyAcked));
        }
        Ok(reply)
    }

    /// The terminal ack claimed by [`JsMessage::begin_ack`] was not sent (or not
    /// confirmed): the message may still be acknowledged.
    pub(crate) fn unclaim(&self) {
        self.acked.store(false, Ordering::Release);
    }

    /// The context acks go through.
    #[cfg(feature = "async")]
    pub(crate) fn context(&self) -> &Context {
        &self.context
    }

    fn send(&self, kind: AckKind<'_>) -> Result<(), Error> {
        let terminal = kind.is_terminal();
        let reply = self.begin_ack(terminal)?;
        if let Err(e) = self.context.client().publish(reply, kind.body()) {
            if terminal {
                self.unclaim();
            }
            return Err(Error::Ack(AckError::Publish(e)));
        }
        Ok(())
    }

    /// Acknowledges the message (`+ACK`), without waiting for the server.
    pub fn ack(&self) -> Result<(), Error> {
        self.send(AckKind::Ack)
    }

    /// Acknowledges the message as a request and waits (up to the context's timeout) for
    /// the server's empty reply, which confirms the ack is stored. A timeout or failure
    /// is [`AckError::NotConfirmed`]; the message then counts as not acknowledged.
    pub fn double_ack(&self) -> Result<(), Error> {
        let reply = self.begin_ack(true)?;
        match self.context.client().request_timeout(
            reply,
            AckKind::Ack.body(),
            self.context.timeout(),
        ) {
            Ok(_) => Ok(()),
            Err(e) => {
                self.unclaim();
                Err(Error::Ack(AckError::NotConfirmed(e)))
            }
        }
    }

    /// Negatively acknowledges the message (`-NAK`): the server redelivers it at once.
    pub fn nak(&self) -> Result<(), Error> {
        self.send(AckKind::Nak(None))
    }

    /// Negatively acknowledges the message, asking for redelivery no earlier than `delay`
    /// (`-NAK {"delay":<ns>}`).
    pub fn nak_with_delay(&self, delay: Duration) -> Result<(), Error> {
        self.send(AckKind::Nak(Some(delay)))
    }

    /// Tells the server the message is still being worked on (`+WPI`), which restarts its
    /// ack timer. May be sent repeatedly; not terminal.
    pub fn in_progress(&self) -> Result<(), Error> {
        self.send(AckKind::Progress)
    }

    /// Terminates the message (`+TERM`): never redelivered.
    pub fn term(&self) -> Result<(), Error> {
        self.send(AckKind::Term(""))
    }

    /// Terminates the message with a reason that the server puts into its advisory
    /// (`+TERM <reason>`).
    pub fn term_with_reason(&self, reason: &str) -> Result<(), Error> {
        self.send(AckKind::Term(reason))
    }
}

/// The acknowledgements and their bodies, shared by the blocking and async messages.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AckKind<'a> {
    /// `+ACK`.
    Ack,
    /// `-NAK`, or `-NAK {"delay":<ns>}`.
    Nak(Option<Duration>),
    /// `+WPI`: not terminal.
    Progress,
    /// `+TERM`, or `+TERM <reason>` when the reason is not empty.
    Term(&'a str),
}

impl AckKind<'_> {
    /// Whether this ack ends the message's delivery (all but `+WPI`).
    pub(crate) fn is_terminal(&self) -> bool {
        !matches!(self, AckKind::Progress)
    }

    /// The body to publish to the ack subject.
    pub(crate) fn body(&self) -> Bytes {
        match *self {
            AckKind::Ack => Bytes::from_static(b"+ACK"),
            AckKind::Nak(None) => Bytes::from_static(b"-NAK"),
            AckKind::Nak(Some(delay)) => {
                let nanos = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
                Bytes::from(format!("-NAK {{\"delay\":{nanos}}}"))
            }
            AckKind::Progress => Bytes::from_static(b"+WPI"),
            AckKind::Term("") => Bytes::from_static(b"+TERM"),
            AckKind::Term(reason) => Bytes::from(format!("+TERM {reason}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "$JS.ACK.orders.worker.2.10.7.1700000000000000001.3";

    #[test]
    fn v1_subject() {
        let m = AckMetadata::parse(V1).unwrap();
        assert_eq!(
            m,
            AckMetadata {
                stream: "orders".into(),
                consumer: "worker".into(),
                delivered: 2,
                stream_sequence: 10,
                consumer_sequence: 7,
                timestamp_ns: 1_700_000_000_000_000_001,
                pending: 3,
                domain: None,
                account_hash: None,
            }
        );
    }

    #[test]
    fn v2_subject_with_domain_and_extra_tokens() {
        let m = AckMetadata::parse("$JS.ACK.hub.ACCHASH.orders.worker.1.5.4.99.0").unwrap();
        assert_eq!(m.domain.as_deref(), Some("hub"));
        assert_eq!(m.account_hash.as_deref(), Some("ACCHASH"));
        assert_eq!(m.stream, "orders");
        assert_eq!(m.consumer, "worker");
        assert_eq!(
            (
                m.delivered,
                m.stream_sequence,
                m.consumer_sequence,
                m.timestamp_ns,
                m.pending
            ),
            (1, 5, 4, 99, 0)
        );
        assert_eq!(m.timestamp().unix_timestamp_nanos(), 99);
        // More tokens (a random suffix) are allowed and ignored.
        let more = AckMetadata::parse("$JS.ACK.hub.ACCHASH.orders.worker.1.5.4.99.0.abc.def");
        assert_eq!(more.unwrap(), m);
        // `_` means no domain.
        let m = AckMetadata::parse("$JS.ACK._.H.s.c.1.2.3.4.5").unwrap();
        assert_eq!(m.domain, None);
        assert_eq!(m.account_hash.as_deref(), Some("H"));
    }

    #[test]
    fn wrong_token_counts() {
        for n in [1usize, 2, 3, 4, 5, 6, 7, 8, 10] {
            let mut tokens = vec!["$JS", "ACK"];
            tokens.extend(std::iter::repeat_n("1", n.saturating_sub(2)));
            tokens.truncate(n);
            let subject = tokens.join(".");
            assert_eq!(
                AckMetadata::parse(&subject),
                Err(MetadataError::TokenCount(n)),
                "{subject}"
            );
        }
        assert_eq!(AckMetadata::parse(""), Err(MetadataError::TokenCount(1)));
    }

    #[test]
    fn wrong_prefix() {
        for s in [
            "$JS.ACX.s.c.1.2.3.4.5",
            "$JX.ACK.s.c.1.2.3.4.5",
            "JS.ACK.s.c.1.2.3.4.5",
            "$js.ack.s.c.1.2.3.4.5",
            "_INBOX.ACK.s.c.1.2.3.4.5",
            "$JS.API.d.h.s.c.1.2.3.4.5",
        ] {
            assert_eq!(
                AckMetadata::parse(s),
                Err(MetadataError::NotAckSubject),
                "{s}"
            );
        }
    }

    #[test]
    fn every_numeric_token_must_be_unsigned_decimal() {
        let names = [
            "delivered",
            "stream sequence",
            "consumer sequence",
            "timestamp",
            "pending",
        ];
        for bad in [
            "",
            "-1",
            "+1",
            "x",
            "1x",
            " 1",
            "0x10",
            "1.5",
            "18446744073709551616",
        ] {
            for (i, what) in names.iter().enumerate() {
                // v1
                let mut t: Vec<String> = V1.split('.').map(String::from).collect();
                t[4 + i] = bad.to_string();
                let s = t.join(".");
                let got = AckMetadata::parse(&s);
                if bad.contains('.') {
                    // A dot changes the token count instead.
                    assert!(matches!(got, Err(MetadataError::TokenCount(10))), "{s}");
                } else {
                    assert_eq!(got, Err(MetadataError::InvalidNumber(what)), "{s}");
                }
                // v2
                let mut t: Vec<String> = "$JS.ACK.d.h.s.c.1.2.3.4.5"
                    .split('.')
                    .map(String::from)
                    .collect();
                t[6 + i] = bad.to_string();
                let s = t.join(".");
                let got = AckMetadata::parse(&s);
                // (A dot would only add a token, which v2 allows.)
                if !bad.contains('.') {
                    assert_eq!(got, Err(MetadataError::InvalidNumber(what)), "{s}");
                }
            }
        }
        // The largest u64 is fine.
        let m = AckMetadata::parse("$JS.ACK.s.c.18446744073709551615.0.0.0.0").unwrap();
        assert_eq!(m.delivered, u64::MAX);
    }

    #[test]
    fn empty_names_are_refused() {
        assert_eq!(
            AckMetadata::parse("$JS.ACK..c.1.2.3.4.5"),
            Err(MetadataError::EmptyToken("stream"))
        );
        assert_eq!(
            AckMetadata::parse("$JS.ACK.s..1.2.3.4.5"),
            Err(MetadataError::EmptyToken("consumer"))
        );
        assert_eq!(
            AckMetadata::parse("$JS.ACK.d.h..c.1.2.3.4.5"),
            Err(MetadataError::EmptyToken("stream"))
        );
        // An empty domain is no domain.
        let m = AckMetadata::parse("$JS.ACK..h.s.c.1.2.3.4.5").unwrap();
        assert_eq!(m.domain, None);
    }

    #[test]
    fn every_prefix_of_a_valid_subject_is_refused() {
        for s in [V1, "$JS.ACK.hub.H.orders.worker.1.5.4.99.0"] {
            for end in 0..s.len() {
                let prefix = &s[..end];
                // Only a prefix that cuts a number short can still parse; it must then
                // have all 9 (or 11) tokens.
                if let Ok(m) = AckMetadata::parse(prefix) {
                    assert!(prefix.split('.').count() == 9 || prefix.split('.').count() >= 11);
                    assert!(s.starts_with(prefix));
                    assert!(!m.stream.is_empty());
                }
            }
        }
    }
}

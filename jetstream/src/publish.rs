//! Publishing to streams: [`PubAck`], [`PublishOptions`] (message id and expectation
//! headers), synchronous [`Context::publish`], and the [`AsyncPublisher`] that keeps a
//! bounded window of acks in flight.
//!
//! Every publish ends in an ack or an error, never in silence: a synchronous publish
//! returns it, an asynchronous one hands it to its [`PubAckHandle`] and to
//! [`AsyncPublisher::wait_all`].

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use natsy::{HeaderMap, ReplyHandle, RequestError};
use serde::Deserialize;

use crate::context::{parse_response, Context};
use crate::error::Error;

/// How many times a publish that got "no responders" is retried (nats.go, ADR-22).
pub(crate) const NO_RESPONDERS_RETRIES: usize = 2;
/// The pause before each such retry.
pub(crate) const NO_RESPONDERS_WAIT: Duration = Duration::from_millis(250);

/// The stream's acknowledgement of a published message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct PubAck {
    /// The stream that stored it.
    pub stream: String,
    /// Its sequence in that stream.
    #[serde(rename = "seq")]
    pub sequence: u64,
    /// True when it was a duplicate (same `Nats-Msg-Id` within the duplicate window):
    /// nothing new was stored and `sequence` is the original's.
    #[serde(default)]
    pub duplicate: bool,
    /// The stream's JetStream domain, if any.
    #[serde(default)]
    pub domain: Option<String>,
}

/// Options of one publish: de-duplication id, expectations the server checks before
/// storing, extra headers, and a timeout.
///
/// ```
/// use natsy_jetstream::PublishOptions;
/// let opts = PublishOptions::new().msg_id("order-17").expected_last_sequence(16);
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishOptions {
    msg_id: Option<String>,
    expected_stream: Option<String>,
    expected_last_sequence: Option<u64>,
    expected_last_subject_sequence: Option<u64>,
    expected_last_msg_id: Option<String>,
    headers: Option<HeaderMap>,
    timeout: Option<Duration>,
    ttl: Option<MessageTtl>,
}

/// A per-message TTL (`Nats-TTL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MessageTtl {
    After(Duration),
    Never,
}

impl PublishOptions {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// `Nats-Msg-Id`: the stream stores a message with this id once per duplicate
    /// window; repeats are acked with `duplicate: true` (nats.go `MsgId`).
    pub fn msg_id(mut self, id: &str) -> Self {
        self.msg_id = Some(id.to_string());
        self
    }

    /// `Nats-Expected-Stream`: fail with
    /// [`ApiErrorKind::StreamWrongExpected`](crate::ApiErrorKind::StreamWrongExpected)
    /// unless the subject is captured by this stream (nats.go `ExpectStream`).
    pub fn expected_stream(mut self, stream: &str) -> Self {
        self.expected_stream = Some(stream.to_string());
        self
    }

    /// `Nats-Expected-Last-Sequence`: fail with
    /// [`ApiErrorKind::WrongLastSequence`](crate::ApiErrorKind::WrongLastSequence) unless
    /// the stream's last sequence is `seq` (nats.go `ExpectLastSequence`).
    pub fn expected_last_sequence(mut self, seq: u64) -> Self {
        self.expected_last_sequence = Some(seq);
        self
    }

    /// `Nats-Expected-Last-Subject-Sequence`: fail with
    /// [`ApiErrorKind::WrongLastSequence`](crate::ApiErrorKind::WrongLastSequence) unless
    /// the last message on this subject has sequence `seq` (0: no message yet; nats.go
    /// `ExpectLastSequencePerSubject`).
    pub fn expected_last_subject_sequence(mut self, seq: u64) -> Self {
        self.expected_last_subject_sequence = Some(seq);
        self
    }

    /// `Nats-Expected-Last-Msg-Id`: fail with
    /// [`ApiErrorKind::WrongLastMsgId`](crate::ApiErrorKind::WrongLastMsgId) unless the
    /// stream's last message had this id (nats.go `ExpectLastMsgId`).
    pub fn expected_last_msg_id(mut self, id: &str) -> Self {
        self.expected_last_msg_id = Some(id.to_string());
        self
    }

    /// `Nats-TTL`: the stream removes the message `ttl` after storing it (whole seconds,
    /// at least one; server 2.11+ and a stream with
    /// [`allow_msg_ttl`](crate::StreamConfig::allow_msg_ttl), which otherwise refuses
    /// the publish). nats.go `WithMsgTTL`.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(MessageTtl::After(ttl));
        self
    }

    /// `Nats-TTL: never`: the message outlives the stream's `max_age` (server 2.11+, a
    /// stream with `allow_msg_ttl`).
    pub fn ttl_never(mut self) -> Self {
        self.ttl = Some(MessageTtl::Never);
        self
    }

    /// Headers to send with the message (the options above are added to them).
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.headers = Some(headers);
        self
    }

    /// How long to wait for the ack; default the context's timeout (5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The headers to send and the ack timeout (`default` unless set): what every
    /// publish, blocking or async, checks and builds before sending.
    pub(crate) fn prepare(
        &self,
        default: Duration,
    ) -> Result<(Option<HeaderMap>, Duration), Error> {
        Ok((self.header_map()?, self.timeout.unwrap_or(default)))
    }

    /// The headers to send: the caller's plus the option headers, or `None` if empty.
    fn header_map(&self) -> Result<Option<HeaderMap>, Error> {
        let mut h = self.headers.clone().unwrap_or_default();
        let bad = |_| Error::InvalidArgument("publish option has CR or LF");
        if let Some(v) = &self.msg_id {
            h.insert("Nats-Msg-Id", v).map_err(bad)?;
        }
        if let Some(v) = &self.expected_stream {
            h.insert("Nats-Expected-Stream", v).map_err(bad)?;
        }
        if let Some(v) = self.expected_last_sequence {
            h.insert("Nats-Expected-Last-Sequence", &v.to_string())
                .map_err(bad)?;
        }
        if let Some(v) = self.expected_last_subject_sequence {
            h.insert("Nats-Expected-Last-Subject-Sequence", &v.to_string())
                .map_err(bad)?;
        }
        if let Some(v) = &self.expected_last_msg_id {
            h.insert("Nats-Expected-Last-Msg-Id", v).map_err(bad)?;
        }
        match self.ttl {
            // The server refuses less than a second and counts whole seconds.
            Some(MessageTtl::After(ttl)) if ttl < Duration::from_secs(1) => {
                return Err(Error::InvalidArgument("a message TTL is at least 1 s"));
            }
            Some(MessageTtl::After(ttl)) => {
                h.insert("Nats-TTL", &format!("{}s", ttl.as_secs()))
                    .map_err(bad)?;
            }
            Some(MessageTtl::Never) => h.insert("Nats-TTL", "never").map_err(bad)?,
            None => {}
        }
        Ok((!h.is_empty()).then_some(h))
    }
}

/// Turns the reply to a publish into its ack or a typed error (blocking and async).
pub(crate) fn ack_from_reply(reply: Result<natsy::Message, RequestError>) -> Result<PubAck, Error> {
    match reply {
        Ok(msg) => parse_response(msg.payload()),
        Err(RequestError::NoResponders) => Err(Error::NoStreamResponse),
        Err(e) => Err(Error::from(e)),
    }
}

impl Context {
    /// Publishes `payload` to `subject` and waits for the stream's ack.
    ///
    /// See [`Context::publish_with`] for the errors.
    pub fn publish(&self, subject: &str, payload: impl Into<Bytes>) -> Result<PubAck, Error> {
        self.publish_with(subject, payload, &PublishOptions::new())
    }

    /// Publishes with options (message id, expectations, headers, timeout) and waits for
    /// the ack.
    ///
    /// Errors: an unmet expectation is [`Error::Api`] with its kind (10060, 10071, 10070);
    /// when no stream captures `subject` the publish is retried twice, 250 ms apart
    /// (nats.go, ADR-22), then fails with [`Error::NoStreamResponse`]; no ack in time is
    /// [`Error::Request`]`(`[`RequestError::TimedOut`]`)` — the message may still have
    /// been stored, so retry with the same message id. A subject this user may not
    /// publish to fails at once with [`Error::PermissionDenied`]; nothing was stored.
    pub fn publish_with(
        &self,
        subject: &str,
        payload: impl Into<Bytes>,
        options: &PublishOptions,
    ) -> Result<PubAck, Error> {
        let payload = payload.into();
        let (headers, timeout) = options.prepare(self.timeout())?;
        let mut attempt = 0;
        loop {
            let reply =
                self.client()
                    .request_with(subject, headers.as_ref(), payload.clone(), timeout);
            match ack_from_reply(reply) {
                Err(Error::NoStreamResponse) if attempt < NO_RESPONDERS_RETRIES => {
                    attempt += 1;
                    std::thread::sleep(NO_RESPONDERS_WAIT);
                }
                done => return done,
            }
        }
    }

    /// An asynchronous publisher on this context.
    pub fn async_publisher(&self, options: AsyncPublishOptions) -> AsyncPublisher {
        AsyncPublisher {
            context: self.clone(),
            window: options.window.max(1),
            when_full: options.when_full,
            counter: Arc::new(InFlight::default()),
            entries: VecDeque::new(),
            unresolved_from: 0,
        }
    }
}

/// What [`AsyncPublisher::publish`] does when the window is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait until the oldest outstanding ack arrives (or times out). The default.
    #[default]
    Block,
    /// Fail at once with [`Error::WindowFull`], sending nothing.
    Error,
}

/// Options of an [`AsyncPublisher`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsyncPublishOptions {
    /// How many acks may be outstanding at once; default 4000 (nats.go
    /// `PublishAsyncMaxPending`). Zero is taken as 1.
    pub window: usize,
    /// What to do when `window` acks are outstanding; default [`WhenFull::Block`].
    pub when_full: WhenFull,
}

impl Default for AsyncPublishOptions {
    fn default() -> Self {
        AsyncPublishOptions {
            window: 4000,
            when_full: WhenFull::Block,
        }
    }
}

/// The number of outstanding acks, shared by the publisher and its handles.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    count: Mutex<usize>,
}

impl InFlight {
    pub(crate) fn get(&self) -> usize {
        *lock(&self.count)
    }

    pub(crate) fn add(&self) {
        *lock(&self.count) += 1;
    }

    pub(crate) fn release(&self) {
        let mut c = lock(&self.count);
        *c = c.saturating_sub(1);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where one asynchronous publish stands.
#[derive(Debug)]
enum State {
    /// Sent; the reply has not been collected.
    Sent(ReplyHandle, Instant),
    /// A thread took the reply handle and is waiting on it.
    Waiting,
    /// The outcome.
    Done(Result<PubAck, Error>),
}

/// One asynchronous publish, shared by the publisher and its [`PubAckHandle`].
#[derive(Debug)]
struct Entry {
    state: Mutex<State>,
    done: Condvar,
    counter: Arc<InFlight>,
}

impl Entry {
    /// The outcome if known; with `block`, waits for it (up to the ack deadline).
    fn resolve(&self, block: bool) -> Option<Result<PubAck, Error>> {
        let mut state = lock(&self.state);
        loop {
            match std::mem::replace(&mut *state, State::Waiting) {
                State::Done(r) => {
                    *state = State::Done(r.clone());
                    return Some(r);
                }
                State::Sent(mut handle, deadline) => {
                    if let Some(reply) = handle.try_take() {
                        return Some(self.finish(state, ack_from_reply(reply)));
                    }
                    let now = Instant::now();
                    if now >= deadline {
                        drop(handle);
                        let r = Err(Error::Request(RequestError::TimedOut));
                        return Some(self.finish(state, r));
                    }
                    if !block {
                        *state = State::Sent(handle, deadline);
                        return None;
                    }
                    // Wait without holding the lock; others see `Waiting`.
                    drop(state);
                    let r = ack_from_reply(handle.wait_timeout(deadline - now));
                    return Some(self.finish(lock(&self.state), r));
                }
                State::Waiting => {
                    if !block {
                        *state = State::Waiting;
                        return None;
                    }
                    // Another thread waits on the reply; wait for its outcome.
                    *state = State::Waiting;
                    state = self.done.wait(state).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }

    fn finish(
        &self,
        mut state: MutexGuard<'_, State>,
        r: Result<PubAck, Error>,
    ) -> Result<PubAck, Error> {
        *state = State::Done(r.clone());
        drop(state);
        self.counter.release();
        self.done.notify_all();
        r
    }
}

/// Publishes without waiting for each ack, keeping at most `window` acks outstanding.
///
/// Every publish ends in exactly one outcome (an ack or an error): its
/// [`PubAckHandle::wait`] returns it, and [`AsyncPublisher::wait_all`] returns the
/// outcomes of all publishes since the previous `wait_all`, in publish order. Outcomes
/// are kept until `wait_all` collects them, so call it regularly (it is also how to know
/// everything was stored before dropping the publisher; dropping it forgets the acks
/// not yet collected and not held by a handle).
///
/// A "no responders" reply is not retried here: it is [`Error::NoStreamResponse`] at once.
///
/// ```no_run
/// use natsy_jetstream::{AsyncPublishOptions, WhenFull};
/// let js = natsy_jetstream::new(natsy::connect("nats://127.0.0.1:4222")?);
/// let mut publisher = js.async_publisher(AsyncPublishOptions {
///     window: 100,
///     when_full: WhenFull::Block,
/// });
/// for i in 0..1000 {
///     publisher.publish("orders.new", format!("{i}"))?;
/// }
/// for outcome in publisher.wait_all() {
///     println!("{:?}", outcome?.sequence);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AsyncPublisher {
    context: Context,
    window: usize,
    when_full: WhenFull,
    counter: Arc<InFlight>,
    /// Every publish since the last `wait_all`, oldest first.
    entries: VecDeque<Arc<Entry>>,
    /// Entries before this index are resolved.
    unresolved_from: usize,
}

/// The pending ack of one asynchronous publish.
#[derive(Debug, Clone)]
pub struct PubAckHandle {
    entry: Arc<Entry>,
}

impl PubAckHandle {
    /// Waits for the ack (up to the publish timeout) and returns the outcome.
    pub fn wait(self) -> Result<PubAck, Error> {
        self.entry
            .resolve(true)
            .unwrap_or(Err(Error::Request(RequestError::TimedOut)))
    }

    /// The outcome if it is already known, without waiting.
    pub fn try_get(&self) -> Option<Result<PubAck, Error>> {
        self.entry.resolve(false)
    }
}

impl AsyncPublisher {
    /// Publishes `payload` to `subject`; the ack is collected later.
    pub fn publish(
        &mut self,
        subject: &str,
        payload: impl Into<Bytes>,
    ) -> Result<PubAckHandle, Error> {
        self.publish_with(subject, payload, &PublishOptions::new())
    }

    /// Publishes with options; see [`Context::publish_with`].
    ///
    /// Errors here mean nothing was sent: [`Error::WindowFull`] (in
    /// [`WhenFull::Error`] mode), an invalid option, or a client failure.
    pub fn publish_with(
        &mut self,
        subject: &str,
        payload: impl Into<Bytes>,
        options: &PublishOptions,
    ) -> Result<PubAckHandle, Error> {
        let (headers, timeout) = options.prepare(self.context.timeout())?;
        self.make_room()?;
        let handle =
            self.context
                .client()
                .send_request(subject, headers.as_ref(), payload.into())?;
        self.counter.add();
        let entry = Arc::new(Entry {
            state: Mutex::new(State::Sent(
                handle,
                crate::deadline::after(Instant::now(), timeout),
            )),
            done: Condvar::new(),
            counter: self.counter.clone(),
        });
        self.entries.push_back(entry.clone());
        Ok(PubAckHandle { entry })
    }

    /// Acks outstanding now.
    pub fn in_flight(&self) -> usize {
        self.counter.get()
    }

    /// Collects arrived acks from the oldest on, stopping at the first one still due.
    fn collect_ready(&mut self) {
        while let Some(entry) = self.entries.get(self.unresolved_from) {
            if entry.resolve(false).is_none() {
                return;
            }
            self.unresolved_from += 1;
        }
    }

    fn make_room(&mut self) -> Result<(), Error> {
        loop {
            if self.counter.get() < self.window {
                return Ok(());
            }
            self.collect_ready();
            if self.counter.get() < self.window {
                return Ok(());
            }
            match self.when_full {
                WhenFull::Error => return Err(Error::WindowFull),
                WhenFull::Block => match self.entries.get(self.unresolved_from) {
                    Some(oldest) => {
                        oldest.resolve(true);
                        self.unresolved_from += 1;
                    }
                    // Every entry we hold is resolved; the count is the handles'
                    // business and they release it when done.
                    None => return Ok(()),
                },
            }
        }
    }

    /// Waits for every outstanding ack and returns the outcome of every publish since
    /// the last call, in publish order (nats.go `PublishAsyncComplete` plus the
    /// outcomes).
    pub fn wait_all(&mut self) -> Vec<Result<PubAck, Error>> {
        let out = self
            .entries
            .drain(..)
            .map(|e| {
                e.resolve(true)
                    .unwrap_or(Err(Error::Request(RequestError::TimedOut)))
            })
            .collect();
        self.unresolved_from = 0;
        out
    }

    /// Same as [`AsyncPublisher::wait_all`].
    pub fn flush(&mut self) -> Vec<Result<PubAck, Error>> {
        self.wait_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApiErrorKind;

    #[test]
    fn options_become_headers() {
        let mut base = HeaderMap::new();
        base.insert("App", "1").unwrap();
        let h = PublishOptions::new()
            .msg_id("m1")
            .expected_stream("S")
            .expected_last_sequence(4)
            .expected_last_subject_sequence(0)
            .expected_last_msg_id("m0")
            .headers(base)
            .header_map()
            .unwrap()
            .unwrap();
        assert_eq!(h.get("App"), Some("1"));
        assert_eq!(h.get("Nats-Msg-Id"), Some("m1"));
        assert_eq!(h.get("Nats-Expected-Stream"), Some("S"));
        assert_eq!(h.get("Nats-Expected-Last-Sequence"), Some("4"));
        assert_eq!(h.get("Nats-Expected-Last-Subject-Sequence"), Some("0"));
        assert_eq!(h.get("Nats-Expected-Last-Msg-Id"), Some("m0"));
        assert_eq!(PublishOptions::new().header_map().unwrap(), None);
        assert!(matches!(
            PublishOptions::new().msg_id("a\r\nb").header_map(),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn message_ttls_are_whole_seconds_or_never() {
        let ttl = |o: PublishOptions| {
            o.header_map()
                .map(|h| h.unwrap().get("Nats-TTL").map(str::to_string))
        };
        assert_eq!(
            ttl(PublishOptions::new().ttl(Duration::from_millis(90_500))),
            Ok(Some("90s".into()))
        );
        assert_eq!(
            ttl(PublishOptions::new().ttl_never()),
            Ok(Some("never".into()))
        );
        assert!(matches!(
            PublishOptions::new()
                .ttl(Duration::from_millis(999))
                .header_map(),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn pub_acks_and_their_errors_parse() {
        let ack: PubAck =
            parse_response(br#"{"stream":"S","seq":7,"duplicate":true,"domain":"hub"}"#).unwrap();
        assert_eq!(ack.sequence, 7);
        assert!(ack.duplicate);
        assert_eq!(ack.domain.as_deref(), Some("hub"));
        let ack: PubAck = parse_response(br#"{"stream":"S","seq":1}"#).unwrap();
        assert!(!ack.duplicate);
        let err = parse_response::<PubAck>(
            br#"{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 1"}}"#,
        )
        .unwrap_err();
        assert_eq!(err.api_kind(), Some(ApiErrorKind::WrongLastSequence));
        assert_eq!(
            ack_from_reply(Err(RequestError::NoResponders)),
            Err(Error::NoStreamResponse)
        );
        assert_eq!(
            ack_from_reply(Err(RequestError::TimedOut)),
            Err(Error::Request(RequestError::TimedOut))
        );
    }
}

//! Batch direct get (ADR-31, server 2.11+): many stored messages for one request to
//! `$JS.API.DIRECT.GET.<stream>`, which any replica answers. [`DirectBatch`] says which;
//! the reply is the messages, then a `204 EOB` status with `Nats-Num-Pending` and
//! `Nats-Last-Sequence` ([`BatchEnd`]).
//!
//! [`BatchReader`] reads the replies (sans-IO, shared by the blocking
//! [`DirectBatchMessages`] and the async `aio::DirectBatchStream`): it checks that no
//! message went missing on the way (each message names the sequence of the one before
//! it), ends on `EOB`, and treats a first `404` as an empty batch.

use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use time::OffsetDateTime;

use crate::context::Context;
use crate::error::Error;
use crate::stored::{direct_headers, direct_message, direct_status_error, StoredMessage};
use crate::stream::{check_stream_name, check_subject_filter, Stream};

/// Which messages a batch direct get returns. Two kinds:
/// * [`DirectBatch::new`]: up to `batch` messages in sequence order, from a sequence or
///   a time, optionally only on some subjects (nats.go `GetBatch`);
/// * [`DirectBatch::last_per_subject`]: the newest message of every subject matching
///   the filters, optionally as they were at a sequence or time (nats.go `GetLastMsgsFor`).
///
/// ```
/// use natsy_jetstream::DirectBatch;
/// // 100 messages on `orders.eu.>` from sequence 500, at most 1 MiB of them.
/// let next = DirectBatch::new(100).subject("orders.eu.>").start_sequence(500).max_bytes(1 << 20);
/// // The newest value of every key of user 1234, as of sequence 90.
/// let snapshot = DirectBatch::last_per_subject(["$KV.USERS.1234.>"]).up_to_sequence(90);
/// # let _ = (next, snapshot);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirectBatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    #[serde(rename = "next_by_subj", skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    #[serde(skip_serializing_if = "is_zero")]
    batch: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_bytes: Option<usize>,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    start_time: Option<OffsetDateTime>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    multi_last: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    up_to_seq: Option<u64>,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    up_to_time: Option<OffsetDateTime>,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

impl DirectBatch {
    /// Up to `batch` messages (at least 1) in sequence order, from the stream's first
    /// message unless [`start_sequence`](Self::start_sequence) or
    /// [`start_time`](Self::start_time) says otherwise.
    pub fn new(batch: usize) -> Self {
        DirectBatch {
            seq: None,
            subject: None,
            batch,
            max_bytes: None,
            start_time: None,
            multi_last: Vec::new(),
            up_to_seq: None,
            up_to_time: None,
        }
    }

    /// The newest message of each subject matching one of `subjects` (wildcards
    /// allowed; at most 1024 subjects may match, else the server answers `413`).
    pub fn last_per_subject<S: Into<String>>(subjects: impl IntoIterator<Item = S>) -> Self {
        DirectBatch {
            multi_last: subjects.into_iter().map(Into::into).collect(),
            ..DirectBatch::new(0)
        }
    }

    /// At most `batch` messages (for [`last_per_subject`](Self::last_per_subject);
    /// unset there, the server stops at `max_bytes`).
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch;
        self
    }

    /// Only messages on subjects matching `subject` (wildcards allowed).
    pub fn subject(mut self, subject: &str) -> Self {
        self.subject = Some(subject.to_string());
        self
    }

    /// From stream sequence `seq` on (for `last_per_subject`: only messages from there).
    pub fn start_sequence(mut self, seq: u64) -> Self {
        self.seq = Some(seq);
        self
    }

    /// From the first message stored at or after `time` on.
    pub fn start_time(mut self, time: OffsetDateTime) -> Self {
        self.start_time = Some(time);
        self
    }

    /// Stop once this many bytes (subjects, headers, payloads) were sent; the server's
    /// default is its `max_pending` (64 MiB). The server sends a batch without flow
    /// control, into the reply subscription's pending limits; what they drop ends the
    /// batch with an error (the messages name their predecessors), never a silent gap.
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = Some(max_bytes);
        self
    }

    /// For `last_per_subject`: the subjects as they were at stream sequence `seq`.
    pub fn up_to_sequence(mut self, seq: u64) -> Self {
        self.up_to_seq = Some(seq);
        self
    }

    /// For `last_per_subject`: the subjects as they were at `time`.
    pub fn up_to_time(mut self, time: OffsetDateTime) -> Self {
        self.up_to_time = Some(time);
        self
    }

    /// The request body, after the checks the server would otherwise answer with a
    /// `408` (or, for a batch of 0, with a single message and no `EOB`).
    fn body(&self) -> Result<Bytes, Error> {
        let multi = !self.multi_last.is_empty();
        if self.seq.is_some() && self.start_time.is_some() {
            return Err(Error::InvalidArgument(
                "start sequence and start time are exclusive",
            ));
        }
        if self.up_to_seq.is_some() && self.up_to_time.is_some() {
            return Err(Error::InvalidArgument(
                "up-to sequence and up-to time are exclusive",
            ));
        }
        if self.seq == Some(0) {
            return Err(Error::InvalidArgument("message sequence 0 does not exist"));
        }
        if multi {
            if self.subject.is_some() || self.start_time.is_some() {
                return Err(Error::InvalidArgument(
                    "last_per_subject takes no subject filter or start time",
                ));
            }
            for s in &self.multi_last {
                check_subject_filter(s)?;
            }
        } else {
            if self.batch == 0 {
                return Err(Error::InvalidArgument("a direct get batch is at least 1"));
            }
            if self.up_to_seq.is_some() || self.up_to_time.is_some() {
                return Err(Error::InvalidArgument(
                    "up-to sequence and time are for last_per_subject only",
                ));
            }
            if let Some(s) = &self.subject {
                check_subject_filter(s)?;
            }
        }
        let mut request = self.clone();
        // The server wants a starting point; none means the stream's start.
        if !multi && request.seq.is_none() && request.start_time.is_none() {
            request.seq = Some(if request.subject.is_some() { 0 } else { 1 });
        }
        let body =
            serde_json::to_vec(&request).map_err(|e| Error::InvalidResponse(e.to_string()))?;
        Ok(Bytes::from(body))
    }
}

/// How a batch ended: the `EOB` status's headers. nats.go: the batch's last message's
/// `Nats-Num-Pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchEnd {
    /// Messages matching the request that are still in the stream after this batch
    /// (ask again from `last_sequence + 1` for them).
    pub num_pending: u64,
    /// The sequence of the last message sent (0: none).
    pub last_sequence: u64,
    /// For `last_per_subject`: the stream sequence the answer is consistent at; pass it
    /// as [`DirectBatch::up_to_sequence`] to read the rest at the same point.
    pub up_to_sequence: Option<u64>,
}

/// What one reply of a batch was.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BatchStep {
    Message(Box<StoredMessage>),
    Done,
}

/// Reads the replies of one batch direct get, in order.
#[derive(Debug, Default)]
pub(crate) struct BatchReader {
    /// The sequence of the last message read (0: none yet).
    last_seq: u64,
    got_any: bool,
    finished: bool,
    end: Option<BatchEnd>,
}

fn header_u64(h: &natsy::HeaderMap, name: &str) -> Result<Option<u64>, Error> {
    match h.get(name) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| Error::InvalidResponse(format!("direct get batch: bad {name} {v:?}"))),
    }
}

impl BatchReader {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// True once the batch is over (after `Done` or an error).
    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    /// Ends the batch after a failure outside the replies (timeout, closed inbox).
    pub(crate) fn finish(&mut self) {
        self.finished = true;
    }

    /// The `EOB` of a finished batch (`None` for an empty batch or an old server).
    pub(crate) fn end(&self) -> Option<BatchEnd> {
        self.end
    }

    /// Reads the next reply. Errors end the batch.
    pub(crate) fn handle(&mut self, msg: &natsy::proto::Message) -> Result<BatchStep, Error> {
        if self.finished {
            return Ok(BatchStep::Done);
        }
        let result = self.step(msg);
        if !matches!(result, Ok(BatchStep::Message(_))) {
            self.finished = true;
        }
        result
    }

    fn step(&mut self, msg: &natsy::proto::Message) -> Result<BatchStep, Error> {
        let parsed = direct_headers(msg)?;
        match parsed.status.map(|s| s.as_u16()) {
            Some(204) => {
                let h = &parsed.headers;
                let last = header_u64(h, "Nats-Last-Sequence")?.unwrap_or(0);
                if last != self.last_seq {
                    return Err(lost(self.last_seq, last));
                }
                self.end = Some(BatchEnd {
                    num_pending: header_u64(h, "Nats-Num-Pending")?.unwrap_or(0),
                    last_sequence: last,
                    up_to_sequence: header_u64(h, "Nats-UpTo-Sequence")?,
                });
                return Ok(BatchStep::Done);
            }
            // Nothing matched: an empty batch, not an error.
            Some(404) if !self.got_any => return Ok(BatchStep::Done),
            // No responders: the stream has no `allow_direct` (or does not exist), as
            // a single direct get reports it.
            Some(503) if !self.got_any => return Err(Error::NotEnabled),
            Some(code) => return Err(direct_status_error(code, parsed.description)),
            None => {}
        }
        let pending = header_u64(&parsed.headers, "Nats-Num-Pending")?;
        let previous = header_u64(&parsed.headers, "Nats-Last-Sequence")?;
        let message = direct_message(parsed, msg)?;
        match (pending, previous) {
            // Each message names the one sent before it: a gap means some were dropped
            // on the way (a slow consumer on this connection).
            (Some(_), Some(prev)) if prev != self.last_seq => Err(lost(self.last_seq, prev)),
            (Some(_), _) => {
                self.got_any = true;
                self.last_seq = message.sequence;
                Ok(BatchStep::Message(Box::new(message)))
            }
            // A server before 2.11 answers a batch with one plain message and no EOB.
            (None, _) if !self.got_any => {
                self.got_any = true;
                self.last_seq = message.sequence;
                self.finished = true;
                Ok(BatchStep::Message(Box::new(message)))
            }
            (None, _) => Err(Error::InvalidResponse(
                "direct get batch message lacks Nats-Num-Pending".into(),
            )),
        }
    }
}

fn lost(had: u64, server_sent_after: u64) -> Error {
    Error::InvalidResponse(format!(
        "direct get batch lost messages: the last one received was {had}, the server's \
         was {server_sent_after} (slow consumer?)"
    ))
}

/// The endpoint and body of a batch direct get of `batch` on `stream`.
pub(crate) fn batch_request(stream: &str, batch: &DirectBatch) -> Result<(String, Bytes), Error> {
    check_stream_name(stream)?;
    Ok((format!("DIRECT.GET.{stream}"), batch.body()?))
}

/// What a wait on a batch's inbox ended with, as an error.
pub(crate) fn inbox_ended(why: natsy::SubscriptionEnded) -> Error {
    match why {
        natsy::SubscriptionEnded::PermissionDenied(e) => Error::PermissionDenied(e),
        _ => Error::Request(natsy::RequestError::Closed),
    }
}

/// The messages of a batch direct get, as they arrive: an iterator of
/// `Result<StoredMessage, Error>` that ends after the server's `EOB` (then
/// [`DirectBatchMessages::end`] has it), after an error, or when nothing arrived for the
/// context's timeout ([`Error::Request`] with a timeout). Dropping it unsubscribes.
#[derive(Debug)]
pub struct DirectBatchMessages {
    sub: natsy::Subscription,
    reader: BatchReader,
    timeout: Duration,
}

impl DirectBatchMessages {
    /// How the batch ended, once the iterator returned `None` after the server's `EOB`:
    /// what is still pending and the last sequence, to ask for the next batch. `None`
    /// before, for an empty batch, and from a server before 2.11.
    pub fn end(&self) -> Option<BatchEnd> {
        self.reader.end()
    }
}

impl Iterator for DirectBatchMessages {
    type Item = Result<StoredMessage, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.reader.is_finished() {
            return None;
        }
        let msg = match self.sub.next_timeout(self.timeout) {
            Ok(msg) => msg,
            Err(e) => {
                self.reader.finish();
                return Some(Err(match e {
                    natsy::NextError::TimedOut => Error::Request(natsy::RequestError::TimedOut),
                    natsy::NextError::Ended(why) => inbox_ended(why),
                    _ => Error::Request(natsy::RequestError::Closed),
                }));
            }
        };
        match self.reader.handle(&msg) {
            Ok(BatchStep::Message(m)) => Some(Ok(*m)),
            Ok(BatchStep::Done) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

impl Context {
    fn direct_batch(
        &self,
        stream: &str,
        batch: &DirectBatch,
    ) -> Result<DirectBatchMessages, Error> {
        let (endpoint, body) = batch_request(stream, batch)?;
        let client = self.client();
        let inbox = client.new_inbox();
        let sub = client
            .subscribe(&inbox)
            .map_err(crate::pull::subscribe_error)?;
        let subject = self.api_subject(&endpoint);
        // A refused request (or inbox) ends `sub` at once instead of at the timeout.
        sub.end_on_refused_publish(&subject);
        client
            .publish_with_reply(&subject, &inbox, body)
            .map_err(Error::Publish)?;
        Ok(DirectBatchMessages {
            sub,
            reader: BatchReader::new(),
            timeout: self.timeout(),
        })
    }
}

impl Stream {
    /// Many messages with one direct get (server 2.11+, a stream with `allow_direct`),
    /// delivered as they arrive. Without `allow_direct` nobody answers and the first
    /// item is [`Error::NotEnabled`] (no responders). See [`DirectBatch`] for which
    /// messages.
    ///
    /// ```no_run
    /// # fn run(stream: natsy_jetstream::Stream) -> Result<(), natsy_jetstream::Error> {
    /// use natsy_jetstream::DirectBatch;
    /// let mut batch = stream.direct_get_batch(&DirectBatch::new(100).subject("orders.>"))?;
    /// for msg in &mut batch {
    ///     let msg = msg?;
    ///     println!("{} {}", msg.sequence, msg.subject);
    /// }
    /// if let Some(end) = batch.end() {
    ///     println!("{} more after {}", end.num_pending, end.last_sequence);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn direct_get_batch(&self, batch: &DirectBatch) -> Result<DirectBatchMessages, Error> {
        self.context.direct_batch(&self.name, batch)
    }
}

#[cfg(test)]
mod tests;

//! The state machine both op parsers share: find the control line (resuming the scan,
//! never past the limit), hand it to the op grammar, wait for a frame's payload by
//! checking only the buffer length, and keep the first error for good.
//!
//! A [`Grammar`] supplies only what differs between the server → client and the
//! client → server protocol: how a control line is read, how many bytes its frame needs,
//! and how a complete frame becomes an op.

use bytes::BytesMut;

use crate::error::ProtocolError;
use crate::line::{self, LineEnd};
use crate::server_op::{ParserLimits, Status};

/// What a complete control line turned out to be.
pub(crate) enum Step<P, O> {
    /// An op that ends with its line; the grammar has taken the line off the buffer.
    Done(O),
    /// The header of a frame with a payload, which may not all be buffered yet.
    Payload(P),
}

/// The ops of one side of the protocol.
pub(crate) trait Grammar {
    /// A parsed control line whose frame carries a payload.
    type Pending: Copy;
    /// The op produced.
    type Op;

    /// Reads the control line `buf[..content_len]` (CR LF excluded; `line_len` counts the
    /// LF). For [`Step::Done`] it removes the line from `buf`.
    fn control(
        buf: &mut BytesMut,
        content_len: usize,
        line_len: usize,
        limits: &ParserLimits,
    ) -> Result<Step<Self::Pending, Self::Op>, ProtocolError>;

    /// Bytes the whole frame of `pending` takes, control line included.
    fn needed(pending: &Self::Pending) -> usize;

    /// Cuts the complete frame of `pending` off `buf` (which holds at least
    /// [`Grammar::needed`] bytes).
    fn finish(pending: &Self::Pending, buf: &mut BytesMut) -> Result<Self::Op, ProtocolError>;
}

/// Where a parser stands between two calls.
#[derive(Debug, Clone, PartialEq)]
enum State<P> {
    /// Waiting for the LF of a control line; the first `scanned` bytes hold none.
    Line { scanned: usize },
    /// A control line with a payload was parsed; waiting for the whole frame.
    Payload(P),
    /// A protocol error happened; it is returned again on every call.
    Failed(ProtocolError),
}

/// The shared parser state: one per connection direction.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Framer<P> {
    state: State<P>,
    /// Bytes searched or parsed so far; tests use it to prove linear time.
    work: u64,
}

impl<P> Default for Framer<P> {
    fn default() -> Self {
        Framer {
            state: State::Line { scanned: 0 },
            work: 0,
        }
    }
}

impl<P: Copy> Framer<P> {
    /// At an op boundary with nothing scanned yet (where a fast path may look).
    #[inline(always)]
    pub(crate) fn is_fresh(&self) -> bool {
        matches!(self.state, State::Line { scanned: 0 })
    }

    /// Forgets partial state and any sticky error.
    pub(crate) fn reset(&mut self) {
        self.state = State::Line { scanned: 0 };
    }

    /// The total size of the frame at the front of the buffer whose control line was
    /// parsed and whose payload is still arriving, if any.
    pub(crate) fn awaiting<G: Grammar<Pending = P>>(&self) -> Option<usize> {
        match &self.state {
            State::Payload(pending) => Some(G::needed(pending)),
            _ => None,
        }
    }

    /// Bytes searched or parsed so far.
    #[cfg(test)]
    pub(crate) fn work(&self) -> u64 {
        self.work
    }

    /// Parses one op of grammar `G` from the front of `buf`.
    #[inline]
    pub(crate) fn parse<G: Grammar<Pending = P>>(
        &mut self,
        buf: &mut BytesMut,
        limits: &ParserLimits,
    ) -> Result<Status<G::Op>, ProtocolError> {
        let result = match self.state {
            State::Line { scanned } => self.line::<G>(buf, scanned, limits),
            State::Payload(pending) => {
                if buf.len() < G::needed(&pending) {
                    return Ok(Status::Partial);
                }
                self.state = State::Line { scanned: 0 };
                G::finish(&pending, buf).map(Status::Complete)
            }
            State::Failed(ref e) => return Err(e.clone()),
        };
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        result
    }

    #[inline]
    fn line<G: Grammar<Pending = P>>(
        &mut self,
        buf: &mut BytesMut,
        scanned: usize,
        limits: &ParserLimits,
    ) -> Result<Status<G::Op>, ProtocolError> {
        let lf = match line::find_line_end(buf, scanned, limits.max_control_line, &mut self.work)? {
            LineEnd::Found(lf) => lf,
            LineEnd::Pending { scanned } => {
                self.state = State::Line { scanned };
                return Ok(Status::Partial);
            }
        };
        self.state = State::Line { scanned: 0 };
        let content_len = line::line_content(buf, lf).len();
        self.work = self.work.wrapping_add(content_len as u64);
        match G::control(buf, content_len, lf + 1, limits)? {
            Step::Done(op) => Ok(Status::Complete(op)),
            Step::Payload(pending) => {
                if buf.len() < G::needed(&pending) {
                    self.state = State::Payload(pending);
                    return Ok(Status::Partial);
                }
                G::finish(&pending, buf).map(Status::Complete)
            }
        }
    }
}

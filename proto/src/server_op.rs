//! The server → client parser: `INFO`, `MSG`, `HMSG`, `PING`, `PONG`, `+OK`, `-ERR`.
//!
//! Incremental, zero-copy and bounded. See [`ServerOpParser`].

use bytes::{Buf, BytesMut};

use crate::error::ProtocolError;
use crate::info::ServerInfo;
use crate::line::{self, FrameSize, LineEnd, OpMatch};
use crate::message::{Message, Sid};
use crate::server_error::ServerError;

/// The result of one parse step, after httparse: running out of bytes is not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status<T> {
    /// A whole op was parsed and its bytes consumed from the buffer.
    Complete(T),
    /// More bytes are needed; nothing useful was consumed. Call again after reading more.
    Partial,
}

/// One op sent by the server.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerOp {
    /// `INFO {json}`.
    Info(Box<ServerInfo>),
    /// `MSG` or `HMSG`.
    Msg(Message),
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK` (verbose mode only).
    Ok,
    /// `-ERR '<text>'`, classified.
    Err(ServerError),
}

/// Bounds on what the parser will buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParserLimits {
    /// The longest control line accepted, CRLF included. Default 64 KiB: INFO can be large
    /// in big clusters.
    pub max_control_line: usize,
    /// The largest `MSG`/`HMSG` total size (headers + payload) accepted. Default 64 MiB,
    /// well above the server's largest sane `max_payload`; the connection lowers it to the
    /// server's `max_payload` plus [`ParserLimits::PAYLOAD_MARGIN`] once INFO arrives.
    pub max_payload: usize,
}

impl ParserLimits {
    /// Slack allowed above the server's advertised `max_payload` before a frame is refused.
    pub const PAYLOAD_MARGIN: usize = 64 * 1024;
}

impl Default for ParserLimits {
    fn default() -> Self {
        ParserLimits {
            max_control_line: 64 * 1024,
            max_payload: 64 * 1024 * 1024,
        }
    }
}

/// Incremental parser for server ops.
///
/// Call [`ServerOpParser::parse`] with the read buffer after every read, until it returns
/// [`Status::Partial`]. A parsed op's bytes are split off the front of the buffer; its
/// message parts are slices of them, so nothing is copied.
///
/// ```
/// use bytes::BytesMut;
/// use natsy_proto::{ServerOp, ServerOpParser, Status};
///
/// let mut parser = ServerOpParser::default();
/// let mut buf = BytesMut::from(&b"PING\r\nMSG a.b 1 2\r\nhi"[..]);
/// assert_eq!(parser.parse(&mut buf).unwrap(), Status::Complete(ServerOp::Ping));
/// assert_eq!(parser.parse(&mut buf).unwrap(), Status::Partial);
/// buf.extend_from_slice(b"\r\n");
/// let Status::Complete(ServerOp::Msg(msg)) = parser.parse(&mut buf).unwrap() else { panic!() };
/// assert_eq!((msg.subject(), msg.payload()), ("a.b", &b"hi"[..]));
/// assert!(buf.is_empty());
/// ```
///
/// Linear time: while a control line arrives in small reads, the parser remembers how far
/// it searched for the LF; while a large payload arrives, it remembers the parsed header
/// and how many bytes it still needs, and only compares the buffer length.
///
/// Bounded: a control line longer than [`ParserLimits::max_control_line`] is refused as
/// soon as that many bytes are buffered without an LF, and a frame announcing more than
/// [`ParserLimits::max_payload`] bytes is refused before any of its payload is awaited.
///
/// Errors are sticky: after a [`ProtocolError`], every call returns the same error until
/// [`ServerOpParser::reset`].
#[derive(Debug, Default)]
pub struct ServerOpParser {
    limits: ParserLimits,
    state: State,
    /// Bytes searched or parsed so far; tests use it to prove linear time.
    work: u64,
}

/// Where the parser stands between two calls.
#[derive(Debug, Clone, PartialEq)]
enum State {
    /// Waiting for the LF of a control line; the first `scanned` bytes hold none.
    Line { scanned: usize },
    /// A `MSG`/`HMSG` control line was parsed; waiting for the whole frame.
    Payload(PendingMsg),
    /// A protocol error happened; it is returned again on every call.
    Failed(ProtocolError),
}

impl Default for State {
    fn default() -> Self {
        State::Line { scanned: 0 }
    }
}

/// A parsed `MSG`/`HMSG` control line. Ranges are offsets into the frame, which starts at
/// the front of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PendingMsg {
    sid: Sid,
    subject: (usize, usize),
    reply: Option<(usize, usize)>,
    has_headers: bool,
    /// Control line length, LF included: where the header block or payload starts.
    line_len: usize,
    size: FrameSize,
}

/// What a complete control line turned out to be.
enum LineOp {
    /// The header of a message whose frame may still be incomplete.
    Msg(PendingMsg),
    /// An op that ends with its control line.
    Done(ServerOp),
}

impl ServerOpParser {
    /// A parser with the given limits.
    pub fn new(limits: ParserLimits) -> Self {
        ServerOpParser {
            limits,
            state: State::default(),
            work: 0,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> ParserLimits {
        self.limits
    }

    /// Lowers (or raises) the payload limit, typically to the server's `max_payload` plus
    /// [`ParserLimits::PAYLOAD_MARGIN`].
    ///
    /// A frame whose header was already accepted is not re-checked.
    pub fn set_max_payload(&mut self, max_payload: usize) {
        self.limits.max_payload = max_payload;
    }

    /// Forgets any partial state and any sticky error, for a new transport.
    pub fn reset(&mut self) {
        self.state = State::default();
    }

    /// Parses one op from the front of `buf`.
    ///
    /// Returns [`Status::Complete`] with the op, its bytes removed from `buf`, or
    /// [`Status::Partial`] when `buf` holds no whole op yet (nothing is removed then; call
    /// again once more bytes were appended).
    ///
    /// # Errors
    ///
    /// A [`ProtocolError`] when the bytes are not valid server protocol or break the
    /// [`ParserLimits`]. The error is sticky: the connection must be dropped.
    #[inline]
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Status<ServerOp>, ProtocolError> {
        let result = match self.state {
            State::Line { scanned } => self.parse_line(buf, scanned),
            State::Payload(pending) => {
                if buf.len() < pending.size.needed {
                    return Ok(Status::Partial);
                }
                self.state = State::default();
                finish_msg(&pending, buf)
            }
            State::Failed(ref e) => return Err(e.clone()),
        };
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        result
    }

    /// Bytes searched or parsed since creation, for the linear-time tests.
    #[cfg(test)]
    fn work(&self) -> u64 {
        self.work
    }

    #[inline]
    fn parse_line(
        &mut self,
        buf: &mut BytesMut,
        scanned: usize,
    ) -> Result<Status<ServerOp>, ProtocolError> {
        let lf = match line::find_line_end(
            buf,
            scanned,
            self.limits.max_control_line,
            &mut self.work,
        )? {
            LineEnd::Found(lf) => lf,
            LineEnd::Pending { scanned } => {
                self.state = State::Line { scanned };
                return Ok(Status::Partial);
            }
        };
        self.state = State::default();
        let content = line::line_content(buf, lf);
        self.work = self.work.wrapping_add(content.len() as u64);
        let line_len = lf + 1;
        match parse_control(content, line_len, self.limits.max_payload)? {
            LineOp::Msg(pending) => {
                if buf.len() < pending.size.needed {
                    self.state = State::Payload(pending);
                    return Ok(Status::Partial);
                }
                finish_msg(&pending, buf)
            }
            LineOp::Done(op) => {
                buf.advance(line_len);
                Ok(Status::Complete(op))
            }
        }
    }
}

/// Parses a complete control line (without its CR LF).
#[inline]
fn parse_control(
    line: &[u8],
    line_len: usize,
    max_payload: usize,
) -> Result<LineOp, ProtocolError> {
    let first = line.first().map(u8::to_ascii_uppercase);
    let with_args = |m: OpMatch, op: &'static str| match m {
        OpMatch::Args(at) => Ok(at),
        OpMatch::Bare => Err(ProtocolError::InvalidArguments { op }),
        OpMatch::No | OpMatch::Glued => Err(ProtocolError::UnknownOp),
    };
    match first {
        Some(b'M') => {
            let at = with_args(line::match_op(line, b"MSG"), "MSG")?;
            msg_header(line, at, line_len, false, max_payload).map(LineOp::Msg)
        }
        Some(b'H') => {
            let at = with_args(line::match_op(line, b"HMSG"), "HMSG")?;
            msg_header(line, at, line_len, true, max_payload).map(LineOp::Msg)
        }
        Some(b'P') if line::starts_with_op(line, b"PING") => Ok(LineOp::Done(ServerOp::Ping)),
        Some(b'P') if line::starts_with_op(line, b"PONG") => Ok(LineOp::Done(ServerOp::Pong)),
        Some(b'+') if line::starts_with_op(line, b"+OK") => Ok(LineOp::Done(ServerOp::Ok)),
        Some(b'I') => {
            let at = with_args(line::match_op(line, b"INFO"), "INFO")?;
            let json = line::trim_start(line.get(at..).unwrap_or_default());
            let info = ServerInfo::from_json(json).map_err(|e| ProtocolError::InvalidJson {
                op: "INFO",
                reason: e.to_string(),
            })?;
            Ok(LineOp::Done(ServerOp::Info(Box::new(info))))
        }
        Some(b'-') => {
            let text = match line::match_op(line, b"-ERR") {
                OpMatch::Bare => &[][..],
                OpMatch::Args(at) => line.get(at..).unwrap_or_default(),
                OpMatch::No | OpMatch::Glued => return Err(ProtocolError::UnknownOp),
            };
            let err = ServerError::parse(&String::from_utf8_lossy(text));
            Ok(LineOp::Done(ServerOp::Err(err)))
        }
        _ => Err(ProtocolError::UnknownOp),
    }
}

/// Parses the arguments of `MSG <subj> <sid> [reply] <#bytes>` or
/// `HMSG <subj> <sid> [reply] <#hdr> <#total>`.
#[inline]
fn msg_header(
    line: &[u8],
    at: usize,
    line_len: usize,
    has_headers: bool,
    max_payload: usize,
) -> Result<PendingMsg, ProtocolError> {
    let op = if has_headers { "HMSG" } else { "MSG" };
    let args = line::split_args(line, at).ok_or(ProtocolError::InvalidArguments { op })?;
    let sizes = if has_headers { 2 } else { 1 };
    let has_reply = match args.len().checked_sub(2 + sizes) {
        Some(0) => false,
        Some(1) => true,
        _ => return Err(ProtocolError::InvalidArguments { op }),
    };
    let last = args.len().saturating_sub(1);
    let hdr = has_headers.then(|| line::slice(line, args.range(last.saturating_sub(1))));
    let size = line::frame_size(
        op,
        hdr,
        line::slice(line, args.range(last)),
        max_payload,
        line_len,
    )?;
    let sid = line::parse_u64(line::slice(line, args.range(1)))
        .ok_or(ProtocolError::InvalidNumber { op })?;
    let subject = args.range(0);
    line::check_utf8(line::slice(line, subject))?;
    let reply = if has_reply {
        let reply = args.range(2);
        line::check_utf8(line::slice(line, reply))?;
        Some(reply)
    } else {
        None
    };
    Ok(PendingMsg {
        sid,
        subject,
        reply,
        has_headers,
        line_len,
        size,
    })
}

/// Cuts a whole `MSG`/`HMSG` frame off `buf` (one split, one reference count) and wraps
/// it in a [`Message`]. The caller checked that `buf` holds `needed` bytes.
#[inline]
fn finish_msg(p: &PendingMsg, buf: &mut BytesMut) -> Result<Status<ServerOp>, ProtocolError> {
    line::check_terminator(buf, p.size.needed)?;
    let frame = buf.split_to(p.size.needed).freeze();
    let body = p.line_len;
    let payload_start = body + p.size.hdr;
    let headers = p.has_headers.then_some(body..payload_start);
    let msg = Message::from_parts(
        frame,
        p.sid,
        p.subject.0..p.subject.1,
        p.reply.map(|r| r.0..r.1),
        headers,
        payload_start..body + p.size.total,
    );
    Ok(Status::Complete(ServerOp::Msg(msg)))
}

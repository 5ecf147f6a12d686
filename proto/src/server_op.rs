//! The server → client parser: `INFO`, `MSG`, `HMSG`, `PING`, `PONG`, `+OK`, `-ERR`.
//!
//! Incremental, zero-copy and bounded. See [`ServerOpParser`].

use bytes::{Buf, BytesMut};

use crate::error::ProtocolError;
use crate::framing::{Framer, Grammar, Step};
use crate::info::ServerInfo;
use crate::line::{self, FrameSize, OpMatch};
use crate::message::{Message, Sid};
use crate::msg_fast_path;
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
/// message parts are slices of them, so nothing is copied. Common `MSG` frames are split
/// off in runs of up to 32 and handed out one per call (see [`ServerOpParser::parse`]).
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
    framer: Framer<PendingMsg>,
    /// Common `MSG` frames already split off the buffer, handed out first.
    batch: msg_fast_path::Batch,
}

/// The server → client grammar for the shared [`Framer`].
struct ServerGrammar;

impl Grammar for ServerGrammar {
    type Pending = PendingMsg;
    type Op = ServerOp;

    #[inline]
    fn control(
        buf: &mut BytesMut,
        content_len: usize,
        line_len: usize,
        limits: &ParserLimits,
    ) -> Result<Step<PendingMsg, ServerOp>, ProtocolError> {
        let line = buf.get(..content_len).unwrap_or_default();
        let step = parse_control(line, line_len, limits.max_payload)?;
        if let Step::Done(_) = step {
            buf.advance(line_len);
        }
        Ok(step)
    }

    #[inline]
    fn needed(pending: &PendingMsg) -> usize {
        pending.size.needed
    }

    #[inline]
    fn finish(pending: &PendingMsg, buf: &mut BytesMut) -> Result<ServerOp, ProtocolError> {
        finish_msg(pending, buf)
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

impl ServerOpParser {
    /// A parser with the given limits.
    pub fn new(limits: ParserLimits) -> Self {
        ServerOpParser {
            limits,
            framer: Framer::default(),
            batch: msg_fast_path::Batch::default(),
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

    /// The total size, control line included, of the `MSG`/`HMSG` frame at the front of
    /// the buffer whose header was parsed and whose payload is still arriving, if any.
    ///
    /// A driver can reserve that much once instead of growing its buffer read by read; the
    /// parser itself only compares the buffer length with it until the frame is complete.
    pub fn awaiting(&self) -> Option<usize> {
        self.framer.awaiting::<ServerGrammar>()
    }

    /// Forgets any partial state, any frames held back and any sticky error, for a new
    /// transport.
    pub fn reset(&mut self) {
        self.framer.reset();
        self.batch.clear();
    }

    /// Parses one op from the front of `buf`.
    ///
    /// Returns [`Status::Complete`] with the op, its bytes removed from `buf`, or
    /// [`Status::Partial`] when `buf` holds no whole op yet (nothing is removed then; call
    /// again once more bytes were appended).
    ///
    /// When the front of `buf` is a run of whole `MSG` frames in the form nats-server
    /// writes, up to 32 of them are split off together and held by the parser; the
    /// following calls return them, in order, before looking at `buf` again. So call this
    /// until it returns `Partial` (as every read loop does): after a `Complete`, `buf` may
    /// already lack the bytes of ops the next calls return.
    ///
    /// # Errors
    ///
    /// A [`ProtocolError`] when the bytes are not valid server protocol or break the
    /// [`ParserLimits`]. The error is sticky: the connection must be dropped.
    #[inline(always)]
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Status<ServerOp>, ProtocolError> {
        if let Some(msg) = self.batch.pop() {
            return Ok(Status::Complete(ServerOp::Msg(msg)));
        }
        if self.framer.is_fresh() {
            let limits = self.limits;
            if let Some(msg) = self
                .batch
                .fill(buf, limits.max_payload, limits.max_control_line)
            {
                return Ok(Status::Complete(ServerOp::Msg(msg)));
            }
        }
        self.parse_general(buf)
    }

    /// Every op and form the fast path leaves, with all the checks and errors. Kept out
    /// of line so that [`parse`](Self::parse) stays small where it is inlined into the
    /// caller's read loop.
    #[inline(never)]
    fn parse_general(&mut self, buf: &mut BytesMut) -> Result<Status<ServerOp>, ProtocolError> {
        self.framer.parse::<ServerGrammar>(buf, &self.limits)
    }

    /// Bytes searched or parsed since creation, for the linear-time tests.
    #[cfg(test)]
    fn work(&self) -> u64 {
        self.framer.work()
    }
}

/// Parses a complete control line (without its CR LF).
#[inline]
fn parse_control(
    line: &[u8],
    line_len: usize,
    max_payload: usize,
) -> Result<Step<PendingMsg, ServerOp>, ProtocolError> {
    match line.first().map(u8::to_ascii_uppercase) {
        Some(b'M') => {
            let at = with_args(line::match_op(line, b"MSG"), "MSG")?;
            msg_header(line, at, line_len, false, max_payload).map(Step::Payload)
        }
        Some(b'H') => {
            let at = with_args(line::match_op(line, b"HMSG"), "HMSG")?;
            msg_header(line, at, line_len, true, max_payload).map(Step::Payload)
        }
        _ => other_op(line).map(Step::Done),
    }
}

/// Parses every op but `MSG`/`HMSG`. Kept out of line so the message path stays small
/// enough to inline into the caller's read loop.
#[inline(never)]
fn other_op(line: &[u8]) -> Result<ServerOp, ProtocolError> {
    let first = line.first().map(u8::to_ascii_uppercase);
    match first {
        Some(b'P') if line::starts_with_op(line, b"PING") => Ok(ServerOp::Ping),
        Some(b'P') if line::starts_with_op(line, b"PONG") => Ok(ServerOp::Pong),
        Some(b'+') if line::starts_with_op(line, b"+OK") => Ok(ServerOp::Ok),
        Some(b'I') => {
            let at = with_args(line::match_op(line, b"INFO"), "INFO")?;
            let json = line::trim_start(line.get(at..).unwrap_or_default());
            let info = ServerInfo::from_json(json).map_err(|e| ProtocolError::InvalidJson {
                op: "INFO",
                reason: e.to_string(),
            })?;
            Ok(ServerOp::Info(Box::new(info)))
        }
        Some(b'-') => {
            let text = match line::match_op(line, b"-ERR") {
                OpMatch::Bare => &[][..],
                OpMatch::Args(at) => line.get(at..).unwrap_or_default(),
                OpMatch::No | OpMatch::Glued => return Err(ProtocolError::UnknownOp),
            };
            Ok(ServerOp::Err(ServerError::parse(&String::from_utf8_lossy(
                text,
            ))))
        }
        _ => Err(ProtocolError::UnknownOp),
    }
}

/// The index where an op's arguments start, or the error for an op without them.
#[inline]
fn with_args(m: OpMatch, op: &'static str) -> Result<usize, ProtocolError> {
    match m {
        OpMatch::Args(at) => Ok(at),
        OpMatch::Bare => Err(ProtocolError::InvalidArguments { op }),
        OpMatch::No | OpMatch::Glued => Err(ProtocolError::UnknownOp),
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
    let h = line::frame_header(op, line, at, line_len, has_headers, 1, max_payload)?;
    let sid = line::parse_u64(line::slice(line, h.args.range(1)))
        .ok_or(ProtocolError::InvalidNumber { op })?;
    Ok(PendingMsg {
        sid,
        subject: h.subject,
        reply: h.reply,
        has_headers,
        line_len,
        size: h.size,
    })
}

/// Cuts a whole `MSG`/`HMSG` frame off `buf` (one split, one reference count) and wraps
/// it in a [`Message`]. The caller checked that `buf` holds `needed` bytes.
#[inline]
fn finish_msg(p: &PendingMsg, buf: &mut BytesMut) -> Result<ServerOp, ProtocolError> {
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
    Ok(ServerOp::Msg(msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_error::ServerErrorKind;

    fn parse_all(
        parser: &mut ServerOpParser,
        input: &[u8],
    ) -> Result<Vec<ServerOp>, ProtocolError> {
        let mut buf = BytesMut::from(input);
        let mut ops = Vec::new();
        while let Status::Complete(op) = parser.parse(&mut buf)? {
            ops.push(op);
        }
        Ok(ops)
    }

    fn first_error(input: &[u8], limits: ParserLimits) -> ProtocolError {
        let mut parser = ServerOpParser::new(limits);
        let err = parse_all(&mut parser, input).expect_err("input must be refused");
        // Sticky: the same error again, whatever comes next.
        let mut more = BytesMut::from(&b"PING\r\n"[..]);
        assert_eq!(parser.parse(&mut more), Err(err.clone()));
        assert_eq!(parser.parse(&mut BytesMut::new()), Err(err.clone()));
        err
    }

    /// Runs of common frames are split off in batches; ops still come out one per call,
    /// in stream order, across batch boundaries and other ops.
    #[test]
    fn batched_frames_come_out_in_order() {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for i in 0..100u64 {
            if i % 37 == 36 {
                input.extend_from_slice(b"PING\r\n");
                expected.push("PING".to_string());
            }
            let payload = format!("p{i}");
            let reply = if i % 3 == 0 { " r.x" } else { "" };
            input.extend_from_slice(
                format!("MSG s.{i} {i}{reply} {}\r\n{payload}\r\n", payload.len()).as_bytes(),
            );
            expected.push(format!("s.{i} {i}{reply} {payload}"));
        }
        input.extend_from_slice(b"MSG s.last 1 5\r\nhel");
        let mut parser = ServerOpParser::default();
        let mut buf = BytesMut::from(&input[..]);
        let mut got = Vec::new();
        while let Status::Complete(op) = parser.parse(&mut buf).unwrap() {
            got.push(match op {
                ServerOp::Ping => "PING".to_string(),
                ServerOp::Msg(m) => {
                    let reply = m.reply().map(|r| format!(" {r}")).unwrap_or_default();
                    let payload = String::from_utf8_lossy(m.payload()).into_owned();
                    format!("{} {}{reply} {payload}", m.subject(), m.sid())
                }
                other => panic!("unexpected {other:?}"),
            });
        }
        assert_eq!(got, expected);
        // The partial frame stays in the buffer and completes later.
        assert_eq!(&buf[..], b"MSG s.last 1 5\r\nhel");
        buf.extend_from_slice(b"lo\r\n");
        let Status::Complete(ServerOp::Msg(m)) = parser.parse(&mut buf).unwrap() else {
            panic!("the last frame");
        };
        assert_eq!(m.payload(), b"hello");
        assert_eq!(parser.parse(&mut buf).unwrap(), Status::Partial);
    }

    /// Frames split off but not handed out yet belong to the transport: `reset` drops them.
    #[test]
    fn reset_drops_frames_held_back() {
        let mut parser = ServerOpParser::default();
        let mut buf = BytesMut::from(&b"MSG a 1 1\r\nx\r\nMSG a 1 1\r\ny\r\n"[..]);
        assert!(matches!(
            parser.parse(&mut buf).unwrap(),
            Status::Complete(ServerOp::Msg(_))
        ));
        assert!(buf.is_empty(), "both frames were split off together");
        parser.reset();
        assert_eq!(parser.parse(&mut buf).unwrap(), Status::Partial);
        buf.extend_from_slice(b"PONG\r\n");
        assert_eq!(
            parser.parse(&mut buf).unwrap(),
            Status::Complete(ServerOp::Pong)
        );
    }

    #[test]
    fn malformed_input_gives_the_matching_error() {
        use ProtocolError::*;
        let small = ParserLimits {
            max_control_line: 32,
            max_payload: 100,
        };
        let cases: &[(&[u8], ProtocolError)] = &[
            (b"FOO\r\n", UnknownOp),
            (b"\r\n", UnknownOp),
            (b"MSGfoo 1 2\r\n", UnknownOp),
            (b"MSGX\r\n", UnknownOp),
            (b"HMSGfoo 1 2 3\r\n", UnknownOp),
            (b"INFO{}\r\n", UnknownOp),
            (b"-ERRx\r\n", UnknownOp),
            (b"+KO\r\n", UnknownOp),
            (b"PIN\r\n", UnknownOp),
            (b"MSG\r\n", InvalidArguments { op: "MSG" }),
            (b"MSG   \r\n", InvalidArguments { op: "MSG" }),
            (b"MSG a 1\r\n", InvalidArguments { op: "MSG" }),
            (b"MSG a 1 r x 5\r\n", InvalidArguments { op: "MSG" }),
            (b"MSG a 1 2 3 4 5 6\r\n", InvalidArguments { op: "MSG" }),
            (b"HMSG a 1 2\r\n", InvalidArguments { op: "HMSG" }),
            (b"HMSG a 1 r x 2 3\r\n", InvalidArguments { op: "HMSG" }),
            (b"INFO\r\n", InvalidArguments { op: "INFO" }),
            (b"MSG a 1 x\r\n", InvalidNumber { op: "MSG" }),
            (b"MSG a 1 -1\r\n", InvalidNumber { op: "MSG" }),
            (b"MSG a x 1\r\n", InvalidNumber { op: "MSG" }),
            (
                b"MSG a 99999999999999999999 1\r\n",
                InvalidNumber { op: "MSG" },
            ),
            (
                b"MSG a 1 18446744073709551616\r\n",
                InvalidNumber { op: "MSG" },
            ),
            (b"HMSG a 1 x 3\r\n", InvalidNumber { op: "HMSG" }),
            (b"HMSG a 1 4 3\r\n", HeaderSizeExceedsTotal),
            (b"MSG a 1 3\r\nabcXY", MissingPayloadTerminator),
            (b"MSG a 1 3\r\nabc\nX", MissingPayloadTerminator),
            (b"MSG a 1 3\r\nabcd\r\n", MissingPayloadTerminator),
            (
                b"MSG a 1 101\r\n",
                PayloadTooLarge {
                    size: 101,
                    limit: 100,
                },
            ),
            (
                b"HMSG a 1 12 101\r\n",
                PayloadTooLarge {
                    size: 101,
                    limit: 100,
                },
            ),
            (b"MSG a\xff 1 3\r\nabc\r\n", InvalidUtf8),
            (b"MSG a 1 r\xc3 3\r\nabc\r\n", InvalidUtf8),
            (
                b"INFO {\"port\": \"x\"}\r\n",
                InvalidJson {
                    op: "INFO",
                    reason: String::new(),
                },
            ),
            (
                b"INFO not json\r\n",
                InvalidJson {
                    op: "INFO",
                    reason: String::new(),
                },
            ),
            // 33 bytes with the LF: one over the limit.
            (
                b"MSG aaaaaaaaaaaaaaaaaaaaaaa 1 0\r\n\r\n",
                ControlLineTooLong { limit: 32 },
            ),
            // No LF at all, but already at the limit.
            (&[b'x'; 32], ControlLineTooLong { limit: 32 }),
            (
                b"INFO {\"server_id\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                ControlLineTooLong { limit: 32 },
            ),
        ];
        for (input, want) in cases {
            let got = first_error(input, small);
            match (want, &got) {
                (InvalidJson { op: w, .. }, InvalidJson { op: g, reason }) => {
                    assert_eq!(w, g);
                    assert!(!reason.is_empty());
                }
                _ => assert_eq!(&got, want, "input {:?}", String::from_utf8_lossy(input)),
            }
        }
    }

    #[test]
    fn ops_before_an_error_are_still_delivered() {
        let mut parser = ServerOpParser::default();
        let mut buf = BytesMut::from(&b"PING\r\nPONG\r\nBOGUS\r\nPING\r\n"[..]);
        assert_eq!(parser.parse(&mut buf), Ok(Status::Complete(ServerOp::Ping)));
        assert_eq!(parser.parse(&mut buf), Ok(Status::Complete(ServerOp::Pong)));
        assert_eq!(parser.parse(&mut buf), Err(ProtocolError::UnknownOp));
        assert_eq!(parser.parse(&mut buf), Err(ProtocolError::UnknownOp));
        parser.reset();
        let mut fresh = BytesMut::from(&b"PONG\r\n"[..]);
        assert_eq!(
            parser.parse(&mut fresh),
            Ok(Status::Complete(ServerOp::Pong))
        );
    }

    #[test]
    fn partial_input_is_not_consumed_and_reset_forgets_it() {
        let mut parser = ServerOpParser::default();
        let mut buf = BytesMut::from(&b"MSG a 1 10\r\nabc"[..]);
        assert_eq!(parser.parse(&mut buf), Ok(Status::Partial));
        assert_eq!(buf.len(), 15);
        parser.reset();
        let mut buf = BytesMut::from(&b"PING\r\n"[..]);
        assert_eq!(parser.parse(&mut buf), Ok(Status::Complete(ServerOp::Ping)));
        assert!(buf.is_empty());
    }

    #[test]
    fn message_parts_are_views_of_one_frame() {
        let mut parser = ServerOpParser::default();
        let input = b"hmsg\tfoo.bar  9 _INBOX.x 12 17\r\nNATS/1.0\r\n\r\nhello\r\nPING\r\n";
        let ops = parse_all(&mut parser, input).unwrap();
        let [ServerOp::Msg(msg), ServerOp::Ping] = &ops[..] else {
            panic!("{ops:?}")
        };
        assert_eq!(msg.subject(), "foo.bar");
        assert_eq!(msg.sid(), 9);
        assert_eq!(msg.reply(), Some("_INBOX.x"));
        assert_eq!(msg.header_block(), Some(&b"NATS/1.0\r\n\r\n"[..]));
        assert_eq!(msg.payload(), b"hello");
        assert_eq!(msg.size(), 7 + 8 + 12 + 5);
    }

    #[test]
    fn err_and_ok_and_info() {
        let mut parser = ServerOpParser::default();
        let input = b"-ERR 'Stale Connection'\r\n+ok whatever\r\n-ERR\r\nINFO \t{\"max_payload\":1024,\"headers\":true}\r\npong\n";
        let ops = parse_all(&mut parser, input).unwrap();
        let [ServerOp::Err(stale), ServerOp::Ok, ServerOp::Err(empty), ServerOp::Info(info), ServerOp::Pong] =
            &ops[..]
        else {
            panic!("{ops:?}")
        };
        assert_eq!(stale.kind, ServerErrorKind::StaleConnection);
        assert_eq!(stale.text, "Stale Connection");
        assert_eq!(empty.kind, ServerErrorKind::Other);
        assert_eq!(info.max_payload, 1024);
        assert!(info.headers);
    }

    #[test]
    fn payload_limit_can_be_changed() {
        let mut parser = ServerOpParser::default();
        parser.set_max_payload(4);
        assert_eq!(parser.limits().max_payload, 4);
        let mut buf = BytesMut::from(&b"MSG a 1 4\r\nabcd\r\nMSG a 1 5\r\n"[..]);
        assert!(matches!(
            parser.parse(&mut buf),
            Ok(Status::Complete(ServerOp::Msg(_)))
        ));
        assert_eq!(
            parser.parse(&mut buf),
            Err(ProtocolError::PayloadTooLarge { size: 5, limit: 4 })
        );
    }

    #[test]
    fn awaiting_is_the_frame_size_while_its_payload_arrives() {
        let mut parser = ServerOpParser::default();
        let mut buf = BytesMut::from(&b"PING\r\nMSG a 1 1"[..]);
        assert_eq!(parser.parse(&mut buf), Ok(Status::Complete(ServerOp::Ping)));
        assert_eq!(parser.parse(&mut buf), Ok(Status::Partial));
        assert_eq!(parser.awaiting(), None, "the size is not known yet");
        buf.extend_from_slice(b"0\r\n0123");
        assert_eq!(parser.parse(&mut buf), Ok(Status::Partial));
        assert_eq!(parser.awaiting(), Some("MSG a 1 10\r\n".len() + 10 + 2));
        buf.extend_from_slice(b"456789\r\nHMSG a 1 12 20\r\nNATS/1.0\r\n\r\n");
        assert!(matches!(
            parser.parse(&mut buf),
            Ok(Status::Complete(ServerOp::Msg(_)))
        ));
        assert_eq!(parser.parse(&mut buf), Ok(Status::Partial));
        assert_eq!(parser.awaiting(), Some("HMSG a 1 12 20\r\n".len() + 20 + 2));
        buf.extend_from_slice(b"12345678\r\n");
        assert!(matches!(
            parser.parse(&mut buf),
            Ok(Status::Complete(ServerOp::Msg(_)))
        ));
        assert_eq!(parser.awaiting(), None);
    }

    #[test]
    fn a_large_payload_fed_byte_by_byte_is_parsed_in_linear_time() {
        let mut parser = ServerOpParser::default();
        let size = 4 * 1024 * 1024;
        let header = format!("MSG big.subject 1 _INBOX.r {size}\r\n");
        let mut frame = header.clone().into_bytes();
        frame.resize(header.len() + size, b'\n');
        frame.extend_from_slice(b"\r\n");
        let mut buf = BytesMut::with_capacity(frame.len());
        let mut msg = None;
        let mut calls = 0u64;
        for &b in &frame {
            buf.extend_from_slice(&[b]);
            calls += 1;
            if let Status::Complete(op) = parser.parse(&mut buf).unwrap() {
                msg = Some(op);
            }
        }
        let Some(ServerOp::Msg(msg)) = msg else {
            panic!("no message")
        };
        assert_eq!(msg.payload().len(), size);
        assert_eq!(calls, frame.len() as u64);
        // The control line is searched once and parsed once; the payload is never looked at
        // byte by byte. A parser that re-scanned on every call would report ~calls * line.
        assert!(
            parser.work() <= 2 * header.len() as u64,
            "work {}",
            parser.work()
        );
    }

    #[test]
    fn a_long_info_line_fed_in_small_pieces_is_scanned_once() {
        let mut parser = ServerOpParser::default();
        let urls: Vec<String> = (0..3000)
            .map(|i| format!("\"10.0.{}.{}:4222\"", i / 256, i % 256))
            .collect();
        let line = format!("INFO {{\"connect_urls\":[{}]}}\r\n", urls.join(","));
        assert!(line.len() > 40_000 && line.len() < ParserLimits::default().max_control_line);
        let mut buf = BytesMut::new();
        let mut info = None;
        for piece in line.as_bytes().chunks(7) {
            buf.extend_from_slice(piece);
            if let Status::Complete(op) = parser.parse(&mut buf).unwrap() {
                info = Some(op);
            }
        }
        let Some(ServerOp::Info(info)) = info else {
            panic!("no INFO")
        };
        assert_eq!(info.connect_urls.len(), 3000);
        // One LF search over the line plus one parse of it.
        assert!(
            parser.work() <= 2 * line.len() as u64,
            "work {}",
            parser.work()
        );
    }

    #[test]
    fn an_endless_line_is_refused_at_the_limit_without_rescanning() {
        let limit = 1000;
        let mut parser = ServerOpParser::new(ParserLimits {
            max_control_line: limit,
            max_payload: 10,
        });
        let mut buf = BytesMut::new();
        let mut fed = 0;
        let err = loop {
            buf.extend_from_slice(b"a");
            fed += 1;
            match parser.parse(&mut buf) {
                Ok(Status::Partial) => {}
                Ok(Status::Complete(op)) => panic!("unexpected {op:?}"),
                Err(e) => break e,
            }
        };
        assert_eq!(err, ProtocolError::ControlLineTooLong { limit });
        assert_eq!(fed, limit);
        assert!(parser.work() <= limit as u64);
    }
}

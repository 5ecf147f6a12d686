//! The client → server parser: `CONNECT`, `PUB`, `HPUB`, `SUB`, `UNSUB`, `PING`, `PONG`.
//!
//! The mirror of [`crate::server_op`], for scripted fake servers, proxies and round-trip
//! fuzzing. Same properties: incremental, zero-copy, bounded, never panics.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::ProtocolError;
use crate::framing::{Framer, Grammar, Step};
use crate::line::{self, FrameSize, OpMatch};
use crate::message::Sid;
use crate::server_op::{ParserLimits, Status};

/// One op sent by a client. Text fields are zero-copy slices of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientOp {
    /// `CONNECT {json}`; the JSON is kept raw (parse it with `serde_json` if needed).
    Connect(Bytes),
    /// `PUB` or `HPUB`.
    Pub {
        /// Subject.
        subject: Bytes,
        /// Reply subject.
        reply: Option<Bytes>,
        /// Header block, for `HPUB`.
        headers: Option<Bytes>,
        /// Payload.
        payload: Bytes,
    },
    /// `SUB <subject> [queue] <sid>`.
    Sub {
        /// Subject.
        subject: Bytes,
        /// Queue group.
        queue: Option<Bytes>,
        /// Subscription id.
        sid: Sid,
    },
    /// `UNSUB <sid> [max]`.
    Unsub {
        /// Subscription id.
        sid: Sid,
        /// Auto-unsubscribe after this many total deliveries.
        max: Option<u64>,
    },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
}

/// Incremental parser for client ops; the mirror of [`crate::ServerOpParser`].
///
/// Same contract: call [`ClientOpParser::parse`] after every read until it returns
/// [`Status::Partial`]; parsed bytes are split off the buffer and the op's text fields are
/// zero-copy slices of them. Linear time, bounded by [`ParserLimits`] (the control line
/// limit bounds `CONNECT` too), never panics, and errors are sticky until
/// [`ClientOpParser::reset`].
///
/// ```
/// use bytes::BytesMut;
/// use natsy_proto::{ClientOp, ClientOpParser, Status};
///
/// let mut parser = ClientOpParser::default();
/// let mut buf = BytesMut::from(&b"SUB orders.* workers 7\r\nPUB orders.new 2\r\nhi\r\n"[..]);
/// let Status::Complete(ClientOp::Sub { sid, .. }) = parser.parse(&mut buf).unwrap() else {
///     panic!()
/// };
/// assert_eq!(sid, 7);
/// let Status::Complete(ClientOp::Pub { payload, .. }) = parser.parse(&mut buf).unwrap() else {
///     panic!()
/// };
/// assert_eq!(payload, "hi");
/// ```
#[derive(Debug, Default)]
pub struct ClientOpParser {
    limits: ParserLimits,
    framer: Framer<PendingPub>,
}

/// A parsed `PUB`/`HPUB` control line; ranges are offsets into the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PendingPub {
    subject: (usize, usize),
    reply: Option<(usize, usize)>,
    has_headers: bool,
    line_len: usize,
    size: FrameSize,
}

/// What a complete control line turned out to be; ranges index the control line.
enum LineOp {
    Pub(PendingPub),
    Connect((usize, usize)),
    Sub {
        subject: (usize, usize),
        queue: Option<(usize, usize)>,
        sid: Sid,
    },
    Unsub {
        sid: Sid,
        max: Option<u64>,
    },
    Ping,
    Pong,
}

impl ClientOpParser {
    /// A parser with the given limits (`max_control_line` also bounds `CONNECT`).
    pub fn new(limits: ParserLimits) -> Self {
        ClientOpParser {
            limits,
            framer: Framer::default(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> ParserLimits {
        self.limits
    }

    /// Forgets any partial state and any sticky error, for a new transport.
    pub fn reset(&mut self) {
        self.framer.reset();
    }

    /// Parses one op from the front of `buf`.
    ///
    /// Returns [`Status::Complete`] with the op, its bytes removed from `buf`, or
    /// [`Status::Partial`] when `buf` holds no whole op yet (nothing is removed then).
    ///
    /// # Errors
    ///
    /// A [`ProtocolError`] when the bytes are not valid client protocol or break the
    /// [`ParserLimits`]. The error is sticky.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Status<ClientOp>, ProtocolError> {
        self.framer.parse::<ClientGrammar>(buf, &self.limits)
    }

    /// Bytes searched or parsed since creation, for the linear-time tests.
    #[cfg(test)]
    fn work(&self) -> u64 {
        self.framer.work()
    }
}

/// The client → server grammar for the shared [`Framer`].
struct ClientGrammar;

impl Grammar for ClientGrammar {
    type Pending = PendingPub;
    type Op = ClientOp;

    fn control(
        buf: &mut BytesMut,
        content_len: usize,
        line_len: usize,
        limits: &ParserLimits,
    ) -> Result<Step<PendingPub, ClientOp>, ProtocolError> {
        let content = buf.get(..content_len).unwrap_or_default();
        let slice = |line: &Bytes, r: (usize, usize)| {
            line.get(r.0..r.1)
                .map(|_| line.slice(r.0..r.1))
                .unwrap_or_default()
        };
        let op = match parse_control(content, line_len, limits.max_payload)? {
            LineOp::Pub(pending) => return Ok(Step::Payload(pending)),
            LineOp::Connect(json) => {
                let line = buf.split_to(line_len).freeze();
                ClientOp::Connect(slice(&line, json))
            }
            LineOp::Sub {
                subject,
                queue,
                sid,
            } => {
                let line = buf.split_to(line_len).freeze();
                ClientOp::Sub {
                    subject: slice(&line, subject),
                    queue: queue.map(|q| slice(&line, q)),
                    sid,
                }
            }
            LineOp::Unsub { sid, max } => {
                buf.advance(line_len);
                ClientOp::Unsub { sid, max }
            }
            LineOp::Ping => {
                buf.advance(line_len);
                ClientOp::Ping
            }
            LineOp::Pong => {
                buf.advance(line_len);
                ClientOp::Pong
            }
        };
        Ok(Step::Done(op))
    }

    fn needed(pending: &PendingPub) -> usize {
        pending.size.needed
    }

    fn finish(pending: &PendingPub, buf: &mut BytesMut) -> Result<ClientOp, ProtocolError> {
        finish_pub(pending, buf)
    }
}

/// Parses a complete client control line (without its CR LF).
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
        Some(b'P') if line::starts_with_op(line, b"PING") => Ok(LineOp::Ping),
        Some(b'P') if line::starts_with_op(line, b"PONG") => Ok(LineOp::Pong),
        Some(b'P') => {
            let at = with_args(line::match_op(line, b"PUB"), "PUB")?;
            pub_header(line, at, line_len, false, max_payload).map(LineOp::Pub)
        }
        Some(b'H') => {
            let at = with_args(line::match_op(line, b"HPUB"), "HPUB")?;
            pub_header(line, at, line_len, true, max_payload).map(LineOp::Pub)
        }
        Some(b'C') => {
            let at = with_args(line::match_op(line, b"CONNECT"), "CONNECT")?;
            let json_len = line::trim_start(line.get(at..).unwrap_or_default()).len();
            Ok(LineOp::Connect((
                line.len().saturating_sub(json_len),
                line.len(),
            )))
        }
        Some(b'S') => {
            let op = "SUB";
            let at = with_args(line::match_op(line, b"SUB"), op)?;
            let args = line::split_args(line, at).ok_or(ProtocolError::InvalidArguments { op })?;
            let (subject, queue, sid) = match args.len() {
                2 => (args.range(0), None, args.range(1)),
                3 => (args.range(0), Some(args.range(1)), args.range(2)),
                _ => return Err(ProtocolError::InvalidArguments { op }),
            };
            let sid = number(line, sid, op)?;
            line::check_utf8(line::slice(line, subject))?;
            if let Some(q) = queue {
                line::check_utf8(line::slice(line, q))?;
            }
            Ok(LineOp::Sub {
                subject,
                queue,
                sid,
            })
        }
        Some(b'U') => {
            let op = "UNSUB";
            let at = with_args(line::match_op(line, b"UNSUB"), op)?;
            let args = line::split_args(line, at).ok_or(ProtocolError::InvalidArguments { op })?;
            let max = match args.len() {
                1 => None,
                2 => Some(number(line, args.range(1), op)?),
                _ => return Err(ProtocolError::InvalidArguments { op }),
            };
            Ok(LineOp::Unsub {
                sid: number(line, args.range(0), op)?,
                max,
            })
        }
        _ => Err(ProtocolError::UnknownOp),
    }
}

fn number(line: &[u8], r: (usize, usize), op: &'static str) -> Result<u64, ProtocolError> {
    line::parse_u64(line::slice(line, r)).ok_or(ProtocolError::InvalidNumber { op })
}

/// Parses the arguments of `PUB <subj> [reply] <#bytes>` or
/// `HPUB <subj> [reply] <#hdr> <#total>`.
fn pub_header(
    line: &[u8],
    at: usize,
    line_len: usize,
    has_headers: bool,
    max_payload: usize,
) -> Result<PendingPub, ProtocolError> {
    let op = if has_headers { "HPUB" } else { "PUB" };
    let h = line::frame_header(op, line, at, line_len, has_headers, 0, max_payload)?;
    Ok(PendingPub {
        subject: h.subject,
        reply: h.reply,
        has_headers,
        line_len,
        size: h.size,
    })
}

/// Cuts a whole `PUB`/`HPUB` frame off `buf` and slices its parts. The caller checked that
/// `buf` holds `needed` bytes.
fn finish_pub(p: &PendingPub, buf: &mut BytesMut) -> Result<ClientOp, ProtocolError> {
    line::check_terminator(buf, p.size.needed)?;
    let frame = buf.split_to(p.size.needed).freeze();
    let body = p.line_len;
    let payload_start = body + p.size.hdr;
    let part = |r: std::ops::Range<usize>| {
        frame
            .get(r.clone())
            .map(|_| frame.slice(r))
            .unwrap_or_default()
    };
    Ok(ClientOp::Pub {
        subject: part(p.subject.0..p.subject.1),
        reply: p.reply.map(|r| part(r.0..r.1)),
        headers: p.has_headers.then(|| part(body..payload_start)),
        payload: part(payload_start..body + p.size.total),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(
        parser: &mut ClientOpParser,
        input: &[u8],
    ) -> Result<Vec<ClientOp>, ProtocolError> {
        let mut buf = BytesMut::from(input);
        let mut ops = Vec::new();
        while let Status::Complete(op) = parser.parse(&mut buf)? {
            ops.push(op);
        }
        Ok(ops)
    }

    #[test]
    fn malformed_input_gives_the_matching_error() {
        use ProtocolError::*;
        let small = ParserLimits {
            max_control_line: 32,
            max_payload: 100,
        };
        let cases: &[(&[u8], ProtocolError)] = &[
            (b"MSG a 1 1\r\nx\r\n", UnknownOp),
            (b"INFO {}\r\n", UnknownOp),
            (b"PUBfoo 1\r\n", UnknownOp),
            (b"SUBx 1\r\n", UnknownOp),
            (b"CONNECT{}\r\n", UnknownOp),
            (b"\n", UnknownOp),
            (b"PUB\r\n", InvalidArguments { op: "PUB" }),
            (b"PUB a\r\n", InvalidArguments { op: "PUB" }),
            (b"PUB a r x 1\r\n", InvalidArguments { op: "PUB" }),
            (b"HPUB a 1\r\n", InvalidArguments { op: "HPUB" }),
            (b"HPUB a r x 1 2\r\n", InvalidArguments { op: "HPUB" }),
            (b"SUB a\r\n", InvalidArguments { op: "SUB" }),
            (b"SUB a q 1 2\r\n", InvalidArguments { op: "SUB" }),
            (b"UNSUB\r\n", InvalidArguments { op: "UNSUB" }),
            (b"UNSUB 1 2 3\r\n", InvalidArguments { op: "UNSUB" }),
            (b"CONNECT\r\n", InvalidArguments { op: "CONNECT" }),
            (b"PUB a x\r\n", InvalidNumber { op: "PUB" }),
            (
                b"PUB a 18446744073709551616\r\n",
                InvalidNumber { op: "PUB" },
            ),
            (b"HPUB a 1 x\r\n", InvalidNumber { op: "HPUB" }),
            (b"SUB a q x\r\n", InvalidNumber { op: "SUB" }),
            (b"UNSUB 1 -2\r\n", InvalidNumber { op: "UNSUB" }),
            (
                b"UNSUB 99999999999999999999\r\n",
                InvalidNumber { op: "UNSUB" },
            ),
            (b"HPUB a 5 4\r\n", HeaderSizeExceedsTotal),
            (b"PUB a 2\r\nab\n\n", MissingPayloadTerminator),
            (b"PUB a 2\r\nabc\r\n", MissingPayloadTerminator),
            (
                b"PUB a 101\r\n",
                PayloadTooLarge {
                    size: 101,
                    limit: 100,
                },
            ),
            (b"PUB \xfe 1\r\nx\r\n", InvalidUtf8),
            (b"SUB a \xfe 1\r\n", InvalidUtf8),
            (
                b"CONNECT {\"user\":\"aaaaaaaaaaaaaaa\"}\r\n",
                ControlLineTooLong { limit: 32 },
            ),
            (
                b"CONNECT {\"user\":\"aaaaaaaaaaaaaaa",
                ControlLineTooLong { limit: 32 },
            ),
        ];
        for (input, want) in cases {
            let mut parser = ClientOpParser::new(small);
            let got = parse_all(&mut parser, input).expect_err("input must be refused");
            assert_eq!(&got, want, "input {:?}", String::from_utf8_lossy(input));
            let mut more = BytesMut::from(&b"PING\r\n"[..]);
            assert_eq!(parser.parse(&mut more), Err(got.clone()), "sticky");
        }
    }

    #[test]
    fn every_op_with_its_fields() {
        let mut parser = ClientOpParser::default();
        let input = b"connect {\"verbose\":false}\r\nPub a.b  r.1 3\r\nabc\r\nHPUB a 12 12\r\nNATS/1.0\r\n\r\n\r\nsub\tx.* 1\r\nSUB x q\t\t2\nUNSUB 1\r\nunsub 2 10\r\nPING\r\nPONG\r\n";
        let ops = parse_all(&mut parser, input).unwrap();
        let b = |s: &'static str| Bytes::from_static(s.as_bytes());
        assert_eq!(
            ops,
            vec![
                ClientOp::Connect(b("{\"verbose\":false}")),
                ClientOp::Pub {
                    subject: b("a.b"),
                    reply: Some(b("r.1")),
                    headers: None,
                    payload: b("abc")
                },
                ClientOp::Pub {
                    subject: b("a"),
                    reply: None,
                    headers: Some(b("NATS/1.0\r\n\r\n")),
                    payload: Bytes::new()
                },
                ClientOp::Sub {
                    subject: b("x.*"),
                    queue: None,
                    sid: 1
                },
                ClientOp::Sub {
                    subject: b("x"),
                    queue: Some(b("q")),
                    sid: 2
                },
                ClientOp::Unsub { sid: 1, max: None },
                ClientOp::Unsub {
                    sid: 2,
                    max: Some(10)
                },
                ClientOp::Ping,
                ClientOp::Pong,
            ]
        );
    }

    #[test]
    fn a_large_payload_fed_byte_by_byte_is_parsed_in_linear_time() {
        let mut parser = ClientOpParser::default();
        let size = 1024 * 1024;
        let header = format!("PUB big.subject {size}\r\n");
        let mut frame = header.clone().into_bytes();
        frame.resize(header.len() + size, b'x');
        frame.extend_from_slice(b"\r\n");
        let mut buf = BytesMut::with_capacity(frame.len());
        let mut got = None;
        for &byte in &frame {
            buf.extend_from_slice(&[byte]);
            if let Status::Complete(op) = parser.parse(&mut buf).unwrap() {
                got = Some(op);
            }
        }
        let Some(ClientOp::Pub { payload, .. }) = got else {
            panic!("no PUB")
        };
        assert_eq!(payload.len(), size);
        assert!(
            parser.work() <= 2 * header.len() as u64,
            "work {}",
            parser.work()
        );
    }

    #[test]
    fn reset_forgets_partial_state_and_errors() {
        let mut parser = ClientOpParser::default();
        assert_eq!(parser.limits(), ParserLimits::default());
        let mut buf = BytesMut::from(&b"PUB a 5\r\nab"[..]);
        assert_eq!(parser.parse(&mut buf), Ok(Status::Partial));
        parser.reset();
        let mut buf = BytesMut::from(&b"BAD\r\n"[..]);
        assert_eq!(parser.parse(&mut buf), Err(ProtocolError::UnknownOp));
        parser.reset();
        let mut buf = BytesMut::from(&b"PING\r\n"[..]);
        assert_eq!(parser.parse(&mut buf), Ok(Status::Complete(ClientOp::Ping)));
    }
}

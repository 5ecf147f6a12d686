//! Fuzz target bodies. Each one must never panic except on a real bug, which its
//! assertions name.
//!
//! This file is also compiled into the workspace's corpus-replay test, so it may only use
//! `natsy_proto` and `bytes`.

use std::io::IoSlice;

use bytes::{Bytes, BytesMut};
use natsy_proto::{
    headers, ClientOp, ClientOpParser, Credentials, HeaderMap, KeyPair, OutQueue, ParserLimits,
    ProtocolError, ServerAddr, ServerError, ServerOp, ServerOpParser, Status,
};

/// Small limits, so that fuzz inputs reach the limit checks.
fn limits() -> ParserLimits {
    ParserLimits {
        max_control_line: 256,
        max_payload: 2048,
    }
}

/// Chunk sizes derived from a seed byte: varied, never zero.
fn chunks(seed: u8, input: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = input;
    let mut i = 0usize;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = ((seed as usize).wrapping_add(i.wrapping_mul(7)) % 23) + 1;
        i += 1;
        let (head, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        Some(head)
    })
}

/// Parses everything parseable from `buf`, stopping at `Partial` or the first error.
fn drain<T>(
    out: &mut Vec<Result<T, ProtocolError>>,
    mut parse: impl FnMut(&mut BytesMut) -> Result<Status<T>, ProtocolError>,
    buf: &mut BytesMut,
) -> bool {
    loop {
        match parse(buf) {
            Ok(Status::Complete(op)) => out.push(Ok(op)),
            Ok(Status::Partial) => return true,
            Err(e) => {
                out.push(Err(e));
                return false;
            }
        }
    }
}

/// Feeds `input` whole and in chunks; both must give the same ops and the same error.
fn chunking_agrees<T: PartialEq + std::fmt::Debug>(
    data: &[u8],
    mut new_parser: impl FnMut() -> Box<dyn FnMut(&mut BytesMut) -> Result<Status<T>, ProtocolError>>,
) {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };

    let mut whole = Vec::new();
    let mut parse = new_parser();
    drain(&mut whole, &mut parse, &mut BytesMut::from(input));

    let mut chunked = Vec::new();
    let mut parse = new_parser();
    let mut buf = BytesMut::new();
    for chunk in chunks(seed, input) {
        buf.extend_from_slice(chunk);
        if !drain(&mut chunked, &mut parse, &mut buf) {
            break;
        }
    }
    assert_eq!(whole, chunked, "chunking changed the parse");
}

/// The server-op parser: no panic, and chunking never changes the result.
pub fn server_ops(data: &[u8]) {
    chunking_agrees(data, || {
        let mut p = ServerOpParser::new(limits());
        Box::new(move |b: &mut BytesMut| p.parse(b)) as Box<dyn FnMut(&mut BytesMut) -> _>
    });
    // Once INFO is seen, every MSG's parts must stay inside what was fed.
    let mut p = ServerOpParser::new(limits());
    let mut buf = BytesMut::from(data);
    while let Ok(Status::Complete(op)) = p.parse(&mut buf) {
        if let ServerOp::Msg(m) = op {
            assert!(m.payload().len() <= data.len());
            let _ = (
                m.subject(),
                m.reply(),
                m.headers(),
                m.status(),
                m.description(),
            );
            let len = m.payload().len();
            assert_eq!(m.into_payload().len(), len);
        }
    }
}

/// The client-op parser: no panic, and chunking never changes the result.
pub fn client_ops(data: &[u8]) {
    chunking_agrees(data, || {
        let mut p = ClientOpParser::new(limits());
        Box::new(move |b: &mut BytesMut| p.parse(b)) as Box<dyn FnMut(&mut BytesMut) -> _>
    });
}

/// Header blocks: no panic; what parses re-encodes to something that parses the same.
pub fn headers(data: &[u8]) {
    let status = headers::parse_status_only(data);
    if let Ok(block) = headers::parse_block(data) {
        assert_eq!(
            status, block.status,
            "status-only read disagrees with the full parse"
        );
        let mut out = BytesMut::new();
        block.headers.encode(&mut out);
        assert_eq!(out.len(), block.headers.encoded_len());
        let again = headers::parse_block(&out).expect("re-encoded headers must parse");
        assert_eq!(again.headers, block.headers);
    }
}

/// Creds files, seeds, URLs and -ERR texts: typed errors, never a panic.
pub fn auth_material(data: &[u8]) {
    let _ = Credentials::from_bytes(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Credentials::parse(text);
    if let Ok(kp) = KeyPair::from_seed(text) {
        let again = KeyPair::from_seed(kp.seed().expose()).expect("re-encoded seed decodes");
        assert_eq!(again.public_key(), kp.public_key());
    }
    let _ = ServerAddr::parse(text);
    let _ = ServerAddr::parse_list(text);
    let _ = ServerError::parse(text);
}

fn written(q: &mut OutQueue) -> Vec<u8> {
    let mut out = Vec::new();
    while !q.is_empty() {
        let mut slices = [IoSlice::new(&[]); 16];
        let n = q.io_slices(&mut slices);
        let before = out.len();
        for s in &slices[..n] {
            out.extend_from_slice(s);
        }
        let wrote = out.len() - before;
        assert!(wrote > 0, "a non-empty queue handed out no bytes");
        q.advance(wrote);
    }
    out
}

fn parse_one(bytes: &[u8]) -> ClientOp {
    let mut p = ClientOpParser::new(ParserLimits::default());
    let mut buf = BytesMut::from(bytes);
    match p.parse(&mut buf) {
        Ok(Status::Complete(op)) => {
            assert!(buf.is_empty(), "encoder wrote trailing bytes");
            op
        }
        other => panic!("encoder output does not parse: {other:?}"),
    }
}

/// Whatever the encoder accepts parses back to the same op; what it refuses writes nothing.
pub fn encode_roundtrip(data: &[u8]) {
    let mut parts = data.split(|b| *b == 0xFF);
    let mut field = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (subject, reply, queue, name, value) = (field(), field(), field(), field(), field());
    let payload = Bytes::from(field().into_bytes());
    let reply = (!reply.is_empty()).then_some(reply);
    let mut hdrs = HeaderMap::new();
    let hdrs = (!name.is_empty() && hdrs.append(&name, &value).is_ok()).then_some(hdrs);

    let mut q = OutQueue::new();
    match q.publish(
        &subject,
        reply.as_deref(),
        hdrs.as_ref(),
        payload.clone(),
        Some(4096),
    ) {
        Ok(()) => match parse_one(&written(&mut q)) {
            ClientOp::Pub {
                subject: s,
                reply: r,
                headers: h,
                payload: p,
            } => {
                assert_eq!(s, subject.as_bytes());
                assert_eq!(r.as_deref(), reply.as_deref().map(str::as_bytes));
                assert_eq!(p, payload);
                match (h, &hdrs) {
                    (None, None) => {}
                    (Some(block), Some(map)) => {
                        let parsed = headers::parse_block(&block).expect("own headers parse");
                        assert_eq!(&parsed.headers, map);
                    }
                    (h, m) => panic!("headers lost or invented: {h:?} vs {m:?}"),
                }
            }
            op => panic!("PUB parsed as {op:?}"),
        },
        Err(_) => assert!(q.is_empty(), "a refused publish wrote bytes"),
    }

    let queue = (!queue.is_empty()).then_some(queue);
    let sid = payload.len() as u64;
    match q.subscribe(&subject, queue.as_deref(), sid) {
        Ok(()) => match parse_one(&written(&mut q)) {
            ClientOp::Sub {
                subject: s,
                queue: qg,
                sid: id,
            } => {
                assert_eq!(s, subject.as_bytes());
                assert_eq!(qg.as_deref(), queue.as_deref().map(str::as_bytes));
                assert_eq!(id, sid);
            }
            op => panic!("SUB parsed as {op:?}"),
        },
        Err(_) => assert!(q.is_empty(), "a refused subscribe wrote bytes"),
    }
}

/// Drains a connection: answers dial and TLS instructions at once, and checks that every
/// byte it writes parses as client protocol.
fn drain_connection(
    conn: &mut natsy_proto::connection::Connection,
    now: std::time::Instant,
    wire: &mut BytesMut,
    parser: &mut ClientOpParser,
) {
    use natsy_proto::connection::Event;
    while let Some(event) = conn.poll_event() {
        match event {
            Event::Dial { .. } => {
                // A new transport: a new byte stream.
                wire.clear();
                *parser = ClientOpParser::new(ParserLimits::default());
                conn.handle_transport_connected(now);
            }
            Event::UpgradeTls { .. } => conn.handle_tls_established(now),
            _ => {}
        }
    }
    loop {
        let mut slices = [IoSlice::new(&[]); 16];
        let n = conn.poll_transmit(&mut slices);
        if n == 0 {
            break;
        }
        let before = wire.len();
        for s in &slices[..n] {
            wire.extend_from_slice(s);
        }
        let wrote = wire.len() - before;
        conn.advance_transmit(wrote);
    }
    while let Status::Complete(_) = parser
        .parse(wire)
        .expect("the connection wrote invalid protocol")
    {}
}

/// A `Connection` fed arbitrary server bytes, clock steps, disconnects and user calls:
/// no panic, and everything it writes is valid client protocol.
///
/// Each step starts with a control byte: `ctl & 3 == 0` feeds the next `(ctl >> 2) + 1`
/// bytes as server input; `1` advances the clock by `(ctl >> 2) * 50 ms`; `2` is an EOF;
/// `3` is a user call (publish, flush, subscribe or close, by `(ctl >> 2) & 3`).
pub fn connection(data: &[u8]) {
    use natsy_proto::connection::{Connection, ConnectionConfig};
    use std::time::Duration;

    let start = std::time::Instant::now();
    let Ok(server) = ServerAddr::parse("nats://127.0.0.1:4222") else {
        return;
    };
    let mut config = ConnectionConfig::new(vec![server]);
    config.rng_seed = 7;
    config.ping_interval = Duration::from_millis(200);
    config.reconnect_buffer_size = Some(4096);
    let Ok(mut conn) = Connection::new(config, start) else {
        return;
    };
    let (mut now, mut wire) = (start, BytesMut::new());
    let mut parser = ClientOpParser::new(ParserLimits::default());
    let _ = conn.subscribe("a.>", None);
    let _ = conn.publish(
        "a.b",
        Some("r.1"),
        None,
        Bytes::from_static(b"before connect"),
    );
    let mut rest = data;
    for _ in 0..2000 {
        drain_connection(&mut conn, now, &mut wire, &mut parser);
        let Some((&ctl, tail)) = rest.split_first() else {
            break;
        };
        rest = tail;
        match ctl & 3 {
            0 => {
                let n = (usize::from(ctl >> 2) + 1).min(rest.len());
                let (chunk, tail) = rest.split_at(n);
                rest = tail;
                conn.handle_input(now, chunk);
            }
            1 => {
                now += Duration::from_millis(u64::from(ctl >> 2) * 50);
                conn.handle_timeout(now);
            }
            2 => conn.handle_transport_eof(now),
            _ => match (ctl >> 2) & 3 {
                0 => drop(conn.publish("a.b", None, None, Bytes::from_static(b"payload"))),
                1 => drop(conn.flush(now)),
                2 => drop(conn.subscribe("x.*", Some("q"))),
                _ => conn.close(now),
            },
        }
    }
    drain_connection(&mut conn, now, &mut wire, &mut parser);
}

/// One server op as the reference parser sees it, and as [`ServerOp`] is compared to it.
#[derive(Debug, Clone, PartialEq)]
enum RefOp {
    Info(Box<natsy_proto::ServerInfo>),
    Msg {
        subject: String,
        sid: u64,
        reply: Option<String>,
        headers: Option<Vec<u8>>,
        payload: Vec<u8>,
    },
    Ping,
    Pong,
    Ok,
    Err(ServerError),
}

impl RefOp {
    fn from_op(op: ServerOp) -> Option<RefOp> {
        Some(match op {
            ServerOp::Info(i) => RefOp::Info(i),
            ServerOp::Msg(m) => RefOp::Msg {
                subject: m.subject().to_string(),
                sid: m.sid(),
                reply: m.reply().map(str::to_string),
                headers: m.header_block().map(<[u8]>::to_vec),
                payload: m.payload().to_vec(),
            },
            ServerOp::Ping => RefOp::Ping,
            ServerOp::Pong => RefOp::Pong,
            ServerOp::Ok => RefOp::Ok,
            ServerOp::Err(e) => RefOp::Err(e),
            // A new op kind: the reference must learn it first.
            _ => return None,
        })
    }
}

/// A deliberately simple reference parser of server ops, written from the protocol rules
/// rather than for speed: whole input at once, one line at a time, `split` and
/// `str::parse` style helpers, no state machine. Returns the ops before the first error
/// and that error, or the ops of every complete op when the rest is just incomplete.
///
/// Rules (the protocol digest's, plus natsy's documented limits): a control line ends at
/// LF (one CR before it is dropped) and may be at most `max_control_line` bytes with the
/// LF; op names are case-insensitive; `PING`, `PONG` and `+OK` match by prefix; `MSG`,
/// `HMSG` and `INFO` need a space or tab before their arguments; arguments are separated
/// by runs of spaces and tabs, at most five; `MSG <subj> <sid> [reply] <size>`,
/// `HMSG <subj> <sid> [reply] <hdr> <total>`; numbers are unsigned decimal `u64`; sizes are
/// checked (total, then header, then header <= total, then the payload limit), then the
/// UTF-8 of subject and reply, then the sid; the frame ends with CR LF.
fn reference_parse(input: &[u8], limits: ParserLimits) -> (Vec<RefOp>, Option<ProtocolError>) {
    let mut ops = Vec::new();
    let mut rest = input;
    loop {
        if rest.is_empty() {
            return (ops, None);
        }
        let window = &rest[..rest.len().min(limits.max_control_line)];
        let Some(lf) = window.iter().position(|&b| b == b'\n') else {
            if rest.len() >= limits.max_control_line {
                return (
                    ops,
                    Some(ProtocolError::ControlLineTooLong {
                        limit: limits.max_control_line,
                    }),
                );
            }
            return (ops, None);
        };
        let mut line = &rest[..lf];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        let line_len = lf + 1;
        let upper: Vec<u8> = line.to_ascii_uppercase();
        let is_sep = |b: &u8| *b == b' ' || *b == b'\t';
        // (name matched, next byte is a separator or the end)
        let named = |name: &[u8]| -> Option<bool> {
            if upper.starts_with(name) {
                Some(line.len() == name.len() || is_sep(&line[name.len()]))
            } else {
                None
            }
        };
        let args_after = |name_len: usize| -> Vec<&[u8]> {
            line[name_len..]
                .split(|b| is_sep(b))
                .filter(|a| !a.is_empty())
                .collect()
        };
        let number = |a: &[u8]| -> Option<u64> {
            if a.is_empty() || !a.iter().all(u8::is_ascii_digit) {
                return None;
            }
            std::str::from_utf8(a).ok()?.parse().ok()
        };
        let first = upper.first().copied();
        let result: Result<Option<RefOp>, ProtocolError> = if first == Some(b'M')
            || first == Some(b'H')
        {
            let (name, op): (&[u8], &'static str) = if first == Some(b'M') {
                (b"MSG", "MSG")
            } else {
                (b"HMSG", "HMSG")
            };
            let has_headers = op == "HMSG";
            match named(name) {
                None | Some(false) => Err(ProtocolError::UnknownOp),
                Some(true) if line.len() == name.len() => {
                    Err(ProtocolError::InvalidArguments { op })
                }
                Some(true) => {
                    let args = args_after(name.len());
                    let sizes = if has_headers { 2 } else { 1 };
                    if args.len() > 5 || (args.len() != 2 + sizes && args.len() != 3 + sizes) {
                        Err(ProtocolError::InvalidArguments { op })
                    } else {
                        let has_reply = args.len() == 3 + sizes;
                        let total = number(args[args.len() - 1]);
                        let hdr = if has_headers {
                            number(args[args.len() - 2])
                        } else {
                            Some(0)
                        };
                        let limit = limits.max_payload.min(
                            (u32::MAX as usize)
                                .saturating_sub(line_len)
                                .saturating_sub(2),
                        );
                        match (total, hdr) {
                            (None, _) | (_, None) => Err(ProtocolError::InvalidNumber { op }),
                            (Some(t), Some(h)) if h > t => {
                                Err(ProtocolError::HeaderSizeExceedsTotal)
                            }
                            (Some(t), _) if t > limit as u64 => {
                                Err(ProtocolError::PayloadTooLarge { size: t, limit })
                            }
                            (Some(t), Some(h)) => {
                                let subject = std::str::from_utf8(args[0]);
                                let reply = if has_reply {
                                    Some(std::str::from_utf8(args[2]))
                                } else {
                                    None
                                };
                                match (subject, reply, number(args[1])) {
                                    (Err(_), _, _) | (_, Some(Err(_)), _) => {
                                        Err(ProtocolError::InvalidUtf8)
                                    }
                                    (_, _, None) => Err(ProtocolError::InvalidNumber { op }),
                                    (Ok(subject), reply, Some(sid)) => {
                                        let (t, h) = (t as usize, h as usize);
                                        let frame_end = line_len + t + 2;
                                        if rest.len() < frame_end {
                                            return (ops, None);
                                        }
                                        if &rest[line_len + t..frame_end] != b"\r\n" {
                                            Err(ProtocolError::MissingPayloadTerminator)
                                        } else {
                                            let body = &rest[line_len..line_len + t];
                                            let headers = has_headers.then(|| body[..h].to_vec());
                                            ops.push(RefOp::Msg {
                                                subject: subject.to_string(),
                                                sid,
                                                reply: reply
                                                    .and_then(Result::ok)
                                                    .map(str::to_string),
                                                headers,
                                                payload: body[h..].to_vec(),
                                            });
                                            rest = &rest[frame_end..];
                                            continue;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        } else if upper.starts_with(b"PING") {
            Ok(Some(RefOp::Ping))
        } else if upper.starts_with(b"PONG") {
            Ok(Some(RefOp::Pong))
        } else if upper.starts_with(b"+OK") {
            Ok(Some(RefOp::Ok))
        } else if first == Some(b'I') {
            match named(b"INFO") {
                None | Some(false) => Err(ProtocolError::UnknownOp),
                Some(true) if line.len() == 4 => {
                    Err(ProtocolError::InvalidArguments { op: "INFO" })
                }
                Some(true) => {
                    let json = &line[4..];
                    let start = json.iter().take_while(|b| is_sep(b)).count();
                    natsy_proto::ServerInfo::from_json(&json[start..])
                        .map(|i| Some(RefOp::Info(Box::new(i))))
                        .map_err(|e| ProtocolError::InvalidJson {
                            op: "INFO",
                            reason: e.to_string(),
                        })
                }
            }
        } else if first == Some(b'-') {
            match named(b"-ERR") {
                None | Some(false) => Err(ProtocolError::UnknownOp),
                Some(true) => Ok(Some(RefOp::Err(ServerError::parse(
                    &String::from_utf8_lossy(&line[4..]),
                )))),
            }
        } else {
            Err(ProtocolError::UnknownOp)
        };
        match result {
            Ok(Some(op)) => {
                ops.push(op);
                rest = &rest[line_len..];
            }
            Ok(None) => rest = &rest[line_len..],
            Err(e) => return (ops, Some(e)),
        }
    }
}

/// Differential: [`ServerOpParser`], fed `data` in the chunking the first byte picks (and
/// whole), must give exactly the reference parser's ops, and an error of the same class
/// (variant) where the reference has one — or none where it has none.
pub fn differential(data: &[u8]) {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let limits = limits();
    let (want_ops, want_err) = reference_parse(input, limits);

    for chunked in [false, true] {
        let mut parser = ServerOpParser::new(limits);
        let mut buf = BytesMut::new();
        let mut got_ops = Vec::new();
        let mut got_err = None;
        let whole = [input];
        let pieces: Box<dyn Iterator<Item = &[u8]>> = if chunked {
            Box::new(chunks(seed, input))
        } else {
            Box::new(whole.into_iter())
        };
        'feed: for piece in pieces {
            buf.extend_from_slice(piece);
            loop {
                match parser.parse(&mut buf) {
                    Ok(Status::Complete(op)) => match RefOp::from_op(op) {
                        Some(op) => got_ops.push(op),
                        None => return,
                    },
                    Ok(Status::Partial) => break,
                    Err(e) => {
                        got_err = Some(e);
                        break 'feed;
                    }
                }
            }
        }
        assert_eq!(got_ops, want_ops, "ops differ (chunked: {chunked})");
        assert_eq!(
            got_err.as_ref().map(std::mem::discriminant),
            want_err.as_ref().map(std::mem::discriminant),
            "error class differs (chunked: {chunked}): got {got_err:?}, reference {want_err:?}"
        );
    }
}

/// The WebSocket frame decoder on server frames: no panic on any input; output never
/// exceeds the input; and frames encoded from random payloads decode back to exactly
/// those payloads at any chunking, with every output buffer size.
pub fn websocket(data: &[u8]) {
    use natsy_proto::websocket::{
        encode_frame, ClientHandshake, Compression, Decoded, FrameDecoder, Opcode,
    };
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let out_len = usize::from(seed % 17) + 1;
    // Half the inputs go to a decoder that negotiated permessage-deflate.
    let compressed = seed & 0x80 != 0;

    // Arbitrary bytes: errors are fine, panics, hangs and invented bytes are not.
    let mut decoder = if compressed {
        FrameDecoder::with_compression(Compression {
            server_no_context_takeover: seed & 0x40 != 0,
        })
    } else {
        FrameDecoder::default()
    };
    let mut buf = BytesMut::new();
    let mut out = vec![0u8; out_len];
    let mut produced = 0usize;
    'feed: for chunk in chunks(seed, input) {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf, &mut out) {
                Ok(Decoded::Partial) => break,
                Ok(Decoded::Data(n)) => {
                    assert!(n <= out_len);
                    produced += n;
                }
                Ok(_) => {}
                Err(_) => break 'feed,
            }
        }
    }
    if compressed {
        // Deflate expands at most 1032:1 (a 258-byte match can cost two bits), plus
        // what the 4-byte tail of each message may add.
        assert!(
            produced <= input.len().saturating_mul(1032) + 4096,
            "inflated beyond deflate's bound"
        );
    } else {
        assert!(produced <= input.len(), "decoded more bytes than came in");
    }
    let _ = ClientHandshake::new([seed; 16]).parse_response(input);
    let _ = ClientHandshake::with_compression([seed; 16]).parse_upgrade(input);

    // Round trip: the input split into payloads, one frame each (a ping between).
    let mut wire = Vec::new();
    let mut want = Vec::new();
    for (i, payload) in chunks(seed.wrapping_add(3), input).enumerate() {
        if i % 3 == 1 {
            encode_frame(
                Opcode::Ping,
                &[&payload[..payload.len().min(125)]],
                None,
                &mut wire,
            );
        }
        encode_frame(Opcode::Binary, &[payload], None, &mut wire);
        want.extend_from_slice(payload);
    }
    let mut decoder = FrameDecoder::default();
    let mut got = Vec::new();
    let mut buf = BytesMut::new();
    for chunk in chunks(seed.wrapping_mul(5), &wire) {
        buf.extend_from_slice(chunk);
        loop {
            match decoder
                .decode(&mut buf, &mut out)
                .expect("our own frames decode")
            {
                Decoded::Partial => break,
                Decoded::Data(n) => got.extend_from_slice(&out[..n]),
                _ => {}
            }
        }
    }
    assert_eq!(got, want, "frames did not decode to their payloads");
}

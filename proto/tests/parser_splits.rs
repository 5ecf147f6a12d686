//! Both op parsers must give the same ops however the input is cut into reads: at every
//! split point, one byte at a time, and at random chunk boundaries (proptest).

use bytes::{Bytes, BytesMut};
use natsy_proto::{
    ClientOp, ClientOpParser, ServerError, ServerInfo, ServerOp, ServerOpParser, Status,
};
use proptest::prelude::*;

/// An owned, comparable view of a [`ServerOp`].
#[derive(Debug, Clone, PartialEq)]
enum S {
    Info(Box<ServerInfo>),
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

fn own(op: ServerOp) -> S {
    match op {
        ServerOp::Info(info) => S::Info(info),
        ServerOp::Msg(m) => S::Msg {
            subject: m.subject().to_string(),
            sid: m.sid(),
            reply: m.reply().map(str::to_string),
            headers: m.header_block().map(<[u8]>::to_vec),
            payload: m.payload().to_vec(),
        },
        ServerOp::Ping => S::Ping,
        ServerOp::Pong => S::Pong,
        ServerOp::Ok => S::Ok,
        ServerOp::Err(e) => S::Err(e),
        other => panic!("unexpected op {other:?}"),
    }
}

fn msg(subject: &str, sid: u64, reply: Option<&str>, headers: Option<&[u8]>, payload: &[u8]) -> S {
    S::Msg {
        subject: subject.to_string(),
        sid,
        reply: reply.map(str::to_string),
        headers: headers.map(<[u8]>::to_vec),
        payload: payload.to_vec(),
    }
}

fn info(json: &str) -> S {
    S::Info(Box::new(ServerInfo::from_json(json.as_bytes()).unwrap()))
}

/// Feeds `chunks` one after the other, draining the parser after each, as a reader would.
fn feed_server(chunks: &[&[u8]]) -> Vec<S> {
    let mut parser = ServerOpParser::default();
    let mut buf = BytesMut::new();
    let mut ops = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Status::Complete(op) = parser.parse(&mut buf).unwrap() {
            ops.push(own(op));
        }
    }
    assert!(
        buf.is_empty(),
        "left over: {:?}",
        String::from_utf8_lossy(&buf)
    );
    ops
}

fn feed_client(chunks: &[&[u8]]) -> Vec<ClientOp> {
    let mut parser = ClientOpParser::default();
    let mut buf = BytesMut::new();
    let mut ops = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Status::Complete(op) = parser.parse(&mut buf).unwrap() {
            ops.push(op);
        }
    }
    assert!(
        buf.is_empty(),
        "left over: {:?}",
        String::from_utf8_lossy(&buf)
    );
    ops
}

/// Checks one stream whole, at every split point and byte by byte.
fn check_all_splits<T: PartialEq + std::fmt::Debug>(
    input: &[u8],
    want: &[T],
    feed: fn(&[&[u8]]) -> Vec<T>,
) {
    let name = String::from_utf8_lossy(&input[..input.len().min(40)]).into_owned();
    assert_eq!(feed(&[input]), want, "whole: {name}");
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        assert_eq!(feed(&[a, b]), want, "split at {at}: {name}");
    }
    assert_eq!(
        feed(&input.chunks(1).collect::<Vec<_>>()),
        want,
        "byte by byte: {name}"
    );
}

fn big_info_json() -> String {
    let urls: Vec<String> = (0..300)
        .map(|i| format!("\"10.1.{}.{}:4222\"", i / 200, i % 200))
        .collect();
    format!(
        "{{\"server_id\":\"NABC\",\"version\":\"2.15.0\",\"max_payload\":1048576,\"headers\":true,\
         \"connect_urls\":[{}],\"nonce\":\"n o n c e\"}}",
        urls.join(", ")
    )
}

#[test]
fn server_streams_parse_the_same_at_every_split() {
    let no_responders = b"NATS/1.0 503\r\n\r\n";
    let hdrs = b"NATS/1.0\r\nA: 1\r\nBb: two\r\nC-c: 3\r\n\r\n";
    let big = big_info_json();
    assert!(
        big.len() > 4096,
        "bigger than the classic 4 KiB scratch buffer"
    );
    let big_line = format!("INFO {big}\r\n");
    let hmsg = [
        &b"HMSG a.b 7 _INBOX.1 "[..],
        format!("{} {}\r\n", hdrs.len(), hdrs.len() + 2).as_bytes(),
        hdrs,
        b"ok\r\n",
    ]
    .concat();
    let streams: Vec<(Vec<u8>, Vec<S>)> = vec![
        (b"PING\r\nPONG\r\n+OK\r\n".to_vec(), vec![S::Ping, S::Pong, S::Ok]),
        (b"ping\r\nPoNg\r\n+ok\r\npInG extra junk\r\n".to_vec(), vec![S::Ping, S::Pong, S::Ok, S::Ping]),
        (b"MSG foo 1 5\r\nhello\r\n".to_vec(), vec![msg("foo", 1, None, None, b"hello")]),
        (
            b"msg\tfoo.bar \t 22   reply.to\t 3\r\nabc\r\nMsG  x\t\t9\t0  \r\n\r\n".to_vec(),
            vec![msg("foo.bar", 22, Some("reply.to"), None, b"abc"), msg("x", 9, None, None, b"")],
        ),
        (b"MSG foo 1 2\nhi\r\nPING\nPONG\n".to_vec(), vec![msg("foo", 1, None, None, b"hi"), S::Ping, S::Pong]),
        (b"MSG foo 1 0\r\n\r\n".to_vec(), vec![msg("foo", 1, None, None, b"")]),
        (b"MSG foo 1 8\r\na\r\nb\r\n\r\n\r\n".to_vec(), vec![msg("foo", 1, None, None, b"a\r\nb\r\n\r\n")]),
        (b"MSG s.\xc3\xa9 1 1\r\n\n\r\n".to_vec(), vec![msg("s.\u{e9}", 1, None, None, b"\n")]),
        (
            [&b"HMSG _INBOX.abc 3 16 16\r\n"[..], no_responders, b"\r\n"].concat(),
            vec![msg("_INBOX.abc", 3, None, Some(no_responders), b"")],
        ),
        (hmsg.clone(), vec![msg("a.b", 7, Some("_INBOX.1"), Some(hdrs), b"ok")]),
        (big_line.clone().into_bytes(), vec![info(&big)]),
        (
            b"-ERR 'Authorization Violation'\r\n-err\t'Permissions Violation for Publish to \"x\"'\n".to_vec(),
            vec![
                S::Err(ServerError::parse("'Authorization Violation'")),
                S::Err(ServerError::parse("'Permissions Violation for Publish to \"x\"'")),
            ],
        ),
        (
            [&b"INFO {\"max_payload\":10}\r\nPING\r\n"[..], &hmsg, b"MSG q 2 3\r\nxyz\r\n+OK\r\n-ERR 'Stale Connection'\r\n"]
                .concat(),
            vec![
                info("{\"max_payload\":10}"),
                S::Ping,
                msg("a.b", 7, Some("_INBOX.1"), Some(hdrs), b"ok"),
                msg("q", 2, None, None, b"xyz"),
                S::Ok,
                S::Err(ServerError::parse("'Stale Connection'")),
            ],
        ),
    ];
    for (input, want) in &streams {
        check_all_splits(input, want, feed_server);
    }
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn pub_op(
    subject: &'static str,
    reply: Option<&'static str>,
    headers: Option<&'static str>,
    payload: &'static str,
) -> ClientOp {
    ClientOp::Pub {
        subject: b(subject),
        reply: reply.map(b),
        headers: headers.map(b),
        payload: b(payload),
    }
}

#[test]
fn client_streams_parse_the_same_at_every_split() {
    let streams: Vec<(&[u8], Vec<ClientOp>)> = vec![
        (
            b"CONNECT {\"verbose\":false, \"name\": \"a b\"}\r\n",
            vec![ClientOp::Connect(b("{\"verbose\":false, \"name\": \"a b\"}"))],
        ),
        (b"PUB foo 5\r\nhello\r\n", vec![pub_op("foo", None, None, "hello")]),
        (
            b"pub\tfoo.bar  \t reply.1 3\r\nabc\r\nPuB x  0\r\n\r\n",
            vec![pub_op("foo.bar", Some("reply.1"), None, "abc"), pub_op("x", None, None, "")],
        ),
        (b"PUB a 2\nhi\r\nPING\nPONG\n", vec![pub_op("a", None, None, "hi"), ClientOp::Ping, ClientOp::Pong]),
        (b"PUB a 7\r\n\r\nx\r\n\r\n\r\n", vec![pub_op("a", None, None, "\r\nx\r\n\r\n")]),
        (
            b"HPUB FOO 22 33\r\nNATS/1.0\r\nBar: Baz\r\n\r\nHello NATS!\r\n",
            vec![pub_op("FOO", None, Some("NATS/1.0\r\nBar: Baz\r\n\r\n"), "Hello NATS!")],
        ),
        (
            b"hpub a r 12 12\r\nNATS/1.0\r\n\r\n\r\n",
            vec![pub_op("a", Some("r"), Some("NATS/1.0\r\n\r\n"), "")],
        ),
        (
            b"SUB foo.* 1\r\nsub bar  q\t2\r\nSUB subj  3\r\nUNSUB 1\r\nunsub 2 10\r\nUNSUB 3 \r\nping\r\npong junk\r\n",
            vec![
                ClientOp::Sub { subject: b("foo.*"), queue: None, sid: 1 },
                ClientOp::Sub { subject: b("bar"), queue: Some(b("q")), sid: 2 },
                ClientOp::Sub { subject: b("subj"), queue: None, sid: 3 },
                ClientOp::Unsub { sid: 1, max: None },
                ClientOp::Unsub { sid: 2, max: Some(10) },
                ClientOp::Unsub { sid: 3, max: None },
                ClientOp::Ping,
                ClientOp::Pong,
            ],
        ),
    ];
    for (input, want) in &streams {
        check_all_splits(input, want, feed_client);
    }
}

// ---- random streams ----

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_-]{1,8}"
}

fn subject() -> impl Strategy<Value = String> {
    prop::collection::vec(token(), 1..4).prop_map(|t| t.join("."))
}

fn header_block() -> impl Strategy<Value = Vec<u8>> {
    let status = prop_oneof![
        Just(String::new()),
        Just(" 503".to_string()),
        Just(" 100 Idle Heartbeat".to_string())
    ];
    let lines = prop::collection::vec((token(), "[ -~]{0,12}"), 0..4);
    (status, lines).prop_map(|(status, lines)| {
        let mut block = format!("NATS/1.0{status}\r\n");
        for (name, value) in lines {
            block.push_str(&format!("{name}: {value}\r\n"));
        }
        block.push_str("\r\n");
        block.into_bytes()
    })
}

/// A random separator: a run of spaces and tabs.
fn sep() -> impl Strategy<Value = String> {
    "[ \t]{1,3}"
}

/// A random line end: CRLF or a bare LF.
fn eol() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("\r\n"), Just("\n")]
}

fn case_of(op: &str, lower: bool) -> String {
    if lower {
        op.to_ascii_lowercase()
    } else {
        op.to_string()
    }
}

/// One server op with its bytes on the wire.
fn server_op() -> impl Strategy<Value = (Vec<u8>, S)> {
    let msg = (
        subject(),
        any::<u64>(),
        prop::option::of(subject()),
        prop::option::of(header_block()),
        prop::collection::vec(any::<u8>(), 0..200),
        (sep(), sep(), sep(), sep()),
        eol(),
        any::<bool>(),
    )
        .prop_map(
            |(subject, sid, reply, headers, payload, (s1, s2, s3, s4), eol, lower)| {
                let mut line = case_of(if headers.is_some() { "HMSG" } else { "MSG" }, lower);
                line.push_str(&format!("{s1}{subject}{s2}{sid}"));
                if let Some(r) = &reply {
                    line.push_str(&format!("{s3}{r}"));
                }
                let hlen = headers.as_ref().map_or(0, Vec::len);
                if headers.is_some() {
                    line.push_str(&format!("{s4}{hlen}"));
                }
                line.push_str(&format!("{s4}{}{eol}", hlen + payload.len()));
                let wire = [
                    line.as_bytes(),
                    headers.as_deref().unwrap_or_default(),
                    &payload,
                    b"\r\n",
                ]
                .concat();
                let op = S::Msg {
                    subject,
                    sid,
                    reply,
                    headers,
                    payload,
                };
                (wire, op)
            },
        );
    let info = (
        any::<u16>(),
        any::<bool>(),
        prop::collection::vec(token(), 0..20),
        eol(),
    )
        .prop_map(|(port, headers, urls, eol)| {
            let urls: Vec<String> = urls.iter().map(|u| format!("\"{u}:4222\"")).collect();
            let json = format!(
                "{{\"port\": {port}, \"headers\": {headers}, \"connect_urls\": [{}]}}",
                urls.join(",")
            );
            (format!("INFO {json}{eol}").into_bytes(), info(&json))
        });
    let err = (
        prop::sample::select(vec![
            "'Authorization Violation'",
            "'Stale Connection'",
            "'Permissions Violation for Subscription to \"a.b\" using queue \"q\"'",
            "'something unheard of'",
        ]),
        eol(),
    )
        .prop_map(|(text, eol)| {
            (
                format!("-ERR {text}{eol}").into_bytes(),
                S::Err(ServerError::parse(text)),
            )
        });
    let simple = (
        prop::sample::select(vec!["PING", "PONG", "+OK"]),
        any::<bool>(),
        eol(),
    )
        .prop_map(|(op, lower, eol)| {
            let s = match op {
                "PING" => S::Ping,
                "PONG" => S::Pong,
                _ => S::Ok,
            };
            (format!("{}{eol}", case_of(op, lower)).into_bytes(), s)
        });
    prop_oneof![4 => msg, 1 => info, 1 => err, 2 => simple]
}

/// One client op with its bytes on the wire.
fn client_op() -> impl Strategy<Value = (Vec<u8>, ClientOp)> {
    let publish = (
        subject(),
        prop::option::of(subject()),
        prop::option::of(header_block()),
        prop::collection::vec(any::<u8>(), 0..200),
        (sep(), sep(), sep()),
        eol(),
        any::<bool>(),
    )
        .prop_map(
            |(subject, reply, headers, payload, (s1, s2, s3), eol, lower)| {
                let mut line = case_of(if headers.is_some() { "HPUB" } else { "PUB" }, lower);
                line.push_str(&format!("{s1}{subject}"));
                if let Some(r) = &reply {
                    line.push_str(&format!("{s2}{r}"));
                }
                let hlen = headers.as_ref().map_or(0, Vec::len);
                if headers.is_some() {
                    line.push_str(&format!("{s3}{hlen}"));
                }
                line.push_str(&format!("{s3}{}{eol}", hlen + payload.len()));
                let wire = [
                    line.as_bytes(),
                    headers.as_deref().unwrap_or_default(),
                    &payload,
                    b"\r\n",
                ]
                .concat();
                let op = ClientOp::Pub {
                    subject: Bytes::from(subject),
                    reply: reply.map(Bytes::from),
                    headers: headers.map(Bytes::from),
                    payload: Bytes::from(payload),
                };
                (wire, op)
            },
        );
    let sub = (
        subject(),
        prop::option::of(token()),
        any::<u64>(),
        sep(),
        eol(),
    )
        .prop_map(|(subject, queue, sid, s, eol)| {
            let q = queue
                .as_ref()
                .map(|q| format!("{s}{q}"))
                .unwrap_or_default();
            let wire = format!("SUB{s}{subject}{q}{s}{sid}{eol}").into_bytes();
            (
                wire,
                ClientOp::Sub {
                    subject: Bytes::from(subject),
                    queue: queue.map(Bytes::from),
                    sid,
                },
            )
        });
    let unsub =
        (any::<u64>(), prop::option::of(any::<u64>()), eol()).prop_map(|(sid, max, eol)| {
            let m = max.map(|m| format!(" {m}")).unwrap_or_default();
            (
                format!("UNSUB {sid}{m}{eol}").into_bytes(),
                ClientOp::Unsub { sid, max },
            )
        });
    let connect = (token(), eol()).prop_map(|(name, eol)| {
        let json = format!("{{\"name\": \"{name}\", \"verbose\": false}}");
        (
            format!("CONNECT {json}{eol}").into_bytes(),
            ClientOp::Connect(Bytes::from(json)),
        )
    });
    let simple = prop_oneof![
        eol().prop_map(|e| (format!("PING{e}").into_bytes(), ClientOp::Ping)),
        eol().prop_map(|e| (format!("pong{e}").into_bytes(), ClientOp::Pong)),
    ];
    prop_oneof![4 => publish, 2 => sub, 1 => unsub, 1 => connect, 1 => simple]
}

/// Cuts `wire` into chunks of the given sizes (cycled), the last one taking the rest.
fn chunked<'a>(wire: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut rest = wire;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].min(rest.len());
        let (a, b) = rest.split_at(n);
        chunks.push(a);
        rest = b;
        i += 1;
    }
    chunks
}

proptest! {
    #[test]
    fn random_server_streams_survive_random_chunking(
        ops in prop::collection::vec(server_op(), 1..20),
        sizes in prop::collection::vec(1usize..64, 1..10),
    ) {
        let wire: Vec<u8> = ops.iter().flat_map(|(w, _)| w.iter().copied()).collect();
        let want: Vec<S> = ops.into_iter().map(|(_, s)| s).collect();
        prop_assert_eq!(feed_server(&chunked(&wire, &sizes)), want);
    }

    #[test]
    fn random_client_streams_survive_random_chunking(
        ops in prop::collection::vec(client_op(), 1..20),
        sizes in prop::collection::vec(1usize..64, 1..10),
    ) {
        let wire: Vec<u8> = ops.iter().flat_map(|(w, _)| w.iter().copied()).collect();
        let want: Vec<ClientOp> = ops.into_iter().map(|(_, op)| op).collect();
        prop_assert_eq!(feed_client(&chunked(&wire, &sizes)), want);
    }
}

/// What feeding some bytes produced: the ops, then how it ended.
#[derive(Debug, PartialEq)]
struct Outcome<T> {
    ops: Vec<T>,
    end: Result<usize, natsy_proto::ProtocolError>,
}

fn limits() -> natsy_proto::ParserLimits {
    natsy_proto::ParserLimits {
        max_control_line: 64,
        max_payload: 128,
    }
}

/// Like `feed_*`, but for any input: stops at the first error, which must then be sticky.
fn outcome<T, P>(chunks: &[&[u8]], mut parse: P) -> Outcome<T>
where
    P: FnMut(&mut BytesMut) -> Result<Status<T>, natsy_proto::ProtocolError>,
{
    let mut buf = BytesMut::new();
    let mut ops = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match parse(&mut buf) {
                Ok(Status::Complete(op)) => ops.push(op),
                Ok(Status::Partial) => break,
                Err(e) => {
                    assert_eq!(parse(&mut buf).err(), Some(e.clone()), "errors are sticky");
                    return Outcome { ops, end: Err(e) };
                }
            }
        }
    }
    Outcome {
        ops,
        end: Ok(buf.len()),
    }
}

/// Bytes that are often almost protocol: fragments of valid ops mixed with noise.
fn noisy() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"MSG ".to_vec()),
        Just(b"HMSG ".to_vec()),
        Just(b"PUB ".to_vec()),
        Just(b"HPUB ".to_vec()),
        Just(b"SUB ".to_vec()),
        Just(b"UNSUB ".to_vec()),
        Just(b"PING\r\n".to_vec()),
        Just(b"+OK\r\n".to_vec()),
        Just(b"-ERR 'x'\r\n".to_vec()),
        Just(b"INFO {}\r\n".to_vec()),
        Just(b"CONNECT {}\r\n".to_vec()),
        Just(b"a.b ".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\t".to_vec()),
        Just(b"NATS/1.0\r\n\r\n".to_vec()),
        (0u64..200).prop_map(|n| format!("{n} ").into_bytes()),
        (0u64..200).prop_map(|n| format!("{n}\r\n").into_bytes()),
        prop::collection::vec(any::<u8>(), 0..80),
    ];
    prop::collection::vec(piece, 0..30).prop_map(|p| p.concat())
}

proptest! {
    /// Any input, valid or not: no panic, and the same ops and the same ending (error or
    /// leftover bytes) however it is chunked.
    #[test]
    fn any_input_gives_the_same_outcome_however_it_is_chunked(
        input in noisy(),
        sizes in prop::collection::vec(1usize..40, 1..8),
    ) {
        let chunks = chunked(&input, &sizes);
        let mut whole = ServerOpParser::new(limits());
        let mut cut = ServerOpParser::new(limits());
        let a = outcome(&[&input], |b| whole.parse(b).map(|s| match s {
            Status::Complete(op) => Status::Complete(own(op)),
            Status::Partial => Status::Partial,
        }));
        let b = outcome(&chunks, |b| cut.parse(b).map(|s| match s {
            Status::Complete(op) => Status::Complete(own(op)),
            Status::Partial => Status::Partial,
        }));
        prop_assert_eq!(a, b);

        let mut whole = ClientOpParser::new(limits());
        let mut cut = ClientOpParser::new(limits());
        let a = outcome(&[&input], |b| whole.parse(b));
        let b = outcome(&chunks, |b| cut.parse(b));
        prop_assert_eq!(a, b);
    }
}

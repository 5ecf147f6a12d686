//! Keepalive and hostile servers, against a scripted fake server: a `TcpListener` in the
//! test that reads what the client sends with `natsy_proto::ClientOpParser` and answers
//! from a per-connection script. Covers stale-connection detection (unanswered PINGs and
//! `-ERR 'Stale Connection'`), garbage from the server, and a server that never sends INFO.
//! Every case must end in a typed reason and a reconnect (or a typed connect error),
//! never a panic or a hang.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use natsy::{ConnectError, ConnectOptions, DisconnectReason, Event};
use natsy_proto::connection::AttemptError;
use natsy_proto::{ClientOp, ClientOpParser, ServerErrorKind, Status};
use natsy_test_harness::events::{fast_reconnect_with_events, next_event};

const WAIT: Duration = Duration::from_secs(10);

/// What one accepted connection does.
#[derive(Clone, Debug, Default)]
struct Script {
    /// Send nothing at all, ever.
    silent: bool,
    /// Sent instead of INFO, when set.
    greeting: Option<Vec<u8>>,
    /// Sent right after the PONG that completes the handshake.
    after_handshake: Vec<u8>,
    /// Close the socket after `after_handshake`.
    close_after_handshake: bool,
    /// Cork the socket before answering the handshake, so that the answer and the close
    /// reach the client as one segment: bytes and FIN behind a single epoll edge.
    cork_the_close: bool,
    /// Answer PINGs after the handshake (otherwise they are ignored: a stale server).
    answer_pings: bool,
    /// After the handshake, stop reading and flood the client with `PING`s and `PONG`s
    /// (for at most 10 s): a server that looks alive but takes nothing.
    flood: bool,
}

impl Script {
    fn healthy() -> Self {
        Script {
            answer_pings: true,
            ..Script::default()
        }
    }
}

/// What the fake server saw, tagged with the connection's index (0, 1, ...).
#[derive(Debug)]
enum Seen {
    Accepted(usize),
    Op(usize, ClientOp),
    Closed(usize),
}

struct FakeServer {
    port: u16,
    seen: Receiver<Seen>,
}

impl FakeServer {
    /// Listens on a free loopback port; connection `i` follows `script(i)`.
    fn start(script: impl Fn(usize) -> Script + Send + Sync + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, seen) = mpsc::channel();
        let script = Arc::new(script);
        std::thread::spawn(move || {
            for (i, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { return };
                let s = script(i);
                let tx = tx.clone();
                let _ = tx.send(Seen::Accepted(i));
                std::thread::spawn(move || serve(i, stream, port, s, &tx));
            }
        });
        FakeServer { port, seen }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Waits for the first observation `f` accepts, skipping the others.
    fn wait_for<T>(&self, what: &str, mut f: impl FnMut(Seen) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let seen = self
                .seen
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("fake server: timed out waiting for {what}"));
            if let Some(t) = f(seen) {
                return t;
            }
        }
    }
}

fn serve(i: usize, mut stream: TcpStream, port: u16, script: Script, tx: &Sender<Seen>) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    if !script.silent {
        let greeting = script.greeting.clone().unwrap_or_else(|| {
            format!(
                "INFO {{\"server_id\":\"FAKE{i}\",\"server_name\":\"fake\",\"version\":\"2.10.0\",\
                 \"proto\":1,\"host\":\"127.0.0.1\",\"port\":{port},\"headers\":true,\
                 \"max_payload\":1048576}}\r\n"
            )
            .into_bytes()
        });
        if stream.write_all(&greeting).is_err() {
            return;
        }
    }
    let mut parser = ClientOpParser::default();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    let mut handshake_done = false;
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => break,
        }
        while let Ok(Status::Complete(op)) = parser.parse(&mut buf) {
            if op == ClientOp::Ping && !script.silent {
                let mut answer = Vec::new();
                let closing = !handshake_done && script.close_after_handshake;
                if !handshake_done {
                    handshake_done = true;
                    answer.extend_from_slice(b"PONG\r\n");
                    answer.extend_from_slice(&script.after_handshake);
                    if script.cork_the_close {
                        socket2::SockRef::from(&stream).set_tcp_cork(true).unwrap();
                    }
                } else if script.answer_pings {
                    answer.extend_from_slice(b"PONG\r\n");
                }
                if stream.write_all(&answer).is_err() {
                    break;
                }
                if script.flood && handshake_done {
                    let _ = tx.send(Seen::Op(i, op));
                    flood(&mut stream);
                    let _ = tx.send(Seen::Closed(i));
                    return;
                }
                if closing {
                    let _ = tx.send(Seen::Op(i, op));
                    let _ = stream.shutdown(Shutdown::Both);
                    let _ = tx.send(Seen::Closed(i));
                    return;
                }
            }
            let _ = tx.send(Seen::Op(i, op));
        }
    }
    let _ = tx.send(Seen::Closed(i));
}

/// Writes PINGs and PONGs, never reading, until the client goes or 10 s pass.
fn flood(stream: &mut TcpStream) {
    let burst = b"PING\r\nPONG\r\n".repeat(1024);
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if stream.write_all(&burst).is_err() {
            return;
        }
    }
}

/// Waits until connection `conn` has sent SUB for `subject`; returns its sid.
fn wait_for_sub(fake: &FakeServer, conn: usize, subject: &str) -> u64 {
    fake.wait_for(
        &format!("SUB {subject} on connection {conn}"),
        |s| match s {
            Seen::Op(
                i,
                ClientOp::Sub {
                    subject: s, sid, ..
                },
            ) if i == conn && s == subject => Some(sid),
            _ => None,
        },
    )
}

/// Waits until connection `conn` has sent CONNECT.
fn wait_for_connect(fake: &FakeServer, conn: usize) {
    fake.wait_for(&format!("CONNECT on connection {conn}"), |s| {
        matches!(s, Seen::Op(i, ClientOp::Connect(_)) if i == conn).then_some(())
    });
}

#[test]
fn unanswered_pings_are_detected_as_stale_and_the_client_reconnects() {
    let fake = FakeServer::start(|i| {
        if i == 0 {
            Script::default() // answers the handshake PING only
        } else {
            Script::healthy()
        }
    });
    let (options, events) = fast_reconnect_with_events();
    let ping_interval = Duration::from_millis(200);
    let client = options
        .ping_interval(ping_interval)
        .max_pings_out(2)
        .connect(fake.url())
        .unwrap();
    let connected_at = Instant::now();
    assert!(matches!(next_event(&events, WAIT), Event::Connected { .. }));
    let _sub = client.subscribe("stale.sub").unwrap();
    let first_sid = wait_for_sub(&fake, 0, "stale.sub");

    match next_event(&events, WAIT) {
        Event::Disconnected { reason } => assert_eq!(reason, DisconnectReason::StaleConnection),
        other => panic!("expected Disconnected, got {other:?}"),
    }
    let detected = connected_at.elapsed();
    // (max_pings_out + 1) * ping_interval = 600 ms, plus generous slack for a busy machine.
    assert!(
        detected < 3 * ping_interval + Duration::from_secs(2),
        "stale detection took {detected:?}"
    );
    assert!(
        detected >= 2 * ping_interval,
        "declared stale too early: {detected:?}"
    );

    assert!(matches!(
        next_event(&events, WAIT),
        Event::Reconnected { .. }
    ));
    // Proof on the wire: the client closed the stale socket, and a second connection was
    // accepted that sent a new CONNECT and re-sent the SUB with the same sid.
    let (mut closed, mut accepted, mut connect, mut resub) = (false, false, false, None);
    while !(closed && accepted && connect && resub.is_some()) {
        fake.wait_for("the reconnect on the wire", |s| {
            match s {
                Seen::Closed(0) => closed = true,
                Seen::Accepted(1) => accepted = true,
                Seen::Op(1, ClientOp::Connect(_)) => connect = true,
                Seen::Op(1, ClientOp::Sub { subject, sid, .. }) if subject == "stale.sub" => {
                    resub = Some(sid)
                }
                _ => {}
            }
            Some(())
        });
    }
    assert_eq!(resub, Some(first_sid));
    // The healthy connection is usable and stays up.
    client.publish("after.reconnect", "x").unwrap();
    client.flush().unwrap();
    assert_eq!(client.statistics().reconnects, 1);
    std::thread::sleep(4 * ping_interval);
    assert_eq!(client.connection_state(), natsy::State::Connected);
}

#[test]
fn garbage_from_the_server_is_a_protocol_error_and_the_client_reconnects() {
    for garbage in [
        &b"\x00\xff\xfe not nats at all\r\n"[..],
        b"MSG missing args\r\n",
        b"HELLO WORLD\r\n",
    ] {
        let garbage = garbage.to_vec();
        let fake = FakeServer::start(move |i| {
            if i == 0 {
                Script {
                    after_handshake: garbage.clone(),
                    answer_pings: true,
                    ..Script::default()
                }
            } else {
                Script::healthy()
            }
        });
        let (options, events) = fast_reconnect_with_events();
        let client = options.connect(fake.url()).unwrap();
        assert!(matches!(next_event(&events, WAIT), Event::Connected { .. }));
        match next_event(&events, WAIT) {
            Event::Disconnected {
                reason: DisconnectReason::ProtocolError(_),
            } => {}
            other => panic!("expected a protocol-error disconnect, got {other:?}"),
        }
        assert!(matches!(
            next_event(&events, WAIT),
            Event::Reconnected { .. }
        ));
        wait_for_connect(&fake, 1);
        client.publish("still.alive", "x").unwrap();
        client.flush().unwrap();
        fake.wait_for("the PUB on the new connection", |s| {
            matches!(s, Seen::Op(1, ClientOp::Pub { .. })).then_some(())
        });
    }
}

#[test]
fn err_stale_connection_from_the_server_makes_the_client_reconnect() {
    let fake = FakeServer::start(|i| {
        if i == 0 {
            Script {
                after_handshake: b"-ERR 'Stale Connection'\r\n".to_vec(),
                close_after_handshake: true,
                ..Script::default()
            }
        } else {
            Script::healthy()
        }
    });
    let (options, events) = fast_reconnect_with_events();
    let client = options.connect(fake.url()).unwrap();
    assert!(matches!(next_event(&events, WAIT), Event::Connected { .. }));
    match next_event(&events, WAIT) {
        Event::Disconnected {
            reason: DisconnectReason::ServerError(e),
        } => assert_eq!(e.kind, ServerErrorKind::StaleConnection),
        other => panic!("expected a Stale Connection disconnect, got {other:?}"),
    }
    assert!(matches!(
        next_event(&events, WAIT),
        Event::Reconnected { .. }
    ));
    wait_for_connect(&fake, 1);
    client.flush().unwrap();
    assert_eq!(client.statistics().reconnects, 1);
}

/// A server that goes away right behind its last bytes (a killed nats-server with output
/// still queued for a subscriber) must be seen to go. Its bytes and FIN come with one
/// epoll edge, so the read that returns the bytes is not the last one: the close is only
/// seen by reading again. The client used to stop at the short read and sat on the dead
/// socket until a PING failed, two minutes by default (the chaos run's lost subscriber).
#[test]
fn a_close_that_arrives_with_the_last_bytes_is_seen_at_once() {
    let (options, events) = fast_reconnect_with_events();
    close_with_the_last_bytes(options, events);
}

/// The same on the tokio driver. There the reactor keeps a read-closed readiness set once
/// it has seen one (clearing never clears it), so the wait after the short read ends at
/// once and the next read meets the end: this guards that path, which does not need
/// `peer_closed` (checked: it passes with the flag never set).
#[test]
fn a_close_that_arrives_with_the_last_bytes_is_seen_at_once_on_tokio() {
    let rt = natsy_test_harness::tokio_multi_thread();
    let (options, events) = fast_reconnect_with_events();
    close_with_the_last_bytes(options.tokio_runtime(rt.handle().clone()), events);
}

fn close_with_the_last_bytes(options: ConnectOptions, events: Receiver<Event>) {
    let fake = FakeServer::start(|i| {
        if i == 0 {
            Script {
                // The handshake's PONG is the last bytes: nothing that needs an answer,
                // whose write would fail and show the close another way.
                close_after_handshake: true,
                cork_the_close: true,
                ..Script::default()
            }
        } else {
            Script::healthy()
        }
    });
    let client = options.connect(fake.url()).unwrap();
    assert!(matches!(next_event(&events, WAIT), Event::Connected { .. }));
    match next_event(&events, WAIT) {
        Event::Disconnected { reason } => {
            assert_eq!(reason, DisconnectReason::Eof)
        }
        other => panic!("expected a disconnect, got {other:?}"),
    }
    assert!(matches!(
        next_event(&events, WAIT),
        Event::Reconnected { .. }
    ));
    wait_for_connect(&fake, 1);
    client.flush().unwrap();
    assert_eq!(client.statistics().reconnects, 1);
}

#[test]
fn a_server_that_never_sends_info_fails_connect_within_the_timeout() {
    let fake = FakeServer::start(|_| Script {
        silent: true,
        ..Script::default()
    });
    let timeout = Duration::from_millis(500);
    let start = Instant::now();
    let err = ConnectOptions::new()
        .connect_timeout(timeout)
        .connect(fake.url())
        .unwrap_err();
    let took = start.elapsed();
    match &err {
        ConnectError::Attempt { error, .. } => assert_eq!(**error, AttemptError::Timeout),
        other => panic!("expected a timed-out attempt, got {other:?}"),
    }
    assert!(took >= timeout, "{took:?}");
    assert!(took < timeout + Duration::from_secs(3), "{took:?}");
}

#[test]
fn a_server_that_starts_with_something_else_than_info_fails_connect() {
    for greeting in [&b"PONG\r\n"[..], b"\x16\x03\x01 binary junk\r\n"] {
        let greeting = greeting.to_vec();
        let fake = FakeServer::start(move |_| Script {
            greeting: Some(greeting.clone()),
            ..Script::default()
        });
        let start = Instant::now();
        let err = ConnectOptions::new()
            .connect_timeout(Duration::from_secs(5))
            .connect(fake.url())
            .unwrap_err();
        match &err {
            ConnectError::Attempt { error, .. } => assert!(
                matches!(**error, AttemptError::NoInfo | AttemptError::Protocol(_)),
                "{error:?}"
            ),
            other => panic!("expected a failed attempt, got {other:?}"),
        }
        // Refused at once, not after the timeout.
        assert!(start.elapsed() < Duration::from_secs(4));
    }
}

#[test]
fn a_server_that_floods_pings_and_never_reads_is_stale_and_memory_stays_bounded() {
    let fake = FakeServer::start(|i| Script {
        flood: i == 0,
        ..Script::healthy()
    });
    let (options, events) = fast_reconnect_with_events();
    let client = options
        .ping_interval(Duration::from_millis(200))
        .max_pings_out(2)
        .connect(fake.url())
        .unwrap();
    assert!(matches!(next_event(&events, WAIT), Event::Connected { .. }));
    // Publish enough to fill the socket buffers the server never drains.
    let publisher = {
        let client = client.clone();
        std::thread::spawn(move || {
            let payload = vec![b'x'; 64 * 1024];
            let mut most = 0;
            for _ in 0..(64 * 1024 * 1024 / payload.len()) {
                client.publish("flood", payload.clone()).unwrap();
                if client.connection_state() != natsy::State::Connected {
                    break;
                }
                most = most.max(client.buffered());
            }
            most
        })
    };
    let started = Instant::now();
    match next_event(&events, WAIT) {
        Event::Disconnected { reason } => assert_eq!(reason, DisconnectReason::WriteStalled),
        other => panic!("expected Disconnected, got {other:?}"),
    }
    // (max_pings_out + 1) * ping_interval after the socket filled: about 1.1-1.3 s here,
    // also under load. Any bytes the kernel still takes reset the count (a full receive
    // queue can be compacted, reopening a little window), and one CI run took 5.5 s;
    // the bound only has to show that detection does not wait for the 10 s flood to end.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let most = publisher.join().unwrap();
    // What the client queued for the socket stayed within the publish bound (2 MiB
    // plus one message): PONGs for the flood did not pile up.
    assert!(
        most <= 2 * 1024 * 1024 + 64 * 1024 + 1024,
        "queued {most} bytes"
    );
    drop(client);
}

//! `natsy-proto` driven by a plain blocking `std::net::TcpStream` against a real
//! nats-server: the loop from the crate docs, proving the core needs nothing but bytes
//! and a clock.

use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use natsy_proto::connection::{Connection, ConnectionConfig, Event, TransportError, TransportOp};
use natsy_proto::ServerAddr;
use natsy_test_harness::NatsServer;

/// A `Connection` and the socket it is driven over.
struct Driver {
    conn: Connection,
    sock: Option<TcpStream>,
}

/// Runs the connection over blocking std sockets until `done` says stop; returns the
/// events seen.
fn drive(d: &mut Driver, mut done: impl FnMut(&Event) -> bool) -> io::Result<Vec<Event>> {
    let Driver { conn, sock } = d;
    let mut buf = [0u8; 64 * 1024];
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        while let Some(event) = conn.poll_event() {
            match &event {
                Event::Dial { server, .. } => {
                    match TcpStream::connect((server.host.as_str(), server.port)) {
                        Ok(s) => {
                            *sock = Some(s);
                            conn.handle_transport_connected(Instant::now());
                        }
                        Err(e) => conn.handle_transport_error(
                            Instant::now(),
                            TransportError::io(TransportOp::Connect, &e),
                        ),
                    }
                }
                Event::CloseTransport => *sock = None,
                _ => {}
            }
            let stop = done(&event);
            seen.push(event);
            if stop {
                return Ok(seen);
            }
        }
        let Some(s) = sock.as_mut() else {
            // Waiting to reconnect: sleep until the connection's next timer.
            if let Some(t) = conn.poll_timeout() {
                std::thread::sleep(t.saturating_duration_since(Instant::now()));
                conn.handle_timeout(Instant::now());
            }
            continue;
        };
        let mut slices = [IoSlice::new(&[]); 16];
        let n = conn.poll_transmit(&mut slices);
        if n > 0 {
            let written = s.write_vectored(&slices[..n])?;
            conn.advance_transmit(written);
            continue;
        }
        // Read, but wake up for the next timer.
        let wait = conn
            .poll_timeout()
            .map(|t| t.saturating_duration_since(Instant::now()));
        s.set_read_timeout(Some(
            wait.unwrap_or(Duration::from_millis(100))
                .max(Duration::from_millis(1)),
        ))?;
        match s.read(&mut buf) {
            Ok(0) => conn.handle_transport_eof(Instant::now()),
            Ok(n) => conn.handle_input(Instant::now(), &buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                conn.handle_timeout(Instant::now())
            }
            Err(e) => conn
                .handle_transport_error(Instant::now(), TransportError::io(TransportOp::Read, &e)),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("gave up; events: {seen:?}"),
    ))
}

fn driver(url: &str) -> Driver {
    let servers = vec![ServerAddr::parse(url).expect("url")];
    let conn = Connection::new(ConnectionConfig::new(servers), Instant::now()).expect("config");
    Driver { conn, sock: None }
}

#[test]
fn pub_sub_request_and_flush_through_a_real_server() {
    let server = NatsServer::start().expect("server");
    let mut d = driver(&server.url());
    let sid = d.conn.subscribe("greet.*", None).expect("subscribe");
    // Published before the handshake: buffered, then sent after the SUB.
    d.conn
        .publish("greet.joe", None, None, "hello".into())
        .expect("publish");
    let events = drive(&mut d, |e| matches!(e, Event::Message(_))).expect("message");
    assert!(
        events.iter().any(|e| matches!(e, Event::Connected { .. })),
        "{events:?}"
    );
    let Some(Event::Message(msg)) = events.last() else {
        unreachable!()
    };
    assert_eq!(
        (msg.subject(), msg.sid(), msg.payload()),
        ("greet.joe", sid, &b"hello"[..])
    );

    // Flush is confirmed by the server.
    let id = d.conn.flush(Instant::now()).expect("flush");
    drive(&mut d, |e| *e == Event::FlushComplete(id)).expect("flush completes");

    // No responders: a request to nobody gets an immediate 503 on our inbox.
    let inbox = d.conn.subscribe("_INBOX.proto.*", None).expect("inbox");
    d.conn
        .publish("nobody.home", Some("_INBOX.proto.1"), None, "?".into())
        .expect("request");
    let events = drive(
        &mut d,
        |e| matches!(e, Event::Message(m) if m.sid() == inbox),
    )
    .expect("503");
    let Some(Event::Message(reply)) = events.last() else {
        unreachable!()
    };
    assert!(reply.is_no_responders(), "{reply:?}");
    assert_eq!(d.conn.stats().in_msgs, 2);
}

#[test]
fn a_restarted_server_gets_subscriptions_back_and_buffered_publishes() {
    let mut server = NatsServer::start().expect("server");
    let mut d = driver(&server.url());
    let sid = d.conn.subscribe("after.restart", None).expect("subscribe");
    drive(&mut d, |e| matches!(e, Event::Connected { .. })).expect("connected");

    server.stop().expect("stop");
    drive(&mut d, |e| matches!(e, Event::Disconnected { .. })).expect("disconnected");
    // While down: buffered in the reconnect buffer.
    for i in 0..10 {
        d.conn
            .publish("after.restart", None, None, format!("{i}").into())
            .expect("buffered");
    }
    server.start_again().expect("start again");
    drive(&mut d, |e| matches!(e, Event::Reconnected { .. })).expect("reconnected");
    let mut got = Vec::new();
    drive(&mut d, |e| {
        if let Event::Message(m) = e {
            assert_eq!(m.sid(), sid);
            got.push(String::from_utf8_lossy(m.payload()).into_owned());
        }
        got.len() == 10
    })
    .expect("every buffered message arrives");
    assert_eq!(got, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
}

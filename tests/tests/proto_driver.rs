//! `natsy-proto` driven by a plain blocking `std::net::TcpStream` (and rustls for the
//! TLS upgrade) against a real nats-server: the loop from the crate docs, proving the
//! core needs nothing but bytes, a clock and socket glue: requests, flushes, reconnects
//! and TLS all come from proto's public API.

use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use natsy_proto::connection::{Connection, ConnectionConfig, Event, TransportError, TransportOp};
use natsy_proto::ServerAddr;
use natsy_test_harness::NatsServer;
use rustls::pki_types::pem::PemObject;

trait Io: Read + Write {}
impl<T: Read + Write> Io for T {}

/// A `Connection` and the socket it is driven over (plain, or TLS on top of `tcp`).
struct Driver {
    conn: Connection,
    sock: Option<Box<dyn Io>>,
    tcp: Option<TcpStream>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// Runs the connection over blocking std sockets until `done` says stop; returns the
/// events seen.
fn drive(d: &mut Driver, mut done: impl FnMut(&Event) -> bool) -> io::Result<Vec<Event>> {
    let Driver {
        conn,
        sock,
        tcp,
        tls,
    } = d;
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        while let Some(event) = conn.poll_event() {
            match &event {
                Event::Dial { server, .. } => {
                    match TcpStream::connect((server.host.as_str(), server.port)) {
                        Ok(s) => {
                            *tcp = Some(s.try_clone()?);
                            *sock = Some(Box::new(s));
                            conn.handle_transport_connected(Instant::now());
                        }
                        Err(e) => conn.handle_transport_error(
                            Instant::now(),
                            TransportError::io(TransportOp::Connect, &e),
                        ),
                    }
                }
                Event::UpgradeTls { tls_name } => {
                    let (Some(t), Some(config)) = (tcp.as_ref(), tls.as_ref()) else {
                        panic!("the server wants TLS and the test gave no config");
                    };
                    let name = rustls::pki_types::ServerName::try_from(tls_name.clone())
                        .map_err(io::Error::other)?;
                    let session = rustls::ClientConnection::new(config.clone(), name)
                        .map_err(io::Error::other)?;
                    // The handshake runs on the first write (CONNECT).
                    *sock = Some(Box::new(rustls::StreamOwned::new(session, t.try_clone()?)));
                    conn.handle_tls_established(Instant::now());
                }
                Event::CloseTransport => (*sock, *tcp) = (None, None),
                _ => {}
            }
            let stop = done(&event);
            seen.push(event);
            if stop {
                return Ok(seen);
            }
        }
        let (Some(s), Some(t)) = (sock.as_mut(), tcp.as_ref()) else {
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
            s.flush()?;
            conn.advance_transmit(written);
            continue;
        }
        // Read, but wake up for the next timer.
        let wait = conn
            .poll_timeout()
            .map(|t| t.saturating_duration_since(Instant::now()));
        t.set_read_timeout(Some(
            wait.unwrap_or(Duration::from_millis(100))
                .max(Duration::from_millis(1)),
        ))?;
        // Read in place, into the parser's own buffer.
        let mut space = conn.read_space();
        let read = s.read(&mut space);
        conn.handle_read(Instant::now(), space, *read.as_ref().unwrap_or(&0));
        match read {
            Ok(0) => conn.handle_transport_eof(Instant::now()),
            Ok(_) => {}
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
    Driver {
        conn,
        sock: None,
        tcp: None,
        tls: None,
    }
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

    // No responders: a request to nobody gets an immediate 503 through proto's muxer.
    let id = d
        .conn
        .request("nobody.home", None, "?".into())
        .expect("request");
    let events = drive(
        &mut d,
        |e| matches!(e, Event::Reply { id: r, .. } if *r == id),
    )
    .expect("503");
    let Some(Event::Reply { message: reply, .. }) = events.last() else {
        unreachable!()
    };
    assert!(reply.is_no_responders(), "{reply:?}");
    assert_eq!(d.conn.pending_requests(), 0);
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

#[test]
fn a_tls_upgrade_with_rustls_through_a_real_tls_server() {
    let files = natsy_test_harness::TlsFiles::generate().expect("certificates");
    let server = NatsServer::builder()
        .tls(files.server_tls())
        .start()
        .expect("server");
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(files.ca_cert()).expect("CA");
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.expect("a CA certificate")).expect("add CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut d = driver(&format!("nats://localhost:{}", server.port()));
    d.tls = Some(Arc::new(config));
    let sid = d.conn.subscribe("tls.greet", None).expect("subscribe");
    d.conn
        .publish("tls.greet", None, None, "over TLS".into())
        .expect("publish");
    let events = drive(&mut d, |e| matches!(e, Event::Message(_))).expect("message");
    assert!(events.iter().any(|e| matches!(e, Event::UpgradeTls { .. })));
    let Some(Event::Message(msg)) = events.last() else {
        unreachable!()
    };
    assert_eq!((msg.sid(), msg.payload()), (sid, &b"over TLS"[..]));
}

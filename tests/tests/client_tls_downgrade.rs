//! No TLS downgrade on reconnect: a client that asked for TLS (here only by trusting a CA)
//! and verified a real TLS nats-server must never speak plain text to whatever takes the
//! server's port after it dies. The impostor's INFO without `tls_required` is a typed
//! attempt error, and the impostor receives no byte from the client: no CONNECT, no token.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use natsy::proto::connection::AttemptError;
use natsy::Event;
use natsy_test_harness::events::{fast_reconnect_with_events, wait_for_event};
use natsy_test_harness::{NatsServer, TlsFiles};

const TOKEN: &str = "downgrade-secret-token";

/// Binds `port` on loopback, retrying while the killed server's socket lets go of it.
fn bind_again(port: u16) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => return l,
            Err(e) if Instant::now() < deadline => {
                eprintln!("port {port} not free yet: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("could not take port {port}: {e}"),
        }
    }
}

#[test]
fn a_plain_text_impostor_after_a_tls_server_gets_nothing() {
    let files = TlsFiles::generate().unwrap();
    let mut server = NatsServer::builder()
        .tls(files.server_tls())
        .token(TOKEN)
        .start()
        .unwrap();
    let port = server.port();
    let (options, events) = fast_reconnect_with_events();
    let client = options
        .root_certificates(files.ca_cert())
        .token(TOKEN)
        .connect(format!("nats://localhost:{port}"))
        .expect("TLS connect with the token");
    client.flush().unwrap();

    server.kill_hard();
    let impostor = bind_again(port);
    let (mut stream, _) = impostor.accept().expect("the client reconnects");
    stream
        .write_all(b"INFO {\"server_id\":\"IMPOSTOR\",\"version\":\"2.15.1\",\"proto\":1,\"max_payload\":1048576,\"auth_required\":true}\r\n")
        .unwrap();
    let error = wait_for_event(&events, Duration::from_secs(10), |e| match e {
        Event::ReconnectAttemptFailed { error, .. } => Some(error.clone()),
        _ => None,
    });
    assert_eq!(error, AttemptError::TlsRequiredByClientButUnavailable);

    // The client has given up on this socket: everything it sent is readable now.
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(
        got.is_empty(),
        "the impostor received {} bytes: {text}",
        got.len()
    );
    assert!(!text.contains(TOKEN));
    drop(client);
}

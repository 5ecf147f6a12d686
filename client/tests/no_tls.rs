//! natsy built without its `tls` feature (`cargo test -p natsy --no-default-features
//! --test no_tls`, as tests/run does): every way of asking for TLS is a typed error,
//! never a panic, and a real nats-server that requires TLS fails the attempt with
//! words that say why. With the feature on (a default build) this file has no tests.
//!
//! The server's certificate (`tests/data/server-cert.pem`, self-signed for 127.0.0.1,
//! with its throwaway key beside it) only lets nats-server start with `tls {}`: this
//! client never gets as far as a handshake.
#![cfg(not(feature = "tls"))]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use natsy::proto::connection::{AttemptError, TransportOp};
use natsy::tls::TlsError;
use natsy::{ConnectError, ConnectOptions};

fn assert_disabled(result: Result<natsy::Client, ConnectError>, what: &str) {
    match result {
        Err(ConnectError::Tls(TlsError::Disabled)) => {}
        other => panic!("{what}: expected ConnectError::Tls(Disabled), got {other:?}"),
    }
}

#[test]
fn tls_urls_and_options_are_typed_errors() {
    // Nothing listens on port 1: the error must come before any dial.
    assert_disabled(natsy::connect("tls://127.0.0.1:1"), "tls:// URL");
    assert_disabled(
        ConnectOptions::new().connect("nats://127.0.0.1:1,tls://127.0.0.1:2"),
        "one tls:// URL in a list",
    );
    assert_disabled(
        ConnectOptions::new()
            .require_tls()
            .connect("nats://127.0.0.1:1"),
        "require_tls",
    );
    assert_disabled(
        ConnectOptions::new()
            .tls_first()
            .connect("nats://127.0.0.1:1"),
        "tls_first",
    );
    assert_disabled(
        ConnectOptions::new()
            .root_certificates_pem(b"-----BEGIN CERTIFICATE-----\n".to_vec())
            .connect("nats://127.0.0.1:1"),
        "root certificates",
    );
    let message = TlsError::Disabled.to_string();
    assert!(message.contains("`tls` feature"), "{message}");
}

/// A nats-server with `tls {}` on a free port, killed on drop.
struct TlsServer {
    child: Child,
    port: u16,
    _dir: PathBuf,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

fn tls_server() -> TlsServer {
    let bin = std::env::var_os("NATS_SERVER_BIN").unwrap_or_else(|| "nats-server".into());
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let dir = std::env::temp_dir().join(format!("natsy-no-tls-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("nats-server.conf");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:{port}\ntls {{\n  cert_file: {:?}\n  key_file: {:?}\n}}\n",
            data.join("server-cert.pem"),
            data.join("server-key.pem"),
        ),
    )
    .expect("write config");
    let child = Command::new(&bin)
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin:?} (set NATS_SERVER_BIN): {e}"));
    let server = TlsServer {
        child,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

#[test]
fn a_server_that_requires_tls_fails_the_attempt_with_a_typed_error() {
    let server = tls_server();
    let result = ConnectOptions::new()
        .no_reconnect()
        .connect_timeout(Duration::from_secs(5))
        .connect(format!("nats://127.0.0.1:{}", server.port).as_str());
    match result {
        Err(ConnectError::Attempt {
            server: addr,
            error,
        }) => {
            assert_eq!(addr.port, server.port);
            match *error {
                AttemptError::Transport(e) => {
                    assert_eq!(e.op(), TransportOp::Tls);
                    assert_eq!(e.kind(), std::io::ErrorKind::Unsupported);
                    assert_eq!(e.detail(), TlsError::Disabled.to_string());
                }
                other => panic!("expected a TLS transport error, got {other:?}"),
            }
        }
        Err(other) => panic!("expected ConnectError::Attempt, got {other:?}"),
        Ok(_) => panic!("connected in plain text to a server that requires TLS"),
    }
}

//! Exercises the harness against a real nats-server, speaking raw protocol over
//! `std::net` (the client crate is not used here).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use natsy_test_harness::{
    probe, signal, Account, HarnessError, JetStreamLimits, KeyKind, KeyPair, NatsCluster,
    NatsServer, OperatorSetup, TlsFiles,
};
use serde_json::Value;

/// A raw protocol connection: the server's `INFO`, then line-by-line reads.
struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    info: Value,
}

impl Raw {
    fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let writer = stream.try_clone().unwrap();
        let mut raw = Raw {
            reader: BufReader::new(stream),
            writer,
            info: Value::Null,
        };
        let line = raw.line();
        raw.info = probe::parse_info_line(&line).unwrap();
        raw
    }

    fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).unwrap();
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line
    }

    /// Reads the next line that is not an asynchronous `INFO` (servers send one after
    /// CONNECT and on cluster changes) and not a server `PING` (answered with `PONG`).
    fn next(&mut self) -> String {
        loop {
            let line = self.line();
            if line == "PING\r\n" {
                self.send("PONG\r\n");
            } else if !line.starts_with("INFO ") {
                return line;
            }
        }
    }

    /// Sends CONNECT with extra JSON fields, then PING; returns the answer line.
    fn login(&mut self, extra: &str) -> String {
        self.send(&format!(
            "CONNECT {{\"verbose\":false,\"pedantic\":false,\"protocol\":1,\"headers\":true,\"no_responders\":true{extra}}}\r\nPING\r\n"
        ));
        self.next()
    }

    /// Sends a request and returns the reply payload (MSG) or the HMSG header block.
    fn request(&mut self, subject: &str, payload: &str) -> String {
        self.send(&format!(
            "SUB _INBOX.r 99\r\nPUB {subject} _INBOX.r {}\r\n{payload}\r\n",
            payload.len()
        ));
        let head = self.next();
        assert!(
            head.starts_with("MSG ") || head.starts_with("HMSG "),
            "unexpected line {head:?}"
        );
        let size: usize = head.split_whitespace().last().unwrap().parse().unwrap();
        let mut body = vec![0u8; size + 2];
        std::io::Read::read_exact(&mut self.reader, &mut body).unwrap();
        self.send("UNSUB 99\r\n");
        format!("{}{}", head, String::from_utf8(body).unwrap())
    }
}

#[test]
fn plain_server_sends_info_with_expected_fields() {
    let server = NatsServer::start().unwrap();
    let info = server.info().unwrap();
    assert_eq!(info["port"], server.port());
    assert_eq!(info["host"], "127.0.0.1");
    assert_eq!(info["headers"], true);
    assert_eq!(info["proto"], 1);
    assert_eq!(info["max_payload"], 1024 * 1024);
    assert!(info["server_id"].as_str().unwrap().starts_with('N'));
    assert!(!info["version"].as_str().unwrap().is_empty());
    assert_ne!(info["auth_required"], true);
    assert_ne!(info["jetstream"], true);
    assert_eq!(server.url(), format!("nats://127.0.0.1:{}", server.port()));
    assert!(server.config_path().is_file());
    assert!(server.log_tail().contains("Server is ready"));
}

#[test]
fn max_payload_and_raw_config_reach_the_server() {
    let server = NatsServer::builder().max_payload(4096).start().unwrap();
    assert_eq!(server.info().unwrap()["max_payload"], 4096);
    // raw_config is appended last, so it wins over the generated value.
    let server = NatsServer::builder()
        .max_payload(4096)
        .raw_config("max_payload: 2048")
        .start()
        .unwrap();
    assert_eq!(server.info().unwrap()["max_payload"], 2048);
}

#[test]
fn raw_protocol_smoke_test() {
    let server = NatsServer::start().unwrap();
    let mut raw = Raw::connect(server.port());
    raw.send("CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1,\"headers\":true}\r\nSUB a 1\r\nPUB a 2\r\nhi\r\nPING\r\n");
    assert_eq!(raw.next(), "MSG a 1 2\r\n");
    assert_eq!(raw.next(), "hi\r\n");
    assert_eq!(raw.next(), "PONG\r\n");
}

#[test]
fn server_pings_at_the_configured_interval() {
    let server = NatsServer::builder()
        .ping_interval(Duration::from_millis(200))
        .start()
        .unwrap();
    let mut raw = Raw::connect(server.port());
    assert_eq!(raw.login(""), "PONG\r\n");
    let started = Instant::now();
    let mut line = raw.line();
    while line.starts_with("INFO ") {
        line = raw.line();
    }
    assert_eq!(line, "PING\r\n");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn jetstream_server_advertises_jetstream_and_keeps_streams_across_restart() {
    let mut server = NatsServer::builder().jetstream().start().unwrap();
    assert_eq!(server.info().unwrap()["jetstream"], true);
    let store = server.store_dir().unwrap();
    assert!(store.starts_with(server.dir()));

    let mut raw = Raw::connect(server.port());
    assert_eq!(raw.login(""), "PONG\r\n");
    let created = raw.request(
        "$JS.API.STREAM.CREATE.KEEP",
        r#"{"name":"KEEP","subjects":["keep.>"],"storage":"file"}"#,
    );
    assert!(created.contains(r#""type":"io.nats.jetstream.api.v1.stream_create_response""#));
    assert!(!created.contains(r#""error""#), "{created}");
    drop(raw);

    let port = server.port();
    let old_pid = server.pid();
    server.restart().unwrap();
    assert_eq!(server.port(), port);
    assert_ne!(server.pid(), old_pid);
    assert!(!signal::process_exists(old_pid));

    let mut raw = Raw::connect(server.port());
    assert_eq!(raw.login(""), "PONG\r\n");
    let info = raw.request("$JS.API.STREAM.INFO.KEEP", "");
    assert!(info.contains(r#""name":"KEEP""#), "{info}");
    assert!(!info.contains(r#""error""#), "{info}");
}

#[test]
fn user_password_auth_is_required_and_enforced() {
    let server = NatsServer::builder()
        .user("alice", "s3cret")
        .start()
        .unwrap();
    assert_eq!(server.info().unwrap()["auth_required"], true);
    let mut raw = Raw::connect(server.port());
    assert!(raw
        .login(r#","user":"alice","pass":"wrong""#)
        .starts_with("-ERR 'Authorization Violation'"));
    let mut raw = Raw::connect(server.port());
    assert_eq!(raw.login(r#","user":"alice","pass":"s3cret""#), "PONG\r\n");
}

#[test]
fn token_auth_is_required_and_enforced() {
    let server = NatsServer::builder().token("t0ken").start().unwrap();
    assert_eq!(server.info().unwrap()["auth_required"], true);
    let mut raw = Raw::connect(server.port());
    assert!(raw.login(r#","auth_token":"nope""#).starts_with("-ERR"));
    let mut raw = Raw::connect(server.port());
    assert_eq!(raw.login(r#","auth_token":"t0ken""#), "PONG\r\n");
}

#[test]
fn nkey_auth_signs_the_nonce() {
    let key = KeyPair::from_seed_bytes(KeyKind::User, [7u8; 32]);
    let public = key.public_key();
    let server = NatsServer::builder().nkey_user(&public).start().unwrap();
    let mut raw = Raw::connect(server.port());
    assert_eq!(raw.info["auth_required"], true);
    let nonce = raw.info["nonce"].as_str().unwrap().to_string();
    let sig = key.sign_nonce(&nonce);
    assert_eq!(
        raw.login(&format!(r#","nkey":"{public}","sig":"{sig}""#)),
        "PONG\r\n"
    );
    // A signature by another key is refused.
    let mut raw = Raw::connect(server.port());
    let nonce = raw.info["nonce"].as_str().unwrap().to_string();
    let wrong = KeyPair::generate(KeyKind::User).sign_nonce(&nonce);
    assert!(raw
        .login(&format!(r#","nkey":"{public}","sig":"{wrong}""#))
        .starts_with("-ERR"));
}

#[test]
fn operator_mode_accepts_issued_users_only() {
    let mut setup = OperatorSetup::new();
    let app = setup.add_account("APP", true);
    let alice = setup.user(&app, "alice");
    let server = NatsServer::builder()
        .jetstream()
        .raw_config(&setup.server_config())
        .start()
        .unwrap();

    let mut raw = Raw::connect(server.port());
    assert_eq!(raw.info["auth_required"], true);
    let nonce = raw.info["nonce"].as_str().unwrap().to_string();
    let login = format!(
        r#","jwt":"{}","sig":"{}""#,
        alice.jwt(),
        alice.key().sign_nonce(&nonce)
    );
    assert_eq!(raw.login(&login), "PONG\r\n");
    // The account JWT enabled JetStream for APP.
    let reply = raw.request("$JS.API.INFO", "");
    assert!(reply.contains("account_info_response"), "{reply}");
    assert!(!reply.contains(r#""error""#), "{reply}");

    // A user of an account the operator never issued is refused.
    let stranger = setup.user(&KeyPair::generate(KeyKind::Account), "mallory");
    let mut raw = Raw::connect(server.port());
    let nonce = raw.info["nonce"].as_str().unwrap().to_string();
    let login = format!(
        r#","jwt":"{}","sig":"{}""#,
        stranger.jwt(),
        stranger.key().sign_nonce(&nonce)
    );
    assert!(raw.login(&login).starts_with("-ERR"));
}

#[test]
fn accounts_get_their_own_jetstream_limits() {
    let server = NatsServer::builder()
        .jetstream()
        .account(
            Account::new("A")
                .user("a", "pa")
                .jetstream(JetStreamLimits {
                    max_mem: Some(1 << 20),
                    max_file: Some(1 << 22),
                    max_streams: Some(2),
                    max_consumers: Some(3),
                }),
        )
        .account(Account::new("B").user("b", "pb").jetstream_disabled())
        .start()
        .unwrap();
    let mut a = Raw::connect(server.port());
    assert_eq!(a.login(r#","user":"a","pass":"pa""#), "PONG\r\n");
    let reply = a.request("$JS.API.INFO", "");
    let body: Value = serde_json::from_str(reply.lines().nth(1).unwrap()).unwrap();
    assert_eq!(body["limits"]["max_streams"], 2, "{reply}");
    assert_eq!(body["limits"]["max_consumers"], 3, "{reply}");
    assert_eq!(body["limits"]["max_memory"], 1 << 20, "{reply}");
    assert_eq!(body["limits"]["max_storage"], 1 << 22, "{reply}");

    let mut b = Raw::connect(server.port());
    assert_eq!(b.login(r#","user":"b","pass":"pb""#), "PONG\r\n");
    let reply = b.request("$JS.API.INFO", "");
    // Account B has JetStream disabled: the server answers with error 10039.
    assert!(
        reply.contains(r#""err_code":10039"#) && reply.contains("JetStream not enabled"),
        "{reply}"
    );
}

#[test]
fn tls_servers_advertise_tls() {
    let tls = TlsFiles::generate().unwrap();
    let server = NatsServer::builder().tls(tls.server_tls()).start().unwrap();
    let info = server.info().unwrap();
    assert_eq!(info["tls_required"], true);
    assert_ne!(info["tls_verify"], true);

    let server = NatsServer::builder().tls(tls.mutual_tls()).start().unwrap();
    let info = server.info().unwrap();
    assert_eq!(info["tls_required"], true);
    assert_eq!(info["tls_verify"], true);
}

#[test]
fn handshake_first_server_sends_no_plain_info() {
    let tls = TlsFiles::generate().unwrap();
    let mut options = tls.server_tls();
    options.handshake_first = true;
    let server = NatsServer::builder().tls(options).start().unwrap();
    match probe::read_info(server.port(), Duration::from_millis(300)) {
        Err(HarnessError::Io { source, .. }) => assert!(
            matches!(
                source.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{source}"
        ),
        other => panic!("expected a read timeout, got {other:?}"),
    }
}

#[test]
fn three_node_cluster_advertises_the_other_nodes() {
    let mut cluster = NatsCluster::start(3, NatsServer::builder()).unwrap();
    assert_eq!(cluster.len(), 3);
    for node in cluster.nodes() {
        let info = node.info().unwrap();
        let urls: Vec<&str> = info["connect_urls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_str().unwrap())
            .collect();
        for other in cluster.nodes() {
            if other.port() != node.port() {
                let want = format!("127.0.0.1:{}", other.port());
                assert!(urls.contains(&want.as_str()), "{want} not in {urls:?}");
            }
        }
    }
    // Messages cross routes.
    let mut sub = Raw::connect(cluster.node(0).port());
    assert_eq!(sub.login(""), "PONG\r\n");
    sub.send("SUB x 1\r\nPING\r\n");
    assert_eq!(sub.next(), "PONG\r\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut publisher = Raw::connect(cluster.node(2).port());
    assert_eq!(publisher.login(""), "PONG\r\n");
    sub.writer
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // Interest propagates asynchronously; publish until it arrives.
    loop {
        publisher.send("PUB x 2\r\nok\r\nPING\r\n");
        assert_eq!(publisher.next(), "PONG\r\n");
        let mut line = String::new();
        if sub.reader.read_line(&mut line).is_ok() && line == "MSG x 1 2\r\n" {
            break;
        }
        assert!(Instant::now() < deadline, "message never crossed the route");
    }
    drop((sub, publisher));

    // A restarted node rejoins on the same ports.
    let port = cluster.node(1).port();
    cluster.node_mut(1).restart().unwrap();
    assert_eq!(cluster.node(1).port(), port);
    cluster.wait_until_formed(Duration::from_secs(10)).unwrap();
    // A stopped node is reported, not waited on.
    cluster.node_mut(2).stop().unwrap();
    assert!(cluster.wait_until_formed(Duration::from_secs(10)).is_err());
}

#[test]
fn jetstream_cluster_elects_a_meta_leader() {
    let cluster = NatsCluster::start(3, NatsServer::builder().jetstream()).unwrap();
    for node in cluster.nodes() {
        assert_eq!(node.info().unwrap()["jetstream"], true);
        let jsz = node.monitor_json("/jsz").unwrap();
        assert_eq!(jsz["meta_cluster"]["cluster_size"], 3, "{jsz}");
    }
}

#[test]
fn drop_kills_the_process_and_kill_hard_can_be_undone() {
    let mut server = NatsServer::start().unwrap();
    let pid = server.pid();
    assert!(signal::process_exists(pid));
    server.ensure_running().unwrap();
    server.kill_hard();
    assert!(!server.is_running());
    assert!(server.ensure_running().is_err());
    assert!(!signal::process_exists(pid));
    let port = server.port();
    server.start_again().unwrap();
    assert_eq!(server.port(), port);
    let pid = server.pid();
    assert!(server.is_running());
    let dir = server.dir().to_path_buf();
    drop(server);
    assert!(!signal::process_exists(pid));
    assert!(!dir.exists());
}

#[test]
fn lame_duck_mode_is_announced_to_clients() {
    let server = NatsServer::builder()
        .lame_duck(Duration::from_secs(30), Duration::from_secs(5))
        .start()
        .unwrap();
    let mut raw = Raw::connect(server.port());
    assert_eq!(raw.login(""), "PONG\r\n");
    server.signal_lame_duck().unwrap();
    // The first INFO after CONNECT may still be the ordinary one; read until `ldm` shows
    // up (the read timeout fails the test if it never does).
    loop {
        let line = raw.line();
        assert!(line.starts_with("INFO "), "{line}");
        if probe::parse_info_line(&line).unwrap()["ldm"] == true {
            break;
        }
    }
}

#[test]
fn a_bad_config_fails_with_the_server_output() {
    let err = NatsServer::builder()
        .raw_config("this is { not valid")
        .start()
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, HarnessError::Exited { .. }), "{text}");
    assert!(text.contains("console.log"), "{text}");
    assert!(text.to_lowercase().contains("error"), "{text}");
}

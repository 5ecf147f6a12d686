//! `Connection` driven end to end against a scripted fake server: a virtual clock, a
//! seeded RNG, no sockets and no sleeps. The fake server parses what the connection
//! transmits with `ClientOpParser` and answers through `handle_input`.

use std::io::IoSlice;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use ed25519_dalek::{Signature, SigningKey, Verifier, VerifyingKey};
use natsy_proto::connection::{
    Auth, CloseReason, ConnectError, Connection, ConnectionConfig, DisconnectReason, Event,
    FlushId, PublishError, State, SubscriptionClosedReason,
};
use natsy_proto::{
    ClientOp, ClientOpParser, ErrorAction, HeaderMap, ParserLimits, Secret, ServerAddr,
    ServerErrorKind, Status, ValidationError,
};
use serde_json::Value;

const INFO: &str = r#"INFO {"server_id":"NSRV","version":"2.15.1","proto":1,"headers":true,"max_payload":1048576}"#;

fn addr(url: &str) -> ServerAddr {
    ServerAddr::parse(url).unwrap()
}

fn config(urls: &[&str]) -> ConnectionConfig {
    let mut c = ConnectionConfig::new(urls.iter().map(|u| addr(u)).collect());
    c.pool.randomize = false;
    c.rng_seed = 7;
    c
}

/// The connection plus a virtual clock and the fake server's view of the wire.
struct Sim {
    conn: Connection,
    now: Instant,
    start: Instant,
    parser: ClientOpParser,
    wire: BytesMut,
}

impl Sim {
    fn new(config: ConnectionConfig) -> Sim {
        let start = Instant::now();
        Sim {
            conn: Connection::new(config, start).unwrap(),
            now: start,
            start,
            parser: ClientOpParser::new(ParserLimits::default()),
            wire: BytesMut::new(),
        }
    }

    fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Drains every pending event.
    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.conn.poll_event()).collect()
    }

    /// Drains the transmit queue (in small vectored writes) and parses it as the server.
    fn sent(&mut self) -> Vec<ClientOp> {
        loop {
            let chunk: Vec<u8> = {
                let mut slices = [IoSlice::new(&[]); 4];
                let n = self.conn.poll_transmit(&mut slices);
                slices[..n].iter().flat_map(|s| s.iter().copied()).collect()
            };
            if chunk.is_empty() {
                break;
            }
            self.conn.advance_transmit(chunk.len());
            self.wire.extend_from_slice(&chunk);
        }
        assert_eq!(self.conn.transmit_len(), 0);
        let mut ops = Vec::new();
        while let Status::Complete(op) = self.parser.parse(&mut self.wire).unwrap() {
            ops.push(op);
        }
        assert!(self.wire.is_empty(), "a partial op was transmitted");
        ops
    }

    fn sent_strs(&mut self) -> Vec<String> {
        self.sent().iter().map(op_str).collect()
    }

    fn input(&mut self, bytes: &str) {
        self.conn.handle_input(self.now, bytes.as_bytes());
    }

    /// Moves the clock forward by `d`, firing every timer due on the way.
    fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        while let Some(at) = self.conn.poll_timeout().filter(|at| *at <= target) {
            self.now = self.now.max(at);
            self.conn.handle_timeout(self.now);
        }
        self.now = target;
    }

    /// Expects a Dial now, connects the transport and sends `info`; returns the ops the
    /// connection wrote in response.
    fn accept(&mut self, info: &str) -> Vec<ClientOp> {
        let ev = self.events();
        assert!(
            matches!(ev.last(), Some(Event::Dial { .. })),
            "expected a Dial: {ev:?}"
        );
        self.conn.handle_transport_connected(self.now);
        self.input(&format!("{info}\r\n"));
        self.sent()
    }

    /// A whole handshake with `info`; returns the CONNECT JSON.
    fn handshake(&mut self, info: &str) -> Value {
        let ops = self.accept(info);
        assert_eq!(ops.len(), 2, "{ops:?}");
        assert_eq!(ops[1], ClientOp::Ping);
        let ClientOp::Connect(json) = &ops[0] else {
            panic!("expected CONNECT: {ops:?}")
        };
        let json: Value = serde_json::from_slice(json).unwrap();
        self.input("PONG\r\n");
        let ev = self.events();
        assert!(
            matches!(
                ev.as_slice(),
                [Event::Connected { .. } | Event::Reconnected { .. }, ..]
            ),
            "{ev:?}"
        );
        assert_eq!(self.conn.state(), State::Connected);
        json
    }

    fn connected(config: ConnectionConfig) -> Sim {
        let mut sim = Sim::new(config);
        sim.handshake(INFO);
        sim
    }
}

fn op_str(op: &ClientOp) -> String {
    let s = |b: &Bytes| String::from_utf8(b.to_vec()).unwrap();
    match op {
        ClientOp::Connect(_) => "CONNECT".into(),
        ClientOp::Pub {
            subject,
            reply,
            headers,
            payload,
        } => {
            let mut out = format!("PUB {}", s(subject));
            if let Some(r) = reply {
                out += &format!(" {}", s(r));
            }
            if headers.is_some() {
                out += " +H";
            }
            out + &format!(" {}", s(payload))
        }
        ClientOp::Sub {
            subject,
            queue,
            sid,
        } => match queue {
            Some(q) => format!("SUB {} {} {sid}", s(subject), s(q)),
            None => format!("SUB {} {sid}", s(subject)),
        },
        ClientOp::Unsub { sid, max: Some(m) } => format!("UNSUB {sid} {m}"),
        ClientOp::Unsub { sid, max: None } => format!("UNSUB {sid}"),
        ClientOp::Ping => "PING".into(),
        ClientOp::Pong => "PONG".into(),
        other => format!("{other:?}"),
    }
}

/// Events in a short form for sequence assertions.
fn kinds(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            Event::Dial { server, .. } => format!("Dial {}", server.host),
            Event::UpgradeTls { .. } => "UpgradeTls".into(),
            Event::CloseTransport => "CloseTransport".into(),
            Event::Connected { server } => format!("Connected {}", server.host),
            Event::Reconnected { server } => format!("Reconnected {}", server.host),
            Event::Disconnected { .. } => "Disconnected".into(),
            Event::ConnectAttemptFailed { server, .. } => format!("Failed {}", server.host),
            Event::Closed { .. } => "Closed".into(),
            Event::Message(m) => format!("Msg {} {}", m.sid(), m.subject()),
            Event::FlushComplete(FlushId(id)) => format!("FlushComplete {id}"),
            Event::FlushFailed(FlushId(id)) => format!("FlushFailed {id}"),
            Event::ServerError { sid, .. } => format!("ServerError {sid:?}"),
            Event::SubscriptionClosed { sid, .. } => format!("SubscriptionClosed {sid}"),
            Event::DiscoveredServers(_) => "DiscoveredServers".into(),
            Event::LameDuckMode => "LameDuckMode".into(),
            Event::ServerInfoUpdated => "ServerInfoUpdated".into(),
            other => format!("{other:?}"),
        })
        .collect()
}

fn connect_error(events: &[Event]) -> ConnectError {
    events
        .iter()
        .find_map(|e| match e {
            Event::ConnectAttemptFailed { error, .. } => Some(error.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no ConnectAttemptFailed in {events:?}"))
}

fn close_reason(events: &[Event]) -> CloseReason {
    events
        .iter()
        .find_map(|e| match e {
            Event::Closed { reason } => Some(reason.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Closed in {events:?}"))
}

// ---------------------------------------------------------------- handshake

#[test]
fn plain_handshake_sends_connect_then_ping_and_arms_the_keepalive() {
    let mut c = config(&["nats://n1:4222"]);
    c.name = Some("svc".into());
    c.echo = false;
    let mut sim = Sim::new(c);
    let ev = sim.events();
    assert_eq!(
        ev,
        vec![Event::Dial {
            server: addr("nats://n1:4222"),
            tls_name: "n1".into(),
            tls_first: false
        }]
    );
    assert_eq!(sim.conn.state(), State::Connecting);
    // Nothing is written before the server's INFO.
    sim.conn.handle_transport_connected(sim.now);
    assert!(sim.sent().is_empty());
    sim.input(&format!("{INFO}\r\n"));
    let ops = sim.sent();
    assert_eq!(
        ops.iter().map(op_str).collect::<Vec<_>>(),
        ["CONNECT", "PING"]
    );
    let ClientOp::Connect(json) = &ops[0] else {
        unreachable!()
    };
    let json: Value = serde_json::from_slice(json).unwrap();
    for (k, v) in [
        ("verbose", false),
        ("pedantic", false),
        ("tls_required", false),
        ("echo", false),
    ] {
        assert_eq!(json[k], Value::Bool(v), "{k}");
    }
    assert_eq!(json["headers"], true);
    assert_eq!(json["no_responders"], true);
    assert_eq!(json["protocol"], 1);
    assert_eq!(json["name"], "svc");
    for k in ["user", "pass", "auth_token", "jwt", "nkey", "sig"] {
        assert!(json.get(k).is_none(), "{k}");
    }
    assert_eq!(sim.conn.state(), State::Connecting);
    sim.input("PONG\r\n");
    assert_eq!(kinds(&sim.events()), ["Connected n1"]);
    assert_eq!(sim.conn.state(), State::Connected);
    assert_eq!(sim.conn.connected_server(), Some(&addr("nats://n1:4222")));
    assert_eq!(sim.conn.max_payload(), Some(1_048_576));
    assert_eq!(
        sim.conn.poll_timeout(),
        Some(sim.now + Duration::from_secs(120))
    );
}

#[test]
fn user_password_and_token_go_into_connect() {
    let mut c = config(&["nats://n1"]);
    c.auth = Auth::UserPassword {
        user: "alice".into(),
        pass: Secret::new("pw"),
    };
    let json = Sim::new(c).handshake(INFO);
    assert_eq!(
        (json["user"].as_str(), json["pass"].as_str()),
        (Some("alice"), Some("pw"))
    );
    assert!(json.get("auth_token").is_none());

    let mut c = config(&["nats://n1"]);
    c.auth = Auth::Token(Secret::new("t0k"));
    let json = Sim::new(c).handshake(INFO);
    assert_eq!(json["auth_token"], "t0k");
    assert!(json.get("user").is_none());
}

#[test]
fn url_userinfo_overrides_the_auth_option() {
    let mut c = config(&["nats://bob:s3cret@n1"]);
    c.auth = Auth::Token(Secret::new("option-token"));
    let json = Sim::new(c).handshake(INFO);
    assert_eq!(
        (json["user"].as_str(), json["pass"].as_str()),
        (Some("bob"), Some("s3cret"))
    );
    assert!(json.get("auth_token").is_none());

    let mut c = config(&["nats://urltoken@n1"]);
    c.auth = Auth::UserPassword {
        user: "alice".into(),
        pass: Secret::new("pw"),
    };
    let json = Sim::new(c).handshake(INFO);
    assert_eq!(json["auth_token"], "urltoken");
    assert!(json.get("user").is_none() && json.get("pass").is_none());
}

/// A user seed (`SU...`) for these raw key bytes, encoded per the NKey rules.
fn user_seed(raw: [u8; 32]) -> String {
    let user: u8 = 20 << 3;
    let seed: u8 = 18 << 3;
    let mut bytes = vec![seed | (user >> 5), (user & 0x1f) << 3];
    bytes.extend_from_slice(&raw);
    let crc = crc::Crc::<u16>::new(&crc::CRC_16_XMODEM).checksum(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    data_encoding::BASE32_NOPAD.encode(&bytes)
}

/// Checks `sig` (base64url) over `nonce` against the key inside the public nkey `nkey`.
fn verify_nonce_sig(nkey_public: &str, nonce: &str, sig: &str) {
    let decoded = data_encoding::BASE32_NOPAD
        .decode(nkey_public.as_bytes())
        .unwrap();
    assert_eq!(decoded.len(), 35);
    let key = VerifyingKey::from_bytes(decoded[1..33].try_into().unwrap()).unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    let sig = Signature::from_bytes(sig.as_slice().try_into().unwrap());
    key.verify(nonce.as_bytes(), &sig).unwrap();
}

const NONCE_INFO: &str = r#"INFO {"server_id":"NSRV","proto":1,"max_payload":1048576,"auth_required":true,"nonce":"aBcDeFgHiJkLmNo"}"#;

#[test]
fn nkey_handshake_signs_the_nonce() {
    let raw = [7u8; 32];
    let expected_key = SigningKey::from_bytes(&raw).verifying_key();
    let mut c = config(&["nats://n1"]);
    c.auth = Auth::NKey {
        seed: Secret::new(user_seed(raw)),
    };
    let json = Sim::new(c).handshake(NONCE_INFO);
    let nkey = json["nkey"].as_str().unwrap();
    assert!(nkey.starts_with('U') && nkey.len() == 56, "{nkey}");
    let decoded = data_encoding::BASE32_NOPAD.decode(nkey.as_bytes()).unwrap();
    assert_eq!(&decoded[1..33], expected_key.as_bytes());
    verify_nonce_sig(nkey, "aBcDeFgHiJkLmNo", json["sig"].as_str().unwrap());
    assert!(json.get("jwt").is_none());
}

#[test]
fn jwt_handshake_sends_jwt_and_signature() {
    let raw = [9u8; 32];
    let mut c = config(&["nats://n1"]);
    c.auth = Auth::Jwt {
        jwt: "eyJhbGc.eyJzdWI.c2ln".into(),
        seed: Secret::new(user_seed(raw)),
    };
    let json = Sim::new(c).handshake(NONCE_INFO);
    assert_eq!(json["jwt"], "eyJhbGc.eyJzdWI.c2ln");
    assert!(json.get("nkey").is_none());
    let key = SigningKey::from_bytes(&raw).verifying_key();
    let sig = URL_SAFE_NO_PAD
        .decode(json["sig"].as_str().unwrap())
        .unwrap();
    let sig = Signature::from_bytes(sig.as_slice().try_into().unwrap());
    key.verify(b"aBcDeFgHiJkLmNo", &sig).unwrap();

    // A caller-supplied signer sees the nonce's ASCII bytes.
    let mut c = config(&["nats://n1"]);
    let signer = Arc::new(|nonce: &[u8]| {
        assert_eq!(nonce, b"aBcDeFgHiJkLmNo");
        vec![0xAB; 64]
    });
    c.auth = Auth::JwtSigner {
        jwt: "eyJ.x.y".into(),
        signer,
    };
    let json = Sim::new(c).handshake(NONCE_INFO);
    assert_eq!(json["jwt"], "eyJ.x.y");
    assert_eq!(
        json["sig"].as_str().unwrap(),
        URL_SAFE_NO_PAD.encode([0xAB; 64])
    );
}

#[test]
fn nkey_without_nonce_fails_the_attempt() {
    let mut c = config(&["nats://n1"]);
    c.auth = Auth::NKey {
        seed: Secret::new(user_seed([1; 32])),
    };
    let mut sim = Sim::new(c);
    assert!(sim.accept(INFO).is_empty());
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Failed n1", "Closed"]);
    assert_eq!(connect_error(&ev), ConnectError::NkeyNotSupported);
    assert_eq!(close_reason(&ev), CloseReason::NoServers);
    assert_eq!(sim.conn.state(), State::Closed);
}

#[test]
fn authorization_violation_is_typed_and_a_repeat_aborts() {
    let mut c = config(&["nats://n1"]);
    c.retry_on_failed_connect = true;
    let mut sim = Sim::new(c);
    assert_eq!(sim.accept(INFO).len(), 2);
    sim.input("-ERR 'Authorization Violation'\r\n");
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Failed n1"]);
    let ConnectError::Auth(e) = connect_error(&ev) else {
        panic!("{ev:?}")
    };
    assert_eq!(e.kind, ServerErrorKind::AuthorizationViolation);
    // retry_on_failed_connect: keep going as if reconnecting, after the wait.
    assert_eq!(sim.conn.state(), State::Reconnecting);
    sim.advance(Duration::from_secs(3));
    assert_eq!(sim.accept(INFO).len(), 2);
    sim.input("-ERR 'Authorization Violation'\r\n");
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Failed n1", "Closed"]);
    assert!(matches!(close_reason(&ev), CloseReason::AuthRejected(_)));
    assert_eq!(sim.conn.poll_timeout(), None);
}

#[test]
fn first_op_other_than_info_fails_with_no_info() {
    let mut sim = Sim::new(config(&["nats://n1", "nats://n2"]));
    assert_eq!(kinds(&sim.events()), ["Dial n1"]);
    sim.conn.handle_transport_connected(sim.now);
    sim.input("PING\r\n");
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Failed n1", "Dial n2"]);
    assert_eq!(connect_error(&ev), ConnectError::NoInfo);
    assert!(sim.sent().is_empty());
}

#[test]
fn tls_upgrade_when_the_server_requires_it() {
    let mut sim = Sim::new(config(&["nats://n1"]));
    let info = r#"INFO {"server_id":"N","proto":1,"max_payload":1024,"tls_required":true}"#;
    assert!(
        sim.accept(info).is_empty(),
        "nothing before the TLS handshake"
    );
    assert_eq!(
        sim.events(),
        vec![Event::UpgradeTls {
            tls_name: "n1".into()
        }]
    );
    // Input during the upgrade is ignored.
    sim.input("PONG\r\n");
    assert!(sim.events().is_empty());
    sim.conn.handle_tls_established(sim.now);
    let ops = sim.sent();
    assert_eq!(
        ops.iter().map(op_str).collect::<Vec<_>>(),
        ["CONNECT", "PING"]
    );
    let ClientOp::Connect(json) = &ops[0] else {
        unreachable!()
    };
    let json: Value = serde_json::from_slice(json).unwrap();
    assert_eq!(json["tls_required"], true);
    sim.input("PONG\r\n");
    assert_eq!(kinds(&sim.events()), ["Connected n1"]);
}

#[test]
fn tls_first_skips_the_upgrade() {
    let mut c = config(&["nats://n1"]);
    c.tls_first = true;
    let mut sim = Sim::new(c);
    let ev = sim.events();
    assert!(
        matches!(
            ev.as_slice(),
            [Event::Dial {
                tls_first: true,
                ..
            }]
        ),
        "{ev:?}"
    );
    sim.conn.handle_transport_connected(sim.now);
    sim.input("INFO {\"server_id\":\"N\",\"tls_required\":true}\r\n");
    assert!(sim.events().is_empty());
    assert_eq!(sim.sent_strs(), ["CONNECT", "PING"]);
}

#[test]
fn client_wanting_tls_fails_when_the_server_offers_none() {
    let mut c = config(&["nats://n1"]);
    c.tls_required = true;
    let mut sim = Sim::new(c);
    assert!(sim.accept(INFO).is_empty());
    let ev = sim.events();
    assert_eq!(
        connect_error(&ev),
        ConnectError::TlsRequiredByClientButUnavailable
    );

    // tls_available is enough.
    let mut c = config(&["tls://n1"]);
    c.tls_required = false;
    let mut sim = Sim::new(c);
    assert!(sim
        .accept("INFO {\"server_id\":\"N\",\"tls_available\":true}")
        .is_empty());
    assert_eq!(
        sim.events(),
        vec![Event::UpgradeTls {
            tls_name: "n1".into()
        }]
    );
}

#[test]
fn connect_timeout_covers_dial_and_handshake() {
    // Dial never completes.
    let mut sim = Sim::new(config(&["nats://n1", "nats://n2"]));
    assert_eq!(kinds(&sim.events()), ["Dial n1"]);
    assert_eq!(
        sim.conn.poll_timeout(),
        Some(sim.now + Duration::from_secs(2))
    );
    sim.advance(Duration::from_millis(1999));
    assert!(sim.events().is_empty());
    sim.advance(Duration::from_millis(1));
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Failed n1", "Dial n2"]);
    assert_eq!(connect_error(&ev), ConnectError::Timeout);
    // Transport up and INFO answered, but no PONG.
    assert_eq!(sim.accept_after_dial(INFO), 2);
    sim.advance(Duration::from_secs(2));
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Failed n2", "Closed"]);
    assert_eq!(connect_error(&ev), ConnectError::Timeout);
    assert_eq!(close_reason(&ev), CloseReason::NoServers);
    assert_eq!(sim.elapsed(), Duration::from_secs(4));
}

impl Sim {
    /// Like `accept` when the Dial event was already drained; returns the op count.
    fn accept_after_dial(&mut self, info: &str) -> usize {
        self.conn.handle_transport_connected(self.now);
        self.input(&format!("{info}\r\n"));
        self.sent().len()
    }
}

#[test]
fn info_right_after_the_first_pong_is_processed() {
    let mut sim = Sim::new(config(&["nats://n1"]));
    sim.accept(INFO);
    sim.input(concat!(
        "PONG\r\nINFO {\"server_id\":\"NSRV\",\"proto\":1,\"max_payload\":2048,",
        "\"connect_info\":true,\"connect_urls\":[\"n2:4222\"]}\r\n"
    ));
    let ev = sim.events();
    assert_eq!(
        kinds(&ev),
        ["Connected n1", "ServerInfoUpdated", "DiscoveredServers"]
    );
    let info = sim.conn.server_info().unwrap();
    assert!(info.connect_info);
    assert_eq!(sim.conn.max_payload(), Some(2048));
    assert!(sim.conn.servers().iter().any(|s| s.host == "n2"));
}

// ---------------------------------------------------------------- initial connect and pool

#[test]
fn initial_connect_tries_each_server_once_without_waiting() {
    let mut sim = Sim::new(config(&["nats://n1", "nats://n2", "nats://n3"]));
    let mut dials = Vec::new();
    for _ in 0..3 {
        let ev = sim.events();
        dials.extend(kinds(&ev).into_iter().filter(|k| k.starts_with("Dial")));
        sim.conn
            .handle_transport_error(sim.now, "connection refused".into());
    }
    assert_eq!(dials, ["Dial n1", "Dial n2", "Dial n3"]);
    assert_eq!(sim.elapsed(), Duration::ZERO);
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Failed n3", "Closed"]);
    assert_eq!(
        connect_error(&ev),
        ConnectError::Io("connection refused".into())
    );
    assert_eq!(close_reason(&ev), CloseReason::NoServers);
    assert_eq!(
        sim.conn.publish("a", None, None, Bytes::new()),
        Err(PublishError::Closed)
    );
}

#[test]
fn retry_on_failed_connect_reports_connected_not_reconnected() {
    let mut c = config(&["nats://n1"]);
    c.retry_on_failed_connect = true;
    let mut sim = Sim::new(c);
    sim.events();
    sim.conn.handle_transport_error(sim.now, "refused".into());
    assert_eq!(kinds(&sim.events()), ["CloseTransport", "Failed n1"]);
    assert_eq!(sim.conn.state(), State::Reconnecting);
    sim.conn
        .publish("early", None, None, Bytes::from_static(b"x"))
        .unwrap();
    let wake = sim.conn.poll_timeout().unwrap();
    assert!(
        wake >= sim.now + Duration::from_secs(2),
        "one server: the retry waits"
    );
    sim.advance(wake - sim.now);
    let ops = sim.accept(INFO);
    assert_eq!(ops.len(), 2);
    sim.input("PONG\r\n");
    assert_eq!(kinds(&sim.events()), ["Connected n1"]);
    assert_eq!(sim.sent_strs(), ["PUB early x"]);
    assert_eq!(sim.conn.stats().reconnects, 0);
}

#[test]
fn reconnect_walks_the_pool_in_order_and_waits_only_after_a_full_pass() {
    let mut sim = Sim::connected(config(&["nats://n1", "nats://n2", "nats://n3"]));
    sim.conn.handle_transport_eof(sim.now);
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Disconnected", "Dial n2"]);
    assert_eq!(
        ev[1],
        Event::Disconnected {
            reason: DisconnectReason::Eof
        }
    );
    assert_eq!(sim.conn.state(), State::Reconnecting);
    sim.conn.handle_transport_error(sim.now, "refused".into());
    assert_eq!(
        kinds(&sim.events()),
        ["CloseTransport", "Failed n2", "Dial n3"]
    );
    sim.conn.handle_transport_error(sim.now, "refused".into());
    assert_eq!(kinds(&sim.events()), ["CloseTransport", "Failed n3"]);
    // A full pass without success: wait reconnect_wait + jitter (2 s + [0, 100 ms)).
    let wake = sim.conn.poll_timeout().unwrap() - sim.now;
    assert!(
        wake >= Duration::from_secs(2) && wake < Duration::from_millis(2100),
        "{wake:?}"
    );
    sim.advance(wake - Duration::from_millis(1));
    assert!(sim.events().is_empty());
    sim.advance(Duration::from_millis(1));
    assert_eq!(kinds(&sim.events()), ["Dial n1"]);
    sim.conn.handle_transport_connected(sim.now);
    sim.input(&format!("{INFO}\r\n"));
    sim.sent();
    sim.input("PONG\r\n");
    assert_eq!(kinds(&sim.events()), ["Reconnected n1"]);
    assert_eq!(sim.conn.stats().reconnects, 1);
}

#[test]
fn max_reconnects_exhausted_closes() {
    let mut c = config(&["nats://n1"]);
    c.pool.max_reconnects = Some(2);
    let mut sim = Sim::connected(c);
    sim.conn.handle_transport_eof(sim.now);
    let mut dials = 0;
    for _ in 0..10 {
        sim.advance(Duration::from_secs(5));
        let ev = sim.events();
        if ev.iter().any(|e| matches!(e, Event::Dial { .. })) {
            dials += 1;
            sim.conn.handle_transport_error(sim.now, "refused".into());
        }
        if sim.conn.state() == State::Closed {
            break;
        }
    }
    assert_eq!(dials, 2);
    assert_eq!(sim.conn.state(), State::Closed);
    assert_eq!(
        sim.conn.close_reason(),
        Some(&CloseReason::MaxReconnectsExhausted)
    );
}

#[test]
fn reconnect_disabled_closes_on_disconnect() {
    let mut c = config(&["nats://n1", "nats://n2"]);
    c.allow_reconnect = false;
    let mut sim = Sim::connected(c);
    sim.conn.handle_transport_error(sim.now, "reset".into());
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Disconnected", "Closed"]);
    assert_eq!(close_reason(&ev), CloseReason::ReconnectDisabled);
    assert_eq!(sim.conn.poll_timeout(), None);
}

#[test]
fn close_during_a_reconnect_wait_stops_everything() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    let flush = sim.conn.flush(sim.now).unwrap();
    sim.conn.handle_transport_eof(sim.now);
    assert_eq!(
        kinds(&sim.events()),
        [
            "CloseTransport",
            "Disconnected",
            format!("FlushFailed {}", flush.0).as_str()
        ]
    );
    assert!(
        sim.conn.poll_timeout().is_some(),
        "waiting to redial the only server"
    );
    let pending = sim.conn.flush(sim.now).unwrap();
    sim.conn.close(sim.now);
    let ev = sim.events();
    assert_eq!(
        kinds(&ev),
        [format!("FlushFailed {}", pending.0).as_str(), "Closed"]
    );
    assert_eq!(close_reason(&ev), CloseReason::User);
    assert_eq!(sim.conn.poll_timeout(), None);
    sim.advance(Duration::from_secs(600));
    assert!(sim.events().is_empty());
    assert_eq!(
        sim.conn.flush(sim.now),
        Err(natsy_proto::connection::FlushError::Closed)
    );
}

#[test]
fn user_close_while_connected_keeps_the_last_bytes() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    sim.conn
        .publish("last", None, None, Bytes::from_static(b"words"))
        .unwrap();
    sim.conn.close(sim.now);
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Disconnected", "Closed"]);
    assert_eq!(
        ev[1],
        Event::Disconnected {
            reason: DisconnectReason::UserClose
        }
    );
    assert_eq!(sim.sent_strs(), ["PUB last words"]);
    assert_eq!(sim.conn.state(), State::Closed);
}

#[test]
fn same_seed_same_run() {
    let run = |seed: u64| {
        let urls: Vec<String> = (1..=6).map(|i| format!("nats://n{i}")).collect();
        let mut c = ConnectionConfig::new(urls.iter().map(|u| addr(u)).collect());
        c.rng_seed = seed;
        c.retry_on_failed_connect = true;
        let mut sim = Sim::new(c);
        let mut log = Vec::new();
        for _ in 0..20 {
            sim.advance(Duration::from_millis(500));
            for e in sim.events() {
                if let Event::Dial { server, .. } = &e {
                    log.push((sim.elapsed(), server.host.clone()));
                    sim.conn.handle_transport_error(sim.now, "refused".into());
                }
            }
        }
        log
    };
    assert_eq!(run(42), run(42));
    assert!(!run(42).is_empty());
}

// ---------------------------------------------------------------- keepalive and flush

#[test]
fn stale_connection_detected_after_max_pings_out_plus_one_intervals() {
    let mut c = config(&["nats://n1", "nats://n2"]);
    c.ping_interval = Duration::from_secs(10);
    let mut sim = Sim::connected(c);
    let t0 = sim.now;
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.sent_strs(), ["PING"]);
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.sent_strs(), ["PING"]);
    assert!(sim.events().is_empty());
    sim.advance(Duration::from_secs(9));
    assert!(sim.events().is_empty());
    sim.advance(Duration::from_secs(1));
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Disconnected", "Dial n2"]);
    assert_eq!(
        ev[1],
        Event::Disconnected {
            reason: DisconnectReason::StaleConnection
        }
    );
    assert_eq!(sim.now - t0, Duration::from_secs(30));
}

#[test]
fn any_pong_resets_the_outstanding_ping_count() {
    let mut c = config(&["nats://n1"]);
    c.ping_interval = Duration::from_secs(10);
    let mut sim = Sim::connected(c);
    for _ in 0..10 {
        sim.advance(Duration::from_secs(10));
        assert_eq!(sim.sent_strs(), ["PING"]);
        sim.input("PONG\r\n");
    }
    assert!(sim.events().is_empty());
    assert_eq!(sim.conn.state(), State::Connected);
}

#[test]
fn server_ping_gets_a_pong() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    sim.input("PING\r\n");
    assert_eq!(sim.sent_strs(), ["PONG"]);
    assert!(sim.events().is_empty());
}

#[test]
fn flushes_complete_in_order_with_a_keepalive_interleaved() {
    let mut c = config(&["nats://n1"]);
    c.ping_interval = Duration::from_secs(10);
    let mut sim = Sim::connected(c);
    let f1 = sim.conn.flush(sim.now).unwrap();
    let f2 = sim.conn.flush(sim.now).unwrap();
    sim.advance(Duration::from_secs(10)); // keepalive PING
    let f3 = sim.conn.flush(sim.now).unwrap();
    assert!(f1 < f2 && f2 < f3);
    assert_eq!(sim.sent_strs(), ["PING", "PING", "PING", "PING"]);
    sim.input("PONG\r\n");
    assert_eq!(sim.events(), vec![Event::FlushComplete(f1)]);
    sim.input("PONG\r\nPONG\r\n");
    assert_eq!(sim.events(), vec![Event::FlushComplete(f2)]);
    sim.input("PONG\r\n");
    assert_eq!(sim.events(), vec![Event::FlushComplete(f3)]);
}

// ---------------------------------------------------------------- reconnect replay

#[test]
fn reconnect_resends_subscriptions_before_buffered_publishes() {
    let mut sim = Sim::connected(config(&["nats://n1", "nats://n2"]));
    let a = sim.conn.subscribe("orders.>", None).unwrap();
    let b = sim.conn.subscribe("work", Some("workers")).unwrap();
    assert_eq!((a, b), (1, 2));
    assert_eq!(sim.sent_strs(), ["SUB orders.> 1", "SUB work workers 2"]);
    sim.conn
        .publish("lost", None, None, Bytes::from_static(b"unwritten"))
        .unwrap();
    sim.conn.handle_transport_eof(sim.now);
    assert_eq!(
        kinds(&sim.events()),
        ["CloseTransport", "Disconnected", "Dial n2"]
    );
    assert!(
        sim.sent().is_empty(),
        "unwritten bytes are dropped at disconnect"
    );

    sim.conn
        .publish("p", None, None, Bytes::from_static(b"one"))
        .unwrap();
    let c = sim.conn.subscribe("late", None).unwrap();
    let mut headers = HeaderMap::new();
    headers.append("K", "v").unwrap();
    sim.conn
        .publish("p", Some("r"), Some(&headers), Bytes::from_static(b"two"))
        .unwrap();
    let flush = sim.conn.flush(sim.now).unwrap();
    assert!(sim.conn.reconnect_buffer_len() > 0);
    assert!(
        sim.sent().is_empty(),
        "nothing is written while disconnected"
    );

    assert_eq!(sim.accept_after_dial(INFO), 2);
    sim.input("PONG\r\n");
    assert_eq!(kinds(&sim.events()), ["Reconnected n2"]);
    assert_eq!(
        sim.sent_strs(),
        [
            "SUB orders.> 1",
            "SUB work workers 2",
            format!("SUB late {c}").as_str(),
            "PUB p one",
            "PUB p r +H two",
            "PING"
        ]
    );
    assert_eq!(sim.conn.reconnect_buffer_len(), 0);
    sim.input("PONG\r\n");
    assert_eq!(sim.events(), vec![Event::FlushComplete(flush)]);
    assert_eq!(sim.conn.stats().out_msgs, 3);
}

#[test]
fn reconnect_buffer_is_bounded() {
    let mut c = config(&["nats://n1"]);
    c.reconnect_buffer_size = Some(64);
    let mut sim = Sim::connected(c);
    sim.conn.handle_transport_eof(sim.now);
    sim.events();
    let payload = Bytes::from_static(&[b'x'; 20]);
    let mut accepted = 0;
    let err = loop {
        let before = sim.conn.reconnect_buffer_len();
        match sim.conn.publish("s", None, None, payload.clone()) {
            Ok(()) => {
                assert!(before < 64, "accepted with {before} bytes already buffered");
                accepted += 1;
            }
            Err(e) => {
                assert!(before >= 64);
                break e;
            }
        }
        assert!(accepted < 100);
    };
    assert_eq!(err, PublishError::ReconnectBufferFull);
    // `PUB s 20\r\n` + 20 + CRLF = 32 bytes: two fit below 64, the check is before append.
    assert_eq!(accepted, 2);
}

#[test]
fn disabled_reconnect_buffer_fails_at_once() {
    let mut c = config(&["nats://n1"]);
    c.reconnect_buffer_size = None;
    let mut sim = Sim::connected(c);
    sim.conn.handle_transport_eof(sim.now);
    assert_eq!(
        sim.conn.publish("s", None, None, Bytes::from_static(b"x")),
        Err(PublishError::Disconnected)
    );
    assert_eq!(sim.conn.stats().out_msgs, 0);
}

#[test]
fn auto_unsubscribe_survives_a_reconnect() {
    let mut sim = Sim::connected(config(&["nats://n1", "nats://n2"]));
    let sid = sim.conn.subscribe("t", None).unwrap();
    sim.conn.unsubscribe(sid, Some(5)).unwrap();
    assert_eq!(sim.sent_strs(), ["SUB t 1", "UNSUB 1 5"]);
    sim.input("MSG t 1 1\r\na\r\nMSG t 1 1\r\nb\r\n");
    assert_eq!(kinds(&sim.events()), ["Msg 1 t", "Msg 1 t"]);
    sim.conn.handle_transport_eof(sim.now);
    sim.events();
    sim.accept_after_dial(INFO);
    sim.input("PONG\r\n");
    sim.events();
    assert_eq!(sim.sent_strs(), ["SUB t 1", "UNSUB 1 3"]);
    sim.input("MSG t 1 1\r\nc\r\nMSG t 1 1\r\nd\r\nMSG t 1 1\r\ne\r\nMSG t 1 1\r\nf\r\n");
    let ev = sim.events();
    assert_eq!(
        kinds(&ev),
        ["Msg 1 t", "Msg 1 t", "Msg 1 t", "SubscriptionClosed 1"]
    );
    assert!(matches!(
        ev[3],
        Event::SubscriptionClosed {
            reason: SubscriptionClosedReason::AutoUnsubscribed,
            ..
        }
    ));
    assert_eq!(sim.conn.subscription_count(), 0);
    assert_eq!(sim.conn.stats().in_msgs, 5);
}

#[test]
fn unsubscribe_with_a_reached_limit_ends_at_once() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    let sid = sim.conn.subscribe("t", None).unwrap();
    sim.input("MSG t 1 0\r\n\r\nMSG t 1 0\r\n\r\n");
    sim.events();
    sim.sent();
    sim.conn.unsubscribe(sid, Some(2)).unwrap();
    assert_eq!(kinds(&sim.events()), ["SubscriptionClosed 1"]);
    assert_eq!(sim.sent_strs(), ["UNSUB 1"]);
    assert!(sim.conn.unsubscribe(sid, None).is_err());
}

// ---------------------------------------------------------------- server ops

#[test]
fn messages_reach_the_right_sid_and_unknown_sids_are_dropped() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    let a = sim.conn.subscribe("a.*", None).unwrap();
    let b = sim.conn.subscribe("b", None).unwrap();
    sim.input("MSG a.x 1 reply.1 5\r\nhello\r\n");
    sim.input("HMSG b 2 22 24\r\nNATS/1.0\r\nK: value\r\n\r\nhi\r\nMSG gone 9 1\r\nz\r\n");
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["Msg 1 a.x", "Msg 2 b"]);
    let (Event::Message(m1), Event::Message(m2)) = (&ev[0], &ev[1]) else {
        unreachable!()
    };
    assert_eq!(
        (m1.sid(), m1.reply(), m1.payload()),
        (a, Some("reply.1"), &b"hello"[..])
    );
    assert_eq!((m2.sid(), m2.payload()), (b, &b"hi"[..]));
    assert_eq!(m2.headers().unwrap().unwrap().get("K"), Some("value"));
    assert_eq!(sim.conn.stats().in_msgs, 2);
    assert_eq!(sim.conn.stats().in_bytes, 7);
    sim.conn.unsubscribe(a, None).unwrap();
    assert_eq!(sim.sent_strs(), ["SUB a.* 1", "SUB b 2", "UNSUB 1"]);
    sim.input("MSG a.y 1 1\r\nq\r\n");
    assert!(sim.events().is_empty(), "a message after UNSUB is dropped");
}

#[test]
fn permission_violations_are_routed_and_keep_the_connection() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    let secret = sim.conn.subscribe("secret.x", None).unwrap();
    let _ok = sim.conn.subscribe("ok", None).unwrap();
    sim.input("-ERR 'Permissions Violation for Subscription to \"secret.x\"'\r\n");
    let ev = sim.events();
    assert_eq!(
        kinds(&ev),
        [
            format!("ServerError Some({secret})"),
            format!("SubscriptionClosed {secret}")
        ]
    );
    let Event::SubscriptionClosed {
        reason: SubscriptionClosedReason::PermissionDenied(e),
        ..
    } = &ev[1]
    else {
        panic!("{ev:?}")
    };
    assert_eq!(e.action(), ErrorAction::Report);
    assert_eq!(sim.conn.subscription_count(), 1);

    sim.input("-ERR 'Permissions Violation for Publish to \"admin\"'\r\n");
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["ServerError None"]);
    assert_eq!(sim.conn.state(), State::Connected);
    // The refused subscription is not resent after a reconnect.
    sim.conn.handle_transport_eof(sim.now);
    sim.advance(Duration::from_secs(3));
    sim.events();
    sim.sent();
    sim.accept_after_dial(INFO);
    sim.input("PONG\r\n");
    assert_eq!(sim.sent_strs(), ["SUB ok 2"]);
}

#[test]
fn lame_duck_and_discovered_servers_are_reported() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    let info =
        r#"INFO {"server_id":"NSRV","max_payload":1048576,"connect_urls":["n7:4222","n8:4222"]}"#;
    sim.input(&format!("{info}\r\n"));
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["ServerInfoUpdated", "DiscoveredServers"]);
    let Event::DiscoveredServers(servers) = &ev[1] else {
        unreachable!()
    };
    let hosts: Vec<&str> = servers.iter().map(|s| s.host.as_str()).collect();
    assert!(
        hosts.contains(&"n7") && hosts.contains(&"n8") && hosts.contains(&"n1"),
        "{hosts:?}"
    );
    // The same list again adds nothing new.
    sim.input(&format!("{info}\r\n"));
    assert_eq!(kinds(&sim.events()), ["ServerInfoUpdated"]);
    sim.input("INFO {\"server_id\":\"NSRV\",\"ldm\":true}\r\n");
    assert_eq!(kinds(&sim.events()), ["ServerInfoUpdated", "LameDuckMode"]);
    assert_eq!(sim.conn.state(), State::Connected);
}

#[test]
fn max_payload_is_enforced_client_side() {
    let mut sim = Sim::new(config(&["nats://n1"]));
    sim.handshake(r#"INFO {"server_id":"N","max_payload":16}"#);
    sim.conn
        .publish("s", None, None, Bytes::from_static(&[0; 16]))
        .unwrap();
    let err = sim
        .conn
        .publish("s", None, None, Bytes::from_static(&[0; 17]))
        .unwrap_err();
    assert_eq!(
        err,
        PublishError::Validation(ValidationError::MaxPayloadExceeded {
            size: 17,
            max_payload: 16
        })
    );
    assert_eq!(sim.sent().len(), 1);
    // The parser refuses frames far above the limit.
    sim.input(&format!(
        "MSG s 1 {}\r\n",
        16 + ParserLimits::PAYLOAD_MARGIN + 1
    ));
    let ev = sim.events();
    assert!(
        matches!(
            ev[1],
            Event::Disconnected {
                reason: DisconnectReason::ProtocolError(_)
            }
        ),
        "{ev:?}"
    );
}

#[test]
fn stale_connection_error_reconnects_and_fatal_errors_close() {
    let mut sim = Sim::connected(config(&["nats://n1", "nats://n2"]));
    sim.input("-ERR 'Stale Connection'\r\n");
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Disconnected", "Dial n2"]);
    assert!(
        matches!(&ev[1], Event::Disconnected { reason: DisconnectReason::ServerError(e) }
        if e.kind == ServerErrorKind::StaleConnection)
    );
    sim.accept_after_dial(INFO);
    sim.input("PONG\r\n");
    sim.events();
    sim.input("-ERR 'Maximum Payload Violation'\r\n");
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Disconnected", "Closed"]);
    assert!(
        matches!(close_reason(&ev), CloseReason::Fatal(e) if e.kind == ServerErrorKind::MaxPayloadViolation)
    );
}

#[test]
fn garbage_from_the_server_is_a_protocol_error() {
    let mut sim = Sim::connected(config(&["nats://n1", "nats://n2"]));
    sim.input("BOGUS op\r\n");
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Disconnected", "Dial n2"]);
    assert!(matches!(
        ev[1],
        Event::Disconnected {
            reason: DisconnectReason::ProtocolError(_)
        }
    ));
}

#[test]
fn byte_at_a_time_input_gives_the_same_result() {
    let mut sim = Sim::new(config(&["nats://n1"]));
    sim.events();
    sim.conn.handle_transport_connected(sim.now);
    for b in format!("{INFO}\r\n").bytes() {
        sim.conn.handle_input(sim.now, &[b]);
    }
    assert_eq!(sim.sent_strs(), ["CONNECT", "PING"]);
    let sid = sim.conn.subscribe("s", None).unwrap();
    for b in b"PONG\r\nMSG s 1 3\r\nabc\r\n" {
        sim.conn.handle_input(sim.now, &[*b]);
    }
    assert_eq!(
        kinds(&sim.events()),
        ["Connected n1".to_string(), format!("Msg {sid} s")]
    );
}

#[test]
fn force_reconnect_skips_the_wait_even_without_allow_reconnect() {
    let mut c = config(&["nats://n1"]);
    c.allow_reconnect = false;
    let mut sim = Sim::connected(c);
    sim.conn.force_reconnect(sim.now);
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Disconnected", "Dial n1"]);
    assert_eq!(
        ev[1],
        Event::Disconnected {
            reason: DisconnectReason::ForcedReconnect
        }
    );
    // A second call while the attempt runs is coalesced.
    sim.conn.force_reconnect(sim.now);
    assert!(sim.events().is_empty());
    assert_eq!(sim.accept_after_dial(INFO), 2);
    sim.input("PONG\r\n");
    assert_eq!(kinds(&sim.events()), ["Reconnected n1"]);

    // While waiting to redial, it dials at once.
    let mut sim = Sim::connected(config(&["nats://n1"]));
    sim.conn.handle_transport_eof(sim.now);
    assert_eq!(kinds(&sim.events()), ["CloseTransport", "Disconnected"]);
    sim.conn.force_reconnect(sim.now);
    assert_eq!(kinds(&sim.events()), ["Dial n1"]);
    assert_eq!(sim.elapsed(), Duration::ZERO);
}

#[test]
fn other_handshake_errors_move_on_to_the_next_server() {
    let mut sim = Sim::new(config(&["nats://n1", "nats://n2"]));
    sim.accept(INFO);
    sim.input("-ERR 'maximum connections exceeded'\r\n");
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Failed n1", "Dial n2"]);
    let ConnectError::Server(e) = connect_error(&ev) else {
        panic!("{ev:?}")
    };
    assert_eq!(e.kind, ServerErrorKind::MaxConnectionsExceeded);
    sim.conn.handle_transport_connected(sim.now);
    sim.input(&format!("{INFO}\r\n"));
    sim.sent();
    sim.input("+OK\r\nPONG\r\n");
    assert_eq!(kinds(&sim.events()), ["Connected n2"]);
}

#[test]
fn expired_credentials_reconnect_and_the_same_error_again_closes() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    sim.input("-ERR 'User Authentication Expired'\r\n");
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Disconnected"]);
    // Fresh credentials could be set here, before the redial.
    sim.conn.set_auth(Auth::Token(Secret::new("fresh")));
    sim.advance(Duration::from_secs(3));
    let json_ops = sim.accept(INFO);
    let ClientOp::Connect(json) = &json_ops[0] else {
        panic!()
    };
    let json: Value = serde_json::from_slice(json).unwrap();
    assert_eq!(json["auth_token"], "fresh");
    sim.input("-ERR 'User Authentication Expired'\r\n");
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Failed n1", "Closed"]);
    assert!(matches!(close_reason(&ev), CloseReason::AuthRejected(e)
        if e.kind == ServerErrorKind::AuthenticationExpired));
}

/// A seeded random mix of server behaviour, clock jumps and user calls. Whatever happens,
/// the driver contract holds: Dial and CloseTransport alternate, nothing follows Closed,
/// every byte written is valid protocol, and every flush is answered exactly once.
#[test]
fn seeded_chaos_keeps_the_driver_contract() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::HashMap;

    const SERVER_LINES: &[&str] = &[
        "PONG\r\n",
        "PING\r\n",
        "+OK\r\n",
        "MSG a 1 2\r\nhi\r\n",
        "MSG b.c 2 r 0\r\n\r\n",
        "HMSG a 3 12 14\r\nNATS/1.0\r\n\r\nyo\r\n",
        "-ERR 'Authorization Violation'\r\n",
        "-ERR 'Stale Connection'\r\n",
        "-ERR 'Permissions Violation for Subscription to \"a\"'\r\n",
        "-ERR 'Permissions Violation for Publish to \"x\"'\r\n",
        "-ERR 'maximum connections exceeded'\r\n",
        "-ERR 'Unknown Protocol Operation'\r\n",
        "INFO {\"server_id\":\"N\",\"max_payload\":4096,\"connect_urls\":[\"n4:4222\"]}\r\n",
        "INFO {\"server_id\":\"N\",\"ldm\":true,\"nonce\":\"abc\"}\r\n",
        "INFO {\"server_id\":\"N\",\"tls_required\":true}\r\n",
        "garbage\r\n",
        "MSG a 1 10\r\npart",
    ];

    let (mut connects, mut reconnects, mut messages) = (0, 0, 0);
    for seed in 0..150u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut c = config(&["nats://n1", "nats://n2", "nats://n3"]);
        c.rng_seed = seed;
        c.ping_interval = Duration::from_secs(5);
        c.retry_on_failed_connect = rng.random_bool(0.5);
        c.allow_reconnect = rng.random_bool(0.8);
        c.pool.max_reconnects = Some(rng.random_range(1..4));
        c.reconnect_buffer_size = if rng.random_bool(0.2) {
            None
        } else {
            Some(256)
        };
        let mut sim = Sim::new(c);
        let mut open = false;
        let mut closed = false;
        let mut flushes: HashMap<FlushId, u32> = HashMap::new();
        // The fake server is mostly cooperative: it accepts the transport, sends INFO and
        // answers PINGs, with random misbehaviour mixed in.
        let (mut up, mut info_sent, mut owed_pongs) = (false, false, 0usize);
        for _ in 0..400 {
            for e in sim.events() {
                assert!(!closed, "seed {seed}: {e:?} after Closed");
                match e {
                    Event::Dial { .. } => {
                        assert!(!open, "seed {seed}: two Dials without CloseTransport");
                        open = true;
                    }
                    Event::CloseTransport => {
                        assert!(open, "seed {seed}: CloseTransport without Dial");
                        open = false;
                        (up, info_sent, owed_pongs) = (false, false, 0);
                    }
                    Event::Closed { .. } => closed = true,
                    Event::Connected { .. } => connects += 1,
                    Event::Reconnected { .. } => reconnects += 1,
                    Event::Message(_) => messages += 1,
                    Event::FlushComplete(id) | Event::FlushFailed(id) => {
                        *flushes.get_mut(&id).expect("unknown flush id") += 1;
                    }
                    _ => {}
                }
            }
            owed_pongs += sim
                .sent()
                .iter()
                .filter(|op| **op == ClientOp::Ping)
                .count();
            if closed {
                assert_eq!(sim.conn.poll_timeout(), None);
                assert_eq!(sim.conn.state(), State::Closed);
                break;
            }
            let now = sim.now;
            if open && !up && rng.random_bool(0.7) {
                sim.conn.handle_transport_connected(now);
                up = true;
                continue;
            }
            if up && !info_sent && rng.random_bool(0.7) {
                sim.input(&format!("{INFO}\r\n"));
                info_sent = true;
                continue;
            }
            if owed_pongs > 0 && rng.random_bool(0.6) {
                sim.input("PONG\r\n");
                owed_pongs -= 1;
                continue;
            }
            match rng.random_range(0..16) {
                0 => sim.conn.handle_transport_connected(now),
                1 => sim.input(&format!("{INFO}\r\n")),
                2..=6 => sim.input(SERVER_LINES[rng.random_range(0..SERVER_LINES.len())]),
                7 => sim.conn.handle_transport_error(now, "reset".into()),
                8 => sim.conn.handle_transport_eof(now),
                9 | 10 => sim.advance(Duration::from_millis(rng.random_range(0..8000))),
                11 => sim.conn.handle_tls_established(now),
                12 => {
                    let _ = sim
                        .conn
                        .publish("a", None, None, Bytes::from_static(&[1; 40]));
                }
                13 => {
                    let _ = sim
                        .conn
                        .subscribe(["a", "b.*", "c"][rng.random_range(0..3)], None);
                    let _ = sim.conn.unsubscribe(rng.random_range(1..4), Some(2));
                }
                14 => sim.conn.force_reconnect(now),
                _ => {
                    if let Ok(id) = sim.conn.flush(now) {
                        assert!(flushes.insert(id, 0).is_none());
                    }
                }
            }
        }
        sim.conn.close(sim.now);
        for e in sim.events() {
            match e {
                Event::CloseTransport => {
                    assert!(open);
                    open = false;
                }
                Event::FlushComplete(id) | Event::FlushFailed(id) => {
                    *flushes.get_mut(&id).unwrap() += 1;
                }
                _ => {}
            }
        }
        assert!(!open, "seed {seed}: a transport was left open");
        assert_eq!(sim.conn.state(), State::Closed);
        for (id, answers) in flushes {
            assert_eq!(
                answers, 1,
                "seed {seed}: flush {id:?} answered {answers} times"
            );
        }
    }
    // The mix must reach the interesting states, or it tests nothing.
    assert!(
        connects > 50 && reconnects > 100 && messages > 20,
        "{connects} {reconnects} {messages}"
    );
}

//! Handshake: INFO first, TLS upgrade, CONNECT fields and credentials, handshake errors
//! and the connect timeout.

use crate::sim::*;
use ed25519_dalek::{Signature, SigningKey, Verifier, VerifyingKey};

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

    // A caller-supplied signer is user code: the driver calls it when asked, with the
    // nonce's ASCII bytes, and hands the signature back; proto never calls it.
    let mut c = config(&["nats://n1"]);
    let called = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let signer = {
        let called = called.clone();
        Arc::new(move |nonce: &[u8]| {
            called.store(true, std::sync::atomic::Ordering::SeqCst);
            assert_eq!(nonce, b"aBcDeFgHiJkLmNo");
            vec![0xAB; 64]
        })
    };
    c.auth = Auth::JwtSigner {
        jwt: "eyJ.x.y".into(),
        signer,
    };
    let mut sim = Sim::new(c);
    assert!(
        sim.accept(NONCE_INFO).is_empty(),
        "no CONNECT before the signature"
    );
    assert!(!called.load(std::sync::atomic::Ordering::SeqCst));
    let nonce = match sim.events().as_slice() {
        [Event::SignNonce { nonce }] => nonce.clone(),
        other => panic!("expected SignNonce: {other:?}"),
    };
    let Auth::JwtSigner { signer, .. } = sim.conn.auth().clone() else {
        panic!("the configured auth")
    };
    // A PING while the driver signs is answered after CONNECT, in order.
    sim.input("PING\r\n");
    sim.conn
        .handle_nonce_signature(sim.now, signer(nonce.as_bytes()));
    let ops = sim.sent();
    assert_eq!(
        ops.iter().map(op_str).collect::<Vec<_>>(),
        ["CONNECT", "PING", "PONG"]
    );
    let ClientOp::Connect(json) = &ops[0] else {
        unreachable!()
    };
    let json: Value = serde_json::from_slice(json).unwrap();
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
    assert_eq!(connect_error(&ev), AttemptError::NkeyNotSupported);
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
    let AttemptError::Auth(e) = connect_error(&ev) else {
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
    assert_eq!(connect_error(&ev), AttemptError::NoInfo);
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
fn once_a_server_required_tls_no_later_attempt_runs_in_plain_text() {
    let mut c = config(&["nats://n1"]);
    c.auth = Auth::Token(Secret::new("s3cret".to_string()));
    let mut sim = Sim::new(c);
    let tls_info = r#"INFO {"server_id":"N","proto":1,"max_payload":1024,"tls_required":true}"#;
    assert!(sim.accept(tls_info).is_empty());
    assert_eq!(kinds(&sim.events()), ["UpgradeTls"]);
    sim.conn.handle_tls_established(sim.now);
    assert_eq!(sim.sent_strs(), ["CONNECT", "PING"]);
    sim.input("PONG\r\n");
    assert_eq!(kinds(&sim.events()), ["Connected n1"]);

    // The server dies; a plain-text impostor answers on its address.
    sim.conn.handle_transport_eof(sim.now);
    while !sim.events().iter().any(|e| matches!(e, Event::Dial { .. })) {
        sim.advance(Duration::from_millis(10));
    }
    let plain = r#"INFO {"server_id":"EVIL","proto":1,"max_payload":1024}"#;
    assert_eq!(
        sim.accept_after_dial(plain),
        0,
        "no CONNECT (and no token) in plain text"
    );
    let ev = sim.events();
    assert_eq!(
        connect_error(&ev),
        AttemptError::TlsRequiredByClientButUnavailable
    );
    assert_eq!(kinds(&ev)[..2], ["CloseTransport", "Failed n1"]);
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
        AttemptError::TlsRequiredByClientButUnavailable
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
    assert_eq!(connect_error(&ev), AttemptError::Timeout);
    // Transport up and INFO answered, but no PONG.
    assert_eq!(sim.accept_after_dial(INFO), 2);
    sim.advance(Duration::from_secs(2));
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Failed n2", "Closed"]);
    assert_eq!(connect_error(&ev), AttemptError::Timeout);
    assert_eq!(close_reason(&ev), CloseReason::NoServers);
    assert_eq!(sim.elapsed(), Duration::from_secs(4));
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
fn other_handshake_errors_move_on_to_the_next_server() {
    let mut sim = Sim::new(config(&["nats://n1", "nats://n2"]));
    sim.accept(INFO);
    sim.input("-ERR 'maximum connections exceeded'\r\n");
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Failed n1", "Dial n2"]);
    let AttemptError::Server(e) = connect_error(&ev) else {
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

#[test]
fn debug_output_never_shows_credentials() {
    let mut c = config(&["nats://bob:url-pass@n1"]);
    c.auth = Auth::Token(Secret::new("option-token"));
    let mut sim = Sim::new(c);
    let dial = format!("{:?}", sim.conn.poll_event());
    sim.conn.handle_transport_connected(sim.now);
    sim.input(&format!("{INFO}\r\n"));
    // CONNECT with the password is queued but not yet written.
    assert!(sim.conn.transmit_len() > 0);
    let debug = format!("{:?} {dial}", sim.conn);
    for secret in ["url-pass", "option-token"] {
        assert!(!debug.contains(secret), "{secret} leaked: {debug}");
    }
}

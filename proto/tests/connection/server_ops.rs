//! Ops from an established server: messages, auto-unsubscribe, `-ERR` routing, INFO
//! updates, payload limits, protocol errors.

use crate::sim::*;

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
fn headers_are_refused_when_the_server_lacks_them() {
    let mut sim = Sim::new(config(&["nats://n1"]));
    sim.handshake(r#"INFO {"server_id":"N","proto":1,"headers":false,"max_payload":1024}"#);
    let mut h = HeaderMap::new();
    h.append("K", "v").unwrap();
    assert_eq!(
        sim.conn
            .publish("s", None, Some(&h), Bytes::from_static(b"x")),
        Err(PublishError::HeadersNotSupported)
    );
    sim.conn
        .publish("s", None, None, Bytes::from_static(b"x"))
        .unwrap();
    assert_eq!(sim.sent_strs(), ["PUB s x"]);
}

#[test]
fn permission_violation_with_a_sid_suffix_or_queue_hits_the_named_subscription() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    let first = sim.conn.subscribe("x", None).unwrap();
    let second = sim.conn.subscribe("x", None).unwrap();
    let queued = sim.conn.subscribe("x", Some("q")).unwrap();
    sim.input(&format!(
        "-ERR 'Permissions Violation for Subscription to \"x\" (sid \"{second}\")'\r\n"
    ));
    assert_eq!(
        kinds(&sim.events()),
        [
            format!("ServerError Some({second})"),
            format!("SubscriptionClosed {second}")
        ]
    );
    sim.input("-ERR 'Permissions Violation for Subscription to \"x\" using queue \"q\"'\r\n");
    assert_eq!(
        kinds(&sim.events()),
        [
            format!("ServerError Some({queued})"),
            format!("SubscriptionClosed {queued}")
        ]
    );
    assert_eq!(sim.conn.subscription_count(), 1);
    sim.input(&format!(
        "MSG x {first} 1\r\na\r\nMSG x {second} 1\r\nb\r\n"
    ));
    assert_eq!(kinds(&sim.events()), [format!("Msg {first} x")]);
}

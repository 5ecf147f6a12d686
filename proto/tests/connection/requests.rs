//! The request muxer: one inbox subscription, replies mapped back to their request id,
//! refusals that fail the requests they concern, and inboxes from the seeded RNG.

use crate::sim::*;
use natsy_proto::connection::{RequestError, RequestId};

/// The reply subject of the one PUB in `ops`.
fn reply_of(ops: &[ClientOp]) -> String {
    ops.iter()
        .find_map(|op| match op {
            ClientOp::Pub { reply: Some(r), .. } => Some(String::from_utf8(r.to_vec()).unwrap()),
            _ => None,
        })
        .expect("a PUB with a reply")
}

#[test]
fn replies_come_back_to_their_request_once() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    let a = sim
        .conn
        .request("svc.a", None, Bytes::from_static(b"1"))
        .unwrap();
    let ops = sim.sent();
    let kinds: Vec<String> = ops.iter().map(op_str).collect();
    assert!(
        kinds[0].starts_with("SUB _INBOX.") && kinds[0].ends_with(".* 1"),
        "{kinds:?}"
    );
    let reply_a = reply_of(&ops);
    let b = sim
        .conn
        .request("svc.b", None, Bytes::from_static(b"2"))
        .unwrap();
    let reply_b = reply_of(&sim.sent());
    assert_ne!(a, b);
    assert_eq!(sim.conn.pending_requests(), 2);

    sim.input(&format!(
        "MSG {reply_b} 1 2\r\nok\r\nMSG {reply_a} 1 2\r\nok\r\n"
    ));
    let ev = sim.events();
    let ids: Vec<RequestId> = ev
        .iter()
        .map(|e| match e {
            Event::Reply { id, message } => {
                assert_eq!(message.payload(), b"ok");
                *id
            }
            other => panic!("expected replies: {other:?}"),
        })
        .collect();
    assert_eq!(ids, [b, a]);
    // A second reply, or one to a cancelled request, is dropped.
    let c = sim
        .conn
        .request("svc.c", None, Bytes::from_static(b"3"))
        .unwrap();
    let reply_c = reply_of(&sim.sent());
    sim.conn.cancel_request(c);
    sim.input(&format!(
        "MSG {reply_a} 1 0\r\n\r\nMSG {reply_c} 1 0\r\n\r\n"
    ));
    assert!(sim.events().is_empty());
    assert_eq!(sim.conn.pending_requests(), 0);
}

#[test]
fn a_refused_publish_fails_every_request_to_that_subject_at_once() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    let a1 = sim.conn.request("secret.a", None, Bytes::new()).unwrap();
    let other = sim.conn.request("open.b", None, Bytes::new()).unwrap();
    let a2 = sim.conn.request("secret.a", None, Bytes::new()).unwrap();
    sim.sent();
    sim.input("-ERR 'Permissions Violation for Publish to \"secret.a\"'\r\n");
    let ev = sim.events();
    let failed: Vec<RequestId> = ev
        .iter()
        .filter_map(|e| match e {
            Event::RequestFailed { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    let mut expected = vec![a1, a2];
    let mut failed_sorted = failed.clone();
    failed_sorted.sort();
    expected.sort();
    assert_eq!(failed_sorted, expected);
    assert!(matches!(
        ev.last(),
        Some(Event::ServerError { sid: None, .. })
    ));
    assert_eq!(sim.conn.pending_requests(), 1, "{other:?} still waits");
}

#[test]
fn a_refused_inbox_fails_what_waits_and_refuses_what_follows_until_reconnect() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    let a = sim.conn.request("svc", None, Bytes::new()).unwrap();
    let inbox = match &sim.sent()[0] {
        ClientOp::Sub { subject, .. } => String::from_utf8(subject.to_vec()).unwrap(),
        other => panic!("{other:?}"),
    };
    sim.input(&format!(
        "-ERR 'Permissions Violation for Subscription to \"{inbox}\"'\r\n"
    ));
    let ev = sim.events();
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::RequestFailed { id, .. } if *id == a)));
    assert!(matches!(
        sim.conn.request("svc", None, Bytes::new()),
        Err(RequestError::InboxRefused(_))
    ));
    assert!(sim.sent().is_empty(), "a refused request is not sent");
    // A new connection may allow it: the next request subscribes again.
    sim.conn.handle_transport_eof(sim.now);
    while !sim.events().iter().any(|e| matches!(e, Event::Dial { .. })) {
        sim.advance(Duration::from_millis(10));
    }
    sim.accept_after_dial(INFO);
    sim.input("PONG\r\n");
    assert_eq!(kinds(&sim.events()), ["Reconnected n1"]);
    sim.conn.request("svc", None, Bytes::new()).unwrap();
    assert!(op_str(&sim.sent()[0]).starts_with("SUB _INBOX."));
}

#[test]
fn inboxes_come_from_the_seeded_rng() {
    let inbox = |seed| {
        let mut c = config(&["nats://n1"]);
        c.rng_seed = seed;
        c.inbox_prefix = "_MY".into();
        Sim::new(c).conn.new_inbox()
    };
    assert_eq!(inbox(1), inbox(1));
    assert_ne!(inbox(1), inbox(2));
    assert!(inbox(3).starts_with("_MY."));
}

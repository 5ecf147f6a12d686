//! Limits against a real nats-server: slow consumers (pending limits, drops, one event per
//! episode), publish and subscribe permission violations, `max_payload` (enforced, and a
//! 63 MiB message under a 64 MiB one), and invalid subjects, headers and queue names,
//! which all give typed errors.

use std::sync::mpsc::Receiver;
use std::time::Duration;

use natsy::{
    Client, ConnectOptions, Event, HeaderMap, NextError, PendingLimits, PublishError, RequestError,
    State, SubscribeError, SubscriptionEnded,
};
use natsy_proto::{ServerErrorKind, ValidationError};
use natsy_test_harness::events::with_events;
use natsy_test_harness::{NatsServer, Permissions, User};

const WAIT: Duration = Duration::from_secs(10);

/// Closes the client and returns every event it emitted, up to and including `Closed`.
fn close_and_collect(client: &Client, rx: &Receiver<Event>) -> Vec<Event> {
    client.close().unwrap();
    let mut events = Vec::new();
    loop {
        let e = rx.recv_timeout(WAIT).expect("events up to Closed");
        let last = matches!(e, Event::Closed { .. });
        events.push(e);
        if last {
            return events;
        }
    }
}

#[test]
fn slow_consumer_drops_the_excess_and_reports_each_episode_once() {
    let server = NatsServer::start().unwrap();
    let (options, rx) = with_events(ConnectOptions::new().pending_limits(PendingLimits {
        messages: 10,
        bytes: 1024 * 1024,
    }));
    let client = options.connect(server.url()).unwrap();
    let mut sub = client.subscribe("firehose").unwrap();
    let payload = vec![b'x'; 100];
    for _ in 0..50 {
        client.publish("firehose", payload.clone()).unwrap();
    }
    client.flush().unwrap();
    assert_eq!(sub.dropped(), 40);
    // Pending bytes count what each queued message holds: its whole MSG frame plus the
    // message value itself.
    let frame = "MSG firehose 1 100\r\n".len() + 100 + 2;
    let entry = std::mem::size_of::<natsy::proto::Message>();
    assert_eq!(sub.pending(), (10, 10 * (frame + entry)));
    assert_eq!(client.statistics().dropped_messages, 40);
    // The first ten were kept, in order.
    for _ in 0..10 {
        assert_eq!(sub.try_next().unwrap().unwrap().payload(), &payload[..]);
    }
    assert!(sub.try_next().unwrap().is_none());

    // A second episode after the reader caught up: 10 fit, 5 dropped, one more event.
    for _ in 0..15 {
        client.publish("firehose", payload.clone()).unwrap();
    }
    client.flush().unwrap();
    assert_eq!(sub.dropped(), 45);
    assert_eq!(sub.pending().0, 10);

    let sid = sub.sid();
    let events = close_and_collect(&client, &rx);
    let slow: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Event::SlowConsumer { .. }))
        .collect();
    assert_eq!(slow.len(), 2, "{events:?}");
    assert!(slow
        .iter()
        .all(|e| matches!(e, Event::SlowConsumer { sid: s } if *s == sid)));
}

#[test]
fn byte_pending_limit_bounds_memory() {
    let server = NatsServer::start().unwrap();
    let client = ConnectOptions::new()
        .pending_limits(PendingLimits {
            messages: 1_000_000,
            bytes: 10_000,
        })
        .connect(server.url())
        .unwrap();
    let sub = client.subscribe("big").unwrap();
    // Each message holds its ~1,020-byte frame and its entry: 9 fit in 10,000.
    for _ in 0..100 {
        client.publish("big", vec![0u8; 1000]).unwrap();
    }
    client.flush().unwrap();
    let (messages, bytes) = sub.pending();
    assert_eq!(messages, 9);
    assert!(bytes <= 10_000);
    assert_eq!(sub.dropped(), 91);
}

fn restricted_server() -> NatsServer {
    NatsServer::builder()
        .with_user(User::password("u", "p").with_permissions(Permissions {
            publish_deny: vec!["secret.>".into()],
            subscribe_deny: vec!["private.>".into()],
            ..Permissions::default()
        }))
        .start()
        .unwrap()
}

#[test]
fn publish_permission_violation_is_reported_and_the_connection_stays_up() {
    let server = restricted_server();
    let (options, rx) = with_events(ConnectOptions::new().user_and_password("u", "p"));
    let client = options.connect(server.url()).unwrap();
    assert!(matches!(
        rx.recv_timeout(WAIT).unwrap(),
        Event::Connected { .. }
    ));
    client.publish("secret.plans", "x").unwrap();
    client.flush().unwrap();
    let event = rx.recv_timeout(WAIT).unwrap();
    match event {
        Event::ServerError { error, sid } => {
            assert_eq!(
                error.kind,
                ServerErrorKind::PublishPermission {
                    subject: "secret.plans".into()
                }
            );
            assert_eq!(sid, None);
        }
        other => panic!("expected a ServerError, got {other:?}"),
    }
    // Still usable.
    let mut sub = client.subscribe("open").unwrap();
    client.publish("open", "fine").unwrap();
    client.flush().unwrap();
    assert_eq!(sub.next_timeout(WAIT).unwrap().payload(), b"fine");
    assert_eq!(client.connection_state(), State::Connected);
    let events = close_and_collect(&client, &rx);
    assert!(
        !events.iter().any(|e| matches!(
            e,
            Event::Disconnected { reason } if *reason != natsy::DisconnectReason::UserClose
        )),
        "{events:?}"
    );
    assert_eq!(client.statistics().reconnects, 0);
}

#[test]
fn subscribe_permission_violation_closes_that_subscription() {
    let server = restricted_server();
    let (options, rx) = with_events(ConnectOptions::new().user_and_password("u", "p"));
    let client = options.connect(server.url()).unwrap();
    let mut ok = client.subscribe("public.x").unwrap();
    let mut denied = client.subscribe("private.x").unwrap();
    client.flush().unwrap();
    match denied.next_timeout(WAIT).unwrap_err() {
        NextError::Ended(SubscriptionEnded::PermissionDenied(e)) => {
            assert_eq!(e.subject(), "private.x");
            assert_eq!(e.operation(), natsy::PermissionOperation::Subscribe);
        }
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
    assert!(denied.next().is_none());
    let denied_sid = denied.sid();
    let error = std::iter::from_fn(|| rx.recv_timeout(WAIT).ok())
        .find_map(|e| match e {
            Event::ServerError { error, sid } => Some((error, sid)),
            _ => None,
        })
        .expect("a ServerError event");
    assert_eq!(
        error.0.kind,
        ServerErrorKind::SubscribePermission {
            subject: "private.x".into(),
            queue: None
        }
    );
    assert_eq!(error.1, Some(denied_sid));
    // The other subscription and the connection are unaffected.
    client.publish("public.x", "still here").unwrap();
    client.flush().unwrap();
    assert_eq!(ok.next_timeout(WAIT).unwrap().payload(), b"still here");
    assert_eq!(client.connection_state(), State::Connected);
}

#[test]
fn max_payload_is_enforced_client_side_and_nothing_is_sent() {
    let server = NatsServer::builder().max_payload(1024).start().unwrap();
    let client = natsy::connect(server.url()).unwrap();
    let watcher = natsy::connect(server.url()).unwrap();
    let mut sub = watcher.subscribe("payload").unwrap();
    watcher.flush().unwrap();
    assert_eq!(client.max_payload(), Some(1024));

    let too_big = PublishError::Validation(ValidationError::MaxPayloadExceeded {
        size: 2000,
        max_payload: 1024,
    });
    assert_eq!(
        client.publish("payload", vec![1u8; 2000]).unwrap_err(),
        too_big
    );
    assert_eq!(
        client
            .publish_with_reply("payload", "r", vec![1u8; 2000])
            .unwrap_err(),
        too_big
    );
    // Headers count too.
    let mut h = HeaderMap::new();
    h.append("Pad", &"p".repeat(100)).unwrap();
    assert!(matches!(
        client.publish_with_headers("payload", &h, vec![1u8; 1000]),
        Err(PublishError::Validation(
            ValidationError::MaxPayloadExceeded { .. }
        ))
    ));
    assert_eq!(
        client.request("payload", vec![1u8; 2000]).unwrap_err(),
        RequestError::Publish(too_big)
    );
    assert_eq!(client.pending_requests(), 0);
    assert_eq!(client.statistics().out_messages, 0);

    // Exactly the limit is fine, and the connection was never disturbed.
    client.publish("payload", vec![2u8; 1024]).unwrap();
    client.flush().unwrap();
    watcher.flush().unwrap();
    let m = sub.next_timeout(WAIT).unwrap();
    assert_eq!(m.payload(), &[2u8; 1024][..]);
    assert!(
        sub.try_next().unwrap().is_none(),
        "an oversized publish got through"
    );
    assert_eq!(client.connection_state(), State::Connected);
    assert_eq!(client.statistics().out_messages, 1);
}

#[test]
fn a_63_mib_message_arrives_whole_from_a_server_allowing_64_mib() {
    let server = NatsServer::builder().max_payload(64 << 20).start().unwrap();
    let client = natsy::connect(server.url()).unwrap();
    let receiver = natsy::connect(server.url()).unwrap();
    let mut sub = receiver.subscribe("huge").unwrap();
    receiver.flush().unwrap();
    assert_eq!(receiver.max_payload(), Some(64 << 20));
    let size = 63 << 20;
    let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let mut h = HeaderMap::new();
    h.append("Part", "1 of 1").unwrap();
    // Not a timing bound: a generous wait, so a slow machine is not a failure. That the
    // time is linear in the size is `proto/tests/alloc_large_frame.rs`'s to show.
    let long = Duration::from_secs(120);
    for with_headers in [false, true] {
        // One at a time: two would not fit the default 64 MiB pending limit together.
        if with_headers {
            client.publish_with_headers("huge", &h, payload.clone())
        } else {
            client.publish("huge", payload.clone())
        }
        .unwrap();
        client.publish("huge", "after").unwrap();
        client.flush().unwrap();
        let m = sub.next_timeout(long).unwrap();
        assert_eq!(m.payload().len(), size);
        assert!(m.payload() == &payload[..], "the payload arrived intact");
        let part = m
            .headers()
            .unwrap()
            .and_then(|h| h.get("Part").map(String::from));
        assert_eq!(part.is_some(), with_headers);
        assert_eq!(sub.next_timeout(long).unwrap().payload(), b"after");
    }
    assert_eq!(receiver.connection_state(), State::Connected);
    assert_eq!(sub.dropped(), 0);
}

#[test]
fn invalid_subjects_headers_and_queues_give_typed_errors() {
    let server = NatsServer::start().unwrap();
    let client = natsy::connect(server.url()).unwrap();
    let v = |e: ValidationError| PublishError::Validation(e);
    assert_eq!(
        client.publish("has space", "x").unwrap_err(),
        v(ValidationError::SubjectWhitespace)
    );
    assert_eq!(
        client.publish("tab\there", "x").unwrap_err(),
        v(ValidationError::SubjectWhitespace)
    );
    // A subject cannot smuggle a second protocol op.
    assert_eq!(
        client.publish("a\r\nPUB evil 1", "x").unwrap_err(),
        v(ValidationError::SubjectWhitespace)
    );
    assert_eq!(
        client.publish("", "x").unwrap_err(),
        v(ValidationError::EmptySubject)
    );
    assert_eq!(
        client
            .publish_with_reply("ok", "bad reply", "x")
            .unwrap_err(),
        v(ValidationError::InvalidReply)
    );
    assert_eq!(
        client.publish_with_reply("ok", "", "x").unwrap_err(),
        v(ValidationError::InvalidReply)
    );
    assert_eq!(
        client.request("bad subject", "x").unwrap_err(),
        RequestError::Publish(v(ValidationError::SubjectWhitespace))
    );
    assert_eq!(client.pending_requests(), 0);

    let sv = |e: ValidationError| SubscribeError::Validation(e);
    assert_eq!(
        client.subscribe("").unwrap_err(),
        sv(ValidationError::EmptySubject)
    );
    assert_eq!(
        client.subscribe("a b").unwrap_err(),
        sv(ValidationError::SubjectWhitespace)
    );
    for bad in ["a..b", "a.>.b", "a*.b", ".a", "a."] {
        assert_eq!(
            client.subscribe(bad).unwrap_err(),
            sv(ValidationError::InvalidSubscribeSubject),
            "{bad}"
        );
    }
    assert_eq!(
        client.queue_subscribe("a", "bad queue").unwrap_err(),
        sv(ValidationError::InvalidQueueName)
    );
    assert_eq!(
        client.queue_subscribe("a", "").unwrap_err(),
        sv(ValidationError::InvalidQueueName)
    );

    let mut h = HeaderMap::new();
    assert_eq!(
        h.append("X", "line\r\nInjected: yes").unwrap_err(),
        ValidationError::InvalidHeaderValue
    );
    assert_eq!(
        h.append("X", "only\nLF").unwrap_err(),
        ValidationError::InvalidHeaderValue
    );
    for bad in ["", "has space", "colon:", "new\r\nline"] {
        assert_eq!(
            h.append(bad, "v").unwrap_err(),
            ValidationError::InvalidHeaderName,
            "{bad:?}"
        );
    }
    assert!(h.is_empty());

    // None of that reached the server or hurt the connection.
    assert_eq!(client.statistics().out_messages, 0);
    let mut sub = client.subscribe("fine.*").unwrap();
    client.publish("fine.1", "ok").unwrap();
    client.flush().unwrap();
    assert_eq!(sub.next_timeout(WAIT).unwrap().payload(), b"ok");
    assert_eq!(client.connection_state(), State::Connected);
}

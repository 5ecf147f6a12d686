//! Connection events against a real nats-server: their order through a server stop and
//! restart, and what `close` does: a `Closed { User }` event, typed `Closed` errors from
//! every call afterwards (never a hang), and subscriptions that end.

use std::time::{Duration, Instant};

use natsy::{
    CloseReason, DisconnectReason, Event, FlushError, HeaderMap, NextError, PublishError,
    RequestError, State, SubscribeError, SubscriptionEnded,
};
use natsy_test_harness::events::{fast_reconnect_with_events, next_event};
use natsy_test_harness::NatsServer;

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn connected_then_disconnected_then_reconnected_across_a_server_restart() {
    let mut server = NatsServer::start().unwrap();
    let (options, events) = fast_reconnect_with_events();
    let client = options.connect(server.url()).unwrap();
    match next_event(&events, WAIT) {
        Event::Connected { server: addr } => assert_eq!(addr.port, server.port()),
        other => panic!("expected Connected first, got {other:?}"),
    }
    let mut sub = client.subscribe("survives").unwrap();
    client.flush().unwrap();

    server.stop().unwrap();
    match next_event(&events, WAIT) {
        Event::Disconnected { reason } => assert!(
            matches!(
                reason,
                DisconnectReason::Eof | DisconnectReason::Transport(_)
            ),
            "{reason:?}"
        ),
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert_eq!(client.connection_state(), State::Reconnecting);
    // Published while down: buffered, then sent after the reconnect.
    client.publish("survives", "buffered").unwrap();

    server.start_again().unwrap();
    match next_event(&events, WAIT) {
        Event::Reconnected { server: addr } => assert_eq!(addr.port, server.port()),
        other => panic!("expected Reconnected, got {other:?}"),
    }
    client.flush().unwrap();
    assert_eq!(client.connection_state(), State::Connected);
    assert_eq!(client.statistics().reconnects, 1);
    // The subscription was restored on the new server and got the buffered message.
    assert_eq!(sub.next_timeout(WAIT).unwrap().payload(), b"buffered");
    let other = natsy::connect(server.url()).unwrap();
    other.publish("survives", "after").unwrap();
    other.flush().unwrap();
    assert_eq!(sub.next_timeout(WAIT).unwrap().payload(), b"after");

    client.close().unwrap();
    let rest: Vec<Event> = std::iter::from_fn(|| events.recv_timeout(WAIT).ok())
        .take_while(|e| !matches!(e, Event::Closed { .. }))
        .collect();
    assert!(
        rest.iter().all(|e| matches!(
            e,
            Event::Disconnected {
                reason: DisconnectReason::UserClose
            }
        )),
        "unexpected events before Closed: {rest:?}"
    );
}

#[test]
fn close_emits_closed_and_every_later_call_fails_fast_with_closed() {
    let server = NatsServer::start().unwrap();
    let (options, events) = fast_reconnect_with_events();
    let client = options.connect(server.url()).unwrap();
    assert!(matches!(next_event(&events, WAIT), Event::Connected { .. }));
    let mut sub = client.subscribe("ends").unwrap();
    let blocked = client.subscribe("ends.blocked").unwrap();
    // A reader blocked in the iterator, and a request waiting for a reply nobody sends.
    let reader = std::thread::spawn(move || blocked.count());
    let silent = natsy::connect(server.url()).unwrap();
    let _silent_sub = silent.subscribe("svc.silent").unwrap();
    silent.flush().unwrap();
    let c = client.clone();
    let waiting = std::thread::spawn(move || c.request_timeout("svc.silent", "", WAIT * 3));
    let deadline = Instant::now() + WAIT;
    while client.pending_requests() == 0 {
        assert!(Instant::now() < deadline, "the request never started");
        std::thread::sleep(Duration::from_millis(5));
    }

    let start = Instant::now();
    client.close().unwrap();
    assert_eq!(client.close_reason(), Some(CloseReason::User));
    assert_eq!(client.connection_state(), State::Closed);
    let closed = std::iter::from_fn(|| events.recv_timeout(WAIT).ok())
        .find(|e| matches!(e, Event::Closed { .. }))
        .expect("a Closed event");
    assert!(
        matches!(
            closed,
            Event::Closed {
                reason: CloseReason::User,
                ..
            }
        ),
        "{closed:?}"
    );

    assert_eq!(reader.join().unwrap(), 0);
    assert_eq!(waiting.join().unwrap().unwrap_err(), RequestError::Closed);
    assert!(sub.next().is_none());
    assert_eq!(
        sub.next_timeout(Duration::from_secs(5)).unwrap_err(),
        NextError::Ended(SubscriptionEnded::ConnectionClosed)
    );
    assert_eq!(
        sub.try_next().unwrap_err(),
        SubscriptionEnded::ConnectionClosed
    );

    assert_eq!(client.publish("x", "y").unwrap_err(), PublishError::Closed);
    assert_eq!(
        client.publish_with_reply("x", "r", "y").unwrap_err(),
        PublishError::Closed
    );
    assert_eq!(
        client
            .publish_with_headers("x", &HeaderMap::new(), "y")
            .unwrap_err(),
        PublishError::Closed
    );
    assert_eq!(client.subscribe("x").unwrap_err(), SubscribeError::Closed);
    assert_eq!(
        client.queue_subscribe("x", "q").unwrap_err(),
        SubscribeError::Closed
    );
    assert_eq!(client.request("x", "y").unwrap_err(), RequestError::Closed);
    assert_eq!(client.flush().unwrap_err(), FlushError::Closed);
    assert_eq!(
        client.drain().unwrap_err(),
        natsy::DrainError::Flush(FlushError::Closed)
    );
    assert_eq!(sub.drain().unwrap_err(), FlushError::Closed);
    client.close().unwrap(); // idempotent: nothing more to report
                             // None of that waited on anything (the request and flush timeouts are 10 s).
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    // Nothing follows Closed.
    assert!(events.recv_timeout(Duration::from_millis(200)).is_err());
}

#[test]
fn close_while_disconnected_releases_a_waiting_flush() {
    let mut server = NatsServer::start().unwrap();
    let (options, events) = fast_reconnect_with_events();
    let client = options.connect(server.url()).unwrap();
    assert!(matches!(next_event(&events, WAIT), Event::Connected { .. }));
    server.stop().unwrap();
    assert!(matches!(
        next_event(&events, WAIT),
        Event::Disconnected { .. }
    ));
    let c = client.clone();
    let flushing = std::thread::spawn(move || c.flush_timeout(WAIT * 3));
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    client.close().unwrap();
    assert_eq!(flushing.join().unwrap().unwrap_err(), FlushError::Closed);
    assert!(start.elapsed() < Duration::from_secs(5));
    let closed = std::iter::from_fn(|| events.recv_timeout(WAIT).ok())
        .find(|e| matches!(e, Event::Closed { .. }));
    assert!(
        matches!(
            closed,
            Some(Event::Closed {
                reason: CloseReason::User,
                ..
            })
        ),
        "{closed:?}"
    );
}

#[test]
fn dropping_the_last_client_closes_the_connection() {
    let server = NatsServer::builder().monitoring().start().unwrap();
    let (options, events) = fast_reconnect_with_events();
    let client = options.name("short-lived").connect(server.url()).unwrap();
    assert!(matches!(next_event(&events, WAIT), Event::Connected { .. }));
    let clone = client.clone();
    drop(client);
    // A clone keeps it open.
    clone.flush().unwrap();
    drop(clone);
    let closed = std::iter::from_fn(|| events.recv_timeout(WAIT).ok())
        .find(|e| matches!(e, Event::Closed { .. }));
    assert!(
        matches!(
            closed,
            Some(Event::Closed {
                reason: CloseReason::User,
                ..
            })
        ),
        "{closed:?}"
    );
    // The server sees the connection go.
    let deadline = Instant::now() + WAIT;
    loop {
        let connz = server.monitor_json("/connz").unwrap();
        let open = connz["connections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "short-lived");
        if !open {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server still has the connection"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

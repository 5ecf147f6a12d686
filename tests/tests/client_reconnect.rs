//! Reconnecting against a real nats-server restarted on the same port: the reconnect
//! buffer (delivered exactly, full, disabled), reconnect limits and `no_reconnect`, `close`
//! during a reconnect wait, `retry_on_failed_connect`, and subscriptions (plain, queue,
//! auto-unsubscribe remainder) restored on the new connection.

use std::time::{Duration, Instant};

use natsy::{
    CloseReason, ConnectOptions, Event, NextError, PublishError, State, SubscriptionEnded,
};
use natsy_test_harness::events::{wait_for_event_after, with_events};
use natsy_test_harness::NatsServer;

const WAIT: Duration = Duration::from_secs(10);

fn disconnected(e: &Event) -> Option<()> {
    matches!(e, Event::Disconnected { .. }).then_some(())
}

fn reconnected(e: &Event) -> Option<()> {
    matches!(e, Event::Reconnected { .. }).then_some(())
}

fn closed(e: &Event) -> Option<CloseReason> {
    match e {
        Event::Closed { reason, .. } => Some(reason.clone()),
        _ => None,
    }
}

/// Quick reconnects, never giving up on their own.
fn fast() -> ConnectOptions {
    ConnectOptions::new()
        .connect_timeout(Duration::from_secs(2))
        .reconnect_wait(Duration::from_millis(50))
        .reconnect_jitter(Duration::ZERO, Duration::ZERO)
        .max_reconnects(None)
}

/// Receives exactly `payloads` in order, then checks nothing more arrives.
fn expect_exactly(sub: &mut natsy::Subscription, payloads: &[String]) {
    for want in payloads {
        let m = sub
            .next_timeout(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("waiting for {want:?}: {e}"));
        assert_eq!(m.payload(), want.as_bytes());
    }
    match sub.next_timeout(Duration::from_millis(200)) {
        Err(NextError::TimedOut) => {}
        other => panic!("unexpected extra: {other:?}"),
    }
}

#[test]
fn publishes_made_while_the_server_is_down_all_arrive_after_the_restart() {
    let mut server = NatsServer::start().unwrap();
    let (opts, rx) = with_events(fast());
    let client = opts.connect(server.url()).unwrap();
    let mut sub = client.subscribe("buf.>").unwrap();

    let before: Vec<String> = (0..100).map(|i| format!("before {i}")).collect();
    for p in &before {
        client.publish("buf.a", p.clone()).unwrap();
    }
    client.flush().unwrap();

    server.stop().unwrap();
    wait_for_event_after(&rx, WAIT, disconnected);
    assert_ne!(client.connection_state(), State::Connected);
    let during: Vec<String> = (0..500).map(|i| format!("during {i}")).collect();
    for p in &during {
        client.publish("buf.b", p.clone()).unwrap();
    }
    assert!(client.statistics().buffered_bytes > 0);

    server.start_again().unwrap();
    wait_for_event_after(&rx, WAIT, reconnected);
    client.flush().unwrap();
    assert_eq!(client.statistics().buffered_bytes, 0);
    assert_eq!(client.statistics().reconnects, 1);

    let all: Vec<String> = before.into_iter().chain(during).collect();
    expect_exactly(&mut sub, &all);
}

#[test]
fn a_full_reconnect_buffer_refuses_publishes_and_keeps_what_it_accepted() {
    let mut server = NatsServer::start().unwrap();
    let (opts, rx) = with_events(fast().reconnect_buffer_size(Some(2048)));
    let client = opts.connect(server.url()).unwrap();
    let mut sub = client.subscribe("full").unwrap();
    client.flush().unwrap();

    server.stop().unwrap();
    wait_for_event_after(&rx, WAIT, disconnected);
    let payload = "x".repeat(100);
    let mut accepted = 0usize;
    let err = loop {
        match client.publish("full", payload.clone()) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 100, "the 2 KiB buffer took {accepted} messages");
    };
    assert_eq!(err, PublishError::ReconnectBufferFull);
    assert!(accepted >= 10, "only {accepted} messages fit in 2 KiB");
    // Still full: refused again, nothing queued.
    assert_eq!(
        client.publish("full", payload.clone()),
        Err(PublishError::ReconnectBufferFull)
    );

    server.start_again().unwrap();
    wait_for_event_after(&rx, WAIT, reconnected);
    client.flush().unwrap();
    let want = vec![payload; accepted];
    expect_exactly(&mut sub, &want);
}

#[test]
fn without_a_reconnect_buffer_publishing_while_disconnected_fails_at_once() {
    let mut server = NatsServer::start().unwrap();
    let (opts, rx) = with_events(fast().reconnect_buffer_size(None));
    let client = opts.connect(server.url()).unwrap();
    let mut sub = client.subscribe("nobuf").unwrap();
    client.publish("nobuf", "1").unwrap();
    client.flush().unwrap();

    server.stop().unwrap();
    wait_for_event_after(&rx, WAIT, disconnected);
    assert_eq!(
        client.publish("nobuf", "lost?"),
        Err(PublishError::Disconnected)
    );

    server.start_again().unwrap();
    wait_for_event_after(&rx, WAIT, reconnected);
    client.publish("nobuf", "2").unwrap();
    client.flush().unwrap();
    expect_exactly(&mut sub, &["1".to_string(), "2".to_string()]);
}

#[test]
fn no_reconnect_closes_when_the_server_dies() {
    let mut server = NatsServer::start().unwrap();
    let (opts, rx) = with_events(fast().no_reconnect());
    let client = opts.connect(server.url()).unwrap();
    let mut sub = client.subscribe("x").unwrap();
    client.flush().unwrap();

    server.kill_hard();
    let (reason, _) = wait_for_event_after(&rx, WAIT, closed);
    assert_eq!(reason, CloseReason::ReconnectDisabled);
    assert_eq!(client.connection_state(), State::Closed);
    assert_eq!(client.publish("x", "y"), Err(PublishError::Closed));
    assert_eq!(
        sub.next_timeout(Duration::from_secs(1)).err(),
        Some(NextError::Ended(SubscriptionEnded::ConnectionClosed))
    );
}

#[test]
fn max_reconnects_closes_after_that_many_attempts() {
    let mut server = NatsServer::start().unwrap();
    let (opts, rx) = with_events(fast().max_reconnects(Some(2)));
    let client = opts.connect(server.url()).unwrap();
    server.kill_hard();
    let (reason, seen) = wait_for_event_after(&rx, WAIT, closed);
    assert_eq!(reason, CloseReason::MaxReconnectsExhausted);
    let attempts = seen
        .iter()
        .filter(|e| matches!(e, Event::ReconnectAttemptFailed { .. }))
        .count();
    assert_eq!(attempts, 2, "{seen:?}");
    assert_eq!(
        client.close_reason(),
        Some(CloseReason::MaxReconnectsExhausted)
    );
}

#[test]
fn close_interrupts_a_long_reconnect_wait() {
    let mut server = NatsServer::start().unwrap();
    let (opts, rx) = with_events(
        fast()
            .reconnect_wait(Duration::from_secs(60))
            .reconnect_jitter(Duration::ZERO, Duration::ZERO),
    );
    let client = opts.connect(server.url()).unwrap();
    server.kill_hard();
    wait_for_event_after(&rx, WAIT, disconnected);
    // Let it fail an attempt and settle into its 60 s wait.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(client.connection_state(), State::Reconnecting);

    let started = Instant::now();
    client.close().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "close took {:?}",
        started.elapsed()
    );
    assert_eq!(client.close_reason(), Some(CloseReason::User));
    let (reason, _) = wait_for_event_after(&rx, Duration::from_secs(3), closed);
    assert_eq!(reason, CloseReason::User);
}

#[test]
fn retry_on_failed_connect_connects_once_a_server_comes_up() {
    let mut server = NatsServer::start().unwrap();
    server.stop().unwrap();

    let (opts, rx) = with_events(fast().retry_on_failed_connect());
    let started = Instant::now();
    let client = opts.connect(server.url()).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_ne!(client.connection_state(), State::Connected);
    // Usable before it is connected: the subscription and publish wait in the buffer.
    let mut sub = client.subscribe("early").unwrap();
    client.publish("early", "queued before connect").unwrap();

    server.start_again().unwrap();
    wait_for_event_after(&rx, WAIT, |e| {
        matches!(e, Event::Connected { .. }).then_some(())
    });
    assert_eq!(client.connection_state(), State::Connected);
    client.flush().unwrap();
    expect_exactly(&mut sub, &["queued before connect".to_string()]);
}

#[test]
fn subscriptions_are_restored_after_a_reconnect() {
    let mut server = NatsServer::start().unwrap();
    let (opts_a, rx_a) = with_events(fast());
    let (opts_b, rx_b) = with_events(fast());
    let a = opts_a.connect(server.url()).unwrap();
    let b = opts_b.connect(server.url()).unwrap();

    let mut plain = a.subscribe("r.plain").unwrap();
    let mut queue_a = a.queue_subscribe("r.q", "workers").unwrap();
    let mut queue_b = b.queue_subscribe("r.q", "workers").unwrap();
    let mut limited = a.subscribe("r.limited").unwrap();
    limited.unsubscribe_after(5).unwrap();
    a.flush().unwrap();
    b.flush().unwrap();
    for i in 0..2 {
        a.publish("r.limited", format!("l{i}")).unwrap();
    }
    a.flush().unwrap();
    for i in 0..2 {
        let m = limited.next_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(m.payload(), format!("l{i}").as_bytes());
    }

    server.restart().unwrap();
    wait_for_event_after(&rx_a, WAIT, reconnected);
    wait_for_event_after(&rx_b, WAIT, reconnected);
    // A PONG after the reconnect means the server has processed the restored SUBs.
    a.flush().unwrap();
    b.flush().unwrap();

    let publisher = natsy::connect(server.url()).unwrap();
    for i in 0..10 {
        publisher.publish("r.plain", format!("p{i}")).unwrap();
        publisher
            .publish("r.limited", format!("l{}", i + 2))
            .unwrap();
    }
    for i in 0..40 {
        publisher.publish("r.q", format!("q{i}")).unwrap();
    }
    publisher.flush().unwrap();

    let want: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
    expect_exactly(&mut plain, &want);

    // Only the remainder (5 - 2) of the auto-unsubscribe arrives, then it ends.
    for i in 2..5 {
        let m = limited.next_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(m.payload(), format!("l{i}").as_bytes());
    }
    assert_eq!(
        limited.next_timeout(Duration::from_secs(1)).err(),
        Some(NextError::Ended(SubscriptionEnded::LimitReached))
    );

    // Still one queue group: every message once, across both members.
    a.flush().unwrap();
    b.flush().unwrap();
    let mut got = Vec::new();
    for q in [&mut queue_a, &mut queue_b] {
        while let Ok(m) = q.next_timeout(Duration::from_millis(300)) {
            got.push(String::from_utf8(m.payload().to_vec()).unwrap());
        }
    }
    got.sort();
    let mut want: Vec<String> = (0..40).map(|i| format!("q{i}")).collect();
    want.sort();
    assert_eq!(got, want);
}

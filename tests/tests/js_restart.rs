//! A continuous pull survives a server restart: file storage, part of the stream consumed
//! and acked (confirmed), the server restarted while `messages()` has pulls in flight;
//! the consumer goes on, nothing acked before the restart comes back, and every message
//! is acked exactly once in the end. And a reconnect gets a fresh pull at once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use natsy_jetstream::{ConsumeOptions, ConsumerConfig, StorageType, StreamConfig};
use natsy_test_harness::NatsServer;

#[test]
fn messages_continue_across_a_restart_without_losing_or_repeating_acked_messages() {
    let mut server = NatsServer::builder().jetstream().start().expect("server");
    let client = natsy::ConnectOptions::new()
        .connect(server.url())
        .expect("connect");
    let js = natsy_jetstream::new(client);
    js.create_stream(&StreamConfig {
        subjects: vec!["r.>".into()],
        storage: StorageType::File,
        ..StreamConfig::new("R")
    })
    .expect("stream");
    let consumer = js
        .create_consumer(
            "R",
            ConsumerConfig {
                durable_name: Some("C".into()),
                ack_wait: Some(Duration::from_secs(2)),
                ..Default::default()
            },
        )
        .expect("consumer");
    const N: u64 = 1000;
    for i in 0..N {
        js.client().publish("r.x", i.to_string()).unwrap();
    }
    js.client().flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while consumer.info().unwrap().num_pending < N {
        assert!(Instant::now() < deadline, "stream never filled");
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut messages = consumer
        .messages_with(ConsumeOptions {
            batch: 100,
            expires: Duration::from_secs(2),
            idle_heartbeat: Duration::from_millis(500),
            ..Default::default()
        })
        .unwrap();
    // Part one: 300 messages, each ack confirmed by the server.
    let mut acked_before = HashSet::new();
    while acked_before.len() < 300 {
        let m = messages
            .next_timeout(Duration::from_secs(10))
            .unwrap()
            .expect("a message before the restart");
        let meta = m.metadata().unwrap();
        m.double_ack().unwrap();
        assert!(acked_before.insert(meta.stream_sequence));
    }

    // The restart, with pulls in flight and messages buffered on our side.
    server.restart().expect("restart");

    let mut acked = acked_before.clone();
    let mut redelivered = 0;
    let deadline = Instant::now() + Duration::from_secs(90);
    while (acked.len() as u64) < N {
        assert!(
            Instant::now() < deadline,
            "stalled at {} after the restart",
            acked.len()
        );
        let Some(m) = messages.next_timeout(Duration::from_secs(5)).unwrap() else {
            continue;
        };
        let meta = m.metadata().unwrap();
        assert!(
            !acked_before.contains(&meta.stream_sequence),
            "acked before the restart, delivered again: {meta:?}"
        );
        if acked.insert(meta.stream_sequence) {
            // Confirmed, retrying across the reconnect window.
            let mut tries = 0;
            while let Err(e) = m.double_ack() {
                tries += 1;
                assert!(tries < 20, "ack never confirmed: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
        } else {
            // An unacked delivery came back after ack_wait: fine, ack it again.
            redelivered += 1;
            let _ = m.ack();
        }
    }
    assert_eq!(acked, (1..=N).collect::<HashSet<_>>());
    // Settled: nothing pending, nothing unacked.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // Keep taking what may still come back, refusing anything acked before.
        if let Some(m) = messages.next_timeout(Duration::from_millis(200)).unwrap() {
            let meta = m.metadata().unwrap();
            assert!(!acked_before.contains(&meta.stream_sequence));
            let _ = m.ack();
        }
        let info = consumer.info().unwrap();
        if info.num_pending == 0 && info.num_ack_pending == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "never settled: {info:?}");
    }
    assert!(js.client().statistics().reconnects >= 1);
    eprintln!("redelivered after the restart: {redelivered}");
}

/// A reconnect (here forced, to the same server) is noticed the next time `messages()`
/// is about to wait, and answered with a fresh pull at once (ADR-37), not only once the
/// heartbeats go missing.
#[test]
fn a_reconnect_gets_a_fresh_pull_at_the_next_wait() {
    let server = NatsServer::builder().jetstream().start().expect("server");
    let js = natsy_jetstream::new(natsy::connect(server.url()).expect("connect"));
    js.create_stream(&StreamConfig {
        subjects: vec!["f.>".into()],
        ..StreamConfig::new("F")
    })
    .expect("stream");
    let consumer = js
        .create_consumer(
            "F",
            ConsumerConfig {
                durable_name: Some("C".into()),
                ..Default::default()
            },
        )
        .expect("consumer");
    // Heartbeats far apart, so none can go missing while this test runs.
    let mut messages = consumer
        .messages_with(ConsumeOptions {
            batch: 10,
            expires: Duration::from_secs(120),
            idle_heartbeat: Duration::from_secs(60),
            ..Default::default()
        })
        .unwrap();
    assert!(messages
        .next_timeout(Duration::from_millis(100))
        .unwrap()
        .is_none());
    assert_eq!(messages.pulls(), 1);

    js.client().force_reconnect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while js.client().statistics().reconnects == 0 {
        assert!(Instant::now() < deadline, "never reconnected");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The next wait sees the reconnect before it sleeps.
    assert!(messages
        .next_timeout(Duration::from_millis(100))
        .unwrap()
        .is_none());
    assert_eq!(messages.pulls(), 2, "a fresh pull after the reconnect");
    assert_eq!(messages.missed_heartbeats(), 0);
    // And messages flow on.
    js.publish("f.x", "after").expect("publish");
    let m = loop {
        assert!(Instant::now() < deadline, "nothing after the reconnect");
        if let Some(m) = messages.next_timeout(Duration::from_secs(1)).unwrap() {
            break m;
        }
    };
    assert_eq!(m.payload(), b"after");
    m.ack().unwrap();
}

//! Degenerate options against a real nats-server: a zero ping interval turns keepalive
//! off (nats.go's meaning) instead of flapping, and `Duration::MAX` as any timeout means
//! "wait for ever", never an overflow panic, in the client and in JetStream.

use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use natsy::{ConnectOptions, Event, State};
use natsy_jetstream::{ConsumerConfig, FetchOptions, StreamConfig};
use natsy_test_harness::events::with_events;
use natsy_test_harness::NatsServer;

#[test]
fn a_zero_ping_interval_disables_keepalive() {
    let server = NatsServer::start().unwrap();
    let (options, events) = with_events(ConnectOptions::new().ping_interval(Duration::ZERO));
    let client = options.connect(server.url()).unwrap();
    assert!(matches!(events.recv().unwrap(), Event::Connected { .. }));
    match events.recv_timeout(Duration::from_secs(2)) {
        Err(RecvTimeoutError::Timeout) => {}
        other => panic!("expected a quiet connection, got {other:?}"),
    }
    assert_eq!(client.connection_state(), State::Connected);
    assert_eq!(client.statistics().reconnects, 0);
    client.flush().unwrap();
}

#[test]
fn duration_max_means_for_ever_everywhere() {
    let server = NatsServer::builder().jetstream().start().unwrap();
    let client = ConnectOptions::new()
        .flush_timeout(Duration::MAX)
        .request_timeout(Duration::MAX)
        .drain_timeout(Duration::MAX)
        .connect(server.url())
        .unwrap();
    let mut sub = client.subscribe("forever").unwrap();
    let responder = client.subscribe("forever.echo").unwrap();
    let serving = std::thread::spawn(move || {
        for m in responder {
            let _ = m.respond(m.payload_bytes());
        }
    });
    client.publish("forever", "x").unwrap();
    client.flush().unwrap();
    client.flush_timeout(Duration::MAX).unwrap();
    assert_eq!(sub.next_timeout(Duration::MAX).unwrap().payload(), b"x");
    assert_eq!(
        client
            .request_timeout("forever.echo", "y", Duration::MAX)
            .unwrap()
            .payload(),
        b"y"
    );
    assert_eq!(client.request("forever.echo", "z").unwrap().payload(), b"z");

    let js = natsy_jetstream::new(client.clone()).with_timeout(Duration::MAX);
    js.create_stream(&StreamConfig {
        subjects: vec!["forever.js".into()],
        ..StreamConfig::new("FOREVER")
    })
    .unwrap();
    let ack = js
        .publish_with(
            "forever.js",
            "m",
            &natsy_jetstream::PublishOptions::new().timeout(Duration::MAX),
        )
        .unwrap();
    assert_eq!(ack.sequence, 1);
    let consumer = js
        .create_consumer(
            "FOREVER",
            ConsumerConfig {
                durable_name: Some("worker".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let got = consumer
        .fetch(FetchOptions {
            batch: 1,
            expires: Some(Duration::from_secs(5)),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(got.len(), 1);
    let mut messages = consumer.messages().unwrap();
    js.publish("forever.js", "n").unwrap();
    let next = messages.next_timeout(Duration::MAX).unwrap().unwrap();
    assert_eq!(next.payload(), b"n");

    client.drain().unwrap();
    serving.join().unwrap();
}

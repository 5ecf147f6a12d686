//! The ordered consumer against a real server: every message once and in order, while
//! its consumer is deleted under it, across a server restart (file storage kept), and
//! across the loss of an R3 stream's leader in a 3-node cluster.

use std::time::{Duration, Instant};

use natsy_jetstream::{Context, OrderedConfig, PublishOptions, StorageType, StreamConfig};
use natsy_test_harness::{NatsCluster, NatsServer};

fn config() -> OrderedConfig {
    let mut c = OrderedConfig::default();
    c.batch = 50;
    c.expires = Duration::from_secs(2);
    c.idle_heartbeat = Duration::from_millis(500);
    c
}

/// Reads from `consumer` until the stream sequence `last`, checking that each message
/// is the next one: payload `i` at stream sequence `i`.
fn read_in_order(consumer: &mut natsy_jetstream::OrderedConsumer, from: u64, last: u64) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut next = from;
    while next <= last {
        assert!(Instant::now() < deadline, "stalled before {next}");
        let Some(m) = consumer.next_timeout(Duration::from_secs(5)).unwrap() else {
            continue;
        };
        let meta = m.metadata().unwrap();
        assert_eq!(
            meta.stream_sequence, next,
            "in order, none twice, none lost"
        );
        let payload: u64 = std::str::from_utf8(m.payload()).unwrap().parse().unwrap();
        assert_eq!(payload, next);
        next += 1;
    }
}

fn publish(js: &Context, subject: &str, range: std::ops::RangeInclusive<u64>) {
    for i in range {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match js.publish_with(
                subject,
                i.to_string(),
                &PublishOptions::new().msg_id(&format!("{subject}-{i}")),
            ) {
                Ok(ack) => {
                    assert_eq!(ack.sequence, i);
                    break;
                }
                Err(e) => assert!(Instant::now() < deadline, "publish {i}: {e}"),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn every_message_once_in_order_even_when_its_consumer_is_deleted() {
    let server = NatsServer::builder().jetstream().start().expect("server");
    let js = natsy_jetstream::new(natsy::connect(server.url()).unwrap());
    js.create_stream(&StreamConfig {
        subjects: vec!["o.>".into()],
        ..StreamConfig::new("O")
    })
    .unwrap();
    publish(&js, "o.a", 1..=200);
    let mut c = js.ordered_consumer("O", config()).unwrap();
    read_in_order(&mut c, 1, 100);
    // Delete the consumer under it: the next pull gets 409 Consumer Deleted or a 503, or
    // the heartbeats stop; it recreates from stream sequence 101.
    let name = c.consumer_name().to_string();
    js.delete_consumer("O", &name).unwrap();
    publish(&js, "o.b", 201..=300);
    read_in_order(&mut c, 101, 300);
    assert!(c.resets() >= 1, "the consumer was recreated");
    assert_ne!(c.consumer_name(), name);
    assert!(c
        .next_timeout(Duration::from_millis(300))
        .unwrap()
        .is_none());
    // Filtered, from a start sequence, and a missing stream is a typed error.
    let mut f = OrderedConfig::default();
    f.filter_subjects = vec!["o.b".into()];
    let mut c = js.ordered_consumer("O", f).unwrap();
    let m = c.next_timeout(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(m.metadata().unwrap().stream_sequence, 201);
    let err = js.ordered_consumer("NOPE", config()).unwrap_err();
    assert_eq!(
        err.api_kind(),
        Some(natsy_jetstream::ApiErrorKind::StreamNotFound)
    );
}

#[test]
fn every_message_once_in_order_across_a_server_restart() {
    let mut server = NatsServer::builder().jetstream().start().expect("server");
    let client = natsy::ConnectOptions::new().connect(server.url()).unwrap();
    let js = natsy_jetstream::new(client);
    js.create_stream(&StreamConfig {
        subjects: vec!["r.>".into()],
        storage: StorageType::File,
        ..StreamConfig::new("R")
    })
    .unwrap();
    publish(&js, "r.x", 1..=500);
    let mut c = js.ordered_consumer("R", config()).unwrap();
    read_in_order(&mut c, 1, 200);
    // Its consumer is in memory on the server: gone with the restart.
    server.restart().expect("restart");
    publish(&js, "r.x", 501..=800);
    read_in_order(&mut c, 201, 800);
    assert!(c.resets() >= 1, "recreated after the reconnect");
}

#[test]
fn every_message_once_in_order_across_an_r3_leader_loss() {
    let mut cluster = NatsCluster::start(3, NatsServer::builder().jetstream()).expect("cluster");
    let client = natsy::ConnectOptions::new()
        .connect(cluster.urls())
        .unwrap();
    let js = natsy_jetstream::new(client);
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(e) = js.create_stream(&StreamConfig {
        subjects: vec!["c.>".into()],
        storage: StorageType::File,
        num_replicas: 3,
        ..StreamConfig::new("C3")
    }) {
        assert!(Instant::now() < deadline, "stream create: {e}");
        std::thread::sleep(Duration::from_millis(250));
    }
    publish(&js, "c.x", 1..=300);
    let mut c = js.ordered_consumer("C3", config()).unwrap();
    read_in_order(&mut c, 1, 100);
    let leader = js
        .stream_info("C3")
        .unwrap()
        .cluster
        .unwrap()
        .leader
        .unwrap();
    let index = (0..cluster.len())
        .find(|&i| leader == format!("{}-n{i}", cluster.name()))
        .expect("leader is a node");
    cluster.node_mut(index).kill_hard();
    publish(&js, "c.x", 301..=500);
    read_in_order(&mut c, 101, 500);
    let info = js.stream_info("C3").unwrap();
    assert_ne!(info.cluster.and_then(|c| c.leader), Some(leader));
}

//! An R3 stream on a 3-node cluster loses its leader while a publisher (message ids,
//! retries until acked) and a continuous consumer run: in the end every acknowledged
//! publish is in the stream exactly once and was consumed. Also: an R3 stream's and its
//! consumer's info name the cluster, the leader and the two other replicas.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use natsy::HeaderMap;
use natsy_jetstream::{ConsumeOptions, ConsumerConfig, Context, StorageType, StreamConfig};
use natsy_test_harness::{NatsCluster, NatsServer};
use serde_json::Value;

const N: usize = 300;

fn connect(cluster: &NatsCluster) -> Context {
    let client = natsy::ConnectOptions::new()
        .connect(cluster.urls())
        .expect("connect");
    natsy_jetstream::new(client)
}

fn stream_info(js: &Context) -> Option<Value> {
    js.request::<(), Value>("STREAM.INFO.CL", None).ok()
}

/// Publishes message `i` with id `m-<i>` until the stream acknowledges it.
fn publish_until_acked(js: &Context, i: usize, stop: &AtomicBool) -> bool {
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", &format!("m-{i}")).unwrap();
    while !stop.load(Ordering::Relaxed) {
        let handle = js
            .client()
            .send_request(&format!("cl.{i}"), Some(&headers), i.to_string());
        if let Ok(reply) = handle.and_then(|h| h.wait_timeout(Duration::from_secs(2))) {
            if let Ok(ack) = serde_json::from_slice::<Value>(reply.payload()) {
                if ack.get("error").is_none() && ack["seq"].as_u64().is_some() {
                    return true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn r3_stream_survives_leader_loss_with_every_acked_publish_stored_once_and_consumed() {
    let mut cluster = NatsCluster::start(3, NatsServer::builder().jetstream()).expect("cluster");
    let admin = connect(&cluster);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = admin.create_stream(&StreamConfig {
            subjects: vec!["cl.>".into()],
            storage: StorageType::File,
            num_replicas: 3,
            ..StreamConfig::new("CL")
        });
        if r.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "stream create: {r:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
    admin
        .create_consumer(
            "CL",
            ConsumerConfig {
                durable_name: Some("C".into()),
                ack_wait: Some(Duration::from_secs(2)),
                ..Default::default()
            },
        )
        .expect("consumer");

    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicUsize::new(0));
    let acked_publishes = Arc::new(Mutex::new(HashSet::new()));
    let publisher = {
        let js = connect(&cluster);
        let (stop, published, acked) = (stop.clone(), published.clone(), acked_publishes.clone());
        std::thread::spawn(move || {
            for i in 0..N {
                if publish_until_acked(&js, i, &stop) {
                    acked.lock().unwrap().insert(i);
                }
                published.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let consumed = Arc::new(Mutex::new(HashSet::new()));
    let consumer_thread = {
        let js = connect(&cluster);
        let bound = js.get_consumer("CL", "C").expect("bind");
        let (stop, consumed) = (stop.clone(), consumed.clone());
        std::thread::spawn(move || {
            let mut messages = bound
                .messages_with(ConsumeOptions {
                    batch: 50,
                    expires: Duration::from_secs(2),
                    idle_heartbeat: Duration::from_millis(500),
                    ..Default::default()
                })
                .expect("messages");
            while !stop.load(Ordering::Relaxed) {
                match messages.next_timeout(Duration::from_millis(200)) {
                    Ok(Some(m)) => {
                        let i: usize = std::str::from_utf8(m.payload()).unwrap().parse().unwrap();
                        consumed.lock().unwrap().insert(i);
                        let _ = m.ack();
                    }
                    Ok(None) => {}
                    // Non-terminal reports during the election; terminal ones end it.
                    Err(natsy_jetstream::Error::Pull(p)) if !p.is_terminal() => {}
                    Err(e) => panic!("consumer ended: {e}"),
                }
            }
        })
    };

    // A third of the way in, kill the stream leader.
    let deadline = Instant::now() + Duration::from_secs(60);
    while published.load(Ordering::Relaxed) < N / 3 {
        assert!(Instant::now() < deadline, "publisher stuck before the kill");
        std::thread::sleep(Duration::from_millis(20));
    }
    let leader = stream_info(&admin).expect("stream info")["cluster"]["leader"]
        .as_str()
        .expect("leader")
        .to_string();
    let index = (0..cluster.len())
        .find(|&i| leader == format!("{}-n{i}", cluster.name()))
        .expect("leader is a node");
    cluster.node_mut(index).kill_hard();

    // Everything acked must be stored once and consumed.
    let deadline = Instant::now() + Duration::from_secs(90);
    while published.load(Ordering::Relaxed) < N {
        assert!(Instant::now() < deadline, "publisher stuck after the kill");
        std::thread::sleep(Duration::from_millis(50));
    }
    publisher.join().unwrap();
    let acked = acked_publishes.lock().unwrap().clone();
    assert_eq!(acked.len(), N, "every publish is eventually acked");
    loop {
        if consumed.lock().unwrap().is_superset(&acked) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "consumed {} of {}",
            consumed.lock().unwrap().len(),
            acked.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    consumer_thread.join().unwrap();

    let checker = connect(&cluster);
    let info = loop {
        if let Some(info) = stream_info(&checker) {
            break info;
        }
        assert!(Instant::now() < deadline, "no stream info after the kill");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(info["state"]["messages"].as_u64(), Some(N as u64), "{info}");
    assert_ne!(info["cluster"]["leader"].as_str(), Some(leader.as_str()));
    // Stored once each: no gaps, no extra sequences.
    let stored = info["state"]["last_seq"].as_u64().unwrap()
        - info["state"]["first_seq"].as_u64().unwrap()
        + 1;
    assert_eq!(stored, N as u64);
}

#[test]
fn r3_stream_and_consumer_info_name_the_leader_and_two_replicas() {
    let cluster = NatsCluster::start(3, NatsServer::builder().jetstream()).expect("cluster");
    let js = connect(&cluster);
    let nodes: HashSet<String> = (0..cluster.len())
        .map(|i| format!("{}-n{i}", cluster.name()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let stream = loop {
        let r = js.create_stream(&StreamConfig {
            subjects: vec!["ri.>".into()],
            num_replicas: 3,
            ..StreamConfig::new("RI")
        });
        match r {
            Ok(stream) => break stream,
            Err(e) => assert!(Instant::now() < deadline, "stream create: {e}"),
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    // Replicas report `current` once they caught up with the leader.
    let info = loop {
        let info = stream.info().expect("stream info");
        let cluster_info = info.cluster.clone().expect("cluster info");
        if cluster_info.leader.is_some()
            && cluster_info.replicas.len() == 2
            && cluster_info.replicas.iter().all(|r| r.current)
        {
            break cluster_info;
        }
        assert!(
            Instant::now() < deadline,
            "replicas never current: {cluster_info:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(info.name.as_deref(), Some(cluster.name()));
    let leader = info.leader.clone().unwrap();
    let mut members: HashSet<String> = info.replicas.iter().map(|r| r.name.clone()).collect();
    assert!(!members.contains(&leader), "{info:?}");
    members.insert(leader);
    assert_eq!(members, nodes, "{info:?}");
    assert!(info.replicas.iter().all(|r| !r.offline), "{info:?}");

    // The consumer's info uses the same type.
    let consumer = stream
        .create_consumer(ConsumerConfig {
            durable_name: Some("RC".into()),
            ..Default::default()
        })
        .expect("consumer");
    let info = loop {
        let info = consumer
            .info()
            .expect("consumer info")
            .cluster
            .expect("cluster info");
        if info.leader.is_some() && info.replicas.len() == 2 {
            break info;
        }
        assert!(Instant::now() < deadline, "consumer replicas: {info:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut members: HashSet<String> = info.replicas.iter().map(|r| r.name.clone()).collect();
    members.insert(info.leader.unwrap());
    assert_eq!(members, nodes);
}

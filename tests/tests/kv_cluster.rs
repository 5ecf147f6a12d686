//! An R3 Key-Value bucket on a 3-node cluster loses its stream leader: puts and gets work
//! again once a new leader is elected, nothing written before is lost, and a watch started
//! before the kill reports every later change in order.

use std::time::{Duration, Instant};

use natsy_jetstream::kv::{KvConfig, KvError, Store, WatchEvent};
use natsy_test_harness::{NatsCluster, NatsServer};

/// Retries `f` through the election for up to 60 s.
fn retry<T>(what: &str, mut f: impl FnMut() -> Result<T, KvError>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) => assert!(Instant::now() < deadline, "{what}: {e}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn r3_bucket_survives_a_leader_kill() {
    let mut cluster = NatsCluster::start(3, NatsServer::builder().jetstream()).expect("cluster");
    let client = natsy::ConnectOptions::new()
        .connect(cluster.urls())
        .unwrap();
    let js = natsy_jetstream::new(client);
    let mut config = KvConfig::new("r3");
    config.replicas = 3;
    config.history = 3;
    let kv: Store = retry("create", || js.create_key_value(&config));
    for i in 0..50 {
        kv.put(&format!("k.{i}"), i.to_string()).unwrap();
    }
    let mut watch = kv.watch_all().unwrap();
    let mut initial = 0;
    while let WatchEvent::Entry(_) = watch
        .next_timeout(Duration::from_secs(5))
        .unwrap()
        .expect("event")
    {
        initial += 1;
    }
    assert_eq!(initial, 50);
    let before = kv.entry("k.0").unwrap().revision;

    let leader = kv
        .status()
        .unwrap()
        .stream_info()
        .cluster
        .clone()
        .and_then(|c| c.leader)
        .expect("leader");
    let index = (0..cluster.len())
        .find(|&i| leader == format!("{}-n{i}", cluster.name()))
        .expect("leader is a node");
    cluster.node_mut(index).kill_hard();

    // Writes and reads work again under the new leader; earlier values are all there.
    // An update guarded by the old revision is idempotent through retries: if a try was
    // stored but its ack lost, the next one fails with WrongLastRevision and the value is
    // already there.
    let rev = retry("update after the kill", || {
        match kv.update("k.0", "after", before) {
            Err(KvError::WrongLastRevision) => kv.entry("k.0").map(|e| e.revision),
            other => other,
        }
    });
    // A KV get is a direct get, which any replica may answer: one that has not yet
    // applied the update still says "0" (R3 direct gets are not read-your-writes). The
    // value must arrive there soon; one that never does means the update was lost.
    let read = retry("get of the update", || match kv.get("k.0") {
        Ok(v) if &v[..] == b"after" => Ok(v),
        Ok(_) => Err(KvError::KeyNotFound),
        Err(e) => Err(e),
    });
    assert_eq!(&read[..], b"after");
    for i in 1..50 {
        assert_eq!(
            retry("get", || kv.get(&format!("k.{i}"))),
            i.to_string().as_bytes()
        );
    }
    assert_eq!(
        kv.update("k.0", "again", rev - 1).unwrap_err(),
        KvError::WrongLastRevision
    );
    kv.update("k.0", "again", rev).unwrap();
    kv.delete("k.1").unwrap();
    let status = retry("status", || kv.status());
    assert_ne!(
        status.stream_info().cluster.clone().and_then(|c| c.leader),
        Some(leader)
    );

    // The watch reports the changes after the kill, in order, each once.
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 3 {
        assert!(Instant::now() < deadline, "watch stalled after {seen:?}");
        if let Some(WatchEvent::Entry(e)) = watch.next_timeout(Duration::from_secs(2)).unwrap() {
            seen.push((e.key, e.value, e.operation));
        }
    }
    use natsy_jetstream::kv::Operation::*;
    assert_eq!(
        seen,
        vec![
            ("k.0".to_string(), "after".into(), Put),
            ("k.0".to_string(), "again".into(), Put),
            ("k.1".to_string(), "".into(), Delete),
        ]
    );
    assert!(watch
        .next_timeout(Duration::from_millis(500))
        .unwrap()
        .is_none());
}

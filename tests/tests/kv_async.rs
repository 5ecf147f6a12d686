//! The async Key-Value store (`natsy_jetstream::aio::kv`) against a real server: bucket
//! lifecycle, every read and write with its typed errors, a bucket without direct get,
//! keys, history and purge_deletes, a watch with initial values then live changes, and
//! the store on smol (no tokio). The async twins of `kv.rs`, on the same wire code.

use std::time::Duration;

use futures_util::StreamExt;
use natsy_jetstream::aio::kv::{Store, Watch};
use natsy_jetstream::aio::{self, Context};
use natsy_jetstream::kv::{Entry, KvConfig, KvError, Operation, WatchEvent, WatchOptions};
use natsy_jetstream::{StorageType, StreamConfig};
use natsy_test_harness::NatsServer;

fn runtime() -> tokio::runtime::Runtime {
    natsy_test_harness::tokio_multi_thread()
}

async fn connect(server: &NatsServer) -> Context {
    aio::new(natsy::aio::connect(server.url()).await.expect("connect"))
}

async fn bucket(js: &Context, name: &str, history: i64) -> Store {
    let mut c = KvConfig::new(name);
    c.history = history;
    c.storage = StorageType::Memory;
    js.create_key_value(&c).await.expect("bucket")
}

/// The next event, within 10 s.
async fn next(w: &mut Watch) -> WatchEvent {
    let event = tokio::time::timeout(Duration::from_secs(10), w.next()).await;
    event
        .expect("an event")
        .expect("not ended")
        .expect("no error")
}

async fn entry(w: &mut Watch) -> Entry {
    match next(w).await {
        WatchEvent::Entry(e) => e,
        other => panic!("expected an entry, got {other:?}"),
    }
}

#[test]
fn buckets_are_created_updated_bound_and_deleted() {
    let server = NatsServer::builder().jetstream().start().expect("server");
    runtime().block_on(async {
        let js = connect(&server).await;
        let mut c = KvConfig::new("cfg");
        c.history = 5;
        let kv = js.create_key_value(&c).await.unwrap();
        assert_eq!(kv.name(), "cfg");
        // The same configuration again is fine; another one is BucketExists.
        js.create_key_value(&c).await.unwrap();
        let mut other = c.clone();
        other.history = 2;
        assert_eq!(
            js.create_key_value(&other).await.unwrap_err(),
            KvError::BucketExists
        );
        let kv = js.update_key_value(&other).await.unwrap();
        assert_eq!(kv.status().await.unwrap().history(), 2);
        let kv = js.create_or_update_key_value(&c).await.unwrap();
        assert_eq!(kv.status().await.unwrap().history(), 5);
        let mut fresh = KvConfig::new("fresh");
        fresh.storage = StorageType::Memory;
        js.create_or_update_key_value(&fresh).await.unwrap();

        let bound = js.key_value("cfg").await.unwrap();
        bound.put("a", "1").await.unwrap();
        assert_eq!(kv.status().await.unwrap().values(), 1);
        let mut names = js.key_value_buckets().await.unwrap();
        names.sort();
        assert_eq!(names, ["cfg", "fresh"]);

        assert_eq!(
            js.key_value("nope").await.unwrap_err(),
            KvError::BucketNotFound
        );
        assert_eq!(
            js.key_value("a.b").await.unwrap_err(),
            KvError::InvalidBucketName
        );
        let mut big = KvConfig::new("big");
        big.history = 65;
        assert_eq!(
            js.create_key_value(&big).await.unwrap_err(),
            KvError::HistoryTooLarge
        );
        js.delete_key_value("cfg").await.unwrap();
        assert_eq!(
            js.delete_key_value("cfg").await.unwrap_err(),
            KvError::BucketNotFound
        );
        assert!(bound.get("a").await.is_err(), "the bucket is gone");
    });
}

#[test]
fn reads_and_writes_with_typed_errors() {
    let server = NatsServer::builder().jetstream().start().expect("server");
    runtime().block_on(async {
        let js = connect(&server).await;
        let kv = bucket(&js, "ops", 10).await;
        let r1 = kv.put("db.url", "postgres://a").await.unwrap();
        assert_eq!(&kv.get("db.url").await.unwrap()[..], b"postgres://a");
        let e = kv.entry("db.url").await.unwrap();
        assert_eq!(
            (e.key.as_str(), e.revision, e.operation),
            ("db.url", r1, Operation::Put)
        );
        assert_eq!(kv.get("missing").await.unwrap_err(), KvError::KeyNotFound);
        assert_eq!(kv.get("bad key").await.unwrap_err(), KvError::InvalidKey);
        assert_eq!(kv.put(".a", "x").await.unwrap_err(), KvError::InvalidKey);

        // Guarded writes.
        let r2 = kv.update("db.url", "postgres://b", r1).await.unwrap();
        assert_eq!(
            kv.update("db.url", "postgres://c", r1).await.unwrap_err(),
            KvError::WrongLastRevision
        );
        assert_eq!(
            kv.create("db.url", "x").await.unwrap_err(),
            KvError::KeyExists
        );
        assert_eq!(
            &kv.entry_at("db.url", r1).await.unwrap().value[..],
            b"postgres://a"
        );
        assert_eq!(
            kv.entry_at("other", r1).await.unwrap_err(),
            KvError::KeyNotFound,
            "a revision of another key"
        );
        assert_eq!(
            kv.delete_expect_revision("db.url", r1).await.unwrap_err(),
            KvError::WrongLastRevision
        );
        kv.delete_expect_revision("db.url", r2).await.unwrap();
        assert_eq!(kv.get("db.url").await.unwrap_err(), KvError::KeyNotFound);
        assert_eq!(kv.entry("db.url").await.unwrap_err(), KvError::KeyNotFound);
        // ADR-8: create succeeds over a delete marker, and over a purge marker.
        let r4 = kv.create("db.url", "postgres://d").await.unwrap();
        let history = kv.history("db.url").await.unwrap();
        let ops: Vec<Operation> = history.iter().map(|e| e.operation).collect();
        assert_eq!(
            ops,
            [
                Operation::Put,
                Operation::Put,
                Operation::Delete,
                Operation::Put
            ]
        );
        assert_eq!(history.last().unwrap().revision, r4);
        kv.purge("db.url").await.unwrap();
        let history = kv.history("db.url").await.unwrap();
        assert_eq!(history.len(), 1, "a purge rolls the key up");
        assert_eq!(history[0].operation, Operation::Purge);
        assert_eq!(kv.get("db.url").await.unwrap_err(), KvError::KeyNotFound);
        let r6 = kv.create("db.url", "postgres://e").await.unwrap();
        assert_eq!(
            kv.purge_expect_revision("db.url", r6 - 1)
                .await
                .unwrap_err(),
            KvError::WrongLastRevision
        );
        kv.purge_expect_revision("db.url", r6).await.unwrap();
        assert_eq!(kv.history("never").await.unwrap_err(), KvError::KeyNotFound);

        // Keys, filters, and purge_deletes.
        for k in ["a.1", "a.2", "b.1", "gone"] {
            kv.put(k, "v").await.unwrap();
        }
        kv.delete("gone").await.unwrap();
        let mut keys = kv.keys().await.unwrap();
        keys.sort();
        assert_eq!(keys, ["a.1", "a.2", "b.1"]);
        let mut a = kv.keys_with_filters(&["a.*"]).await.unwrap();
        a.sort();
        assert_eq!(a, ["a.1", "a.2"]);
        assert_eq!(
            kv.keys_with_filters(&[]).await.unwrap_err(),
            KvError::InvalidKey
        );
        // Markers: "gone" (DEL) and "db.url" (PURGE); all removed.
        assert_eq!(kv.purge_deletes(Some(Duration::ZERO)).await.unwrap(), 2);
        assert_eq!(kv.history("gone").await.unwrap_err(), KvError::KeyNotFound);
        assert_eq!(kv.purge_deletes(None).await.unwrap(), 0);

        // Per-key TTLs need limit markers on the bucket.
        assert_eq!(
            kv.create_with_ttl("t", "x", Duration::from_secs(5))
                .await
                .unwrap_err(),
            KvError::TtlNotEnabled
        );
        let mut c = KvConfig::new("ttl");
        c.storage = StorageType::Memory;
        c.limit_markers = Some(Duration::from_secs(30));
        let ttl = js.create_key_value(&c).await.unwrap();
        ttl.create_with_ttl("t", "x", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(&ttl.get("t").await.unwrap()[..], b"x");
        ttl.purge_with_ttl("t", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(ttl.get("t").await.unwrap_err(), KvError::KeyNotFound);
        assert_eq!(
            ttl.create_with_ttl("t", "x", Duration::from_millis(10))
                .await
                .unwrap_err(),
            KvError::InvalidConfig("a per-key TTL is at least 1 s")
        );
    });
}

#[test]
fn a_bucket_without_direct_get_reads_through_the_api() {
    let server = NatsServer::builder().jetstream().start().expect("server");
    runtime().block_on(async {
        let js = connect(&server).await;
        // A bucket stream made by hand, as an old client might have: no allow_direct.
        js.create_stream(&StreamConfig {
            subjects: vec!["$KV.plain.>".into()],
            max_msgs_per_subject: 3,
            storage: StorageType::Memory,
            ..StreamConfig::new("KV_plain")
        })
        .await
        .unwrap();
        let kv = js.key_value("plain").await.unwrap();
        let r1 = kv.put("k", "one").await.unwrap();
        kv.put("k", "two").await.unwrap();
        assert_eq!(&kv.get("k").await.unwrap()[..], b"two");
        assert_eq!(&kv.entry_at("k", r1).await.unwrap().value[..], b"one");
        assert_eq!(kv.get("none").await.unwrap_err(), KvError::KeyNotFound);
        kv.delete("k").await.unwrap();
        assert_eq!(kv.get("k").await.unwrap_err(), KvError::KeyNotFound);
        kv.create("k", "three").await.unwrap();
        assert_eq!(&kv.blocking().get("k").unwrap()[..], b"three");
    });
}

#[test]
fn watch_reports_initial_values_then_the_marker_then_live_changes() {
    let server = NatsServer::builder().jetstream().start().expect("server");
    runtime().block_on(async {
        let js = connect(&server).await;
        let kv = bucket(&js, "w", 5).await;
        // An empty bucket: the marker at once.
        let mut empty = kv.watch_all().await.unwrap();
        assert_eq!(next(&mut empty).await, WatchEvent::InitialValuesDone);
        assert_eq!(
            empty
                .next_timeout(Duration::from_millis(200))
                .await
                .unwrap(),
            None
        );
        drop(empty);

        kv.put("a", "1").await.unwrap();
        kv.put("b", "1").await.unwrap();
        kv.put("a", "2").await.unwrap();
        kv.put("c", "1").await.unwrap();
        let mut w = kv.watch_all().await.unwrap();
        // The latest value per key, in stream order, then the marker.
        let initial = [
            entry(&mut w).await,
            entry(&mut w).await,
            entry(&mut w).await,
        ];
        let seen: Vec<(&str, &[u8])> = initial
            .iter()
            .map(|e| (e.key.as_str(), &e.value[..]))
            .collect();
        assert_eq!(seen, [("b", &b"1"[..]), ("a", b"2"), ("c", b"1")]);
        assert_eq!(initial[2].delta, 0);
        assert_eq!(next(&mut w).await, WatchEvent::InitialValuesDone);
        // Live: put, delete, purge, in order.
        kv.put("d", "1").await.unwrap();
        kv.delete("a").await.unwrap();
        kv.purge("b").await.unwrap();
        let live = [
            entry(&mut w).await,
            entry(&mut w).await,
            entry(&mut w).await,
        ];
        let ops: Vec<(&str, Operation)> =
            live.iter().map(|e| (e.key.as_str(), e.operation)).collect();
        assert_eq!(
            ops,
            [
                ("d", Operation::Put),
                ("a", Operation::Delete),
                ("b", Operation::Purge)
            ]
        );
        assert_eq!(
            w.next_timeout(Duration::from_millis(200)).await.unwrap(),
            None
        );

        // One key; its history; updates only with deletes ignored and no values.
        let mut one = kv.watch("c").await.unwrap();
        assert_eq!(entry(&mut one).await.key, "c");
        assert_eq!(next(&mut one).await, WatchEvent::InitialValuesDone);
        let mut hist = kv
            .watch_with("a", WatchOptions::new().include_history())
            .await
            .unwrap();
        let values = [
            entry(&mut hist).await,
            entry(&mut hist).await,
            entry(&mut hist).await,
        ];
        let ops: Vec<Operation> = values.iter().map(|e| e.operation).collect();
        assert_eq!(ops, [Operation::Put, Operation::Put, Operation::Delete]);
        assert_eq!(next(&mut hist).await, WatchEvent::InitialValuesDone);
        let opts = WatchOptions::new()
            .updates_only()
            .ignore_deletes()
            .meta_only();
        let mut updates = kv.watch_many_with(&["c", "d"], opts).await.unwrap();
        assert_eq!(next(&mut updates).await, WatchEvent::InitialValuesDone);
        kv.delete("c").await.unwrap();
        kv.put("d", "a value").await.unwrap();
        let e = entry(&mut updates).await;
        assert_eq!((e.key.as_str(), e.operation), ("d", Operation::Put));
        assert!(e.value.is_empty(), "meta only");
        assert_eq!(updates.resets(), 0);

        // `w` saw those two changes too, then the bucket's deletion ends it with one
        // typed error.
        assert_eq!(entry(&mut w).await.operation, Operation::Delete);
        assert_eq!(&entry(&mut w).await.value[..], b"a value");
        js.delete_key_value("w").await.unwrap();
        let end = tokio::time::timeout(Duration::from_secs(20), w.next())
            .await
            .expect("the watch noticed");
        assert_eq!(end.unwrap().unwrap_err(), KvError::BucketNotFound);
        assert!(w.next().await.is_none());
    });
}

#[test]
fn the_store_and_a_watch_run_on_smol() {
    let server = NatsServer::builder().jetstream().start().expect("server");
    smol::block_on(async {
        let js = connect(&server).await;
        let kv = bucket(&js, "smol", 1).await;
        for i in 0..20 {
            kv.put(&format!("k.{i}"), format!("{i}")).await.unwrap();
        }
        assert_eq!(&kv.get("k.7").await.unwrap()[..], b"7");
        let mut w = kv.watch("k.>").await.unwrap();
        let mut seen = 0;
        loop {
            match w.next_timeout(Duration::from_secs(10)).await.unwrap() {
                Some(WatchEvent::Entry(e)) => {
                    assert_eq!(e.key, format!("k.{seen}"));
                    seen += 1;
                }
                Some(WatchEvent::InitialValuesDone) => break,
                None => panic!("the watch stalled after {seen}"),
            }
        }
        assert_eq!(seen, 20);
        kv.put("k.0", "new").await.unwrap();
        match w.next().await.unwrap().unwrap() {
            WatchEvent::Entry(e) => {
                assert_eq!((e.key.as_str(), &e.value[..]), ("k.0", &b"new"[..]))
            }
            other => panic!("{other:?}"),
        }
        drop(w);
        assert_eq!(js.client().pending_requests(), 0);
    });
}

//! The Key-Value store against a real nats-server: buckets, every entry operation, the
//! typed errors, watches (initial values, the marker, live changes), per-key TTLs,
//! republish, mirrors and sources.

use std::time::{Duration, Instant};

use natsy_jetstream::kv::{
    BucketSource, Entry, KvConfig, KvError, Operation, Republish, Store, Watch, WatchEvent,
    WatchOptions,
};
use natsy_jetstream::{Context, StorageType};
use natsy_test_harness::NatsServer;

fn setup() -> (NatsServer, Context) {
    let server = NatsServer::builder().jetstream().start().expect("server");
    let js = natsy_jetstream::new(natsy::connect(server.url()).unwrap());
    (server, js)
}

fn bucket(js: &Context, name: &str, history: i64) -> Store {
    let mut c = KvConfig::new(name);
    c.history = history;
    js.create_key_value(&c).expect("bucket")
}

fn next(w: &mut Watch) -> WatchEvent {
    w.next_timeout(Duration::from_secs(5))
        .expect("watch")
        .expect("an event within 5 s")
}

fn entry(w: &mut Watch) -> Entry {
    match next(w) {
        WatchEvent::Entry(e) => e,
        other => panic!("expected an entry, got {other:?}"),
    }
}

#[test]
fn buckets_are_created_updated_bound_and_deleted() {
    let (_s, js) = setup();
    let mut c = KvConfig::new("cfg");
    c.history = 5;
    c.ttl = Duration::from_secs(3600);
    c.max_value_size = 128;
    c.storage = StorageType::Memory;
    c.description = Some("settings".into());
    let kv = js.create_key_value(&c).unwrap();
    let status = kv.status().unwrap();
    assert_eq!(status.bucket(), "cfg");
    assert_eq!(status.history(), 5);
    assert_eq!(status.ttl(), Duration::from_secs(3600));
    let sc = &status.stream_info().config;
    assert_eq!(sc.name, "KV_cfg");
    assert_eq!(sc.subjects, vec!["$KV.cfg.>".to_string()]);
    assert!(sc.allow_rollup_hdrs && sc.deny_delete && sc.allow_direct);
    assert_eq!(sc.discard, natsy_jetstream::DiscardPolicy::New);
    assert_eq!(sc.max_msg_size, 128);
    assert_eq!(sc.storage, StorageType::Memory);
    // Identical create succeeds; a different one is BucketExists.
    js.create_key_value(&c).unwrap();
    let mut other = c.clone();
    other.history = 2;
    assert_eq!(
        js.create_key_value(&other).unwrap_err(),
        KvError::BucketExists
    );
    // Update, bind, delete.
    let kv2 = js.update_key_value(&other).unwrap();
    assert_eq!(kv2.status().unwrap().history(), 2);
    assert_eq!(js.key_value("cfg").unwrap().name(), "cfg");
    assert_eq!(js.key_value_buckets().unwrap(), vec!["cfg".to_string()]);
    js.delete_key_value("cfg").unwrap();
    assert_eq!(js.key_value("cfg").unwrap_err(), KvError::BucketNotFound);
    assert_eq!(
        js.delete_key_value("cfg").unwrap_err(),
        KvError::BucketNotFound
    );
    assert_eq!(
        js.update_key_value(&c).unwrap_err(),
        KvError::BucketNotFound
    );
    // Bad configurations never reach the server.
    let mut big = KvConfig::new("big");
    big.history = 65;
    assert_eq!(
        js.create_key_value(&big).unwrap_err(),
        KvError::HistoryTooLarge
    );
    assert_eq!(
        js.create_key_value(&KvConfig::new("a.b")).unwrap_err(),
        KvError::InvalidBucketName
    );
    assert_eq!(js.key_value("a b").unwrap_err(), KvError::InvalidBucketName);
    // The value size limit is enforced.
    let small = js.create_key_value(&c).unwrap();
    assert_eq!(
        small.put("k", vec![0u8; 200]).unwrap_err(),
        KvError::ValueTooLarge
    );
}

#[test]
fn put_get_create_update_delete_purge_with_typed_errors() {
    let (_s, js) = setup();
    let kv = bucket(&js, "e", 10);
    let r1 = kv.put("a.b", "one").unwrap();
    assert_eq!(&kv.get("a.b").unwrap()[..], b"one");
    let e = kv.entry("a.b").unwrap();
    assert_eq!(
        (e.key.as_str(), e.revision, e.operation),
        ("a.b", r1, Operation::Put)
    );
    assert_eq!(e.bucket, "e");
    let r2 = kv.update("a.b", "two", r1).unwrap();
    assert!(r2 > r1);
    assert_eq!(
        kv.update("a.b", "x", r1).unwrap_err(),
        KvError::WrongLastRevision
    );
    assert_eq!(&kv.entry_at("a.b", r1).unwrap().value[..], b"one");
    assert_eq!(&kv.entry_at("a.b", r2).unwrap().value[..], b"two");
    // A revision of another key is not this key's.
    let other = kv.put("other", "o").unwrap();
    assert_eq!(kv.entry_at("a.b", other).unwrap_err(), KvError::KeyNotFound);
    assert_eq!(kv.entry_at("a.b", 9999).unwrap_err(), KvError::KeyNotFound);
    // Create: only if absent, also over a delete or a purge marker.
    assert_eq!(kv.create("a.b", "c").unwrap_err(), KvError::KeyExists);
    let c1 = kv.create("new", "n").unwrap();
    assert_eq!(kv.entry("new").unwrap().revision, c1);
    kv.delete("new").unwrap();
    assert_eq!(kv.get("new").unwrap_err(), KvError::KeyNotFound);
    assert_eq!(kv.entry("new").unwrap_err(), KvError::KeyNotFound);
    kv.create("new", "again").unwrap();
    assert_eq!(&kv.get("new").unwrap()[..], b"again");
    kv.purge("new").unwrap();
    assert_eq!(kv.get("new").unwrap_err(), KvError::KeyNotFound);
    kv.create("new", "third").unwrap();
    assert_eq!(&kv.get("new").unwrap()[..], b"third");
    // Guarded delete.
    let last = kv.entry("a.b").unwrap().revision;
    assert_eq!(
        kv.delete_expect_revision("a.b", last - 1).unwrap_err(),
        KvError::WrongLastRevision
    );
    kv.delete_expect_revision("a.b", last).unwrap();
    // History keeps the delete marker; purge rolls everything up into one marker.
    let h = kv.history("a.b").unwrap();
    let ops: Vec<Operation> = h.iter().map(|e| e.operation).collect();
    assert_eq!(ops, vec![Operation::Put, Operation::Put, Operation::Delete]);
    kv.purge("a.b").unwrap();
    let h = kv.history("a.b").unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].operation, Operation::Purge);
    assert_eq!(kv.history("never").unwrap_err(), KvError::KeyNotFound);
    // Missing keys and bad keys.
    assert_eq!(kv.get("missing").unwrap_err(), KvError::KeyNotFound);
    for bad in ["", ".a", "a.", "a b", "a*", "a>", "a..b"] {
        assert_eq!(
            kv.put(bad, "v").unwrap_err(),
            KvError::InvalidKey,
            "{bad:?}"
        );
        assert_eq!(kv.get(bad).unwrap_err(), KvError::InvalidKey, "{bad:?}");
    }
    assert_eq!(kv.watch("a b").unwrap_err(), KvError::InvalidKey);
}

#[test]
fn keys_filters_and_purge_deletes() {
    let (_s, js) = setup();
    let kv = bucket(&js, "k", 5);
    assert!(kv.keys().unwrap().is_empty(), "an empty bucket has no keys");
    for k in ["a.1", "a.2", "b.1", "gone"] {
        kv.put(k, "v").unwrap();
        kv.put(k, "w").unwrap();
    }
    kv.delete("gone").unwrap();
    let mut keys = kv.keys().unwrap();
    keys.sort();
    assert_eq!(keys, vec!["a.1", "a.2", "b.1"]);
    let mut a = kv.keys_with_filters(&["a.*"]).unwrap();
    a.sort();
    assert_eq!(a, vec!["a.1", "a.2"]);
    let mut ab = kv.keys_with_filters(&["a.1", "b.>"]).unwrap();
    ab.sort();
    assert_eq!(ab, vec!["a.1", "b.1"]);
    // Recent markers stay (alone); with no age limit they go entirely.
    let before = kv.status().unwrap().values();
    assert_eq!(before, 9);
    assert_eq!(kv.purge_deletes(None).unwrap(), 1);
    assert_eq!(kv.status().unwrap().values(), 7, "the marker alone stays");
    assert_eq!(kv.history("gone").unwrap().len(), 1);
    assert_eq!(kv.purge_deletes(Some(Duration::ZERO)).unwrap(), 1);
    assert_eq!(kv.status().unwrap().values(), 6);
    assert_eq!(kv.history("gone").unwrap_err(), KvError::KeyNotFound);
    assert_eq!(kv.purge_deletes(None).unwrap(), 0);
}

#[test]
fn watch_reports_initial_values_then_the_marker_then_live_changes() {
    let (_s, js) = setup();
    let kv = bucket(&js, "w", 5);
    // Empty bucket: the marker comes at once.
    let mut empty = kv.watch_all().unwrap();
    assert_eq!(next(&mut empty), WatchEvent::InitialValuesDone);

    kv.put("x", "1").unwrap();
    kv.put("x", "2").unwrap();
    kv.put("y", "1").unwrap();
    let mut w = kv.watch_all().unwrap();
    let first = entry(&mut w);
    let second = entry(&mut w);
    assert_eq!(
        (first.key.as_str(), &first.value[..]),
        ("x", &b"2"[..]),
        "latest only"
    );
    assert_eq!(second.key, "y");
    assert_eq!(second.delta, 0);
    assert_eq!(next(&mut w), WatchEvent::InitialValuesDone);
    // Live: a put, a delete, a purge, each in order.
    kv.put("z", "new").unwrap();
    kv.delete("x").unwrap();
    kv.purge("y").unwrap();
    let z = entry(&mut w);
    assert_eq!((z.key.as_str(), z.operation), ("z", Operation::Put));
    let x = entry(&mut w);
    assert_eq!((x.key.as_str(), x.operation), ("x", Operation::Delete));
    assert!(x.value.is_empty());
    let y = entry(&mut w);
    assert_eq!((y.key.as_str(), y.operation), ("y", Operation::Purge));
    assert!(w
        .next_timeout(Duration::from_millis(300))
        .unwrap()
        .is_none());
    // The empty-bucket watch sees the live changes too, from the stream as it is when it
    // reads: the purge rolled up y's first revision before this watch pulled it.
    let mut seen = Vec::new();
    while let Some(WatchEvent::Entry(e)) = empty.next_timeout(Duration::from_secs(2)).unwrap() {
        seen.push(e.key);
        if seen.len() == 5 {
            break;
        }
    }
    assert_eq!(seen, vec!["x", "x", "z", "x", "y"]);

    // A key pattern, history, updates only, ignore deletes, meta only.
    let mut one = kv.watch("z").unwrap();
    assert_eq!(entry(&mut one).key, "z");
    assert_eq!(next(&mut one), WatchEvent::InitialValuesDone);
    let mut hist = kv
        .watch_with("x", WatchOptions::new().include_history())
        .unwrap();
    let ops: Vec<Operation> = (0..3).map(|_| entry(&mut hist).operation).collect();
    assert_eq!(ops, vec![Operation::Put, Operation::Put, Operation::Delete]);
    assert_eq!(next(&mut hist), WatchEvent::InitialValuesDone);
    let mut updates = kv
        .watch_with(
            ">",
            WatchOptions::new()
                .updates_only()
                .ignore_deletes()
                .meta_only(),
        )
        .unwrap();
    assert_eq!(next(&mut updates), WatchEvent::InitialValuesDone);
    kv.delete("z").unwrap();
    kv.put("q", "payload").unwrap();
    let q = entry(&mut updates);
    assert_eq!(q.key, "q", "the delete was skipped");
    assert!(q.value.is_empty(), "meta only");
}

#[test]
fn per_key_ttl_needs_limit_markers() {
    let (_s, js) = setup();
    let plain = bucket(&js, "plain", 1);
    assert_eq!(
        plain
            .create_with_ttl("k", "v", Duration::from_secs(1))
            .unwrap_err(),
        KvError::TtlNotEnabled
    );
    let mut c = KvConfig::new("ttl");
    c.limit_markers = Some(Duration::from_secs(30));
    let kv = js.create_key_value(&c).unwrap();
    assert!(kv.status().unwrap().allows_key_ttl());
    assert!(matches!(
        kv.create_with_ttl("k", "v", Duration::from_millis(10)),
        Err(KvError::InvalidConfig(_))
    ));
    kv.create_with_ttl("short", "v", Duration::from_secs(1))
        .unwrap();
    kv.put("long", "v").unwrap();
    assert_eq!(&kv.get("short").unwrap()[..], b"v");
    let deadline = Instant::now() + Duration::from_secs(10);
    while kv.get("short").is_ok() {
        assert!(Instant::now() < deadline, "the key never expired");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(kv.get("short").unwrap_err(), KvError::KeyNotFound);
    assert_eq!(&kv.get("long").unwrap()[..], b"v");
    // The server left a limit marker, read as a purge.
    let h = kv.history("short").unwrap();
    assert_eq!(h.last().unwrap().operation, Operation::Purge, "{h:?}");
    // Once expired, create works again.
    kv.create("short", "again").unwrap();
}

#[test]
fn republish_mirror_and_sources() {
    let (_s, js) = setup();
    let mut c = KvConfig::new("orig");
    c.republish = Some(Republish {
        src: ">".into(),
        dest: "repub.>".into(),
        headers_only: false,
    });
    let orig = js.create_key_value(&c).unwrap();
    let mut sub = js.client().subscribe("repub.>").unwrap();
    js.client().flush().unwrap();
    orig.put("k1", "v1").unwrap();
    let m = sub.next_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(m.subject(), "repub.$KV.orig.k1");
    assert_eq!(m.payload(), b"v1");

    let mut m = KvConfig::new("copy");
    m.mirror = Some(BucketSource::new("orig"));
    let copy = js.create_key_value(&m).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while copy.get("k1").is_err() {
        assert!(Instant::now() < deadline, "the mirror never caught up");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Writes through the mirror land in the origin: its leader has it as soon as the
    // put is acknowledged...
    assert_eq!(copy.put("k2", "via-mirror").unwrap(), 2);
    assert_eq!(js.stream_info("KV_orig").unwrap().state.last_seq, 2);
    // ...but a get is a direct get, which the mirror (`mirror_direct`) may answer before
    // the write has reached it, so the value is only eventually readable.
    let deadline = Instant::now() + Duration::from_secs(10);
    let v = loop {
        match orig.get("k2") {
            Ok(v) => break v,
            Err(KvError::KeyNotFound) => {
                assert!(Instant::now() < deadline, "k2 never became readable");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(&v[..], b"via-mirror");

    let mut s = KvConfig::new("agg");
    s.sources = vec![BucketSource::new("orig")];
    let agg = js.create_key_value(&s).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while agg.get("k2").is_err() {
        assert!(Instant::now() < deadline, "the source never arrived");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(&agg.get("k1").unwrap()[..], b"v1");
}

//! Stream features against a real nats-server, blocking and async: deleting and erasing
//! single messages (the gap shows in the state), direct get single and batch (`EOB`,
//! `multi_last`, `up_to_seq`), mirrors and sources that replicate with their typed
//! config read back exactly, republish, subject transforms, per-message TTLs, metadata
//! and compression, typed timestamps, and cluster info of an R3 stream placed in a
//! 3-node cluster.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use natsy_jetstream::time::OffsetDateTime;
use natsy_jetstream::{
    ApiErrorKind, Compression, ConsumerConfig, Context, DirectBatch, Error, FetchOptions,
    Placement, PublishOptions, Republish, StorageType, Stream, StreamConfig, StreamInfo,
    StreamInfoOptions, StreamSource, SubjectTransform,
};
use natsy_test_harness::{NatsCluster, NatsServer};

fn setup() -> (NatsServer, Context) {
    let server = NatsServer::builder().jetstream().start().expect("server");
    let js = natsy_jetstream::new(natsy::connect(server.url()).expect("connect"));
    (server, js)
}

fn memory(name: &str, subjects: &[&str]) -> StreamConfig {
    StreamConfig {
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        storage: StorageType::Memory,
        ..StreamConfig::new(name)
    }
}

/// Polls `stream`'s info until `done` holds (replication and expiry happen on the
/// server's time; there is no event to wait for), failing after 10 s.
fn info_until(stream: &Stream, what: &str, done: impl Fn(&StreamInfo) -> bool) -> StreamInfo {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = stream.info().expect("info");
        if done(&info) {
            return info;
        }
        assert!(Instant::now() < deadline, "{what}: {info:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sequences(
    batch: impl Iterator<Item = Result<natsy_jetstream::StoredMessage, Error>>,
) -> Vec<u64> {
    batch.map(|m| m.expect("batch message").sequence).collect()
}

#[test]
fn deleted_and_erased_messages_leave_a_gap_in_the_state() {
    let (_server, js) = setup();
    let stream = js
        .create_stream(&memory("DEL", &["del.>"]))
        .expect("create");
    for i in 1..=5 {
        js.publish(&format!("del.{}", i % 2), i.to_string())
            .expect("publish");
    }
    stream.delete_message(2).expect("delete");
    stream.erase_message(4).expect("erase");
    let info = stream
        .info_with(
            &StreamInfoOptions::new()
                .deleted_details()
                .subjects_filter(">"),
        )
        .expect("info");
    let state = &info.state;
    assert_eq!((state.messages, state.first_seq, state.last_seq), (3, 1, 5));
    assert_eq!(state.num_deleted, 2);
    let mut deleted = state.deleted.clone();
    deleted.sort_unstable();
    assert_eq!(deleted, vec![2, 4]);
    assert_eq!(
        state.subjects,
        HashMap::from([("del.1".to_string(), 3), ("del.0".to_string(), 0)])
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect()
    );
    // The plain info leaves the details out.
    let plain = stream.info().expect("info");
    assert!(plain.state.deleted.is_empty() && plain.state.subjects.is_empty());
    assert_eq!(plain.state.num_deleted, 2);

    let err = stream.get_message(2).unwrap_err();
    assert_eq!(err.api_kind(), Some(ApiErrorKind::NoMessageFound));
    // Deleting what is not there (again, or never stored) is the server's typed error.
    assert!(matches!(stream.delete_message(2), Err(Error::Api(_))));
    assert!(matches!(stream.delete_message(99), Err(Error::Api(_))));
    assert!(matches!(
        stream.delete_message(0),
        Err(Error::InvalidArgument(_))
    ));

    // A stream that denies deletes refuses.
    let denied = js
        .create_stream(&StreamConfig {
            deny_delete: true,
            ..memory("NODEL", &["nodel"])
        })
        .expect("create");
    js.publish("nodel", "x").expect("publish");
    assert!(matches!(denied.delete_message(1), Err(Error::Api(_))));
    assert_eq!(denied.info().unwrap().state.messages, 1);
}

#[test]
fn direct_get_single_and_batches_end_with_eob() {
    let (_server, js) = setup();
    let stream = js
        .create_stream(&StreamConfig {
            allow_direct: true,
            ..memory("DG", &["k.*", "o.*"])
        })
        .expect("create");
    // seq 1 k.a, 2 k.b, 3 o.x, 4 k.a, 5 o.x
    for (subject, body) in [
        ("k.a", "a1"),
        ("k.b", "b1"),
        ("o.x", "x1"),
        ("k.a", "a2"),
        ("o.x", "x2"),
    ] {
        js.publish(subject, body).expect("publish");
    }
    let single = stream.direct_get(4).expect("direct get");
    assert_eq!(
        (single.subject.as_str(), &single.payload[..]),
        ("k.a", &b"a2"[..])
    );

    let mut first = stream
        .direct_get_batch(&DirectBatch::new(2))
        .expect("batch");
    assert_eq!(sequences(&mut first), vec![1, 2]);
    let end = first.end().expect("EOB");
    assert_eq!((end.num_pending, end.last_sequence), (3, 2));
    // The next batch from where the first ended: the rest, nothing pending after it.
    let mut rest = stream
        .direct_get_batch(&DirectBatch::new(10).start_sequence(end.last_sequence + 1))
        .expect("batch");
    assert_eq!(sequences(&mut rest), vec![3, 4, 5]);
    assert_eq!(rest.end().map(|e| e.num_pending), Some(0));
    // A subject filter, and a start time before everything.
    let long_ago = OffsetDateTime::now_utc() - Duration::from_secs(3600);
    let only_k = stream
        .direct_get_batch(&DirectBatch::new(10).subject("k.*").start_time(long_ago))
        .expect("batch");
    assert_eq!(sequences(only_k), vec![1, 2, 4]);
    // Nothing there: an empty batch, not an error.
    let mut none = stream
        .direct_get_batch(&DirectBatch::new(3).start_sequence(100))
        .expect("batch");
    assert_eq!(none.next().map(|m| m.map(|m| m.sequence)), None);
    assert_eq!(none.end(), None);

    // The newest of every key, now and as of sequence 3.
    let mut now = stream
        .direct_get_batch(&DirectBatch::last_per_subject(["k.*"]))
        .expect("multi");
    let mut got: Vec<(String, u64)> = (&mut now)
        .map(|m| m.map(|m| (m.subject, m.sequence)).expect("multi message"))
        .collect();
    got.sort();
    assert_eq!(got, vec![("k.a".into(), 4), ("k.b".into(), 2)]);
    assert_eq!(now.end().and_then(|e| e.up_to_sequence), Some(5));
    let then = stream
        .direct_get_batch(&DirectBatch::last_per_subject(["k.*"]).up_to_sequence(3))
        .expect("multi");
    let mut seqs = sequences(then);
    seqs.sort_unstable();
    assert_eq!(seqs, vec![1, 2]);

    // Without allow_direct nobody answers: no responders, at once.
    let plain = js
        .create_stream(&memory("NODG", &["nodg"]))
        .expect("create");
    js.publish("nodg", "x").expect("publish");
    let mut silent = plain.direct_get_batch(&DirectBatch::new(1)).expect("batch");
    assert_eq!(silent.next(), Some(Err(Error::NotEnabled)));
    assert!(silent.next().is_none());
}

#[test]
fn async_delete_info_and_direct_batches() {
    let server = NatsServer::builder().jetstream().start().expect("server");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = natsy::aio::connect(server.url()).await.expect("connect");
        let js = natsy_jetstream::aio::new(client);
        let stream = js
            .create_stream(&StreamConfig {
                allow_direct: true,
                ..memory("ADG", &["a.*"])
            })
            .await
            .expect("create");
        for s in ["a.x", "a.y", "a.x", "a.z"] {
            js.publish(s, "v")
                .await
                .expect("publish")
                .await
                .expect("ack");
        }
        let next = stream.direct_get_next("a.x", 2).await.expect("next");
        assert_eq!(next.sequence, 3);
        stream.delete_message(2).await.expect("delete");
        stream.erase_message(3).await.expect("erase");
        let info = stream
            .info_with(
                &StreamInfoOptions::new()
                    .deleted_details()
                    .subjects_filter("a.*"),
            )
            .await
            .expect("info");
        assert_eq!(info.state.num_deleted, 2);
        let mut deleted = info.state.deleted.clone();
        deleted.sort_unstable();
        assert_eq!(deleted, vec![2, 3]);
        assert_eq!(info.state.subjects.len(), 2);

        let mut batch = stream
            .direct_get_batch(&DirectBatch::new(10))
            .await
            .expect("batch");
        let mut seqs = Vec::new();
        while let Some(m) = batch.next().await {
            seqs.push(m.expect("message").sequence);
        }
        assert_eq!(seqs, vec![1, 4]);
        assert_eq!(
            batch.end().map(|e| (e.num_pending, e.last_sequence)),
            Some((0, 4))
        );
        let multi = stream
            .direct_get_batch(&DirectBatch::last_per_subject(["a.*"]))
            .await
            .expect("multi");
        let n = multi.count().await;
        assert_eq!(n, 2);
        // A refused argument fails before anything is sent.
        assert!(matches!(
            stream.direct_get_batch(&DirectBatch::new(0)).await,
            Err(Error::InvalidArgument(_))
        ));
        // No responders without allow_direct.
        let quiet = js
            .create_stream(&memory("AQ", &["aq"]))
            .await
            .expect("create");
        let mut silent = quiet
            .direct_get_batch(&DirectBatch::new(1))
            .await
            .expect("batch");
        assert_eq!(silent.next().await, Some(Err(Error::NotEnabled)));
        assert!(silent.next().await.is_none());
    });
}

#[test]
fn mirrors_and_sources_replicate_and_read_back_exactly() {
    let (_server, js) = setup();
    // A mirror answers direct gets for its origin only if the origin allows them.
    let origin = js
        .create_stream(&StreamConfig {
            allow_direct: true,
            ..memory("ORIG", &["orig.>"])
        })
        .expect("origin");
    for i in 0..6 {
        js.publish(&format!("orig.{}", i % 3), i.to_string())
            .expect("publish");
    }
    let mirror_source = StreamSource {
        opt_start_seq: Some(2),
        filter_subject: Some("orig.1".into()),
        ..StreamSource::new("ORIG")
    };
    let mirror = js
        .create_stream(&StreamConfig {
            storage: StorageType::Memory,
            mirror: Some(mirror_source.clone()),
            mirror_direct: true,
            ..StreamConfig::new("MIRROR")
        })
        .expect("mirror");
    let sources = vec![
        StreamSource {
            opt_start_seq: Some(1),
            subject_transforms: vec![SubjectTransform::new("orig.0", "agg.zero")],
            ..StreamSource::new("ORIG")
        },
        StreamSource {
            filter_subject: Some("side.>".into()),
            ..StreamSource::new("SIDE")
        },
    ];
    js.create_stream(&memory("SIDE", &["side.>"]))
        .expect("side");
    js.publish("side.a", "s").expect("publish");
    let agg = js
        .create_stream(&StreamConfig {
            storage: StorageType::Memory,
            sources: sources.clone(),
            ..StreamConfig::new("AGG")
        })
        .expect("sources");

    // orig.1 is at sequences 2 and 5.
    let info = info_until(&mirror, "mirror catches up", |i| i.state.messages == 2);
    assert_eq!(info.config.mirror.as_ref(), Some(&mirror_source));
    assert!(info.config.mirror_direct && info.config.subjects.is_empty());
    assert!(info.config.extra.is_empty(), "{:?}", info.config.extra);
    let m = info.mirror.expect("mirror info");
    assert_eq!((m.name.as_str(), m.lag, m.error), ("ORIG", 0, None));
    assert_eq!(m.filter_subject.as_deref(), Some("orig.1"));
    assert_eq!(mirror.get_message(5).expect("mirrored").subject, "orig.1");

    // All six of ORIG (orig.0 renamed; the transform also filters) plus SIDE's one:
    // the transform keeps only orig.0, so 2 + 1.
    let info = info_until(&agg, "sources catch up", |i| i.state.messages == 3);
    assert_eq!(info.config.sources, sources);
    assert!(info.config.extra.is_empty(), "{:?}", info.config.extra);
    let names: Vec<_> = info.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"ORIG") && names.contains(&"SIDE"));
    assert!(info.sources.iter().all(|s| s.error.is_none()));
    let stored = agg
        .info_with(&StreamInfoOptions::new().subjects_filter(">"))
        .expect("info")
        .state
        .subjects;
    assert_eq!(
        stored,
        HashMap::from([("agg.zero".to_string(), 2), ("side.a".to_string(), 1)])
    );
    // A source from a start time. (With a second source beside it, nats-server 2.15.1
    // now and then sources nothing from a time-started source; alone it is reliable.)
    let since = OffsetDateTime::now_utc() - Duration::from_secs(3600);
    let from_time = StreamSource {
        opt_start_time: Some(since),
        filter_subject: Some("orig.2".into()),
        ..StreamSource::new("ORIG")
    };
    let timed = js
        .create_stream(&StreamConfig {
            storage: StorageType::Memory,
            sources: vec![from_time.clone()],
            ..StreamConfig::new("SINCE")
        })
        .expect("time source");
    let info = info_until(&timed, "time source catches up", |i| i.state.messages == 2);
    assert_eq!(info.config.sources, vec![from_time]);

    // The origin is untouched by any of them.
    assert_eq!(origin.info().unwrap().state.messages, 6);
}

#[test]
fn republish_subject_transform_metadata_and_compression() {
    let (_server, js) = setup();
    let client = js.client().clone();
    let mut republished = client.subscribe("rp.>").expect("subscribe");
    client.flush().expect("flush");
    let config = StreamConfig {
        subject_transform: Some(SubjectTransform::new("in.>", "stored.>")),
        republish: Some(Republish {
            src: "stored.>".into(),
            dest: "rp.>".into(),
            headers_only: false,
        }),
        metadata: HashMap::from([("team".to_string(), "orders".to_string())]),
        compression: Compression::S2,
        storage: StorageType::File,
        ..memory("RP", &["in.>"])
    };
    let stream = js.create_stream(&config).expect("create");
    let ack = js.publish("in.a", "hello").expect("publish");
    assert_eq!(ack.sequence, 1);

    // Stored under the transformed subject...
    assert_eq!(stream.get_message(1).expect("get").subject, "stored.a");
    // ...and republished from there.
    let msg = republished
        .next_timeout(Duration::from_secs(5))
        .expect("republished");
    assert_eq!(msg.subject(), "rp.a");
    assert_eq!(msg.payload(), b"hello");
    let h = msg.headers().unwrap().expect("headers");
    assert_eq!(h.get("Nats-Stream"), Some("RP"));
    assert_eq!(h.get("Nats-Sequence"), Some("1"));
    assert_eq!(h.get("Nats-Subject"), Some("stored.a"));

    let info = stream.info().expect("info");
    let c = &info.config;
    assert_eq!(c.subject_transform, config.subject_transform);
    assert_eq!(c.republish, config.republish);
    assert_eq!(c.compression, Compression::S2);
    assert_eq!(c.metadata.get("team").map(String::as_str), Some("orders"));
    // The server adds its own `_nats.*` keys; the rest is what was sent.
    assert!(c
        .metadata
        .keys()
        .all(|k| k == "team" || k.starts_with("_nats.")));
    assert!(c.extra.is_empty(), "{:?}", c.extra);
    // An update from the server's own config changes only what it says.
    let mut update = info.config.clone();
    update.republish = Some(Republish {
        headers_only: true,
        ..update.republish.unwrap()
    });
    js.update_stream(&update).expect("update");
    js.publish("in.b", "world").expect("publish");
    let msg = republished
        .next_timeout(Duration::from_secs(5))
        .expect("republished");
    assert_eq!(msg.subject(), "rp.b");
    assert!(msg.payload().is_empty());
    let h = msg.headers().unwrap().expect("headers");
    assert_eq!(h.get("Nats-Msg-Size"), Some("5"));
    let after = stream.info().expect("info").config;
    assert_eq!(after.compression, Compression::S2);
    assert_eq!(after.subject_transform, config.subject_transform);
}

#[test]
fn per_message_ttl_expires_the_message() {
    let (_server, js) = setup();
    let stream = js
        .create_stream(&StreamConfig {
            allow_msg_ttl: true,
            ..memory("TTL", &["ttl.>"])
        })
        .expect("create");
    assert!(stream.info().unwrap().config.allow_msg_ttl);
    js.publish_with(
        "ttl.short",
        "gone soon",
        &PublishOptions::new().ttl(Duration::from_secs(1)),
    )
    .expect("publish");
    js.publish_with("ttl.keep", "stays", &PublishOptions::new().ttl_never())
        .expect("publish");
    let short = stream.get_message(1).expect("still there");
    assert_eq!(short.headers.get("Nats-TTL"), Some("1s"));
    info_until(&stream, "the 1 s message expires", |i| {
        i.state.messages == 1
    });
    let err = stream.get_message(1).unwrap_err();
    assert_eq!(err.api_kind(), Some(ApiErrorKind::NoMessageFound));
    assert_eq!(&stream.get_message(2).unwrap().payload[..], b"stays");

    // Without allow_msg_ttl the stream refuses a TTL: typed, not stored.
    let plain = js
        .create_stream(&memory("NOTTL", &["nottl"]))
        .expect("create");
    let err = js
        .publish_with(
            "nottl",
            "x",
            &PublishOptions::new().ttl(Duration::from_secs(5)),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Api(_)), "{err:?}");
    assert_eq!(plain.info().unwrap().state.messages, 0);
    // Less than a second never reaches the server.
    let err = js
        .publish_with(
            "nottl",
            "x",
            &PublishOptions::new().ttl(Duration::from_millis(500)),
        )
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)));
}

#[test]
fn timestamps_are_typed_and_the_zero_time_is_none() {
    let (_server, js) = setup();
    let now = OffsetDateTime::now_utc();
    let minute = Duration::from_secs(60);
    let stream = js.create_stream(&memory("TS", &["ts"])).expect("create");
    let empty = stream.info().expect("info");
    assert!((empty.created - now).abs() < minute, "{}", empty.created);
    assert!(empty.ts.is_some_and(|ts| ts >= empty.created));
    // The server sends Go's zero time for an empty stream's first and last.
    assert_eq!(
        (empty.state.first_time, empty.state.last_time),
        (None, None)
    );

    js.publish("ts", "x").expect("publish");
    let info = stream.info().expect("info");
    let first = info.state.first_time.expect("first_ts");
    assert!((first - now).abs() < minute, "{first}");
    assert_eq!(info.state.last_time, Some(first));
    assert_eq!(stream.get_message(1).unwrap().time, first);

    let consumer = stream
        .create_consumer(ConsumerConfig {
            durable_name: Some("c".into()),
            deliver_policy: natsy_jetstream::DeliverPolicy::ByStartTime,
            opt_start_time: Some(now - minute),
            ..Default::default()
        })
        .expect("consumer");
    let info = consumer.info().expect("info");
    assert!((info.created - now).abs() < minute);
    assert_eq!(info.config.opt_start_time, Some(now - minute));
    assert_eq!(info.delivered.last_active, None);
    let msgs = consumer
        .fetch(FetchOptions {
            batch: 1,
            ..Default::default()
        })
        .expect("fetch");
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].metadata().unwrap().timestamp(), first);
    msgs[0].double_ack().expect("ack");
    let info = consumer.info().expect("info");
    assert!(info
        .delivered
        .last_active
        .is_some_and(|t| (t - now).abs() < minute));
}

#[test]
fn cluster_info_of_a_placed_r3_stream() {
    let cluster = NatsCluster::start(3, NatsServer::builder().jetstream()).expect("cluster");
    let client = natsy::ConnectOptions::new()
        .connect(cluster.urls())
        .expect("connect");
    let js = natsy_jetstream::new(client);
    let config = StreamConfig {
        num_replicas: 3,
        placement: Some(Placement {
            cluster: Some(cluster.name().to_string()),
            ..Default::default()
        }),
        ..memory("R3", &["r3.>"])
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let stream = loop {
        match js.create_stream(&config) {
            Ok(stream) => break stream,
            Err(e) => assert!(Instant::now() < deadline, "stream create: {e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    js.publish("r3.a", "x").expect("publish");
    let info = info_until(&stream, "replicas current", |i| {
        i.cluster
            .as_ref()
            .is_some_and(|c| c.replicas.len() == 2 && c.replicas.iter().all(|r| r.current))
    });
    assert_eq!(info.config.placement, config.placement);
    assert_eq!(info.config.num_replicas, 3);
    assert!(info.config.extra.is_empty(), "{:?}", info.config.extra);
    let c = info.cluster.expect("cluster");
    assert_eq!(c.name.as_deref(), Some(cluster.name()));
    let leader = c.leader.clone().expect("leader");
    assert!(leader.starts_with(cluster.name()));
    assert!(c.raft_group.as_deref().is_some_and(|g| !g.is_empty()));
    let now = OffsetDateTime::now_utc();
    assert!(c
        .leader_since
        .is_some_and(|t| (t - now).abs() < Duration::from_secs(60)));
    for r in &c.replicas {
        assert_ne!(r.name, leader);
        assert!(!r.peer.is_empty() && !r.offline && !r.pending, "{r:?}");
    }
}

/// Answers the first batch direct get on stream `FAKE` (which has no `allow_direct`, so
/// the server does not) with `replies` (sequence, sequence before it), then stays
/// silent: a responder that stops mid-batch, or one whose messages go missing.
fn fake_direct_responder(
    js: &Context,
    replies: &'static [(u64, u64)],
) -> std::thread::JoinHandle<()> {
    js.create_stream(&memory("FAKE", &["fake"]))
        .expect("create");
    let client = js.client().clone();
    let mut requests = client
        .subscribe("$JS.API.DIRECT.GET.FAKE")
        .expect("subscribe");
    client.flush().expect("flush");
    std::thread::spawn(move || {
        let request = requests
            .next_timeout(Duration::from_secs(10))
            .expect("request");
        for &(seq, before) in replies {
            let mut h = natsy::HeaderMap::new();
            for (k, v) in [
                ("Nats-Stream", "FAKE".to_string()),
                ("Nats-Subject", "fake".to_string()),
                ("Nats-Sequence", seq.to_string()),
                ("Nats-Time-Stamp", "2026-01-01T00:00:00Z".to_string()),
                ("Nats-Num-Pending", "9".to_string()),
                ("Nats-Last-Sequence", before.to_string()),
            ] {
                h.insert(k, &v).unwrap();
            }
            request.respond_with_headers(&h, "v").expect("respond");
        }
        client.flush().expect("flush");
    })
}

#[test]
fn a_batch_that_stops_or_loses_messages_ends_with_an_error() {
    let (_server, js) = setup();
    let js = js.with_timeout(Duration::from_millis(300));
    // One message, then silence: the message, then a timeout, then the end.
    let responder = fake_direct_responder(&js, &[(1, 0)]);
    let stream = js.get_stream("FAKE").expect("bind");
    let mut batch = stream
        .direct_get_batch(&DirectBatch::new(5))
        .expect("batch");
    assert_eq!(batch.next().map(|m| m.map(|m| m.sequence)), Some(Ok(1)));
    assert!(matches!(batch.next(), Some(Err(Error::Request(e))) if e.is_timeout()));
    assert!(batch.next().is_none());
    assert_eq!(batch.end(), None);
    responder.join().unwrap();
    js.delete_stream("FAKE").expect("delete");

    // Sequence 2 went missing on the way: an error, not a silent gap. Async.
    let responder = fake_direct_responder(&js, &[(1, 0), (3, 2)]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let js = natsy_jetstream::aio::Context::from(js.clone());
        let stream = js.get_stream("FAKE").await.expect("bind");
        let mut batch = stream
            .direct_get_batch(&DirectBatch::new(5))
            .await
            .expect("batch");
        assert_eq!(
            batch.next().await.map(|m| m.map(|m| m.sequence)),
            Some(Ok(1))
        );
        assert!(matches!(
            batch.next().await,
            Some(Err(Error::InvalidResponse(_)))
        ));
        assert!(batch.next().await.is_none());
    });
    responder.join().unwrap();
    // And a silent async batch times out.
    js.delete_stream("FAKE").expect("delete");
    let responder = fake_direct_responder(&js, &[]);
    rt.block_on(async {
        let js = natsy_jetstream::aio::Context::from(js.clone());
        let stream = js.get_stream("FAKE").await.expect("bind");
        let mut batch = stream
            .direct_get_batch(&DirectBatch::new(5))
            .await
            .expect("batch");
        assert!(matches!(batch.next().await, Some(Err(Error::Request(e))) if e.is_timeout()));
        assert!(batch.next().await.is_none());
    });
    responder.join().unwrap();
}

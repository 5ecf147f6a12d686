//! Streams against a real nats-server: the three ways to get a stream (create,
//! create-or-update, bind-only), update, delete, info, purge variants, names and list,
//! message get by sequence and last-by-subject, and direct get.

use std::time::{Duration, SystemTime};

use natsy_jetstream::{
    ApiErrorKind, Context, DiscardPolicy, Error, PublishOptions, PurgeOptions, RetentionPolicy,
    StorageType, StreamConfig,
};
use natsy_test_harness::NatsServer;

fn setup() -> (NatsServer, Context) {
    let server = NatsServer::builder().jetstream().start().expect("server");
    let js = natsy_jetstream::new(natsy::connect(server.url()).expect("connect"));
    (server, js)
}

fn orders(name: &str, subject: &str) -> StreamConfig {
    StreamConfig {
        subjects: vec![subject.to_string()],
        storage: StorageType::Memory,
        ..StreamConfig::new(name)
    }
}

#[test]
fn create_is_idempotent_for_the_same_config_and_typed_for_another() {
    let (_server, js) = setup();
    let config = StreamConfig {
        description: Some("orders".into()),
        max_msgs: 100,
        max_age: Duration::from_secs(3600),
        duplicate_window: Duration::from_secs(30),
        discard: DiscardPolicy::New,
        ..orders("ORDERS", "orders.>")
    };
    let stream = js.create_stream(&config).expect("create");
    assert_eq!(stream.name(), "ORDERS");
    // The same config again: the server's idempotent create succeeds.
    js.create_stream(&config)
        .expect("create again, same config");
    // Another config under the same name: 10058.
    let other = StreamConfig {
        max_msgs: 5,
        ..config.clone()
    };
    let err = js.create_stream(&other).unwrap_err();
    assert_eq!(err.api_kind(), Some(ApiErrorKind::StreamNameExists));
    assert!(matches!(err, Error::Api(ref e) if e.err_code == 10058));
    // Overlapping subjects: 10065.
    let err = js.create_stream(&orders("OTHER", "orders.eu")).unwrap_err();
    assert_eq!(err.api_kind(), Some(ApiErrorKind::SubjectsOverlap));

    let info = stream.info().expect("info");
    assert_eq!(info.config.max_msgs, 100);
    assert_eq!(info.config.max_age, Duration::from_secs(3600));
    assert_eq!(info.config.duplicate_window, Duration::from_secs(30));
    assert_eq!(info.config.discard, DiscardPolicy::New);
    assert_eq!(info.config.description.as_deref(), Some("orders"));
    // A single server is its streams' leader, with no other replicas.
    let cluster = info.cluster.expect("cluster info");
    let server_name = js.client().server_info().unwrap().server_name;
    assert_eq!(cluster.leader, Some(server_name));
    assert!(cluster.replicas.is_empty());
    assert_eq!(info.config.retention, RetentionPolicy::Limits);
    assert_eq!(info.state.messages, 0);
    assert_eq!(info.state.first_time, None);
    assert!(info.created <= SystemTime::now() + Duration::from_secs(60));

    // Invalid names never reach the server.
    assert!(matches!(
        js.create_stream(&StreamConfig::new("a.b")),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn create_or_update_and_update_and_bind_only() {
    let (_server, js) = setup();
    // Bind-only on a missing stream fails at call time and creates nothing.
    let err = js.get_stream("EVENTS").unwrap_err();
    assert_eq!(err.api_kind(), Some(ApiErrorKind::StreamNotFound));
    assert!(matches!(err, Error::Api(ref e) if e.err_code == 10059));
    assert!(js.stream_names().expect("names").is_empty());
    // Updating a missing stream: 10059 too.
    let err = js.update_stream(&orders("EVENTS", "events.>")).unwrap_err();
    assert_eq!(err.api_kind(), Some(ApiErrorKind::StreamNotFound));

    // create_or_update creates...
    js.create_or_update_stream(&orders("EVENTS", "events.>"))
        .expect("create");
    let bound = js.get_stream("EVENTS").expect("bind");
    assert_eq!(bound.info().expect("info").config.max_msgs, -1);
    // ...and updates an existing stream with another config.
    js.create_or_update_stream(&StreamConfig {
        max_msgs: 10,
        ..orders("EVENTS", "events.>")
    })
    .expect("update");
    assert_eq!(bound.info().expect("info").config.max_msgs, 10);

    // Update from the server's own config: unknown fields go back unchanged.
    let mut config = bound.info().expect("info").config;
    let extra_before = config.extra.clone();
    config.subjects.push("audit.>".into());
    config.max_msgs_per_subject = 3;
    js.update_stream(&config).expect("update");
    let after = bound.info().expect("info").config;
    assert_eq!(after.subjects, vec!["events.>", "audit.>"]);
    assert_eq!(after.max_msgs_per_subject, 3);
    assert_eq!(after.max_msgs, 10);
    for (k, v) in &extra_before {
        if k != "metadata" {
            assert_eq!(after.extra.get(k), Some(v), "{k} changed");
        }
    }
    // An update the server refuses (storage type cannot change): typed error.
    let err = js
        .update_stream(&StreamConfig {
            storage: StorageType::File,
            ..after.clone()
        })
        .unwrap_err();
    assert!(matches!(err, Error::Api(_)), "{err:?}");

    bound.delete().expect("delete");
    let err = js.get_stream("EVENTS").unwrap_err();
    assert_eq!(err.api_kind(), Some(ApiErrorKind::StreamNotFound));
    let err = js.delete_stream("EVENTS").unwrap_err();
    assert_eq!(err.api_kind(), Some(ApiErrorKind::StreamNotFound));
}

#[test]
fn purge_all_by_subject_keep_and_up_to_sequence() {
    let (_server, js) = setup();
    let stream = js.create_stream(&orders("P", "p.>")).expect("create");
    let publish = |subject: &str, n: usize| {
        for _ in 0..n {
            js.publish(subject, "x").expect("publish");
        }
    };
    let count = || stream.info().expect("info").state.messages;

    publish("p.a", 5);
    publish("p.b", 5);
    assert_eq!(count(), 10);
    // By subject.
    assert_eq!(
        stream
            .purge_with(&PurgeOptions::new().filter("p.a"))
            .unwrap(),
        5
    );
    assert_eq!(count(), 5);
    // Keep the newest 2.
    assert_eq!(stream.purge_with(&PurgeOptions::new().keep(2)).unwrap(), 3);
    assert_eq!(count(), 2);
    let state = stream.info().expect("info").state;
    assert_eq!((state.first_seq, state.last_seq), (9, 10));
    // Up to (not including) a sequence: sequences 11..=20 stored, purge below 15.
    publish("p.c", 10);
    assert_eq!(
        stream
            .purge_with(&PurgeOptions::new().sequence(15))
            .unwrap(),
        6
    );
    let state = stream.info().expect("info").state;
    assert_eq!((state.messages, state.first_seq), (6, 15));
    // Keep per subject filter.
    publish("p.d", 4);
    assert_eq!(
        stream
            .purge_with(&PurgeOptions::new().filter("p.d").keep(1))
            .unwrap(),
        3
    );
    assert_eq!(count(), 7);
    // Everything.
    assert_eq!(stream.purge().unwrap(), 7);
    let state = stream.info().expect("info").state;
    assert_eq!(state.messages, 0);
    assert_eq!(state.last_seq, 24);
    // seq and keep together is a bad request, refused before sending.
    let err = stream
        .purge_with(&PurgeOptions::new().sequence(3).keep(1))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
}

#[test]
fn names_and_list_with_subject_filter() {
    let (_server, js) = setup();
    for i in 0..7 {
        js.create_stream(&orders(&format!("L{i}"), &format!("l{i}.>")))
            .expect("create");
    }
    let mut names = js.stream_names().expect("names");
    names.sort();
    assert_eq!(names, (0..7).map(|i| format!("L{i}")).collect::<Vec<_>>());
    let infos = js.streams().expect("list");
    assert_eq!(infos.len(), 7);
    assert!(infos
        .iter()
        .all(|i| i.config.storage == StorageType::Memory));
    assert_eq!(
        js.stream_names_by_subject("l3.x").expect("names"),
        vec!["L3"]
    );
    let by_subject = js.streams_by_subject("l5.>").expect("list");
    assert_eq!(by_subject.len(), 1);
    assert_eq!(by_subject[0].config.name, "L5");
    assert!(js
        .stream_names_by_subject("none")
        .expect("names")
        .is_empty());
    assert!(js.streams_by_subject("none").expect("list").is_empty());
}

#[test]
fn get_message_last_by_subject_and_direct_get() {
    let (_server, js) = setup();
    let stream = js
        .create_stream(&StreamConfig {
            allow_direct: true,
            ..orders("G", "g.>")
        })
        .expect("create");
    let mut headers = natsy::HeaderMap::new();
    headers.insert("App", "1").unwrap();
    js.publish_with(
        "g.a",
        "first",
        &PublishOptions::new().headers(headers).msg_id("m1"),
    )
    .expect("publish");
    js.publish("g.b", "second").expect("publish");
    js.publish("g.a", "third").expect("publish");
    js.publish("g.b", Vec::new()).expect("publish");

    let m = stream.get_message(1).expect("get");
    assert_eq!((m.subject.as_str(), m.sequence), ("g.a", 1));
    assert_eq!(&m.payload[..], b"first");
    assert_eq!(m.headers.get("App"), Some("1"));
    assert_eq!(m.headers.get("Nats-Msg-Id"), Some("m1"));
    let age = natsy_jetstream::time::OffsetDateTime::now_utc() - m.time;
    assert!(age < Duration::from_secs(600), "time {:?}", m.time);

    let last = stream.get_last_message("g.a").expect("last");
    assert_eq!((last.sequence, &last.payload[..]), (3, &b"third"[..]));
    let empty = stream.get_last_message("g.b").expect("last");
    assert_eq!(empty.sequence, 4);
    assert!(empty.payload.is_empty() && empty.headers.is_empty());

    let err = stream.get_message(99).unwrap_err();
    assert_eq!(err.api_kind(), Some(ApiErrorKind::NoMessageFound));
    let err = stream.get_last_message("g.none").unwrap_err();
    assert_eq!(err.api_kind(), Some(ApiErrorKind::NoMessageFound));

    // Direct get.
    let d = stream.direct_get(1).expect("direct get");
    assert_eq!((d.subject.as_str(), d.sequence), ("g.a", 1));
    assert_eq!(&d.payload[..], b"first");
    assert_eq!(d.headers.get("App"), Some("1"));
    assert_eq!(d.headers.get("Nats-Stream"), Some("G"));
    assert_eq!(d.time, m.time);
    let d = stream.direct_get_last("g.b").expect("direct last");
    assert_eq!(d.sequence, 4);
    assert!(d.payload.is_empty());
    let err = stream.direct_get(99).unwrap_err();
    assert_eq!(err.api_kind(), Some(ApiErrorKind::NoMessageFound));
    let err = stream.direct_get_last("g.none").unwrap_err();
    assert_eq!(err.api_kind(), Some(ApiErrorKind::NoMessageFound));

    // Without allow_direct nobody answers direct gets.
    let plain = js.create_stream(&orders("H", "h.>")).expect("create");
    js.publish("h.a", "x").expect("publish");
    assert_eq!(plain.direct_get(1).unwrap_err(), Error::NotEnabled);
    assert_eq!(plain.get_message(1).expect("get").subject, "h.a");

    // A deleted stream: gets fail with its typed error.
    plain.delete().expect("delete");
    let err = plain.get_message(1).unwrap_err();
    assert_eq!(err.api_kind(), Some(ApiErrorKind::StreamNotFound));
}

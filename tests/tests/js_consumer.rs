//! Durable pull consumers against a real `nats-server -js`: create / create-or-update /
//! bind, redelivery, nak, term, max_deliver, double ack, in-progress, fetch endings
//! (no_wait 404, expires 408, max_bytes), several filter subjects, and the continuous
//! `messages()` pull with re-pulls and its end when the consumer is deleted.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use natsy_jetstream::{
    ApiErrorKind, ConsumeOptions, ConsumerConfig, Context, Error, FetchOptions, JsMessage,
    PullError, StorageType, StreamConfig,
};
use natsy_test_harness::NatsServer;
use serde_json::Value;

fn start() -> (NatsServer, Context) {
    let server = NatsServer::builder().jetstream().start().expect("server");
    let client = natsy::connect(server.url()).expect("connect");
    (server, natsy_jetstream::new(client))
}

fn create_stream(js: &Context, name: &str, subjects: &[&str]) {
    js.create_stream(&StreamConfig {
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        storage: StorageType::Memory,
        ..StreamConfig::new(name)
    })
    .expect("create stream");
}

/// Publishes and waits for every publish ack.
fn publish(js: &Context, subject: &str, payload: &str) -> u64 {
    let reply = js
        .client()
        .request_timeout(subject, payload.to_string(), Duration::from_secs(5))
        .expect("pub ack");
    let ack: Value = serde_json::from_slice(reply.payload()).expect("pub ack json");
    ack["seq"].as_u64().expect("seq")
}

fn durable(name: &str) -> ConsumerConfig {
    ConsumerConfig {
        durable_name: Some(name.into()),
        ..Default::default()
    }
}

fn fetch_one(consumer: &natsy_jetstream::Consumer, expires: Duration) -> Option<JsMessage> {
    let mut got = consumer
        .fetch(FetchOptions {
            batch: 1,
            expires: Some(expires),
            ..Default::default()
        })
        .expect("fetch");
    assert!(got.len() <= 1);
    got.pop()
}

fn no_wait(consumer: &natsy_jetstream::Consumer) -> Vec<JsMessage> {
    consumer
        .fetch(FetchOptions {
            batch: 10,
            expires: None,
            no_wait: true,
            ..Default::default()
        })
        .expect("no_wait fetch")
}

#[test]
fn create_create_again_conflict_create_or_update_bind_and_delete() {
    let (_server, js) = start();
    create_stream(&js, "S", &["s.>"]);
    let config = ConsumerConfig {
        ack_wait: Some(Duration::from_secs(1)),
        ..durable("C")
    };
    let c = js.create_consumer("S", config.clone()).expect("create");
    assert_eq!(c.name(), "C");
    assert_eq!(
        c.cached_info().config.ack_wait,
        Some(Duration::from_secs(1))
    );
    // Creating the same config again is fine.
    js.create_consumer("S", config.clone())
        .expect("idempotent create");
    // A different config is refused by a plain create.
    let changed = ConsumerConfig {
        ack_wait: Some(Duration::from_secs(2)),
        ..config.clone()
    };
    let err = js.create_consumer("S", changed.clone()).unwrap_err();
    assert_eq!(
        err.api_kind(),
        Some(ApiErrorKind::ConsumerAlreadyExists),
        "{err}"
    );
    // ... and accepted by create-or-update.
    let c = js.create_or_update_consumer("S", changed).expect("update");
    assert_eq!(
        c.info().unwrap().config.ack_wait,
        Some(Duration::from_secs(2))
    );
    // Update of a missing consumer.
    let err = js.update_consumer("S", durable("missing")).unwrap_err();
    assert_eq!(
        err.api_kind(),
        Some(ApiErrorKind::ConsumerDoesNotExist),
        "{err}"
    );
    // Bind only: never creates.
    let err = js.get_consumer("S", "missing").unwrap_err();
    assert_eq!(
        err.api_kind(),
        Some(ApiErrorKind::ConsumerNotFound),
        "{err}"
    );
    let err = js.get_consumer("NOPE", "C").unwrap_err();
    assert_eq!(err.api_kind(), Some(ApiErrorKind::StreamNotFound), "{err}");
    assert_eq!(js.consumer_names("S").unwrap(), vec!["C".to_string()]);
    let bound = js.get_consumer("S", "C").expect("bind");
    assert_eq!(
        bound.cached_info().config.ack_wait,
        Some(Duration::from_secs(2))
    );
    // A single filter subject uses the filter form of the create subject.
    js.create_consumer(
        "S",
        ConsumerConfig {
            filter_subject: Some("s.one".into()),
            ..durable("F")
        },
    )
    .expect("create with filter");
    let mut names = js.consumer_names("S").unwrap();
    names.sort();
    assert_eq!(names, vec!["C".to_string(), "F".to_string()]);
    js.delete_consumer("S", "C").expect("delete");
    let err = js.get_consumer("S", "C").unwrap_err();
    assert_eq!(err.api_kind(), Some(ApiErrorKind::ConsumerNotFound));
    assert!(matches!(
        js.get_consumer("S", "a.b"),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn unacked_message_is_redelivered_after_ack_wait_and_ack_is_final() {
    let (_server, js) = start();
    create_stream(&js, "S", &["s.>"]);
    let c = js
        .create_consumer(
            "S",
            ConsumerConfig {
                ack_wait: Some(Duration::from_millis(500)),
                ..durable("C")
            },
        )
        .unwrap();
    let seq = publish(&js, "s.x", "hello");
    let first = fetch_one(&c, Duration::from_secs(5)).expect("first delivery");
    let meta = first.metadata().unwrap();
    assert_eq!((meta.stream.as_str(), meta.consumer.as_str()), ("S", "C"));
    assert_eq!((meta.delivered, meta.stream_sequence), (1, seq));
    assert_eq!(first.payload(), b"hello");
    // Not acked: comes back after ack_wait.
    let again = fetch_one(&c, Duration::from_secs(5)).expect("redelivery");
    let meta = again.metadata().unwrap();
    assert_eq!((meta.delivered, meta.stream_sequence), (2, seq));
    assert!(c.info().unwrap().num_redelivered >= 1);
    again.ack().unwrap();
    assert!(matches!(
        again.ack(),
        Err(Error::Ack(natsy_jetstream::AckError::AlreadyAcked))
    ));
    assert!(matches!(again.nak(), Err(Error::Ack(_))));
    assert!(matches!(again.in_progress(), Err(Error::Ack(_))));
    // Acked: never again, even after several ack_waits.
    assert!(fetch_one(&c, Duration::from_millis(1500)).is_none());
}

#[test]
fn nak_redelivers_at_once_and_nak_with_delay_not_before_the_delay() {
    let (_server, js) = start();
    create_stream(&js, "S", &["s.>"]);
    let c = js.create_consumer("S", durable("C")).unwrap();
    publish(&js, "s.x", "a");
    let m = fetch_one(&c, Duration::from_secs(5)).unwrap();
    m.nak().unwrap();
    let m = fetch_one(&c, Duration::from_secs(5)).expect("redelivered after nak");
    assert_eq!(m.metadata().unwrap().delivered, 2);
    let delay = Duration::from_secs(2);
    m.nak_with_delay(delay).unwrap();
    let naked_at = Instant::now();
    assert!(no_wait(&c).is_empty(), "redelivered before the delay");
    let m = fetch_one(&c, Duration::from_secs(10)).expect("redelivered after the delay");
    assert!(naked_at.elapsed() >= delay, "{:?}", naked_at.elapsed());
    assert_eq!(m.metadata().unwrap().delivered, 3);
    m.ack().unwrap();
}

#[test]
fn term_is_never_redelivered() {
    let (_server, js) = start();
    create_stream(&js, "S", &["s.>"]);
    let c = js
        .create_consumer(
            "S",
            ConsumerConfig {
                ack_wait: Some(Duration::from_millis(500)),
                ..durable("C")
            },
        )
        .unwrap();
    publish(&js, "s.x", "a");
    publish(&js, "s.y", "b");
    let a = fetch_one(&c, Duration::from_secs(5)).unwrap();
    a.term_with_reason("bad input").unwrap();
    assert!(matches!(a.ack(), Err(Error::Ack(_))));
    let b = fetch_one(&c, Duration::from_secs(5)).unwrap();
    b.term().unwrap();
    // Several ack_waits later, nothing comes back.
    assert!(fetch_one(&c, Duration::from_millis(2000)).is_none());
    let info = c.info().unwrap();
    assert_eq!(info.num_ack_pending, 0);
    assert_eq!(info.num_pending, 0);
}

#[test]
fn max_deliver_stops_redelivery() {
    let (_server, js) = start();
    create_stream(&js, "S", &["s.>"]);
    let c = js
        .create_consumer(
            "S",
            ConsumerConfig {
                ack_wait: Some(Duration::from_millis(400)),
                max_deliver: Some(3),
                ..durable("C")
            },
        )
        .unwrap();
    publish(&js, "s.x", "a");
    let mut counts = Vec::new();
    // Plenty of time for 3 deliveries (3 x 400 ms) and then some.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(m) = fetch_one(&c, Duration::from_millis(1000)) {
            counts.push(m.metadata().unwrap().delivered);
        }
    }
    assert_eq!(counts, vec![1, 2, 3]);
}

#[test]
fn double_ack_is_confirmed_and_in_progress_extends_the_ack_wait() {
    let (_server, js) = start();
    create_stream(&js, "S", &["s.>"]);
    let c = js
        .create_consumer(
            "S",
            ConsumerConfig {
                ack_wait: Some(Duration::from_secs(2)),
                ..durable("C")
            },
        )
        .unwrap();
    publish(&js, "s.x", "a");
    publish(&js, "s.x", "b");
    let a = fetch_one(&c, Duration::from_secs(5)).unwrap();
    a.double_ack().expect("confirmed");
    assert!(a.is_acked());
    assert!(matches!(
        a.double_ack(),
        Err(Error::Ack(natsy_jetstream::AckError::AlreadyAcked))
    ));
    // Confirmed means stored: the server no longer counts it as pending.
    assert_eq!(c.info().unwrap().num_ack_pending, 0);

    let b = fetch_one(&c, Duration::from_secs(5)).unwrap();
    let started = Instant::now();
    // Keep working for twice the ack_wait, saying so every 300 ms.
    while started.elapsed() < Duration::from_secs(4) {
        std::thread::sleep(Duration::from_millis(300));
        b.in_progress().unwrap();
        assert!(no_wait(&c).is_empty(), "redelivered while in progress");
    }
    b.double_ack().unwrap();
    assert_eq!(b.metadata().unwrap().delivered, 1);
    assert!(no_wait(&c).is_empty());
}

#[test]
fn fetch_endings_no_wait_expires_and_max_bytes() {
    let (_server, js) = start();
    create_stream(&js, "S", &["s.>"]);
    let c = js.create_consumer("S", durable("C")).unwrap();
    // Empty consumer, no_wait: the server answers 404 at once.
    let started = Instant::now();
    assert!(no_wait(&c).is_empty());
    assert!(started.elapsed() < Duration::from_secs(5));

    for i in 0..3 {
        publish(&js, "s.x", &format!("{i}"));
    }
    // Ask for 10 with a short expiry: 3 arrive, then the 408 ends the fetch.
    let started = Instant::now();
    let got = c
        .fetch(FetchOptions {
            batch: 10,
            expires: Some(Duration::from_secs(1)),
            ..Default::default()
        })
        .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    let payloads: Vec<&[u8]> = got.iter().map(|m| m.payload()).collect();
    assert_eq!(payloads, vec![b"0", b"1", b"2"]);
    for m in &got {
        m.ack().unwrap();
    }
    // no_wait with messages: what is there, then the end.
    publish(&js, "s.x", "3");
    let got = no_wait(&c);
    assert_eq!(got.len(), 1);
    got[0].ack().unwrap();

    // max_bytes: ten messages of ~100 bytes, a budget of 350 bytes.
    let body = "x".repeat(100);
    for _ in 0..10 {
        publish(&js, "s.x", &body);
    }
    let got = c
        .fetch(FetchOptions {
            batch: 10,
            max_bytes: Some(350),
            expires: Some(Duration::from_secs(2)),
            ..Default::default()
        })
        .unwrap();
    assert!(!got.is_empty() && got.len() <= 3, "{}", got.len());
    let first_budget = got.len();
    for m in &got {
        m.ack().unwrap();
    }
    // A budget smaller than one message is a typed error.
    let err = c
        .fetch(FetchOptions {
            batch: 10,
            max_bytes: Some(10),
            expires: Some(Duration::from_secs(2)),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err, Error::Pull(PullError::MessageSizeExceedsMaxBytes));
    // A heartbeat longer than expires / 2 is refused before anything is sent.
    assert!(matches!(
        c.fetch(FetchOptions {
            batch: 1,
            expires: Some(Duration::from_secs(1)),
            idle_heartbeat: Some(Duration::from_secs(1)),
            ..Default::default()
        }),
        Err(Error::InvalidArgument(_))
    ));
    // A fetch with heartbeats works and ends at expiry.
    let got = c
        .fetch(FetchOptions {
            batch: 100,
            expires: Some(Duration::from_secs(2)),
            idle_heartbeat: Some(Duration::from_millis(500)),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(got.len(), 10 - first_budget);
}

#[test]
fn several_filter_subjects_with_wildcards() {
    let (_server, js) = start();
    create_stream(&js, "S", &["ev.>"]);
    let c = js
        .create_consumer(
            "S",
            ConsumerConfig {
                filter_subjects: vec!["ev.a.*".into(), "ev.b".into()],
                ..durable("C")
            },
        )
        .unwrap();
    assert_eq!(
        c.cached_info().config.filter_subjects,
        vec!["ev.a.*".to_string(), "ev.b".to_string()]
    );
    for s in ["ev.a.1", "ev.c", "ev.b", "ev.a.2.deep", "ev.a.3", "ev.bb"] {
        publish(&js, s, s);
    }
    let got = c
        .fetch(FetchOptions {
            batch: 10,
            expires: Some(Duration::from_secs(1)),
            ..Default::default()
        })
        .unwrap();
    let subjects: Vec<&str> = got.iter().map(|m| m.subject()).collect();
    assert_eq!(subjects, vec!["ev.a.1", "ev.b", "ev.a.3"]);
}

#[test]
fn messages_consumes_2000_with_repulls_then_ends_when_the_consumer_is_deleted() {
    let (_server, js) = start();
    create_stream(&js, "S", &["s.>"]);
    let c = js.create_consumer("S", durable("C")).unwrap();
    const N: usize = 2000;
    for i in 0..N {
        js.client().publish("s.x", format!("{i}")).unwrap();
    }
    js.client().flush().unwrap();
    let mut messages = c
        .messages_with(ConsumeOptions {
            batch: 300,
            expires: Duration::from_secs(2),
            idle_heartbeat: Duration::from_secs(1),
            ..Default::default()
        })
        .unwrap();
    let mut seen = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < N {
        assert!(Instant::now() < deadline, "stalled at {}", seen.len());
        let Some(m) = messages.next_timeout(Duration::from_secs(5)).unwrap() else {
            continue;
        };
        let meta = m.metadata().unwrap();
        if meta.delivered == 1 {
            assert!(seen.insert(meta.stream_sequence), "duplicate {meta:?}");
        }
        m.ack().unwrap();
    }
    assert_eq!(seen.len(), N);
    assert!(messages.pulls() >= (N / 300) as u64, "{}", messages.pulls());
    // Nothing more: an idle stretch yields nothing (and keeps pulling).
    assert!(messages
        .next_timeout(Duration::from_millis(500))
        .unwrap()
        .is_none());
    js.client().flush().unwrap();
    let info = c.info().unwrap();
    assert_eq!(info.num_pending, 0);
    assert_eq!(info.num_ack_pending, 0);
    assert_eq!(info.delivered.stream_seq, N as u64);

    // New messages flow on; then the consumer is deleted mid-iteration.
    for i in 0..50 {
        js.client().publish("s.y", format!("{i}")).unwrap();
    }
    js.client().flush().unwrap();
    for _ in 0..10 {
        let m = loop {
            if let Some(m) = messages.next_timeout(Duration::from_secs(5)).unwrap() {
                break m;
            }
        };
        m.ack().unwrap();
    }
    let other = natsy_jetstream::new(natsy::connect(_server.url()).unwrap());
    other.delete_consumer("S", "C").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let err = loop {
        assert!(Instant::now() < deadline, "no error after delete");
        match messages.next_timeout(Duration::from_secs(1)) {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert_eq!(err, Error::Pull(PullError::ConsumerDeleted));
    assert!(messages.next().is_none());
}

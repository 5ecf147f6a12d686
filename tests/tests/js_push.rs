//! Push consumers against a real `nats-server -js`, blocking and async: durable and
//! ephemeral delivery, a deliver group splitting messages between two members, flow
//! control answered (megabytes through a small window), idle heartbeats (never handed
//! out; missed ones reported while the server is down, the consumer going on after it
//! is back; a deleted consumer ending the subscription), and pause / resume.

use std::collections::HashSet;
use std::thread;
use std::time::Duration;

use futures_util::StreamExt;
use natsy_jetstream::{
    AckPolicy, ConsumerConfig, Context, Error, JsMessage, PushError, PushMessages, StorageType,
    StreamConfig,
};
use natsy_test_harness::NatsServer;

const WAIT: Duration = Duration::from_secs(5);

fn start() -> (NatsServer, Context) {
    let server = NatsServer::builder().jetstream().start().expect("server");
    let client = natsy::connect(server.url()).expect("connect");
    (server, natsy_jetstream::new(client))
}

fn create_stream(js: &Context, name: &str, subject: &str, storage: StorageType) {
    js.create_stream(&StreamConfig {
        subjects: vec![subject.to_string()],
        storage,
        ..StreamConfig::new(name)
    })
    .expect("create stream");
}

fn publish_n(js: &Context, subject: &str, range: std::ops::Range<u32>) {
    for i in range {
        js.publish(subject, i.to_string()).expect("publish");
    }
}

fn push_config(durable: Option<&str>, deliver: &str) -> ConsumerConfig {
    ConsumerConfig {
        durable_name: durable.map(str::to_string),
        deliver_subject: Some(deliver.to_string()),
        ..Default::default()
    }
}

fn payload(msg: &JsMessage) -> String {
    String::from_utf8_lossy(msg.payload()).into_owned()
}

/// The next message, failing the test on an error or after [`WAIT`].
fn next(messages: &mut PushMessages) -> JsMessage {
    match messages.next_timeout(WAIT) {
        Ok(Some(msg)) => msg,
        Ok(None) => panic!("no message within {WAIT:?}"),
        Err(e) => panic!("push error: {e}"),
    }
}

#[test]
fn durable_push_delivers_keeps_its_place_and_hands_out_no_status() {
    let (_server, js) = start();
    create_stream(&js, "P", "p.>", StorageType::Memory);
    publish_n(&js, "p.a", 0..5);
    let config = ConsumerConfig {
        idle_heartbeat: Some(Duration::from_millis(200)),
        ..push_config(Some("D"), "deliver.d")
    };
    let consumer = js.create_consumer("P", config).expect("create");
    let mut messages = consumer.push_messages().expect("subscribe");
    for i in 0..5 {
        let msg = next(&mut messages);
        assert_eq!(payload(&msg), i.to_string());
        assert_eq!(msg.metadata().unwrap().consumer, "D");
        msg.double_ack().expect("ack");
    }
    // Heartbeats arrive every 200 ms while idle: none is handed out, none is missed.
    assert!(messages
        .next_timeout(Duration::from_millis(700))
        .expect("idle")
        .is_none());
    assert_eq!(messages.missed_heartbeats(), 0);
    assert!(consumer.info().expect("info").push_bound);
    drop(messages);

    // A durable keeps its place while nobody listens.
    publish_n(&js, "p.a", 5..7);
    let mut messages = consumer.push_messages().expect("subscribe again");
    assert_eq!(payload(&next(&mut messages)), "5");
    assert_eq!(payload(&next(&mut messages)), "6");
}

#[test]
fn ephemeral_push_consumer_delivers_and_a_pull_consumer_is_refused() {
    let (_server, js) = start();
    create_stream(&js, "E", "e.>", StorageType::Memory);
    publish_n(&js, "e.x", 0..3);
    let consumer = js
        .create_consumer(
            "E",
            ConsumerConfig {
                ack_policy: AckPolicy::None,
                ..push_config(None, "deliver.eph")
            },
        )
        .expect("ephemeral");
    assert!(consumer.cached_info().config.durable_name.is_none());
    let mut messages = consumer.push_messages().expect("subscribe");
    let got: Vec<String> = (0..3).map(|_| payload(&next(&mut messages))).collect();
    assert_eq!(got, ["0", "1", "2"]);

    let pull = js
        .create_consumer(
            "E",
            ConsumerConfig {
                durable_name: Some("pull".into()),
                ..Default::default()
            },
        )
        .expect("pull consumer");
    assert!(matches!(
        pull.push_messages(),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn a_deliver_group_splits_messages_between_its_members() {
    let (server, js) = start();
    create_stream(&js, "G", "g.>", StorageType::Memory);
    let config = ConsumerConfig {
        deliver_group: Some("workers".into()),
        ..push_config(Some("G"), "deliver.g")
    };
    js.create_consumer("G", config).expect("create");
    let other = natsy_jetstream::new(natsy::connect(server.url()).expect("connect"));
    let mut a = js.get_consumer("G", "G").unwrap().push_messages().unwrap();
    let mut b = other
        .get_consumer("G", "G")
        .unwrap()
        .push_messages()
        .unwrap();
    js.client().flush().unwrap();
    other.client().flush().unwrap();
    const N: u32 = 60;
    publish_n(&js, "g.x", 0..N);
    let (mut from_a, mut from_b) = (Vec::new(), Vec::new());
    while from_a.len() + from_b.len() < N as usize {
        let mut progressed = false;
        for (messages, got) in [(&mut a, &mut from_a), (&mut b, &mut from_b)] {
            while let Some(msg) = messages
                .next_timeout(Duration::from_millis(50))
                .expect("no error")
            {
                msg.ack().unwrap();
                got.push(payload(&msg));
                progressed = true;
            }
        }
        if !progressed {
            // Nothing within 50 ms on either: allow a last long wait before failing.
            if let Some(msg) = a.next_timeout(WAIT).expect("no error") {
                from_a.push(payload(&msg));
            } else {
                panic!("stalled at {} of {N}", from_a.len() + from_b.len());
            }
        }
    }
    assert!(
        !from_a.is_empty() && !from_b.is_empty(),
        "both members got some"
    );
    let all: HashSet<String> = from_a.iter().chain(&from_b).cloned().collect();
    assert_eq!(all.len(), N as usize, "each message exactly once");
}

#[test]
fn flow_control_is_answered_so_megabytes_flow_through_a_small_window() {
    let (_server, js) = start();
    create_stream(&js, "F", "f.>", StorageType::Memory);
    // The server asks for flow control once a consumer has ~1 MiB unanswered and stops
    // at ~2 MiB: 4 MiB needs answers. Its heartbeat (which would name the stalled
    // request) comes only after 5 s idle, longer than each wait below: a consumer that
    // did not answer flow control stalls and fails this test.
    const N: usize = 4096;
    let body = vec![b'x'; 1024];
    let client = js.client();
    for _ in 0..N {
        client.publish("f.x", body.clone()).unwrap();
    }
    client.flush().unwrap();
    let consumer = js
        .create_consumer(
            "F",
            ConsumerConfig {
                flow_control: true,
                idle_heartbeat: Some(Duration::from_secs(5)),
                max_ack_pending: Some(256),
                ..push_config(Some("F"), "deliver.f")
            },
        )
        .expect("create");
    let mut messages = consumer.push_messages().expect("subscribe");
    let mut last = 0;
    for _ in 0..N {
        let msg = messages
            .next_timeout(Duration::from_secs(4))
            .expect("no error")
            .unwrap_or_else(|| panic!("stalled after {last} messages"));
        let meta = msg.metadata().unwrap();
        assert_eq!(meta.stream_sequence, last + 1, "in order, none lost");
        last = meta.stream_sequence;
        msg.ack().unwrap();
    }
    assert!(messages.flow_control_replies() > 0);
}

#[test]
fn missed_heartbeats_are_reported_while_the_server_is_down_and_delivery_goes_on() {
    let mut server = NatsServer::builder().jetstream().start().expect("server");
    let client = natsy::ConnectOptions::new()
        .reconnect_wait(Duration::from_millis(100))
        .connect(server.url())
        .expect("connect");
    let js = natsy_jetstream::new(client);
    create_stream(&js, "H", "h.>", StorageType::File);
    let config = ConsumerConfig {
        idle_heartbeat: Some(Duration::from_millis(250)),
        ..push_config(Some("H"), "deliver.h")
    };
    let consumer = js.create_consumer("H", config).expect("create");
    let mut messages = consumer.push_messages().expect("subscribe");
    publish_n(&js, "h.x", 0..1);
    next(&mut messages).double_ack().unwrap();

    server.stop().unwrap();
    match messages.next_timeout(WAIT) {
        Err(Error::Push(PushError::NoHeartbeat)) => {}
        other => panic!("expected a missed heartbeat, got {other:?}"),
    }
    assert!(messages.missed_heartbeats() >= 1);
    server.start_again().unwrap();
    // Reported again while it comes back; the subscription goes on.
    let msg = loop {
        if let Ok(ack) = js.publish("h.x", "after") {
            assert_eq!(ack.sequence, 2);
            break loop {
                match messages.next_timeout(WAIT) {
                    Ok(Some(msg)) => break msg,
                    Err(Error::Push(PushError::NoHeartbeat)) => continue,
                    other => panic!("unexpected {other:?}"),
                }
            };
        }
        match messages.next_timeout(Duration::from_millis(100)) {
            Ok(None) | Err(Error::Push(PushError::NoHeartbeat)) => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(payload(&msg), "after");
}

#[test]
fn a_deleted_consumer_ends_the_subscription_after_its_heartbeats_stop() {
    let (_server, js) = start();
    create_stream(&js, "X", "x.>", StorageType::Memory);
    let config = ConsumerConfig {
        idle_heartbeat: Some(Duration::from_millis(200)),
        ..push_config(Some("X"), "deliver.x")
    };
    let consumer = js.create_consumer("X", config).expect("create");
    let mut messages = consumer.push_messages().expect("subscribe");
    js.delete_consumer("X", "X").unwrap();
    // Polling without waiting still notices the silence once it is due.
    let mut polls = 0;
    let missed = loop {
        match messages.next_timeout(Duration::ZERO) {
            Ok(None) if polls < 250 => thread::sleep(Duration::from_millis(20)),
            other => break other,
        }
        polls += 1;
    };
    assert!(
        matches!(missed, Err(Error::Push(PushError::NoHeartbeat))),
        "{missed:?}"
    );
    let mut seen = vec![PushError::NoHeartbeat];
    for item in messages.by_ref() {
        match item {
            Ok(msg) => panic!("unexpected message {:?}", msg.subject()),
            Err(Error::Push(e)) => seen.push(e),
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(seen, [PushError::NoHeartbeat, PushError::ConsumerDeleted]);
    assert!(matches!(
        messages.next_timeout(Duration::ZERO),
        Err(Error::Push(PushError::ConsumerDeleted))
    ));
}

#[test]
fn a_paused_push_consumer_delivers_nothing_until_resumed() {
    let (_server, js) = start();
    create_stream(&js, "Z", "z.>", StorageType::Memory);
    // With idle heartbeats: the server's delivery loop wakes for each one, so a resumed
    // push consumer delivers at the next; without, only at the next message stored
    // (nats-server 2.15 does not kick a push consumer on resume).
    let consumer = js
        .create_consumer(
            "Z",
            ConsumerConfig {
                idle_heartbeat: Some(Duration::from_millis(200)),
                ..push_config(Some("Z"), "deliver.z")
            },
        )
        .expect("create");
    let until = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let paused = consumer.pause(until).expect("pause");
    assert!(paused.paused);
    assert_eq!(
        paused.pause_until.map(|t| t.unix_timestamp()),
        Some(until.unix_timestamp())
    );
    let info = consumer.info().unwrap();
    assert!(info.paused);
    assert!(info
        .pause_remaining
        .is_some_and(|r| r > Duration::from_secs(3500)));
    assert_eq!(
        info.config.pause_until.map(|t| t.unix_timestamp()),
        Some(until.unix_timestamp())
    );

    let mut messages = consumer.push_messages().expect("subscribe");
    publish_n(&js, "z.x", 0..3);
    assert!(
        messages
            .next_timeout(Duration::from_millis(500))
            .unwrap()
            .is_none(),
        "nothing while paused"
    );
    assert_eq!(
        messages.missed_heartbeats(),
        0,
        "heartbeats go on while paused"
    );
    let resumed = consumer.resume().expect("resume");
    assert!(!resumed.paused);
    assert_eq!(resumed.pause_until, None);
    assert!(!consumer.info().unwrap().paused);
    let got: Vec<String> = (0..3).map(|_| payload(&next(&mut messages))).collect();
    assert_eq!(got, ["0", "1", "2"]);
}

// ---- async ----

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn async_push_delivers_answers_flow_control_and_ends_when_deleted() {
    let server = NatsServer::builder().jetstream().start().expect("server");
    runtime().block_on(async {
        let client = natsy::aio::connect(server.url()).await.expect("connect");
        let js = natsy_jetstream::aio::new(client);
        js.create_stream(&StreamConfig {
            subjects: vec!["a.>".into()],
            storage: StorageType::Memory,
            ..StreamConfig::new("A")
        })
        .await
        .unwrap();
        // 3 MiB: flow control must be answered for all of it to arrive.
        const N: usize = 3072;
        let body = bytes::Bytes::from(vec![b'y'; 1024]);
        for _ in 0..N {
            js.client().publish("a.x", body.clone()).await.unwrap();
        }
        js.client().flush().await.unwrap();
        let consumer = js
            .create_consumer(
                "A",
                ConsumerConfig {
                    flow_control: true,
                    idle_heartbeat: Some(Duration::from_millis(300)),
                    ack_policy: AckPolicy::None,
                    ..push_config(Some("A"), "deliver.a")
                },
            )
            .await
            .unwrap();
        let mut messages = consumer.push_messages().await.unwrap();
        for i in 0..N {
            let msg = tokio::time::timeout(WAIT, messages.next())
                .await
                .unwrap_or_else(|_| panic!("stalled after {i}"))
                .expect("open")
                .expect("no error");
            assert_eq!(msg.metadata().unwrap().stream_sequence, i as u64 + 1);
        }
        assert!(messages.flow_control_replies() > 0);
        // Idle: heartbeats only, never handed out.
        assert!(
            tokio::time::timeout(Duration::from_millis(800), messages.next())
                .await
                .is_err()
        );
        assert_eq!(messages.missed_heartbeats(), 0);

        js.delete_consumer("A", "A").await.unwrap();
        let mut seen = Vec::new();
        while let Some(item) = tokio::time::timeout(WAIT, messages.next()).await.unwrap() {
            match item {
                Err(Error::Push(e)) => seen.push(e),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(seen, [PushError::NoHeartbeat, PushError::ConsumerDeleted]);
        drop(messages);

        // Dropped while waiting on its heartbeat timer: no wait or request left behind.
        let consumer = js
            .create_consumer(
                "A",
                ConsumerConfig {
                    idle_heartbeat: Some(Duration::from_secs(30)),
                    filter_subject: Some("a.nothing".into()),
                    ..push_config(Some("B"), "deliver.b")
                },
            )
            .await
            .unwrap();
        let mut messages = consumer.push_messages().await.unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(200), messages.next())
                .await
                .is_err(),
            "nothing to deliver"
        );
        assert!(js.client().registered_waits() > 0, "its timer waits");
        drop(messages);
        assert_eq!(js.client().registered_waits(), 0, "a wait left");
        assert_eq!(js.client().pending_requests(), 0, "a request left");
    });
}

#[test]
fn async_deliver_group_and_pause() {
    let server = NatsServer::builder().jetstream().start().expect("server");
    runtime().block_on(async {
        let js = natsy_jetstream::aio::new(natsy::aio::connect(server.url()).await.unwrap());
        js.create_stream(&StreamConfig {
            subjects: vec!["q.>".into()],
            storage: StorageType::Memory,
            ..StreamConfig::new("Q")
        })
        .await
        .unwrap();
        let consumer = js
            .create_consumer(
                "Q",
                ConsumerConfig {
                    deliver_group: Some("g".into()),
                    // Wakes the server's delivery loop after the resume (see the
                    // blocking pause test).
                    idle_heartbeat: Some(Duration::from_millis(200)),
                    ..push_config(Some("Q"), "deliver.q")
                },
            )
            .await
            .unwrap();
        let until = time::OffsetDateTime::now_utc() + time::Duration::minutes(10);
        assert!(consumer.pause(until).await.unwrap().paused);
        assert!(consumer.info().await.unwrap().paused);
        let mut a = consumer.push_messages().await.unwrap();
        let mut b = consumer.push_messages().await.unwrap();
        js.client().flush().await.unwrap();
        const N: u32 = 40;
        for i in 0..N {
            js.publish("q.x", i.to_string())
                .await
                .unwrap()
                .await
                .unwrap();
        }
        assert!(
            tokio::time::timeout(Duration::from_millis(400), a.next())
                .await
                .is_err(),
            "nothing while paused"
        );
        assert!(!consumer.resume().await.unwrap().paused);
        let (mut na, mut nb, mut all) = (0, 0, HashSet::new());
        while all.len() < N as usize {
            let msg = tokio::select! {
                Some(m) = a.next() => { na += 1; m }
                Some(m) = b.next() => { nb += 1; m }
                _ = tokio::time::sleep(WAIT) => panic!("stalled at {}", all.len()),
            };
            let msg = msg.expect("no error");
            msg.ack().await.unwrap();
            assert!(all.insert(String::from_utf8_lossy(msg.payload()).into_owned()));
        }
        assert!(na > 0 && nb > 0, "both members got some ({na}, {nb})");
    });
}

#[test]
fn async_push_needs_no_tokio() {
    let server = NatsServer::builder().jetstream().start().expect("server");
    smol::block_on(async {
        let js = natsy_jetstream::aio::new(natsy::aio::connect(server.url()).await.unwrap());
        js.create_stream(&StreamConfig {
            subjects: vec!["s.>".into()],
            storage: StorageType::Memory,
            ..StreamConfig::new("S")
        })
        .await
        .unwrap();
        for i in 0..3 {
            js.publish("s.x", i.to_string())
                .await
                .unwrap()
                .await
                .unwrap();
        }
        let consumer = js
            .create_consumer(
                "S",
                ConsumerConfig {
                    idle_heartbeat: Some(Duration::from_millis(200)),
                    ..push_config(None, "deliver.s")
                },
            )
            .await
            .unwrap();
        let mut messages = consumer.push_messages().await.unwrap();
        for i in 0..3 {
            let msg = messages.next().await.unwrap().unwrap();
            assert_eq!(msg.payload(), i.to_string().as_bytes());
            msg.ack().await.unwrap();
        }
        // The heartbeat timer runs on the connection's loop thread: deleting the
        // consumer is noticed with no runtime timer at all.
        js.delete_consumer("S", consumer.name()).await.unwrap();
        let mut seen = Vec::new();
        while let Some(item) = messages.next().await {
            match item {
                Err(Error::Push(e)) => seen.push(e),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(seen, [PushError::NoHeartbeat, PushError::ConsumerDeleted]);
    });
}

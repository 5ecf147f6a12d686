//! Publishing to streams against a real nats-server: de-duplication, each expectation
//! header's typed failure, "no stream" after the retries, and the windowed asynchronous
//! publisher (every ack accounted for; WindowFull in Error mode).

use std::time::{Duration, Instant};

use natsy_jetstream::{
    ApiErrorKind, AsyncPublishOptions, Context, Error, PublishOptions, StorageType, StreamConfig,
    WhenFull,
};
use natsy_test_harness::NatsServer;

fn setup(name: &str, subject: &str) -> (NatsServer, Context) {
    let server = NatsServer::builder().jetstream().start().expect("server");
    let js = natsy_jetstream::new(natsy::connect(server.url()).expect("connect"));
    js.create_stream(&StreamConfig {
        subjects: vec![subject.to_string()],
        storage: StorageType::Memory,
        ..StreamConfig::new(name)
    })
    .expect("create");
    (server, js)
}

#[test]
fn duplicates_within_the_window_get_the_original_sequence() {
    let (_server, js) = setup("D", "d.>");
    let a = js
        .publish_with("d.x", "one", &PublishOptions::new().msg_id("id-1"))
        .expect("publish");
    assert_eq!(
        (a.stream.as_str(), a.sequence, a.duplicate),
        ("D", 1, false)
    );
    let b = js
        .publish_with("d.x", "two", &PublishOptions::new().msg_id("id-2"))
        .expect("publish");
    assert_eq!((b.sequence, b.duplicate), (2, false));
    let again = js
        .publish_with("d.x", "one again", &PublishOptions::new().msg_id("id-1"))
        .expect("publish");
    assert_eq!((again.sequence, again.duplicate), (1, true));
    assert_eq!(js.stream_info("D").expect("info").state.messages, 2);
    let stored = js.get_stream("D").unwrap().get_message(1).unwrap();
    assert_eq!(
        &stored.payload[..],
        b"one",
        "the duplicate did not overwrite"
    );
}

#[test]
fn each_expectation_fails_with_its_own_kind() {
    let (_server, js) = setup("E", "e.>");
    let ok = js
        .publish_with(
            "e.a",
            "1",
            &PublishOptions::new()
                .expected_stream("E")
                .expected_last_sequence(0)
                .expected_last_subject_sequence(0)
                .msg_id("m1"),
        )
        .expect("all expectations met");
    assert_eq!(ok.sequence, 1);

    let kind = |opts: PublishOptions| js.publish_with("e.a", "x", &opts).unwrap_err();
    let err = kind(PublishOptions::new().expected_stream("OTHER"));
    assert_eq!(err.api_kind(), Some(ApiErrorKind::StreamWrongExpected));
    assert!(matches!(err, Error::Api(ref e) if e.err_code == 10060));

    let err = kind(PublishOptions::new().expected_last_sequence(5));
    assert_eq!(err.api_kind(), Some(ApiErrorKind::WrongLastSequence));
    assert!(matches!(err, Error::Api(ref e) if e.err_code == 10071));

    let err = kind(PublishOptions::new().expected_last_subject_sequence(0));
    assert_eq!(err.api_kind(), Some(ApiErrorKind::WrongLastSequence));
    assert!(matches!(err, Error::Api(ref e) if e.err_code == 10071));

    let err = kind(PublishOptions::new().expected_last_msg_id("m0"));
    assert_eq!(err.api_kind(), Some(ApiErrorKind::WrongLastMsgId));
    assert!(matches!(err, Error::Api(ref e) if e.err_code == 10070));

    // None of the refused messages was stored; the right expectations still pass.
    assert_eq!(js.stream_info("E").expect("info").state.messages, 1);
    let ok = js
        .publish_with(
            "e.a",
            "2",
            &PublishOptions::new()
                .expected_last_sequence(1)
                .expected_last_subject_sequence(1)
                .expected_last_msg_id("m1"),
        )
        .expect("expectations met");
    assert_eq!(ok.sequence, 2);
    // A subject with no message yet: last subject sequence 0 holds.
    let ok = js
        .publish_with(
            "e.b",
            "3",
            &PublishOptions::new().expected_last_subject_sequence(0),
        )
        .expect("first on e.b");
    assert_eq!(ok.sequence, 3);
}

#[test]
fn publish_to_no_stream_retries_then_fails_typed() {
    let (_server, js) = setup("N", "n.>");
    let start = Instant::now();
    let err = js.publish("nowhere", "x").unwrap_err();
    assert_eq!(err, Error::NoStreamResponse);
    // Two retries 250 ms apart happened before giving up.
    assert!(start.elapsed() >= Duration::from_millis(500));
    // The async publisher reports it as the message's outcome.
    let mut p = js.async_publisher(AsyncPublishOptions::default());
    let h = p.publish("nowhere", "x").expect("sent");
    assert_eq!(h.wait(), Err(Error::NoStreamResponse));
    let all = p.wait_all();
    assert_eq!(all, vec![Err(Error::NoStreamResponse)]);
}

#[test]
fn async_publish_ten_thousand_with_a_window_of_100() {
    let (_server, js) = setup("A", "a.>");
    let mut p = js.async_publisher(AsyncPublishOptions {
        window: 100,
        when_full: WhenFull::Block,
    });
    let mut handles = Vec::new();
    for i in 0..10_000u32 {
        let h = p.publish("a.x", i.to_be_bytes().to_vec()).expect("publish");
        assert!(p.in_flight() <= 100);
        if i % 1000 == 0 {
            handles.push((i, h));
        }
    }
    let outcomes = p.wait_all();
    assert_eq!(outcomes.len(), 10_000);
    for (i, outcome) in outcomes.iter().enumerate() {
        let ack = outcome.as_ref().expect("acked");
        assert_eq!(ack.sequence, i as u64 + 1);
        assert_eq!(ack.stream, "A");
    }
    assert_eq!(p.in_flight(), 0);
    // Handles see the same outcome, even after wait_all collected it.
    for (i, h) in handles {
        assert_eq!(h.wait().expect("acked").sequence, u64::from(i) + 1);
    }
    assert!(p.wait_all().is_empty());
    let state = js.stream_info("A").expect("info").state;
    assert_eq!((state.messages, state.last_seq), (10_000, 10_000));
    assert_eq!(js.client().pending_requests(), 0);
}

#[test]
fn window_full_in_error_mode_until_an_ack_frees_a_slot() {
    // A stand-in "stream" that holds the publishes and acks only when the test says so,
    // so the window is full for certain.
    let server = NatsServer::builder().jetstream().start().expect("server");
    let client = natsy::connect(server.url()).expect("connect");
    let js = natsy_jetstream::new(client.clone());
    let mut fake_stream = client.subscribe("held.>").expect("subscribe");
    client.flush().expect("flush");

    let mut p = js.async_publisher(AsyncPublishOptions {
        window: 3,
        when_full: WhenFull::Error,
    });
    let handles: Vec<_> = (0..3)
        .map(|i| p.publish("held.x", format!("{i}")).expect("publish"))
        .collect();
    assert_eq!(p.in_flight(), 3);
    assert_eq!(p.publish("held.x", "4").unwrap_err(), Error::WindowFull);
    assert_eq!(p.publish("held.x", "4").unwrap_err(), Error::WindowFull);
    let held: Vec<_> = (0..3)
        .map(|_| {
            fake_stream
                .next_timeout(Duration::from_secs(5))
                .expect("request")
        })
        .collect();
    assert!(
        fake_stream
            .next_timeout(Duration::from_millis(100))
            .is_err(),
        "WindowFull sent nothing"
    );
    assert!(handles[0].try_get().is_none());

    // Ack the oldest: once the ack is in, a slot is free.
    held[0]
        .respond(r#"{"stream":"HELD","seq":1}"#)
        .expect("respond");
    let deadline = Instant::now() + Duration::from_secs(10);
    let short = PublishOptions::new().timeout(Duration::from_millis(300));
    let fourth = loop {
        match p.publish_with("held.x", "4", &short) {
            Ok(h) => break h,
            Err(Error::WindowFull) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    };
    assert_eq!(handles[0].clone().wait().expect("ack").sequence, 1);
    let fourth_req = fake_stream
        .next_timeout(Duration::from_secs(5))
        .expect("request");

    // The others: an API error object, an ack, and one left to time out.
    held[1]
        .respond(
            r#"{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 1"}}"#,
        )
        .expect("respond");
    held[2]
        .respond(r#"{"stream":"HELD","seq":2,"duplicate":true}"#)
        .expect("respond");
    drop(fourth_req);
    let outcomes = p.wait_all();
    assert_eq!(outcomes.len(), 4, "every publish has an outcome");
    assert_eq!(outcomes[0].as_ref().expect("ack").sequence, 1);
    assert_eq!(
        outcomes[1].as_ref().unwrap_err().api_kind(),
        Some(ApiErrorKind::WrongLastSequence)
    );
    assert!(outcomes[2].as_ref().expect("ack").duplicate);
    assert_eq!(
        outcomes[3],
        Err(Error::Request(natsy::RequestError::TimedOut)),
        "unanswered: timed out after its publish timeout"
    );
    assert_eq!(fourth.wait(), outcomes[3]);
    assert_eq!(p.in_flight(), 0);
    assert_eq!(client.pending_requests(), 0);
}

#[test]
fn a_short_publish_timeout_frees_the_slot() {
    let server = NatsServer::builder().jetstream().start().expect("server");
    let client = natsy::connect(server.url()).expect("connect");
    let js = natsy_jetstream::new(client.clone());
    let _silent = client.subscribe("silent").expect("subscribe");
    client.flush().expect("flush");
    let mut p = js.async_publisher(AsyncPublishOptions {
        window: 1,
        when_full: WhenFull::Block,
    });
    let opts = PublishOptions::new().timeout(Duration::from_millis(200));
    p.publish_with("silent", "1", &opts).expect("publish");
    // Block mode: waits out the first one's timeout, then sends.
    p.publish_with("silent", "2", &opts).expect("publish");
    let outcomes = p.wait_all();
    assert_eq!(
        outcomes,
        vec![
            Err(Error::Request(natsy::RequestError::TimedOut)),
            Err(Error::Request(natsy::RequestError::TimedOut))
        ]
    );
    // The synchronous publish times out the same way.
    assert_eq!(
        js.publish_with("silent", "3", &opts).unwrap_err(),
        Error::Request(natsy::RequestError::TimedOut)
    );
}

//! The bind-only worker end to end: an operator (full rights) creates stream `allocation`
//! and durable pull consumer `processor-ready`; the application, whose user may only read
//! that stream's and consumer's info, pull from the consumer and ack, binds both, fetches
//! with manual acks, and watches the lag fall to zero. Binding what does not exist fails
//! at bind time with typed errors, and the application cannot create anything.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use natsy_jetstream::{
    AckPolicy, ApiErrorKind, ConsumerConfig, Context, Error, FetchOptions, StorageType,
    StreamConfig,
};
use natsy_test_harness::{NatsServer, Permissions, User};

const STREAM: &str = "allocation";
const CONSUMER: &str = "processor-ready";

fn app_permissions() -> Permissions {
    Permissions {
        publish_allow: vec![
            format!("$JS.API.STREAM.INFO.{STREAM}"),
            format!("$JS.API.CONSUMER.INFO.{STREAM}.{CONSUMER}"),
            format!("$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{CONSUMER}"),
            format!("$JS.ACK.{STREAM}.{CONSUMER}.>"),
        ],
        publish_deny: vec![
            "$JS.API.STREAM.CREATE.>".into(),
            "$JS.API.STREAM.UPDATE.>".into(),
            "$JS.API.STREAM.DELETE.>".into(),
            "$JS.API.CONSUMER.CREATE.>".into(),
            "$JS.API.CONSUMER.DURABLE.CREATE.>".into(),
            "$JS.API.CONSUMER.DELETE.>".into(),
        ],
        subscribe_allow: vec!["_INBOX.>".into()],
        ..Default::default()
    }
}

fn stream_messages(js: &Context) -> u64 {
    js.stream_info(STREAM).unwrap().state.messages
}

#[test]
fn bind_only_worker_processes_exactly_the_filtered_messages_and_lag_falls_to_zero() {
    let server = NatsServer::builder()
        .jetstream()
        .with_user(User::password("operator", "op-secret"))
        .with_user(User::password("app", "app-secret").with_permissions(app_permissions()))
        .start()
        .expect("server");
    let url = server.url().replace("nats://", "");
    let operator = natsy_jetstream::new(
        natsy::connect(format!("nats://operator:op-secret@{url}")).expect("operator connects"),
    );
    let app = natsy_jetstream::new(
        natsy::connect(format!("nats://app:app-secret@{url}")).expect("app connects"),
    )
    .with_timeout(Duration::from_secs(2));

    // Nothing exists yet: binding fails at bind time, typed.
    let err = app.get_stream(STREAM).unwrap_err();
    assert_eq!(err.api_kind(), Some(ApiErrorKind::StreamNotFound), "{err}");

    // Operator step: the stream ...
    operator
        .create_stream(&StreamConfig {
            subjects: vec!["events.>".into()],
            storage: StorageType::File,
            ..StreamConfig::new(STREAM)
        })
        .expect("operator creates the stream");
    let stream = app.get_stream(STREAM).expect("app binds the stream");
    let err = stream.get_consumer(CONSUMER).unwrap_err();
    assert_eq!(
        err.api_kind(),
        Some(ApiErrorKind::ConsumerNotFound),
        "{err}"
    );

    // ... and the durable pull consumer.
    operator
        .create_consumer(
            STREAM,
            ConsumerConfig {
                durable_name: Some(CONSUMER.into()),
                filter_subject: Some("events.ready_to_process.*".into()),
                ack_policy: AckPolicy::Explicit,
                ack_wait: Some(Duration::from_secs(30)),
                ..Default::default()
            },
        )
        .expect("operator creates the consumer");

    // Traffic: 500 for the worker, 120 others on the same stream.
    const READY: u64 = 500;
    let c = operator.client();
    for n in 0..READY {
        c.publish(&format!("events.ready_to_process.{n}"), n.to_string())
            .unwrap();
        if n % 5 == 0 {
            c.publish(&format!("events.archived.{n}"), "other").unwrap();
            c.publish(&format!("events.ready_to_process.{n}.late"), "deep")
                .unwrap();
        }
        if n % 25 == 0 {
            c.publish("events.ready_to_process", "bare").unwrap();
        }
    }
    c.flush().unwrap();
    let total = READY + 100 + 100 + 20;
    let deadline = Instant::now() + Duration::from_secs(20);
    while stream_messages(&operator) < total {
        assert!(Instant::now() < deadline, "stream never filled");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The application binds the consumer and sees the lag.
    let consumer = app
        .get_consumer(STREAM, CONSUMER)
        .expect("app binds the consumer");
    // The server updates a consumer's pending count as messages are stored, a little
    // behind the stream itself.
    let deadline = Instant::now() + Duration::from_secs(10);
    let info = loop {
        let info = consumer.info().unwrap();
        if info.num_pending == READY || Instant::now() > deadline {
            break info;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(info.num_pending, READY);
    assert_eq!(info.num_ack_pending, 0);
    assert_eq!(
        info.config.filter_subject.as_deref(),
        Some("events.ready_to_process.*")
    );

    let mut processed = BTreeSet::new();
    let mut lag = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while (processed.len() as u64) < READY {
        assert!(Instant::now() < deadline, "stalled at {}", processed.len());
        let batch = consumer
            .fetch(FetchOptions {
                batch: 64,
                expires: Some(Duration::from_secs(2)),
                ..Default::default()
            })
            .expect("fetch");
        for (i, m) in batch.iter().enumerate() {
            let n: u64 = std::str::from_utf8(m.payload()).unwrap().parse().unwrap();
            assert_eq!(m.subject(), format!("events.ready_to_process.{n}"));
            let meta = m.metadata().unwrap();
            assert_eq!(
                (meta.stream.as_str(), meta.consumer.as_str()),
                (STREAM, CONSUMER)
            );
            assert_eq!(meta.delivered, 1);
            assert!(processed.insert(n), "processed {n} twice");
            // The last of each batch is confirmed, so the lag reading below is exact.
            if i + 1 == batch.len() {
                m.double_ack().unwrap();
            } else {
                m.ack().unwrap();
            }
        }
        let info = consumer.info().unwrap();
        assert_eq!(info.num_ack_pending, 0);
        lag.push(info.num_pending);
    }
    assert_eq!(processed, (0..READY).collect::<BTreeSet<_>>());
    assert!(lag.windows(2).all(|w| w[0] >= w[1]), "lag grew: {lag:?}");
    let info = consumer.info().unwrap();
    assert_eq!((info.num_pending, info.num_ack_pending), (0, 0));
    assert_eq!(info.ack_floor.stream_seq, info.delivered.stream_seq);
    // Nothing left for the worker.
    let rest = consumer
        .fetch(FetchOptions {
            batch: 10,
            expires: None,
            no_wait: true,
            ..Default::default()
        })
        .unwrap();
    assert!(rest.is_empty());

    // The application cannot create consumers: the server refuses the request, which
    // fails at once naming the subject, and indeed nothing was created.
    let started = Instant::now();
    let err = app
        .create_consumer(
            STREAM,
            ConsumerConfig {
                durable_name: Some("sneaky".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "waited for the timeout"
    );
    assert_eq!(
        err.permission_error().map(|e| e.subject()),
        Some(format!("$JS.API.CONSUMER.CREATE.{STREAM}.sneaky").as_str()),
        "{err:?}"
    );
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert_eq!(
        operator.consumer_names(STREAM).unwrap(),
        vec![CONSUMER.to_string()]
    );
}

//! JetStream calls whose API subject the server refuses to let the user publish to fail
//! within a round trip with a typed permission error naming the subject, not after the
//! JetStream timeout: a bind-only worker that may not read consumer info, one that may
//! not pull, and a publish to a subject the user may not publish to.

use std::time::{Duration, Instant};

use natsy::PermissionOperation;
use natsy_jetstream::{ConsumerConfig, Context, Error, FetchOptions, StreamConfig};
use natsy_test_harness::{NatsServer, Permissions, User};

const STREAM: &str = "work";
const CONSUMER: &str = "worker";
/// Far longer than any refusal takes: a call that waits for it has not noticed the -ERR.
const LONG: Duration = Duration::from_secs(30);
/// "At once": well under `LONG`, generous for a loaded machine.
const SOON: Duration = Duration::from_secs(10);

/// `no-info` may use the stream, create (or look up by creating) the consumer and pull,
/// but not read consumer info; `no-pull` may do all that and read info, but not pull.
fn server() -> NatsServer {
    let worker = |deny: &str| Permissions {
        publish_allow: vec![
            format!("$JS.API.STREAM.INFO.{STREAM}"),
            format!("$JS.API.CONSUMER.CREATE.{STREAM}.>"),
            format!("$JS.API.CONSUMER.INFO.{STREAM}.{CONSUMER}"),
            format!("$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{CONSUMER}"),
            format!("$JS.ACK.{STREAM}.{CONSUMER}.>"),
        ],
        publish_deny: vec![deny.to_string()],
        subscribe_allow: vec!["_INBOX.>".into()],
        ..Default::default()
    };
    let server = NatsServer::builder()
        .jetstream()
        .with_user(User::password("operator", "op"))
        .with_user(
            User::password("no-info", "p").with_permissions(worker("$JS.API.CONSUMER.INFO.>")),
        )
        .with_user(
            User::password("no-pull", "p").with_permissions(worker("$JS.API.CONSUMER.MSG.NEXT.>")),
        )
        .start()
        .expect("server");
    let operator = context(&server, "operator", "op");
    operator
        .create_stream(&StreamConfig {
            subjects: vec!["jobs.>".into()],
            ..StreamConfig::new(STREAM)
        })
        .expect("stream");
    operator
        .create_consumer(STREAM, consumer_config())
        .expect("consumer");
    operator.client().publish("jobs.1", "job").unwrap();
    operator.client().flush().unwrap();
    server
}

fn consumer_config() -> ConsumerConfig {
    ConsumerConfig {
        durable_name: Some(CONSUMER.into()),
        ..Default::default()
    }
}

/// A context whose API timeout is `LONG`.
fn context(server: &NatsServer, user: &str, password: &str) -> Context {
    let client = natsy::ConnectOptions::new()
        .user_and_password(user, password)
        .connect(server.url())
        .expect("connect");
    natsy_jetstream::new(client).with_timeout(LONG)
}

/// The subject `err` says the server refused us to publish to, or a panic.
fn refused_publish(err: &Error) -> &str {
    match err {
        Error::PermissionDenied(e) if e.operation() == PermissionOperation::Publish => e.subject(),
        other => panic!("expected PermissionDenied for a publish, got {other:?}"),
    }
}

#[test]
fn consumer_info_refused_by_permissions_fails_at_once() {
    let server = server();
    let app = context(&server, "no-info", "p");
    let stream = app.get_stream(STREAM).expect("stream info is allowed");
    let info_subject = format!("$JS.API.CONSUMER.INFO.{STREAM}.{CONSUMER}");

    let started = Instant::now();
    let err = stream.get_consumer(CONSUMER).unwrap_err();
    assert!(
        started.elapsed() < SOON,
        "took {:?}: {err}",
        started.elapsed()
    );
    assert_eq!(refused_publish(&err), info_subject);
    assert!(err.is_permission_error());
    assert_eq!(
        err.to_string(),
        format!("JetStream call refused: permission denied: may not publish to \"{info_subject}\"")
    );
    let started = Instant::now();
    let err = app.get_consumer(STREAM, CONSUMER).unwrap_err();
    assert_eq!(refused_publish(&err), info_subject);
    assert!(
        started.elapsed() < SOON,
        "took {:?}: {err}",
        started.elapsed()
    );

    // `Consumer::info` on a handle got by creating it (identical config: no change).
    let consumer = app
        .create_consumer(STREAM, consumer_config())
        .expect("creating is allowed");
    let started = Instant::now();
    let err = consumer.info().unwrap_err();
    assert_eq!(refused_publish(&err), info_subject);
    assert!(
        started.elapsed() < SOON,
        "took {:?}: {err}",
        started.elapsed()
    );
    // A JetStream publish to a subject outside the user's permissions: the same.
    let started = Instant::now();
    let err = app.publish("jobs.2", "x").unwrap_err();
    assert_eq!(refused_publish(&err), "jobs.2");
    let mut publisher = app.async_publisher(Default::default());
    let err = publisher
        .publish("jobs.3", "x")
        .unwrap()
        .wait()
        .unwrap_err();
    assert_eq!(refused_publish(&err), "jobs.3");
    assert!(
        started.elapsed() < SOON,
        "took {:?}: {err}",
        started.elapsed()
    );
    // The rest of the context is fine.
    assert_eq!(stream.info().expect("stream info").state.messages, 1);
}

#[test]
fn fetch_refused_by_permissions_fails_at_once() {
    let server = server();
    let app = context(&server, "no-pull", "p");
    let consumer = app
        .get_consumer(STREAM, CONSUMER)
        .expect("consumer info is allowed");
    let next_subject = format!("$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{CONSUMER}");

    let started = Instant::now();
    let err = consumer
        .fetch(FetchOptions {
            batch: 1,
            expires: Some(LONG),
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        started.elapsed() < SOON,
        "took {:?}: {err}",
        started.elapsed()
    );
    assert_eq!(refused_publish(&err), next_subject);

    // The continuous pull ends with the same error, and keeps returning it.
    let started = Instant::now();
    let mut messages = consumer.messages().expect("messages");
    let err = messages.next_timeout(LONG).unwrap_err();
    assert!(
        started.elapsed() < SOON,
        "took {:?}: {err}",
        started.elapsed()
    );
    assert_eq!(refused_publish(&err), next_subject);
    assert_eq!(messages.next_timeout(LONG).unwrap_err(), err);
    assert!(messages.next().is_none());
    // The consumer still has its message: nothing was pulled.
    assert_eq!(consumer.info().expect("info").num_pending, 1);
}

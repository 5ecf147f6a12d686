//! Permission refusals fail the call they belong to, against a real nats-server: a
//! request whose subject the server refuses to let us publish to, and one whose reply
//! inbox the server refuses to let us subscribe to, fail within a round trip with a typed
//! error naming the subject, not after the request timeout; a refused subscription ends
//! with a typed error naming its subject; a subscription waiting on the answers to a
//! refused publish ends at once.

use std::error::Error as _;
use std::time::{Duration, Instant};

use natsy::{ConnectOptions, NextError, PermissionOperation, RequestError, SubscriptionEnded};
use natsy_proto::ServerErrorKind;
use natsy_test_harness::{NatsServer, Permissions, User};

/// Far longer than any refusal takes: a call that waits for it has not noticed the -ERR.
const LONG: Duration = Duration::from_secs(30);
/// "At once": well under `LONG`, generous for a loaded machine.
const SOON: Duration = Duration::from_secs(10);

/// User `u` may not publish to `secret.>` nor subscribe to `private.>`; user `r` may
/// subscribe only to `public.>` (so not to an inbox); user `admin` may do anything.
fn restricted_server() -> NatsServer {
    NatsServer::builder()
        .with_user(User::password("admin", "a"))
        .with_user(User::password("u", "p").with_permissions(Permissions {
            publish_deny: vec!["secret.>".into()],
            subscribe_deny: vec!["private.>".into()],
            ..Permissions::default()
        }))
        .with_user(User::password("r", "p").with_permissions(Permissions {
            subscribe_allow: vec!["public.>".into()],
            ..Permissions::default()
        }))
        .start()
        .unwrap()
}

fn connect(server: &NatsServer, user: &str, password: &str) -> natsy::Client {
    ConnectOptions::new()
        .user_and_password(user, password)
        .request_timeout(LONG)
        .connect(server.url())
        .unwrap()
}

/// Answers every request on `subject` from the admin connection.
fn responder(server: &NatsServer, subject: &str) -> natsy::Client {
    let admin = connect(server, "admin", "a");
    let sub = admin.subscribe(subject).unwrap();
    admin.flush().unwrap();
    std::thread::spawn(move || {
        for m in sub {
            let _ = m.respond("answer");
        }
    });
    admin
}

/// The permission error inside `err`, or a panic naming what it was.
fn refused(err: RequestError) -> natsy::PermissionError {
    match err {
        RequestError::PermissionDenied(e) => e,
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
}

#[test]
fn request_to_a_refused_subject_fails_at_once_naming_it() {
    let server = restricted_server();
    // Someone would answer, but the server never lets the request through.
    let _admin = responder(&server, "secret.svc");
    let _other = responder(&server, "open.svc");
    let client = connect(&server, "u", "p");

    let started = Instant::now();
    let err = client.request("secret.svc", "x").unwrap_err();
    assert!(started.elapsed() < SOON, "took {:?}", started.elapsed());
    assert_eq!(
        err.permission_error().map(|e| e.subject()),
        Some("secret.svc")
    );
    let e = refused(err.clone());
    assert_eq!(e.operation(), PermissionOperation::Publish);
    assert_eq!(
        e.server_error().kind,
        ServerErrorKind::PublishPermission {
            subject: "secret.svc".into()
        }
    );
    assert_eq!(
        err.to_string(),
        r#"request refused: permission denied: may not publish to "secret.svc""#
    );
    // The chain goes down to the server's own words.
    let source = err.source().and_then(|s| s.source()).unwrap();
    assert!(
        source.to_string().contains("Permissions Violation"),
        "{source}"
    );

    // Several in flight on the refused subject all fail; one elsewhere is unaffected.
    let started = Instant::now();
    let handles: Vec<_> = (0..5)
        .map(|_| client.send_request("secret.svc", None, "x").unwrap())
        .collect();
    let fine = client.send_request("open.svc", None, "x").unwrap();
    for h in handles {
        let e = refused(h.wait_timeout(LONG).unwrap_err());
        assert_eq!(e.subject(), "secret.svc");
    }
    assert_eq!(fine.wait_timeout(LONG).unwrap().payload(), b"answer");
    assert!(started.elapsed() < SOON, "took {:?}", started.elapsed());
    assert_eq!(client.pending_requests(), 0);
    assert_eq!(client.connection_state(), natsy::State::Connected);
}

#[test]
fn request_whose_reply_inbox_is_refused_fails_at_once_and_so_do_later_ones() {
    let server = restricted_server();
    let _admin = responder(&server, "svc");
    let client = connect(&server, "r", "p");

    let started = Instant::now();
    let waiting = client.send_request("svc", None, "x").unwrap();
    let err = client.request("svc", "x").unwrap_err();
    assert!(started.elapsed() < SOON, "took {:?}", started.elapsed());
    let e = refused(err);
    assert_eq!(e.operation(), PermissionOperation::Subscribe);
    assert!(
        e.subject().starts_with("_INBOX.") && e.subject().ends_with(".*"),
        "{}",
        e.subject()
    );
    // The one already waiting failed with it.
    assert_eq!(refused(waiting.wait_timeout(LONG).unwrap_err()), e);
    // A later request is not even sent: its reply could not reach us.
    let started = Instant::now();
    assert_eq!(refused(client.request("svc", "x").unwrap_err()), e);
    assert!(started.elapsed() < SOON, "took {:?}", started.elapsed());
    assert_eq!(client.pending_requests(), 0);
    // The connection is fine otherwise.
    let mut sub = client.subscribe("public.news").unwrap();
    client.publish("public.news", "hi").unwrap();
    assert_eq!(sub.next_timeout(LONG).unwrap().payload(), b"hi");
}

#[test]
fn refused_subscription_ends_with_a_typed_error_naming_its_subject() {
    let server = restricted_server();
    let client = connect(&server, "u", "p");
    let mut denied = client.queue_subscribe("private.x", "workers").unwrap();
    let started = Instant::now();
    let err = denied.next_timeout(LONG).unwrap_err();
    assert!(started.elapsed() < SOON, "took {:?}", started.elapsed());
    let NextError::Ended(SubscriptionEnded::PermissionDenied(e)) = &err else {
        panic!("expected PermissionDenied, got {err:?}");
    };
    assert_eq!(e.operation(), PermissionOperation::Subscribe);
    assert_eq!(e.subject(), "private.x");
    assert_eq!(e.queue(), Some("workers"));
    assert_eq!(
        err.to_string(),
        r#"subscription ended: permission denied: may not subscribe to "private.x" in queue group "workers""#
    );
    assert!(err.source().is_some());
    assert!(denied.next().is_none());
}

#[test]
fn subscription_waiting_on_a_refused_publish_ends_at_once() {
    let server = restricted_server();
    let client = connect(&server, "u", "p");
    let inbox = client.new_inbox();
    let mut answers = client.subscribe(&inbox).unwrap();
    answers.end_on_refused_publish("secret.census");
    let mut other = client.subscribe(&client.new_inbox()).unwrap();
    other.end_on_refused_publish("open.census");

    let started = Instant::now();
    client
        .publish_with_reply("secret.census", &inbox, "who is there?")
        .unwrap();
    let err = answers.next_timeout(LONG).unwrap_err();
    assert!(started.elapsed() < SOON, "took {:?}", started.elapsed());
    let NextError::Ended(SubscriptionEnded::PermissionDenied(e)) = err else {
        panic!("expected PermissionDenied, got {err:?}");
    };
    assert_eq!(e.operation(), PermissionOperation::Publish);
    assert_eq!(e.subject(), "secret.census");
    // A subscription watching another subject is untouched.
    client.flush().unwrap();
    assert!(matches!(other.try_next(), Ok(None)));
}

//! `natsy_jetstream::aio` against a real `nats-server -js`: account info; stream and
//! consumer management; publish with ack futures and the bounded window; fetch with every
//! ack kind (redelivery after nak, none after term, in_progress holding it); the
//! `messages()` stream and its end when the consumer is deleted; cancellation of every
//! future at many points, leaving no request, wait or subscription behind; and the same
//! on smol, to show nothing needs tokio.

use std::future::Future;
use std::pin::pin;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use natsy_jetstream::aio::{self, Context};
use natsy_jetstream::{
    ApiErrorKind, AsyncPublishOptions, ConsumeOptions, ConsumerConfig, Error, FetchOptions,
    PublishOptions, PullError, StorageType, StreamConfig, WhenFull,
};
use natsy_test_harness::NatsServer;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn server() -> NatsServer {
    NatsServer::builder()
        .jetstream()
        .monitoring()
        .start()
        .expect("server")
}

async fn connect(server: &NatsServer) -> Context {
    let client = natsy::ConnectOptions::new()
        .name("js-async")
        .connect_async(server.url())
        .await
        .expect("connect");
    aio::new(client)
}

async fn stream(js: &Context, name: &str, subjects: &[&str]) -> aio::Stream {
    js.create_stream(&StreamConfig {
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        storage: StorageType::Memory,
        ..StreamConfig::new(name)
    })
    .await
    .expect("create stream")
}

fn durable(name: &str) -> ConsumerConfig {
    ConsumerConfig {
        durable_name: Some(name.into()),
        ..Default::default()
    }
}

fn fetch(batch: usize, expires_ms: u64) -> FetchOptions {
    FetchOptions {
        batch,
        expires: Some(Duration::from_millis(expires_ms)),
        ..Default::default()
    }
}

/// The subscriptions the server holds for our connection.
fn server_subs(server: &NatsServer) -> usize {
    let connz = server.monitor_json("/connz?subs=1").unwrap();
    connz["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "js-async")
        .map(|c| c["subscriptions"].as_u64().unwrap_or(0) as usize)
        .sum()
}

/// Nothing left behind on the client, and (after a flush) on the server.
async fn assert_clean(js: &Context, server: &NatsServer, subs_before: usize, what: &str) {
    let client = js.client();
    assert_eq!(client.pending_requests(), 0, "{what}: a request slot left");
    assert_eq!(client.registered_waits(), 0, "{what}: a wait left");
    client.flush().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while server_subs(server) != subs_before {
        assert!(
            Instant::now() < deadline,
            "{what}: a subscription left on the server"
        );
        client.sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn account_streams_and_consumers() {
    let server = server();
    runtime().block_on(async {
        let js = connect(&server).await;
        let before = js.account_info().await.unwrap();
        assert_eq!(before.streams, 0);

        // Streams: create, idempotent create, conflicting create, update, get, list, delete.
        let config = StreamConfig {
            subjects: vec!["orders.>".into()],
            storage: StorageType::Memory,
            allow_direct: true,
            ..StreamConfig::new("ORDERS")
        };
        let s = js.create_stream(&config).await.unwrap();
        assert_eq!(s.name(), "ORDERS");
        js.create_stream(&config).await.expect("same config: fine");
        let other = StreamConfig {
            max_msgs: 10,
            ..config.clone()
        };
        assert_eq!(
            js.create_stream(&other).await.unwrap_err().api_kind(),
            Some(ApiErrorKind::StreamNameExists)
        );
        js.create_or_update_stream(&other).await.unwrap();
        assert_eq!(s.info().await.unwrap().config.max_msgs, 10);
        js.update_stream(&config).await.unwrap();
        assert_eq!(
            js.get_stream("NOPE").await.unwrap_err().api_kind(),
            Some(ApiErrorKind::StreamNotFound)
        );
        assert!(matches!(
            js.get_stream("a.b").await.unwrap_err(),
            Error::InvalidArgument(_)
        ));
        let s = js.get_stream("ORDERS").await.unwrap();
        assert_eq!(js.stream_names().await.unwrap(), vec!["ORDERS"]);
        assert_eq!(
            js.stream_names_by_subject("orders.eu").await.unwrap(),
            vec!["ORDERS"]
        );
        assert_eq!(js.streams().await.unwrap().len(), 1);
        assert_eq!(js.account_info().await.unwrap().streams, 1);

        // Consumers: create, conflicting create, update, get, names, delete.
        let c = s.create_consumer(durable("worker")).await.unwrap();
        assert_eq!((c.name(), c.stream_name()), ("worker", "ORDERS"));
        let changed = ConsumerConfig {
            description: Some("changed".into()),
            ..durable("worker")
        };
        assert_eq!(
            s.create_consumer(changed.clone())
                .await
                .unwrap_err()
                .api_kind(),
            Some(ApiErrorKind::ConsumerAlreadyExists)
        );
        s.update_consumer(changed).await.unwrap();
        let c = s.get_consumer("worker").await.unwrap();
        assert_eq!(
            c.cached_info().config.description.as_deref(),
            Some("changed")
        );
        assert_eq!(c.info().await.unwrap().num_pending, 0);
        js.create_or_update_consumer("ORDERS", durable("other"))
            .await
            .unwrap();
        let mut names = s.consumer_names().await.unwrap();
        names.sort();
        assert_eq!(names, vec!["other", "worker"]);
        s.delete_consumer("other").await.unwrap();
        assert_eq!(
            js.get_consumer("ORDERS", "other")
                .await
                .unwrap_err()
                .api_kind(),
            Some(ApiErrorKind::ConsumerNotFound)
        );

        // Purge and delete.
        js.publish("orders.eu", "1").await.unwrap().await.unwrap();
        js.publish("orders.us", "2").await.unwrap().await.unwrap();
        let first = s.get_message(1).await.unwrap();
        assert_eq!(
            (first.subject.as_str(), &first.payload[..]),
            ("orders.eu", &b"1"[..])
        );
        let last = s.get_last_message("orders.us").await.unwrap();
        assert_eq!(last.sequence, 2);
        assert_eq!(
            s.get_message(99).await.unwrap_err().api_kind(),
            Some(ApiErrorKind::NoMessageFound)
        );
        assert_eq!(s.direct_get(1).await.unwrap().subject, "orders.eu");
        assert_eq!(s.direct_get_last("orders.us").await.unwrap().sequence, 2);
        assert_eq!(
            s.purge_with(&natsy_jetstream::PurgeOptions::new().filter("orders.eu"))
                .await
                .unwrap(),
            1
        );
        assert_eq!(s.purge().await.unwrap(), 1);
        s.delete().await.unwrap();
        assert!(js.stream_names().await.unwrap().is_empty());
        assert_eq!(js.client().registered_waits(), 0);
        assert_eq!(js.client().pending_requests(), 0);
    });
}

#[test]
fn publish_ack_futures_and_the_window() {
    let server = server();
    multi_thread().block_on(async {
        let js = connect(&server).await;
        stream(&js, "P", &["p.>"]).await;

        let ack = js.publish("p.a", "1").await.unwrap().await.unwrap();
        assert_eq!((ack.stream.as_str(), ack.sequence), ("P", 1));
        // Many ack futures in flight from one task.
        let mut pending = Vec::new();
        for i in 0..50 {
            pending.push(js.publish("p.a", format!("{i}")).await.unwrap());
        }
        let mut last = 1;
        for f in pending {
            let ack = f.await.unwrap();
            assert_eq!(ack.sequence, last + 1);
            last = ack.sequence;
        }
        // Options: de-duplication and expectations, typed errors.
        let opts = PublishOptions::new().msg_id("m-1");
        let first = js
            .publish_with("p.a", "x", &opts)
            .await
            .unwrap()
            .await
            .unwrap();
        let again = js
            .publish_with("p.a", "x", &opts)
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(again.duplicate);
        assert_eq!(again.sequence, first.sequence);
        let wrong = PublishOptions::new().expected_last_sequence(1);
        let err = js
            .publish_with("p.a", "y", &wrong)
            .await
            .unwrap()
            .await
            .unwrap_err();
        assert_eq!(err.api_kind(), Some(ApiErrorKind::WrongLastSequence));
        let err = js
            .publish("nostream.x", "z")
            .await
            .unwrap()
            .await
            .unwrap_err();
        assert_eq!(err, Error::NoStreamResponse);

        // The window, blocking mode: 500 publishes through a window of 16.
        let mut publisher = js.async_publisher(AsyncPublishOptions {
            window: 16,
            when_full: WhenFull::Block,
        });
        let mut held = Vec::new();
        for i in 0..500 {
            let f = publisher.publish("p.w", format!("{i}")).await.unwrap();
            assert!(publisher.in_flight() <= 16);
            if i % 100 == 0 {
                held.push(f); // some futures are kept and awaited later, the rest dropped
            }
        }
        for f in held {
            assert_eq!(f.await.unwrap().stream, "P");
        }
        let outcomes = publisher.wait_all().await;
        assert_eq!(outcomes.len(), 500);
        let seqs: Vec<u64> = outcomes.into_iter().map(|o| o.unwrap().sequence).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "in publish order"
        );
        assert_eq!(publisher.in_flight(), 0);

        // Error mode, with acks that never come: a subscriber that does not answer.
        let quiet = js.client().subscribe("silent.x").await.unwrap();
        js.client().flush().await.unwrap();
        let mut publisher = js
            .clone()
            .with_timeout(Duration::from_millis(300))
            .async_publisher(AsyncPublishOptions {
                window: 2,
                when_full: WhenFull::Error,
            });
        let a = publisher.publish("silent.x", "1").await.unwrap();
        let _b = publisher.publish("silent.x", "2").await.unwrap();
        assert_eq!(
            publisher.publish("silent.x", "3").await.unwrap_err(),
            Error::WindowFull
        );
        assert_eq!(
            a.await.unwrap_err(),
            Error::Request(natsy::RequestError::TimedOut)
        );
        // One slot came free when `a` timed out.
        let _c = publisher.publish("silent.x", "3").await.unwrap();
        let outcomes = publisher.wait_all().await;
        assert_eq!(outcomes.len(), 3);
        assert!(outcomes.iter().all(|o| o.is_err()));
        drop(quiet);
        assert_eq!(js.client().pending_requests(), 0);
        assert_eq!(js.client().registered_waits(), 0);
    });
}

#[test]
fn fetch_and_every_ack_kind() {
    let server = server();
    runtime().block_on(async {
        let js = connect(&server).await;
        let s = stream(&js, "A", &["a.>"]).await;
        let c = s
            .create_consumer(ConsumerConfig {
                ack_wait: Some(Duration::from_secs(2)),
                ..durable("acks")
            })
            .await
            .unwrap();
        for i in 1..=5 {
            js.publish("a.x", format!("{i}"))
                .await
                .unwrap()
                .await
                .unwrap();
        }
        let batch = c.fetch(fetch(5, 2000)).await.unwrap();
        assert_eq!(batch.len(), 5);
        let seq = |m: &aio::JsMessage| m.metadata().unwrap().stream_sequence;
        assert_eq!(
            batch.iter().map(seq).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );
        batch[0].ack().await.unwrap();
        batch[1].double_ack().await.unwrap();
        batch[2].nak().await.unwrap();
        batch[3].term_with_reason("bad input").await.unwrap();
        batch[4].in_progress().await.unwrap();
        assert_eq!(
            batch[0].ack().await.unwrap_err(),
            Error::Ack(natsy_jetstream::AckError::AlreadyAcked)
        );
        assert!(batch[1].is_acked());

        // The nak comes back at once, delivered twice; the term never.
        let again = c.fetch(fetch(5, 500)).await.unwrap();
        assert_eq!(again.len(), 1);
        let meta = again[0].metadata().unwrap();
        assert_eq!((meta.stream_sequence, meta.delivered), (3, 2));
        again[0].ack().await.unwrap();

        // in_progress holds message 5 past its ack wait (2 s; a progress every 0.5 s
        // leaves room for a loaded machine).
        for _ in 0..5 {
            js.client().sleep(Duration::from_millis(500)).await;
            batch[4].in_progress().await.unwrap();
        }
        assert!(c.fetch(fetch(5, 300)).await.unwrap().is_empty());
        batch[4].ack().await.unwrap();

        // nak_with_delay: not before the delay, then again.
        js.publish("a.x", "6").await.unwrap().await.unwrap();
        let six = c.fetch(fetch(1, 1000)).await.unwrap();
        six[0]
            .nak_with_delay(Duration::from_millis(1200))
            .await
            .unwrap();
        assert!(c.fetch(fetch(1, 300)).await.unwrap().is_empty());
        let back = c.fetch(fetch(1, 3000)).await.unwrap();
        assert_eq!(back[0].metadata().unwrap().stream_sequence, 6);
        back[0].term().await.unwrap();

        // no_wait: 404 at once, an empty batch.
        let started = Instant::now();
        let none = c
            .fetch(FetchOptions {
                batch: 3,
                no_wait: true,
                expires: None,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(none.is_empty());
        assert!(started.elapsed() < Duration::from_secs(1));
        // Shared validation: nothing sent.
        assert!(matches!(
            c.fetch(FetchOptions {
                batch: 0,
                ..Default::default()
            })
            .await,
            Err(Error::InvalidArgument(_))
        ));

        let info = c.info().await.unwrap();
        assert_eq!((info.num_pending, info.num_ack_pending), (0, 0));
        assert_eq!(js.client().pending_requests(), 0);
        assert_eq!(js.client().registered_waits(), 0);
    });
}

#[test]
fn messages_stream_and_its_end() {
    let server = server();
    multi_thread().block_on(async {
        let js = connect(&server).await;
        let s = stream(&js, "M", &["m.>"]).await;
        let c = s.create_consumer(durable("flow")).await.unwrap();
        let mut messages = c
            .messages_with(ConsumeOptions {
                batch: 10,
                expires: Duration::from_secs(2),
                idle_heartbeat: Duration::from_millis(500),
                ..Default::default()
            })
            .await
            .unwrap();
        // Published while the stream waits: a spawned publisher on another task.
        let publisher = js.clone();
        tokio::spawn(async move {
            for i in 0..100 {
                publisher
                    .publish("m.x", format!("{i}"))
                    .await
                    .unwrap()
                    .await
                    .unwrap();
            }
        });
        for expected in 1..=100u64 {
            let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
                .await
                .expect("a message in time")
                .expect("the stream goes on")
                .expect("no error");
            assert_eq!(m.metadata().unwrap().stream_sequence, expected);
            m.ack().await.unwrap();
        }
        assert!(messages.pulls() >= 10, "re-pulled at half the batch");
        // Idle through heartbeats: nothing, no error, no missed heartbeat.
        assert!(
            tokio::time::timeout(Duration::from_millis(1500), messages.next())
                .await
                .is_err()
        );
        assert_eq!(messages.missed_heartbeats(), 0);

        // Deleting the consumer ends the stream with a terminal error, once.
        s.delete_consumer("flow").await.unwrap();
        let end = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("the end in time")
            .expect("an error item");
        assert_eq!(end.unwrap_err(), Error::Pull(PullError::ConsumerDeleted));
        assert!(messages.next().await.is_none());
        drop(messages);
        assert_eq!(js.client().registered_waits(), 0);
    });
}

/// Polls `fut` `polls` times with a no-op waker, then drops it: a cancellation after
/// exactly that many steps, whatever it was waiting for.
fn poll_then_drop<F: Future>(fut: F, polls: usize) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut cx = TaskContext::from_waker(futures_util::task::noop_waker_ref());
    for _ in 0..polls {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

#[test]
fn dropped_futures_leave_nothing_behind() {
    let server = server();
    runtime().block_on(async {
        let js = connect(&server).await;
        let s = stream(&js, "X", &["x.>"]).await;
        let c = s.create_consumer(durable("cancel")).await.unwrap();
        js.client().flush().await.unwrap();
        let subs = server_subs(&server);

        for polls in 0..12 {
            // A fetch waiting for messages that do not come.
            poll_then_drop(c.fetch(fetch(5, 5000)), polls);
            assert_clean(&js, &server, subs, &format!("fetch after {polls} polls")).await;

            // An API call in flight.
            poll_then_drop(js.account_info(), polls);
            assert_clean(&js, &server, subs, &format!("account_info after {polls}")).await;

            // A continuous pull: created, polled a few times, dropped.
            if let Some(Ok(mut messages)) = poll_then_drop(c.messages(), 10) {
                poll_then_drop(messages.next(), polls);
                drop(messages);
            }
            assert_clean(&js, &server, subs, &format!("messages after {polls}")).await;

            // A publish and its ack future, dropped before and while awaiting the ack.
            if let Some(Ok(ack)) = poll_then_drop(js.publish("x.p", "p"), polls + 1) {
                poll_then_drop(ack, polls);
            }
            assert_clean(&js, &server, subs, &format!("publish after {polls}")).await;
        }
        // With a real executor too: timeouts that cut each future at different times.
        for ms in [0u64, 1, 2, 5, 10, 30] {
            let cut = Duration::from_millis(ms);
            let _ = tokio::time::timeout(cut, c.fetch(fetch(5, 5000))).await;
            let _ = tokio::time::timeout(cut, async {
                let mut m = c.messages().await?;
                m.next().await.transpose()
            })
            .await;
            let _ = tokio::time::timeout(cut, async { js.publish("x.p", "t").await?.await }).await;
            assert_clean(&js, &server, subs, &format!("timeout {ms} ms")).await;
        }
        // The window: a publish cut while it awaits room sends nothing; a cut wait_all
        // takes nothing, and the next call returns every outcome.
        let quiet = js.client().subscribe("silent.y").await.unwrap();
        js.client().flush().await.unwrap();
        let slow = js.clone().with_timeout(Duration::from_millis(400));
        let mut publisher = slow.async_publisher(AsyncPublishOptions {
            window: 1,
            when_full: WhenFull::Block,
        });
        drop(publisher.publish("silent.y", "1").await.unwrap());
        for polls in 0..5 {
            assert!(poll_then_drop(publisher.publish("silent.y", "2"), polls).is_none());
            assert_eq!(
                publisher.in_flight(),
                1,
                "nothing sent while waiting for room"
            );
            assert_eq!(js.client().pending_requests(), 1);
        }
        assert!(poll_then_drop(publisher.wait_all(), 3).is_none());
        let outcomes = publisher.wait_all().await;
        assert_eq!(
            outcomes,
            vec![Err(Error::Request(natsy::RequestError::TimedOut))]
        );
        drop(publisher);
        drop(quiet);
        assert_clean(&js, &server, subs, "the window").await;

        // A double ack cut before its confirmation leaves the message unacknowledged.
        let msg = c.fetch(fetch(1, 2000)).await.unwrap().remove(0);
        poll_then_drop(msg.double_ack(), 0);
        assert!(!msg.is_acked());
        // Polled once (the ack request is sent), then dropped: acknowledged only if the
        // confirmation raced in within that one poll.
        let done = poll_then_drop(msg.double_ack(), 1);
        assert_eq!(msg.is_acked(), matches!(done, Some(Ok(()))));
        if !msg.is_acked() {
            msg.double_ack().await.unwrap();
        }

        // The connection is as good as new.
        assert_clean(&js, &server, subs, "the end").await;
        js.publish("x.p", "last").await.unwrap().await.unwrap();
        let drained = c.fetch(fetch(100, 1000)).await.unwrap();
        assert!(!drained.is_empty());
        for m in &drained {
            m.ack().await.unwrap();
        }
        assert_eq!(js.account_info().await.unwrap().streams, 1);
    });
}

/// A pull the server refuses fails at once with the typed refusal, for fetch and for
/// `messages()` (which then ends), as in the blocking API.
#[test]
fn refused_pulls_fail_at_once() {
    use natsy_test_harness::{Permissions, User};
    let no_pull = Permissions {
        publish_allow: vec!["$JS.API.>".into()],
        publish_deny: vec!["$JS.API.CONSUMER.MSG.NEXT.>".into()],
        subscribe_allow: vec!["_INBOX.>".into()],
        ..Default::default()
    };
    let server = NatsServer::builder()
        .jetstream()
        .with_user(User::password("admin", "a"))
        .with_user(User::password("worker", "w").with_permissions(no_pull))
        .start()
        .expect("server");
    runtime().block_on(async {
        let connect = |user: &'static str, password: &'static str| {
            natsy::ConnectOptions::new()
                .user_and_password(user, password)
                .connect_async(server.url())
        };
        let admin = aio::new(connect("admin", "a").await.unwrap());
        let s = stream(&admin, "W", &["w.>"]).await;
        s.create_consumer(durable("c")).await.unwrap();
        admin.publish("w.1", "job").await.unwrap().await.unwrap();

        let worker =
            aio::new(connect("worker", "w").await.unwrap()).with_timeout(Duration::from_secs(30));
        let c = worker.get_consumer("W", "c").await.unwrap();
        let started = Instant::now();
        let err = c.fetch(fetch(1, 20_000)).await.unwrap_err();
        assert!(err.is_permission_error(), "{err:?}");
        let mut messages = c.messages().await.unwrap();
        let err = messages.next().await.unwrap().unwrap_err();
        assert!(err.is_permission_error(), "{err:?}");
        assert!(messages.next().await.is_none());
        assert!(started.elapsed() < Duration::from_secs(10), "not at expiry");
        drop(messages);
        assert_eq!(worker.client().registered_waits(), 0);
        assert_eq!(worker.client().pending_requests(), 0);
    });
}

/// The same pull and ack path on smol: no tokio anywhere.
#[test]
fn smol_runs_it_too() {
    let server = server();
    smol::block_on(async {
        let js = connect(&server).await;
        let s = stream(&js, "S", &["s.>"]).await;
        let c = s.create_consumer(durable("smol")).await.unwrap();
        for i in 0..20 {
            js.publish("s.x", format!("{i}"))
                .await
                .unwrap()
                .await
                .unwrap();
        }
        let batch = c.fetch(fetch(10, 1000)).await.unwrap();
        assert_eq!(batch.len(), 10);
        for m in &batch {
            m.double_ack().await.unwrap();
        }
        let mut messages = c.messages().await.unwrap();
        for expected in 11..=20u64 {
            let m = messages.next().await.unwrap().unwrap();
            assert_eq!(m.metadata().unwrap().stream_sequence, expected);
            m.ack().await.unwrap();
        }
        drop(messages);
        // A fetch that times out on the loop thread's timer, not a runtime's.
        let started = Instant::now();
        assert!(c.fetch(fetch(1, 300)).await.unwrap().is_empty());
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(js.client().registered_waits(), 0);
    });
}

/// Every future and stream here can move between threads.
#[allow(dead_code)]
fn futures_are_send(js: Context, c: aio::Consumer, m: aio::JsMessage) {
    fn send<T: Send>(_: T) {}
    send(js.account_info());
    send(js.publish("a", "b"));
    send(c.fetch(FetchOptions::default()));
    send(c.messages());
    send(m.double_ack());
    let mut p = js.async_publisher(AsyncPublishOptions::default());
    send(p.publish("a", "b"));
}

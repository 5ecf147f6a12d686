//! Pull consumers' newer features against a real `nats-server -js` (2.11+), blocking and
//! async: priority groups (overflow's `min_pending`, the pinned client that keeps the
//! messages until it is unpinned, its pin id sent with later pulls and forgotten at a
//! `423`, prioritized pulls), `fetch` (waits for the batch) against `fetch_no_wait` (returns at once), and
//! the consumer list and names.

use std::collections::HashSet;
use std::thread;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use natsy_jetstream::{
    ApiErrorKind, ConsumeOptions, Consumer, ConsumerConfig, Context, Error, FetchOptions,
    PriorityPolicy, PullError, PullPriority, StorageType, StreamConfig,
};
use natsy_test_harness::NatsServer;

const WAIT: Duration = Duration::from_secs(5);

fn start() -> (NatsServer, Context) {
    let server = NatsServer::builder().jetstream().start().expect("server");
    let client = natsy::connect(server.url()).expect("connect");
    (server, natsy_jetstream::new(client))
}

fn create_stream(js: &Context, name: &str, subject: &str) {
    js.create_stream(&StreamConfig {
        subjects: vec![subject.to_string()],
        storage: StorageType::Memory,
        ..StreamConfig::new(name)
    })
    .expect("create stream");
}

fn publish_n(js: &Context, subject: &str, n: usize) {
    for i in 0..n {
        js.publish(subject, i.to_string()).expect("publish");
    }
}

fn grouped(name: &str, policy: PriorityPolicy) -> ConsumerConfig {
    ConsumerConfig {
        durable_name: Some(name.into()),
        priority_groups: vec!["jobs".into()],
        priority_policy: Some(policy),
        ..Default::default()
    }
}

/// A pull in group `jobs` of up to `batch`, open for `expires_ms`.
fn in_group(batch: usize, expires_ms: u64, priority: PullPriority) -> FetchOptions {
    FetchOptions {
        batch,
        expires: Some(Duration::from_millis(expires_ms)),
        priority: Some(priority),
        ..Default::default()
    }
}

fn ack_all(messages: Vec<natsy_jetstream::JsMessage>) -> usize {
    let n = messages.len();
    for m in messages {
        m.double_ack().expect("ack");
    }
    n
}

#[test]
fn overflow_serves_min_pending_pulls_only_past_the_threshold() {
    let (_server, js) = start();
    create_stream(&js, "O", "o.>");
    let consumer = js
        .create_consumer("O", grouped("O", PriorityPolicy::Overflow))
        .expect("create");
    assert_eq!(
        consumer.cached_info().config.priority_policy,
        Some(PriorityPolicy::Overflow)
    );
    publish_n(&js, "o.x", 5);
    let overflow = PullPriority {
        min_pending: Some(10),
        ..PullPriority::group("jobs")
    };
    // 5 pending < 10: the overflow pull is not served and expires empty.
    let got = consumer.fetch(in_group(5, 500, overflow.clone())).unwrap();
    assert!(got.is_empty(), "got {}", got.len());
    publish_n(&js, "o.x", 10);
    let got = consumer.fetch(in_group(5, 2000, overflow)).unwrap();
    assert_eq!(ack_all(got), 5, "15 pending >= 10: served");
    // A plain pull of the group is always served.
    let got = consumer
        .fetch(in_group(20, 1000, PullPriority::group("jobs")))
        .unwrap();
    assert_eq!(ack_all(got), 10);
    // Unknown group or a missing one: refused by the server.
    match consumer.fetch(in_group(1, 500, PullPriority::group("other"))) {
        Err(Error::Pull(PullError::BadRequest(d))) => assert!(d.contains("Group"), "{d}"),
        other => panic!("expected a bad request, got {other:?}"),
    }
    // Checked before sending: group names and priorities out of range.
    assert!(matches!(
        consumer.fetch(in_group(1, 500, PullPriority::group("a.b"))),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn a_pinned_client_keeps_the_messages_until_it_is_unpinned() {
    let (server, js) = start();
    create_stream(&js, "P", "p.>");
    js.create_consumer(
        "P",
        ConsumerConfig {
            pinned_ttl: Some(Duration::from_secs(30)),
            ..grouped("P", PriorityPolicy::PinnedClient)
        },
    )
    .expect("create");
    let other = natsy_jetstream::new(natsy::connect(server.url()).unwrap());
    let a = js.get_consumer("P", "P").unwrap();
    let b = other.get_consumer("P", "P").unwrap();
    publish_n(&js, "p.x", 10);
    let group = || PullPriority::group("jobs");

    let got = a.fetch(in_group(2, 2000, group())).unwrap();
    assert_eq!(ack_all(got), 2);
    let pin = a.pin_id().expect("a is pinned");
    let info = a.info().unwrap();
    assert_eq!(info.priority_groups[0].group, "jobs");
    assert_eq!(
        info.priority_groups[0].pinned_client_id.as_deref(),
        Some(pin.as_str())
    );
    // b pulls without the pin: the server holds its pull, and it expires empty.
    assert!(b.fetch(in_group(2, 500, group())).unwrap().is_empty());
    assert_eq!(b.pin_id(), None);
    // a's later pulls carry the pin id and are served.
    let got = a.fetch(in_group(2, 2000, group())).unwrap();
    assert_eq!(ack_all(got), 2);
    assert_eq!(a.pin_id().as_deref(), Some(pin.as_str()));

    a.unpin("jobs").expect("unpin");
    // b's pull (no id) takes the pin now.
    let got = b.fetch(in_group(2, 2000, group())).unwrap();
    assert_eq!(ack_all(got), 2);
    let b_pin = b.pin_id().expect("b is pinned");
    assert_ne!(b_pin, pin);
    // a's old pin is refused with a 423, which forgets it...
    match a.fetch(in_group(2, 2000, group())) {
        Err(Error::Pull(PullError::PinIdMismatch)) => {}
        other => panic!("expected a pin id mismatch, got {other:?}"),
    }
    assert_eq!(a.pin_id(), None);
    // ...and its next pull waits like b's did.
    assert!(a.fetch(in_group(2, 500, group())).unwrap().is_empty());
    assert_eq!(ack_all(b.fetch(in_group(10, 2000, group())).unwrap()), 4);

    // Unpinning a group the consumer does not have is an API error.
    assert!(matches!(
        js.unpin_consumer("P", "P", "nope"),
        Err(Error::Api(_))
    ));
}

/// Waits until the consumer has `n` pull requests waiting (a real event, polled).
fn wait_for_waiting(consumer: &Consumer, n: u64) {
    let deadline = Instant::now() + WAIT;
    while consumer.info().unwrap().num_waiting < n {
        assert!(Instant::now() < deadline, "pull never arrived");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn prioritized_serves_the_lowest_priority_first() {
    let (_server, js) = start();
    create_stream(&js, "R", "r.>");
    let consumer = js
        .create_consumer("R", grouped("R", PriorityPolicy::Prioritized))
        .expect("create");
    let pull = |priority: u8, expires_ms: u64| {
        let consumer = consumer.clone();
        thread::spawn(move || {
            consumer.fetch(in_group(
                1,
                expires_ms,
                PullPriority {
                    priority: Some(priority),
                    ..PullPriority::group("jobs")
                },
            ))
        })
    };
    // The priority-5 pull waits first; the priority-0 one, sent after, is served.
    let low = pull(5, 1500);
    wait_for_waiting(&consumer, 1);
    let high = pull(0, 5000);
    wait_for_waiting(&consumer, 2);
    publish_n(&js, "r.x", 1);
    assert_eq!(ack_all(high.join().unwrap().unwrap()), 1);
    assert!(low.join().unwrap().unwrap().is_empty());
}

#[test]
fn fetch_waits_for_the_batch_and_fetch_no_wait_returns_what_is_there() {
    let (_server, js) = start();
    create_stream(&js, "F", "f.>");
    let consumer = js
        .create_consumer(
            "F",
            ConsumerConfig {
                durable_name: Some("F".into()),
                ..Default::default()
            },
        )
        .unwrap();
    // Nothing there: no_wait answers at once with nothing, no error.
    assert!(consumer.fetch_no_wait(10).unwrap().is_empty());
    publish_n(&js, "f.x", 2);
    // Two there, ten asked for: the two, at once.
    assert_eq!(ack_all(consumer.fetch_no_wait(10).unwrap()), 2);

    // A waiting fetch gets messages published after it was sent, up to its batch.
    let waiting = {
        let consumer = consumer.clone();
        thread::spawn(move || {
            consumer.fetch(FetchOptions {
                batch: 3,
                expires: Some(Duration::from_secs(10)),
                ..Default::default()
            })
        })
    };
    wait_for_waiting(&consumer, 1);
    publish_n(&js, "f.x", 3);
    let got = waiting.join().unwrap().expect("fetch");
    assert_eq!(ack_all(got), 3, "the whole batch, before expires");
}

#[test]
fn consumer_list_and_names_cover_every_page() {
    let (_server, js) = start();
    create_stream(&js, "L", "l.>");
    // More than one page of CONSUMER.LIST (256 infos a page).
    const N: usize = 260;
    for i in 0..N {
        js.create_consumer(
            "L",
            ConsumerConfig {
                durable_name: Some(format!("c{i:03}")),
                mem_storage: true,
                ..Default::default()
            },
        )
        .unwrap();
    }
    let infos = js.consumers("L").unwrap();
    assert_eq!(infos.len(), N);
    let names: HashSet<String> = infos.iter().map(|i| i.name.clone()).collect();
    assert_eq!(names.len(), N);
    assert!(infos.iter().all(|i| i.stream_name == "L"));
    let listed: HashSet<String> = js.consumer_names("L").unwrap().into_iter().collect();
    assert_eq!(listed, names);
    let stream = js.get_stream("L").unwrap();
    assert_eq!(stream.consumers().unwrap().len(), N);
    js.delete_consumer("L", "c000").unwrap();
    assert_eq!(js.consumers("L").unwrap().len(), N - 1);
    assert_eq!(
        js.consumers("missing").unwrap_err().api_kind(),
        Some(ApiErrorKind::StreamNotFound)
    );
}

// ---- async ----

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn async_pinned_consume_fetch_no_wait_and_list() {
    let server = NatsServer::builder().jetstream().start().expect("server");
    runtime().block_on(async {
        let js = natsy_jetstream::aio::new(natsy::aio::connect(server.url()).await.unwrap());
        js.create_stream(&StreamConfig {
            subjects: vec!["a.>".into()],
            storage: StorageType::Memory,
            ..StreamConfig::new("A")
        })
        .await
        .unwrap();
        let a = js
            .create_consumer("A", grouped("A", PriorityPolicy::PinnedClient))
            .await
            .unwrap();
        let b = js.get_consumer("A", "A").await.unwrap();
        for i in 0..4 {
            js.publish("a.x", i.to_string())
                .await
                .unwrap()
                .await
                .unwrap();
        }
        // a consumes continuously and gets pinned.
        let mut messages = a
            .messages_with(ConsumeOptions {
                batch: 10,
                expires: Duration::from_secs(2),
                idle_heartbeat: Duration::from_millis(500),
                priority: Some(PullPriority::group("jobs")),
                ..Default::default()
            })
            .await
            .unwrap();
        for _ in 0..4 {
            let msg = tokio::time::timeout(WAIT, messages.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            msg.double_ack().await.unwrap();
        }
        let pin = a.pin_id().expect("pinned");
        // b's no-wait pull while a is pinned gets nothing.
        let nothing = b
            .fetch(FetchOptions {
                priority: Some(PullPriority::group("jobs")),
                ..FetchOptions::no_wait(5)
            })
            .await;
        assert!(matches!(&nothing, Ok(v) if v.is_empty()), "{nothing:?}");

        a.unpin("jobs").await.unwrap();
        js.publish("a.x", "after").await.unwrap().await.unwrap();
        // a's open pull carries the old pin: 423, reported, not terminal...
        match tokio::time::timeout(WAIT, messages.next()).await.unwrap() {
            Some(Err(Error::Pull(PullError::PinIdMismatch))) => {}
            other => panic!("expected a pin id mismatch, got {other:?}"),
        }
        // ...and its re-pull without the id takes the new pin.
        let msg = tokio::time::timeout(WAIT, messages.next())
            .await
            .unwrap()
            .unwrap()
            .expect("a message");
        assert_eq!(msg.payload(), b"after");
        msg.double_ack().await.unwrap();
        let new_pin = a.pin_id().expect("pinned again");
        assert_ne!(new_pin, pin);
        drop(messages);

        // fetch_no_wait on a plain consumer, and the list.
        let plain = js
            .create_consumer(
                "A",
                ConsumerConfig {
                    durable_name: Some("plain".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let got = plain.fetch_no_wait(100).await.unwrap();
        assert_eq!(got.len(), 5, "everything there, at once");
        for msg in got {
            msg.double_ack().await.unwrap();
        }
        assert!(plain.fetch_no_wait(100).await.unwrap().is_empty());
        let infos = js.consumers("A").await.unwrap();
        let names: HashSet<&str> = infos.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, HashSet::from(["A", "plain"]));
        let stream = js.get_stream("A").await.unwrap();
        assert_eq!(stream.consumers().await.unwrap().len(), 2);
    });
}

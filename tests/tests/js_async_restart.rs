//! `natsy_jetstream::aio` across a server restart (file storage): `messages()` goes on
//! without redelivering what was acked (confirmed) before, `fetch` works again once the
//! server is back, and a forced reconnect gets a fresh pull at the stream's next wait.
//! The async twins of `js_restart.rs`, driving the same pull machine.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use natsy_jetstream::aio::{self, Consumer, Context};
use natsy_jetstream::{ConsumeOptions, ConsumerConfig, FetchOptions, StorageType, StreamConfig};
use natsy_test_harness::NatsServer;

fn runtime() -> tokio::runtime::Runtime {
    natsy_test_harness::tokio_multi_thread()
}

async fn setup(server: &NatsServer, n: u64) -> (Context, Consumer) {
    let client = natsy::aio::connect(server.url()).await.expect("connect");
    let js = aio::new(client);
    js.create_stream(&StreamConfig {
        subjects: vec!["r.>".into()],
        storage: StorageType::File,
        ..StreamConfig::new("R")
    })
    .await
    .expect("stream");
    let consumer = js
        .create_consumer(
            "R",
            ConsumerConfig {
                durable_name: Some("C".into()),
                ack_wait: Some(Duration::from_secs(2)),
                ..Default::default()
            },
        )
        .await
        .expect("consumer");
    let mut publisher = js.async_publisher(Default::default());
    for i in 0..n {
        // The outcome is collected by wait_all.
        drop(publisher.publish("r.x", i.to_string()).await.unwrap());
    }
    assert!(publisher.wait_all().await.iter().all(|o| o.is_ok()));
    (js, consumer)
}

/// Confirms an ack, retrying across the reconnect window.
async fn confirm(js: &Context, m: &aio::JsMessage) {
    let mut tries = 0;
    while let Err(e) = m.double_ack().await {
        tries += 1;
        assert!(tries < 30, "ack never confirmed: {e}");
        js.client().sleep(Duration::from_millis(200)).await;
    }
}

/// Waits for the consumer to settle: nothing pending, nothing unacked.
async fn settled(consumer: &Consumer) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(info) = consumer.info().await {
            if info.num_pending == 0 && info.num_ack_pending == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "never settled: {info:?}");
        }
        consumer
            .context()
            .client()
            .sleep(Duration::from_millis(100))
            .await;
    }
}

#[test]
fn messages_continue_across_a_restart() {
    let mut server = NatsServer::builder().jetstream().start().expect("server");
    let rt = runtime();
    const N: u64 = 500;
    let (js, consumer) = rt.block_on(setup(&server, N));
    let mut messages = rt
        .block_on(consumer.messages_with(ConsumeOptions {
            batch: 50,
            expires: Duration::from_secs(2),
            idle_heartbeat: Duration::from_millis(500),
            ..Default::default()
        }))
        .unwrap();
    let acked_before = rt.block_on(async {
        let mut acked = HashSet::new();
        while acked.len() < 150 {
            let m = messages.next().await.unwrap().unwrap();
            confirm(&js, &m).await;
            assert!(acked.insert(m.metadata().unwrap().stream_sequence));
        }
        acked
    });

    // The restart, with pulls in flight and messages buffered on our side.
    server.restart().expect("restart");

    rt.block_on(async {
        let mut acked = acked_before.clone();
        let deadline = Instant::now() + Duration::from_secs(90);
        while (acked.len() as u64) < N {
            assert!(Instant::now() < deadline, "stalled at {}", acked.len());
            let m = match tokio::time::timeout(Duration::from_secs(5), messages.next()).await {
                Err(_) => continue,
                Ok(None) => panic!("the stream ended"),
                Ok(Some(Err(e))) => {
                    assert!(!e.to_string().is_empty());
                    continue; // reported, pulling goes on
                }
                Ok(Some(Ok(m))) => m,
            };
            let seq = m.metadata().unwrap().stream_sequence;
            assert!(
                !acked_before.contains(&seq),
                "acked before, delivered again: {seq}"
            );
            if acked.insert(seq) {
                confirm(&js, &m).await;
            } else {
                let _ = m.ack().await; // an unconfirmed delivery came back after ack_wait
            }
        }
        assert_eq!(acked, (1..=N).collect::<HashSet<_>>());
        settled(&consumer).await;
        assert!(js.client().statistics().reconnects >= 1);
    });
}

#[test]
fn fetch_works_again_after_a_restart() {
    let mut server = NatsServer::builder().jetstream().start().expect("server");
    let rt = runtime();
    const N: u64 = 200;
    let (js, consumer) = rt.block_on(setup(&server, N));
    let batch = |n| FetchOptions {
        batch: n,
        expires: Some(Duration::from_secs(1)),
        ..Default::default()
    };
    let acked_before = rt.block_on(async {
        let mut acked = HashSet::new();
        for m in consumer.fetch(batch(50)).await.unwrap() {
            confirm(&js, &m).await;
            acked.insert(m.metadata().unwrap().stream_sequence);
        }
        acked
    });
    assert_eq!(acked_before.len(), 50);

    // A fetch in flight while the server goes away: it ends (empty, or an error), and
    // the client is usable after.
    let (stopped, fetched) = rt.block_on(async {
        let fetching = consumer.fetch(FetchOptions {
            batch: 10,
            expires: Some(Duration::from_secs(3)),
            ..Default::default()
        });
        let restart = async {
            js.client().sleep(Duration::from_millis(200)).await;
            tokio::task::spawn_blocking(move || {
                server.restart().expect("restart");
                server
            })
            .await
            .unwrap()
        };
        tokio::join!(restart, fetching)
    });
    let _server = stopped;
    rt.block_on(async {
        let mut acked = acked_before.clone();
        // Whatever that fetch got is simply not acked: it comes back after ack_wait.
        drop(fetched);
        let deadline = Instant::now() + Duration::from_secs(90);
        while (acked.len() as u64) < N {
            assert!(Instant::now() < deadline, "stalled at {}", acked.len());
            let Ok(got) = consumer.fetch(batch(25)).await else {
                js.client().sleep(Duration::from_millis(200)).await;
                continue; // reconnecting, or the stream not loaded yet
            };
            for m in got {
                let seq = m.metadata().unwrap().stream_sequence;
                assert!(
                    !acked_before.contains(&seq),
                    "acked before, delivered again: {seq}"
                );
                if acked.insert(seq) {
                    confirm(&js, &m).await;
                } else {
                    let _ = m.ack().await;
                }
            }
        }
        assert_eq!(acked, (1..=N).collect::<HashSet<_>>());
        settled(&consumer).await;
        assert_eq!(js.client().pending_requests(), 0);
    });
}

#[test]
fn a_reconnect_gets_a_fresh_pull_at_the_next_wait() {
    let server = NatsServer::builder().jetstream().start().expect("server");
    runtime().block_on(async {
        let (js, consumer) = setup(&server, 0).await;
        // Heartbeats far apart, so none can go missing while this test runs.
        let mut messages = consumer
            .messages_with(ConsumeOptions {
                batch: 10,
                expires: Duration::from_secs(120),
                idle_heartbeat: Duration::from_secs(60),
                ..Default::default()
            })
            .await
            .unwrap();
        let quiet = Duration::from_millis(100);
        assert!(tokio::time::timeout(quiet, messages.next()).await.is_err());
        assert_eq!(messages.pulls(), 1);

        js.client().force_reconnect();
        let deadline = Instant::now() + Duration::from_secs(20);
        while js.client().statistics().reconnects == 0 {
            assert!(Instant::now() < deadline, "never reconnected");
            js.client().sleep(Duration::from_millis(20)).await;
        }
        // The next wait sees the reconnect before it sleeps.
        assert!(tokio::time::timeout(quiet, messages.next()).await.is_err());
        assert_eq!(messages.pulls(), 2, "a fresh pull after the reconnect");
        assert_eq!(messages.missed_heartbeats(), 0);
        js.publish("r.x", "after").await.unwrap().await.unwrap();
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("a message after the reconnect")
            .unwrap()
            .unwrap();
        assert_eq!(m.payload(), b"after");
        m.ack().await.unwrap();
    });
}

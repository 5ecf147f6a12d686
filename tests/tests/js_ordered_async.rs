//! `natsy_jetstream::aio::OrderedConsumer` against a real server: every message once and
//! in order while its consumer is deleted under it and across a server restart (file
//! storage kept), the end of the stream as one typed error, and the same consumer on
//! `futures::executor::block_on` (no tokio). The async twins of `js_ordered.rs`,
//! driving the same `OrderedMachine`.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use natsy_jetstream::aio::{self, Context, OrderedConsumer};
use natsy_jetstream::{
    ApiErrorKind, Error, OrderedConfig, OrderedError, PublishOptions, StorageType, StreamConfig,
};
use natsy_test_harness::NatsServer;

fn runtime() -> tokio::runtime::Runtime {
    natsy_test_harness::tokio_multi_thread()
}

fn config() -> OrderedConfig {
    let mut c = OrderedConfig::default();
    c.batch = 50;
    c.expires = Duration::from_secs(2);
    c.idle_heartbeat = Duration::from_millis(500);
    c
}

async fn stream(js: &Context, name: &str, subjects: &str, storage: StorageType) {
    js.create_stream(&StreamConfig {
        subjects: vec![subjects.into()],
        storage,
        ..StreamConfig::new(name)
    })
    .await
    .expect("stream");
}

/// Publishes payload `i` for each `i` in `range`, expecting stream sequence `i`; retries
/// (deduplicated by message id) while the server is away.
async fn publish(js: &Context, subject: &str, range: std::ops::RangeInclusive<u64>) {
    for i in range {
        let deadline = Instant::now() + Duration::from_secs(60);
        let opts = PublishOptions::new().msg_id(&format!("{subject}-{i}"));
        loop {
            let ack = match js.publish_with(subject, i.to_string(), &opts).await {
                Ok(fut) => fut.await,
                Err(e) => Err(e),
            };
            match ack {
                Ok(ack) => {
                    assert_eq!(ack.sequence, i);
                    break;
                }
                Err(e) => assert!(Instant::now() < deadline, "publish {i}: {e}"),
            }
            js.client().sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Reads until stream sequence `last` with `next_timeout`, checking each message is the
/// next one: payload `i` at stream sequence `i`.
async fn read_in_order(c: &mut OrderedConsumer, from: u64, last: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut next = from;
    while next <= last {
        assert!(Instant::now() < deadline, "stalled before {next}");
        let Some(m) = c.next_timeout(Duration::from_secs(5)).await.unwrap() else {
            continue;
        };
        assert_eq!(
            m.metadata().unwrap().stream_sequence,
            next,
            "in order, once"
        );
        assert_eq!(m.payload(), next.to_string().as_bytes());
        next += 1;
    }
}

#[test]
fn every_message_once_in_order_even_when_its_consumer_is_deleted() {
    let server = NatsServer::builder().jetstream().start().expect("server");
    runtime().block_on(async {
        let js = aio::new(natsy::aio::connect(server.url()).await.unwrap());
        stream(&js, "O", "o.>", StorageType::Memory).await;
        publish(&js, "o.a", 1..=200).await;
        let mut c = js.ordered_consumer("O", config()).await.unwrap();
        assert_eq!(c.stream_name(), "O");
        // The first 100 as a Stream.
        for i in 1..=100u64 {
            let m = c.next().await.unwrap().unwrap();
            assert_eq!(m.metadata().unwrap().stream_sequence, i);
        }
        assert_eq!(c.stream_sequence(), 100);
        // Deleted under it: recreated from stream sequence 101.
        let name = c.consumer_name().to_string();
        js.delete_consumer("O", &name).await.unwrap();
        publish(&js, "o.b", 201..=300).await;
        read_in_order(&mut c, 101, 300).await;
        assert!(c.resets() >= 1, "the consumer was recreated");
        assert_ne!(c.consumer_name(), name);
        assert!(c
            .next_timeout(Duration::from_millis(300))
            .await
            .unwrap()
            .is_none());

        // Filtered: only o.b, from its first message.
        let mut f = config();
        f.filter_subjects = vec!["o.b".into()];
        let mut filtered = js.ordered_consumer("O", f).await.unwrap();
        let m = filtered.next().await.unwrap().unwrap();
        assert_eq!(m.metadata().unwrap().stream_sequence, 201);

        // A missing stream is typed at creation.
        let err = js.ordered_consumer("NOPE", config()).await.unwrap_err();
        assert_eq!(err.api_kind(), Some(ApiErrorKind::StreamNotFound));

        // The stream deleted under a running consumer ends it: one error, then None.
        js.delete_stream("O").await.unwrap();
        let end = tokio::time::timeout(Duration::from_secs(20), c.next())
            .await
            .expect("the consumer noticed the deleted stream");
        assert_eq!(
            end.unwrap().unwrap_err(),
            Error::Ordered(OrderedError::StreamNotFound)
        );
        assert!(c.next().await.is_none(), "ended after its error");
        // next_timeout keeps returning the terminal error.
        assert_eq!(
            c.next_timeout(Duration::from_millis(10)).await.unwrap_err(),
            Error::Ordered(OrderedError::StreamNotFound)
        );
    });
}

#[test]
fn every_message_once_in_order_across_a_server_restart() {
    let mut server = NatsServer::builder().jetstream().start().expect("server");
    let rt = runtime();
    let (js, mut c) = rt.block_on(async {
        let js = aio::new(natsy::aio::connect(server.url()).await.unwrap());
        stream(&js, "R", "r.>", StorageType::File).await;
        publish(&js, "r.x", 1..=300).await;
        let mut c = js.ordered_consumer("R", config()).await.unwrap();
        read_in_order(&mut c, 1, 100).await;
        (js, c)
    });
    // Its consumer is in memory on the server: gone with the restart.
    server.restart().expect("restart");
    rt.block_on(async {
        publish(&js, "r.x", 301..=500).await;
        read_in_order(&mut c, 101, 500).await;
        assert!(c.resets() >= 1, "recreated after the reconnect");
        assert!(js.client().statistics().reconnects >= 1);
    });
}

#[test]
fn an_ordered_consumer_runs_on_futures_block_on() {
    let server = NatsServer::builder().jetstream().start().expect("server");
    futures_executor::block_on(async {
        let js = aio::new(natsy::aio::connect(server.url()).await.unwrap());
        stream(&js, "F", "f.>", StorageType::Memory).await;
        publish(&js, "f.x", 1..=50).await;
        let mut c = js.ordered_consumer("F", config()).await.unwrap();
        read_in_order(&mut c, 1, 50).await;
        // A timed-out wait leaves nothing behind but the consumer's own heartbeat timer.
        assert!(c
            .next_timeout(Duration::from_millis(200))
            .await
            .unwrap()
            .is_none());
        publish(&js, "f.x", 51..=60).await;
        read_in_order(&mut c, 51, 60).await;
        drop(c);
        assert_eq!(js.client().pending_requests(), 0);
    });
}

//! The Key-Value scenarios (`kv-put`, `kv-get`, `kv-watch`) on async-nats, written the
//! way its users would: `Store::put`/`get` awaited one after another, and
//! `watch_with_history(">")` (its last-value-per-key watch) read until `seen_current`.
//! The same bucket, keys, counts and checks as natsy-bench's `natsy_kv`.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv, stream::StorageType};
use bytes::Bytes;
use futures_util::StreamExt;
use natsy_benches::cli::Storage;
use natsy_benches::measure::{Latencies, Meter};
use natsy_benches::progress::STEP;
use natsy_benches::report::Outcome;
use natsy_benches::runner::RunCtx;

use super::{connect, outcome, payload, Res};

/// Keys `kv-put` and `kv-get` cycle over.
const KEYS: u64 = 1000;
/// Untimed gets before the timed ones.
const WARM_UP: u64 = 100;

async fn setup(ctx: &RunCtx<'_>) -> Res<(jetstream::Context, kv::Store)> {
    let client = connect(ctx.url).await?;
    let js = jetstream::new(client);
    let storage = match ctx.config.storage {
        Storage::Memory => StorageType::Memory,
        Storage::File => StorageType::File,
    };
    let store = js
        .create_key_value(kv::Config {
            bucket: ctx.stream_name(),
            history: 1,
            storage,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("create bucket: {e}"))?;
    Ok((js, store))
}

fn keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("k.{i}")).collect()
}

async fn cleanup(js: &jetstream::Context, ctx: &RunCtx<'_>) {
    let _ = js.delete_key_value(ctx.stream_name()).await;
}

pub async fn bench_kv_put(ctx: &RunCtx<'_>) -> Res<Outcome> {
    let (js, store) = setup(ctx).await?;
    let payload = payload(ctx.size);
    let keys = keys();
    let result = async {
        let mut latencies = Latencies::new();
        let meter = Meter::start();
        for i in 1..=ctx.msgs {
            let t = Instant::now();
            let key = &keys[(i % KEYS) as usize];
            let rev = store
                .put(key, payload.clone())
                .await
                .map_err(|e| format!("put {i}: {e}"))?;
            latencies.record(t.elapsed());
            if rev != i {
                return Err(format!("put {i} stored as revision {rev}"));
            }
            if i.is_multiple_of(STEP) {
                ctx.progress.add(STEP);
            }
        }
        let measured = meter.stop();
        let mut o = outcome(ctx.msgs, ctx.size, measured);
        o.latency = latencies.percentiles();
        o.note = Some(format!("{KEYS} keys"));
        Ok(o)
    }
    .await;
    cleanup(&js, ctx).await;
    result
}

pub async fn bench_kv_get(ctx: &RunCtx<'_>) -> Res<Outcome> {
    let (js, store) = setup(ctx).await?;
    let payload = payload(ctx.size);
    let keys = keys();
    let result = async {
        for key in &keys {
            store
                .put(key, payload.clone())
                .await
                .map_err(|e| format!("fill: {e}"))?;
        }
        for i in 0..WARM_UP {
            store
                .get(&keys[(i % KEYS) as usize])
                .await
                .map_err(|e| format!("warm-up get: {e}"))?;
        }
        let mut latencies = Latencies::new();
        let meter = Meter::start();
        for i in 1..=ctx.msgs {
            let t = Instant::now();
            let value = store
                .get(&keys[(i % KEYS) as usize])
                .await
                .map_err(|e| format!("get {i}: {e}"))?;
            latencies.record(t.elapsed());
            match value {
                Some(v) if v.len() == ctx.size => {}
                Some(v) => return Err(format!("get {i}: {} bytes", v.len())),
                None => return Err(format!("get {i}: no value")),
            }
            if i.is_multiple_of(STEP) {
                ctx.progress.add(STEP);
            }
        }
        let measured = meter.stop();
        let mut o = outcome(ctx.msgs, ctx.size, measured);
        o.latency = latencies.percentiles();
        o.note = Some(format!("{KEYS} keys, direct get"));
        Ok(o)
    }
    .await;
    cleanup(&js, ctx).await;
    result
}

pub async fn bench_kv_watch(ctx: &RunCtx<'_>) -> Res<Outcome> {
    let (js, store) = setup(ctx).await?;
    let payload = payload(ctx.size);
    let result = async {
        // Untimed: --msgs distinct keys, published straight to the bucket's subjects.
        let prefix = format!("$KV.{}.k.", ctx.stream_name());
        fill_distinct(&js, &prefix, &payload, ctx.msgs).await?;
        let meter = Meter::start();
        let mut watch = store
            .watch_with_history(">")
            .await
            .map_err(|e| format!("watch: {e}"))?;
        let mut got = 0u64;
        loop {
            let next = tokio::time::timeout(Duration::from_secs(10), watch.next()).await;
            let entry = match next {
                Ok(Some(Ok(e))) => e,
                Ok(Some(Err(e))) => return Err(format!("watch: {e}")),
                Ok(None) => return Err("the watch ended".into()),
                Err(_) => return Err(format!("incomplete: {got} of {} entries", ctx.msgs)),
            };
            if entry.value.len() != ctx.size {
                return Err(format!("an entry has {} bytes", entry.value.len()));
            }
            got += 1;
            if got.is_multiple_of(STEP) {
                ctx.progress.add(STEP);
            }
            if entry.seen_current || got == ctx.msgs {
                break;
            }
        }
        let measured = meter.stop();
        if got != ctx.msgs {
            return Err(format!(
                "{got} of {} entries before the current mark",
                ctx.msgs
            ));
        }
        let mut o = outcome(ctx.msgs, ctx.size, measured);
        o.note = Some("initial values of distinct keys".into());
        Ok(o)
    }
    .await;
    cleanup(&js, ctx).await;
    result
}

/// Publishes `n` values to `<prefix><i>`, 1000 acks outstanding.
async fn fill_distinct(js: &jetstream::Context, prefix: &str, payload: &Bytes, n: u64) -> Res<()> {
    let mut in_flight = std::collections::VecDeque::with_capacity(1000);
    for i in 0..n {
        if in_flight.len() >= 1000 {
            if let Some(ack) = in_flight.pop_front() {
                let ack: jetstream::context::PublishAckFuture = ack;
                ack.await.map_err(|e| format!("fill ack: {e}"))?;
            }
        }
        in_flight.push_back(
            js.publish(format!("{prefix}{i}"), payload.clone())
                .await
                .map_err(|e| format!("fill {i}: {e}"))?,
        );
    }
    for ack in in_flight {
        ack.await.map_err(|e| format!("fill ack: {e}"))?;
    }
    Ok(())
}

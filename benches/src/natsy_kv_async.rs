//! The Key-Value scenarios on natsy-jetstream's async [`Store`] (`natsy_jetstream::aio`),
//! on natsy-bench-async's tokio runtime: the same buckets, keys and checks as the
//! blocking [`natsy_kv`](crate::natsy_kv) and the async-nats peer.

use std::time::Instant;

use futures_util::StreamExt;
use natsy_jetstream::aio::kv::Store;
use natsy_jetstream::kv::WatchEvent;

use crate::measure::{Latencies, Meter};
use crate::natsy_async::{connect, outcome};
use crate::natsy_client::{payload, STALL};
use crate::natsy_kv::{bucket_config, fill_distinct, keys, KEYS, WARM_UP};
use crate::progress::STEP;
use crate::report::Outcome;
use crate::runner::RunCtx;

type Res<T> = Result<T, String>;

async fn setup(ctx: &RunCtx<'_>) -> Res<(natsy_jetstream::aio::Context, Store)> {
    let js = natsy_jetstream::aio::new(connect(ctx.url).await?);
    let store = js
        .create_key_value(&bucket_config(ctx))
        .await
        .map_err(|e| format!("create bucket: {e}"))?;
    Ok((js, store))
}

/// `kv-put`: `--msgs` puts one after another over `KEYS` keys, each revision checked.
pub async fn bench_kv_put(ctx: &RunCtx<'_>) -> Res<Outcome> {
    let (js, store) = setup(ctx).await?;
    let payload = payload(ctx.size);
    let keys = keys();
    let result = async {
        let mut latencies = Latencies::new();
        let meter = Meter::start();
        for i in 1..=ctx.msgs {
            let t = Instant::now();
            let rev = store
                .put(&keys[(i % KEYS) as usize], payload.clone())
                .await
                .map_err(|e| format!("put {i}: {e}"))?;
            latencies.record(t.elapsed());
            if rev != i {
                return Err(format!("put {i} stored as revision {rev}"));
            }
            if i % STEP == 0 {
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
    let _ = js.delete_key_value(&ctx.stream_name()).await;
    result
}

/// `kv-get`: the bucket filled with `KEYS` values, then `--msgs` gets one after another.
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
            if value.len() != ctx.size {
                return Err(format!("get {i}: {} bytes", value.len()));
            }
            if i % STEP == 0 {
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
    let _ = js.delete_key_value(&ctx.stream_name()).await;
    result
}

/// `kv-watch`: `--msgs` distinct keys, then a watch of all of them up to the marker.
pub async fn bench_kv_watch(ctx: &RunCtx<'_>) -> Res<Outcome> {
    let (js, store) = setup(ctx).await?;
    let payload = payload(ctx.size);
    let result = async {
        // Untimed: the blocking fill on the same connection.
        let prefix = format!("$KV.{}.k.", ctx.stream_name());
        fill_distinct(js.blocking(), &prefix, &payload, ctx.msgs)?;
        let meter = Meter::start();
        let mut watch = store.watch_all().await.map_err(|e| format!("watch: {e}"))?;
        let mut got = 0u64;
        loop {
            let next = tokio::time::timeout(STALL, watch.next()).await;
            let event = match next {
                Ok(Some(Ok(e))) => e,
                Ok(Some(Err(e))) => return Err(format!("watch: {e}")),
                Ok(None) => return Err("the watch ended".into()),
                Err(_) => return Err(format!("incomplete: {got} of {} entries", ctx.msgs)),
            };
            match event {
                WatchEvent::Entry(e) if e.value.len() == ctx.size => {}
                WatchEvent::Entry(e) => {
                    return Err(format!("an entry has {} bytes", e.value.len()))
                }
                WatchEvent::InitialValuesDone => break,
            }
            got += 1;
            if got % STEP == 0 {
                ctx.progress.add(STEP);
            }
        }
        let measured = meter.stop();
        if got != ctx.msgs {
            return Err(format!("{got} of {} entries before the marker", ctx.msgs));
        }
        let mut o = outcome(ctx.msgs, ctx.size, measured);
        o.note = Some("initial values of distinct keys".into());
        Ok(o)
    }
    .await;
    let _ = js.delete_key_value(&ctx.stream_name()).await;
    result
}

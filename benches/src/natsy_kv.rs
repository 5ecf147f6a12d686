//! The Key-Value scenarios on natsy-jetstream's blocking [`Store`]: `kv-put` (a put
//! awaited at a time over [`KEYS`] keys), `kv-get` (a get at a time of those keys, the
//! bucket filled first) and `kv-watch` (a watch of every key from the start over
//! `--msgs` distinct keys, timed up to the end-of-initial-values marker). The async-nats
//! peer's `kv.rs` and natsy-bench-async run the same buckets, keys and checks.

use std::time::Instant;

use natsy_jetstream::kv::{KvConfig, Store, WatchEvent};
use natsy_jetstream::{AsyncPublishOptions, StorageType, WhenFull};

use crate::cli::Storage;
use crate::measure::{Latencies, Meter};
use crate::natsy_client::{connect, outcome, payload, STALL};
use crate::progress::STEP;
use crate::report::Outcome;
use crate::runner::RunCtx;

/// Keys `kv-put` and `kv-get` cycle over.
pub const KEYS: u64 = 1000;
/// Untimed gets before the timed ones.
pub const WARM_UP: u64 = 100;

/// The bucket of a run: `BENCH_<id>`, history 1, the storage of `--storage`.
pub fn bucket_config(ctx: &RunCtx<'_>) -> KvConfig {
    let mut config = KvConfig::new(&ctx.stream_name());
    config.storage = match ctx.config.storage {
        Storage::Memory => StorageType::Memory,
        Storage::File => StorageType::File,
    };
    config
}

/// `k.0` … `k.999`, made before the clock starts.
pub fn keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("k.{i}")).collect()
}

fn setup(ctx: &RunCtx<'_>) -> Result<(natsy_jetstream::Context, Store), String> {
    let js = natsy_jetstream::new(connect(ctx.url)?);
    let store = js
        .create_key_value(&bucket_config(ctx))
        .map_err(|e| format!("create bucket: {e}"))?;
    Ok((js, store))
}

/// `kv-put`: `--msgs` puts one after another over [`KEYS`] keys, each revision checked.
pub fn bench_kv_put(ctx: &RunCtx<'_>) -> Result<Outcome, String> {
    let (js, store) = setup(ctx)?;
    let payload = payload(ctx.size);
    let keys = keys();
    let result = (|| {
        let mut latencies = Latencies::new();
        let meter = Meter::start();
        for i in 1..=ctx.msgs {
            let t = Instant::now();
            let rev = store
                .put(&keys[(i % KEYS) as usize], payload.clone())
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
    })();
    let _ = js.delete_key_value(&ctx.stream_name());
    result
}

/// `kv-get`: the bucket filled with [`KEYS`] values, then `--msgs` gets one after another.
pub fn bench_kv_get(ctx: &RunCtx<'_>) -> Result<Outcome, String> {
    let (js, store) = setup(ctx)?;
    let payload = payload(ctx.size);
    let keys = keys();
    let result = (|| {
        for key in &keys {
            store
                .put(key, payload.clone())
                .map_err(|e| format!("fill: {e}"))?;
        }
        for i in 0..WARM_UP {
            store
                .get(&keys[(i % KEYS) as usize])
                .map_err(|e| format!("warm-up get: {e}"))?;
        }
        let mut latencies = Latencies::new();
        let meter = Meter::start();
        for i in 1..=ctx.msgs {
            let t = Instant::now();
            let value = store
                .get(&keys[(i % KEYS) as usize])
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
    })();
    let _ = js.delete_key_value(&ctx.stream_name());
    result
}

/// Untimed: `n` values to `<prefix><i>` (distinct keys), 1000 acks outstanding.
pub fn fill_distinct(
    js: &natsy_jetstream::Context,
    prefix: &str,
    payload: &bytes::Bytes,
    n: u64,
) -> Result<(), String> {
    let mut publisher = js.async_publisher(AsyncPublishOptions {
        window: 1000,
        when_full: WhenFull::Block,
    });
    for i in 0..n {
        publisher
            .publish(&format!("{prefix}{i}"), payload.clone())
            .map_err(|e| format!("fill: {e}"))?;
    }
    for r in publisher.wait_all() {
        r.map_err(|e| format!("fill: {e}"))?;
    }
    Ok(())
}

/// `kv-watch`: `--msgs` distinct keys, then a watch of all of them up to the marker.
pub fn bench_kv_watch(ctx: &RunCtx<'_>) -> Result<Outcome, String> {
    let (js, store) = setup(ctx)?;
    let payload = payload(ctx.size);
    let result = (|| {
        let prefix = format!("$KV.{}.k.", ctx.stream_name());
        fill_distinct(&js, &prefix, &payload, ctx.msgs)?;
        let meter = Meter::start();
        let mut watch = store.watch_all().map_err(|e| format!("watch: {e}"))?;
        let mut got = 0u64;
        loop {
            let event = watch
                .next_timeout(STALL)
                .map_err(|e| format!("watch: {e}"))?
                .ok_or_else(|| format!("incomplete: {got} of {} entries", ctx.msgs))?;
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
    })();
    let _ = js.delete_key_value(&ctx.stream_name());
    result
}

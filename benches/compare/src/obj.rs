//! The object store scenarios (`obj-put`, `obj-get`) on async-nats, written the way its
//! users would: `ObjectStore::put` from an in-memory reader and `get` copied to a sink
//! (async-nats checks the digest at the end of the read). The same bucket, object and
//! checks as natsy-bench's `natsy_obj`.

use async_nats::jetstream::{self, object_store, stream::StorageType};
use natsy_benches::cli::Storage;
use natsy_benches::measure::Meter;
use natsy_benches::report::Outcome;
use natsy_benches::runner::RunCtx;

use super::{connect, outcome, Res};

const OBJECT: &str = "bench.bin";

fn object_bytes(ctx: &RunCtx<'_>) -> Vec<u8> {
    let len = ctx.msgs as usize * ctx.size;
    (0..len).map(|i| (i % 251) as u8).collect()
}

async fn setup(ctx: &RunCtx<'_>) -> Res<(jetstream::Context, object_store::ObjectStore)> {
    let js = jetstream::new(connect(ctx.url).await?);
    let storage = match ctx.config.storage {
        Storage::Memory => StorageType::Memory,
        Storage::File => StorageType::File,
    };
    let store = js
        .create_object_store(object_store::Config {
            bucket: ctx.stream_name(),
            storage,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("create bucket: {e}"))?;
    Ok((js, store))
}

async fn put(ctx: &RunCtx<'_>, store: &object_store::ObjectStore, data: &[u8]) -> Res<()> {
    let meta = object_store::ObjectMetadata {
        name: OBJECT.to_string(),
        chunk_size: Some(ctx.size),
        ..Default::default()
    };
    let info = store
        .put(meta, &mut &data[..])
        .await
        .map_err(|e| format!("put: {e}"))?;
    if info.size != data.len() || info.chunks as u64 != ctx.msgs {
        return Err(format!(
            "put stored {} bytes in {} chunks, not {} in {}",
            info.size,
            info.chunks,
            data.len(),
            ctx.msgs
        ));
    }
    Ok(())
}

pub async fn bench_obj_put(ctx: &RunCtx<'_>) -> Res<Outcome> {
    let (js, store) = setup(ctx).await?;
    let data = object_bytes(ctx);
    let result = async {
        let meter = Meter::start();
        put(ctx, &store, &data).await?;
        let measured = meter.stop();
        ctx.progress.add(ctx.msgs);
        let mut o = outcome(ctx.msgs, ctx.size, measured);
        o.note = Some(format!("one {} MiB object", data.len() >> 20));
        Ok(o)
    }
    .await;
    let _ = js.delete_object_store(ctx.stream_name()).await;
    result
}

pub async fn bench_obj_get(ctx: &RunCtx<'_>) -> Res<Outcome> {
    let (js, store) = setup(ctx).await?;
    let data = object_bytes(ctx);
    let result = async {
        put(ctx, &store, &data).await?;
        let meter = Meter::start();
        let mut object = store
            .get(OBJECT)
            .await
            .map_err(|e| format!("get: {e}"))?;
        let read = tokio::io::copy(&mut object, &mut tokio::io::sink())
            .await
            .map_err(|e| format!("read: {e}"))?;
        let measured = meter.stop();
        if read != data.len() as u64 {
            return Err(format!("read {read} bytes of {}", data.len()));
        }
        ctx.progress.add(ctx.msgs);
        let mut o = outcome(ctx.msgs, ctx.size, measured);
        o.note = Some(format!("one {} MiB object, digest checked", data.len() >> 20));
        Ok(o)
    }
    .await;
    let _ = js.delete_object_store(ctx.stream_name()).await;
    result
}

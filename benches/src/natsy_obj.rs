//! The object store scenarios on natsy-jetstream's blocking [`ObjectStore`]: `obj-put`
//! (one object of `--msgs` chunks of `--size` bytes, streamed from memory) and `obj-get`
//! (that object put first, untimed, then read to the end with its digest checked). The
//! async-nats peer's `obj.rs` runs the same bucket, object and checks. Rates are chunks
//! per second, so MB/s is the table's MB/s.
//!
//! [`ObjectStore`]: natsy_jetstream::object::ObjectStore

use natsy_jetstream::object::{ObjectMeta, ObjectStore, ObjectStoreConfig};
use natsy_jetstream::StorageType;

use crate::cli::Storage;
use crate::measure::Meter;
use crate::natsy_client::{connect, outcome};
use crate::report::Outcome;
use crate::runner::RunCtx;

/// The object's name in its bucket.
pub const OBJECT: &str = "bench.bin";

/// The object's bytes: `--msgs` × `--size`, made before the clock starts (the same
/// pattern the peer uses).
pub fn object_bytes(ctx: &RunCtx<'_>) -> Vec<u8> {
    let len = ctx.msgs as usize * ctx.size;
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn setup(ctx: &RunCtx<'_>) -> Result<(natsy_jetstream::Context, ObjectStore), String> {
    let js = natsy_jetstream::new(connect(ctx.url)?);
    let mut config = ObjectStoreConfig::new(&ctx.stream_name());
    config.storage = match ctx.config.storage {
        Storage::Memory => StorageType::Memory,
        Storage::File => StorageType::File,
    };
    let store = js
        .create_object_store(&config)
        .map_err(|e| format!("create bucket: {e}"))?;
    Ok((js, store))
}

fn put(ctx: &RunCtx<'_>, store: &ObjectStore, data: &[u8]) -> Result<(), String> {
    let mut meta = ObjectMeta::new(OBJECT);
    meta.chunk_size = Some(u32::try_from(ctx.size).map_err(|_| "--size too large")?);
    let info = store
        .put(meta, &mut &data[..])
        .map_err(|e| format!("put: {e}"))?;
    if info.size != data.len() as u64 || info.chunks != ctx.msgs {
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

/// `obj-put`: one object of `--msgs` chunks.
pub fn bench_obj_put(ctx: &RunCtx<'_>) -> Result<Outcome, String> {
    let (js, store) = setup(ctx)?;
    let data = object_bytes(ctx);
    let result = (|| {
        let meter = Meter::start();
        put(ctx, &store, &data)?;
        let measured = meter.stop();
        ctx.progress.add(ctx.msgs);
        let mut o = outcome(ctx.msgs, ctx.size, measured);
        o.note = Some(format!("one {} MiB object", data.len() >> 20));
        Ok(o)
    })();
    let _ = js.delete_object_store(&ctx.stream_name());
    result
}

/// `obj-get`: the object put (untimed), then read to the end, digest checked.
pub fn bench_obj_get(ctx: &RunCtx<'_>) -> Result<Outcome, String> {
    let (js, store) = setup(ctx)?;
    let data = object_bytes(ctx);
    let result = (|| {
        put(ctx, &store, &data)?;
        let meter = Meter::start();
        let mut reader = store.get(OBJECT).map_err(|e| format!("get: {e}"))?;
        let read =
            std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| format!("read: {e}"))?;
        let measured = meter.stop();
        if read != data.len() as u64 {
            return Err(format!("read {read} bytes of {}", data.len()));
        }
        ctx.progress.add(ctx.msgs);
        let mut o = outcome(ctx.msgs, ctx.size, measured);
        o.note = Some(format!(
            "one {} MiB object, digest checked",
            data.len() >> 20
        ));
        Ok(o)
    })();
    let _ = js.delete_object_store(&ctx.stream_name());
    result
}

//! The async object store (`natsy_jetstream::aio::ObjectStore`) against a real
//! nats-server: round trips through `AsyncRead` and the chunk `Stream`, tampering
//! detected, links, list and watch, delete and replace purging chunks, a failed put
//! cleaning up, a dropped reader leaving nothing behind — on tokio and on smol.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures_io::AsyncRead;
use futures_util::StreamExt;
use natsy_jetstream::aio::{self, Context, ObjectReader, ObjectStore};
use natsy_jetstream::object::{
    ObjectError, ObjectMeta, ObjectStoreConfig, ObjectWatchEvent, ObjectWatchOptions,
};
use natsy_jetstream::{PurgeOptions, StorageType};
use natsy_test_harness::NatsServer;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn setup(server: &NatsServer) -> Context {
    aio::new(natsy::aio::connect(server.url()).await.unwrap())
}

async fn store(js: &Context, name: &str) -> ObjectStore {
    let mut c = ObjectStoreConfig::new(name);
    c.storage = StorageType::Memory;
    js.create_object_store(&c).await.expect("bucket")
}

fn data(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 7)) as u8)
        .collect()
}

fn chunked(name: &str, chunk: u32) -> ObjectMeta {
    let mut m = ObjectMeta::new(name);
    m.chunk_size = Some(chunk);
    m
}

/// Reads to the end through `AsyncRead` in 1000-byte reads.
async fn read_to_end(reader: &mut ObjectReader) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1000];
    loop {
        let n = poll_fn(|cx| Pin::new(&mut *reader).poll_read(cx, &mut buf)).await?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

async fn next(w: &mut aio::ObjectWatch) -> ObjectWatchEvent {
    tokio::time::timeout(Duration::from_secs(5), w.next())
        .await
        .expect("an event within 5 s")
        .expect("the watch goes on")
        .expect("no error")
}

/// An `AsyncRead` yielding `len` bytes in pieces of `piece`, then (with `fail`) an error.
struct Source {
    data: Vec<u8>,
    at: usize,
    piece: usize,
    fail: bool,
}

impl AsyncRead for Source {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        out: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.at == self.data.len() && self.fail {
            return Poll::Ready(Err(std::io::Error::other("source broke")));
        }
        let n = out.len().min(self.piece).min(self.data.len() - self.at);
        out[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        let _ = cx;
        Poll::Ready(Ok(n))
    }
}

#[test]
fn objects_round_trip_through_async_read_and_the_chunk_stream() {
    let server = NatsServer::builder().jetstream().start().unwrap();
    runtime().block_on(async {
        let js = setup(&server).await;
        let store = store(&js, "art").await;
        for (name, len) in [
            ("empty", 0),
            ("small", 10),
            ("exact", 4096),
            ("multi", 10_000),
        ] {
            let body = data(len);
            let source = &mut Source {
                data: body.clone(),
                at: 0,
                piece: 777,
                fail: false,
            };
            let info = store.put(chunked(name, 1024), source).await.unwrap();
            assert_eq!(info.size, len as u64);
            assert_eq!(info.chunks, (len as u64).div_ceil(1024));
            let mut reader = store.get(name).await.unwrap();
            assert_eq!(read_to_end(&mut reader).await.unwrap(), body, "{name}");
            // The Stream form: the same bytes, chunk by chunk.
            let chunks: Vec<_> = store.get(name).await.unwrap().collect().await;
            assert_eq!(chunks.len() as u64, info.chunks);
            let joined: Vec<u8> = chunks
                .into_iter()
                .flat_map(|c| c.unwrap().to_vec())
                .collect();
            assert_eq!(joined, body);
        }
        let big = data(2 * 1024 * 1024 + 5);
        let info = store.put("big", &mut &big[..]).await.unwrap();
        assert_eq!(info.chunks, 17);
        assert_eq!(store.get_bytes("big").await.unwrap(), big);
        // The blocking store reads what the async one wrote.
        let blocking = js.blocking().object_store("art").unwrap();
        assert_eq!(blocking.get_bytes("big").unwrap(), big);
        assert!(matches!(
            store.get("nope").await,
            Err(ObjectError::NotFound)
        ));
        // Dropping a reader part-way leaves no wait behind.
        let mut reader = store.get("big").await.unwrap();
        assert!(reader.next_chunk().await.unwrap().is_some());
        drop(reader);
        assert_eq!(js.client().registered_waits(), 0);
    });
}

#[test]
fn tampering_is_detected_and_failed_puts_clean_up() {
    let server = NatsServer::builder().jetstream().start().unwrap();
    runtime().block_on(async {
        let js = setup(&server).await;
        let store = store(&js, "tam").await;
        let info = store
            .put(chunked("doc", 1024), &mut &data(4096)[..])
            .await
            .unwrap();
        let subject = format!("$O.tam.C.{}", info.nuid);
        let stream = js.get_stream("OBJ_tam").await.unwrap();
        stream
            .purge_with(&PurgeOptions::new().filter(&subject).sequence(2))
            .await
            .unwrap();
        js.publish(&subject, vec![1u8; 1024])
            .await
            .unwrap()
            .await
            .unwrap();
        let mut reader = store.get("doc").await.unwrap();
        let e = read_to_end(&mut reader).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(matches!(
            ObjectError::from_io(&e),
            Some(ObjectError::DigestMismatch { .. })
        ));
        // The Stream form yields the error once, then ends.
        let items: Vec<_> = store.get("doc").await.unwrap().collect().await;
        assert!(matches!(
            items.last(),
            Some(Err(ObjectError::DigestMismatch { .. }))
        ));

        store.put_bytes("keep", b"original").await.unwrap();
        let before = js.stream_info("OBJ_tam").await.unwrap().state.messages;
        let broken = &mut Source {
            data: data(5000),
            at: 0,
            piece: 5000,
            fail: true,
        };
        let e = store.put(chunked("keep", 100), broken).await.unwrap_err();
        assert!(matches!(e, ObjectError::Read(_)), "{e:?}");
        assert_eq!(
            js.stream_info("OBJ_tam").await.unwrap().state.messages,
            before
        );
        assert_eq!(store.get_bytes("keep").await.unwrap(), b"original");
    });
}

#[test]
fn links_list_watch_delete_and_replace() {
    let server = NatsServer::builder().jetstream().start().unwrap();
    runtime().block_on(async {
        let js = setup(&server).await;
        let store = store(&js, "lw").await;
        let mut w = store.watch().await.unwrap();
        assert_eq!(next(&mut w).await, ObjectWatchEvent::InitialValuesDone);
        let a = store
            .put(chunked("a", 100), &mut &data(1000)[..])
            .await
            .unwrap();
        assert!(matches!(next(&mut w).await, ObjectWatchEvent::Info(i) if i.name == "a"));
        store
            .put(chunked("a", 100), &mut &data(150)[..])
            .await
            .unwrap();
        assert!(matches!(next(&mut w).await, ObjectWatchEvent::Info(i) if i.size == 150));
        // Two chunks and one info left: the first put's ten chunks were purged.
        assert_eq!(js.stream_info("OBJ_lw").await.unwrap().state.messages, 3);
        store.add_link("l", &a).await.unwrap();
        assert!(matches!(next(&mut w).await, ObjectWatchEvent::Info(i) if i.is_link()));
        assert_eq!(store.get_bytes("l").await.unwrap(), data(150));
        store.add_bucket_link("bl", "lw").await.unwrap();
        assert!(matches!(
            store.get("bl").await,
            Err(ObjectError::LinkIsBucket)
        ));
        let names: Vec<_> = store
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(names, ["a", "l", "bl"]);
        store.update_meta("a", "b").await.unwrap();
        store.delete("b").await.unwrap();
        assert!(matches!(store.info("b").await, Err(ObjectError::NotFound)));
        assert!(store.info_with_deleted("b").await.unwrap().deleted);
        let mut only_new = store
            .watch_with(ObjectWatchOptions::new().updates_only())
            .await
            .unwrap();
        assert_eq!(
            next(&mut only_new).await,
            ObjectWatchEvent::InitialValuesDone
        );
        store.put_bytes("c", b"c").await.unwrap();
        assert!(matches!(next(&mut only_new).await, ObjectWatchEvent::Info(i) if i.name == "c"));
        let status = store.status().await.unwrap();
        assert_eq!(status.bucket(), "lw");
        js.delete_object_store("lw").await.unwrap();
        assert!(matches!(
            js.object_store("lw").await,
            Err(ObjectError::BucketNotFound)
        ));
    });
}

#[test]
fn the_async_store_runs_on_smol() {
    let server = NatsServer::builder().jetstream().start().unwrap();
    smol::block_on(async {
        let js = setup(&server).await;
        let store = store(&js, "smol").await;
        let body = data(300_000);
        store.put("x", &mut &body[..]).await.unwrap();
        let mut reader = store.get("x").await.unwrap();
        assert_eq!(read_to_end(&mut reader).await.unwrap(), body);
    });
}

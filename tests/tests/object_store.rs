//! The object store (ADR-20) against a real nats-server, blocking API: buckets, round
//! trips of empty, small, exact-multiple and multi-chunk objects, tampering detected by
//! the digest and chunk checks, links, list, watch, delete, meta updates, replacement
//! purging old chunks, and a failed put cleaning up after itself.

use std::io::Read;
use std::time::Duration;

use natsy_jetstream::object::{
    ObjectError, ObjectMeta, ObjectStore, ObjectStoreConfig, ObjectWatch, ObjectWatchEvent,
    ObjectWatchOptions,
};
use natsy_jetstream::{Context, PurgeOptions, StorageType};
use natsy_test_harness::NatsServer;

fn setup() -> (NatsServer, Context) {
    let server = NatsServer::builder().jetstream().start().expect("server");
    let js = natsy_jetstream::new(natsy::connect(server.url()).unwrap());
    (server, js)
}

fn store(js: &Context, name: &str) -> ObjectStore {
    let mut c = ObjectStoreConfig::new(name);
    c.storage = StorageType::Memory;
    js.create_object_store(&c).expect("bucket")
}

/// Deterministic, non-repeating-looking bytes.
fn data(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 7)) as u8)
        .collect()
}

fn small_chunks(name: &str, chunk: u32) -> ObjectMeta {
    let mut m = ObjectMeta::new(name);
    m.chunk_size = Some(chunk);
    m
}

fn read_all(store: &ObjectStore, name: &str) -> Result<Vec<u8>, ObjectError> {
    let mut out = Vec::new();
    match store.get(name)?.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(e) => Err(ObjectError::from_io(&e).cloned().expect("an ObjectError")),
    }
}

fn next(w: &mut ObjectWatch) -> ObjectWatchEvent {
    w.next_timeout(Duration::from_secs(5))
        .expect("watch")
        .expect("an event within 5 s")
}

fn stream_messages(js: &Context, bucket: &str) -> u64 {
    js.stream_info(&format!("OBJ_{bucket}"))
        .unwrap()
        .state
        .messages
}

#[test]
fn buckets_are_created_bound_sealed_and_deleted() {
    let (_s, js) = setup();
    let mut c = ObjectStoreConfig::new("files");
    c.description = Some("uploads".into());
    c.ttl = Duration::from_secs(3600);
    c.metadata.insert("team".into(), "a".into());
    let store = js.create_object_store(&c).unwrap();
    let status = store.status().unwrap();
    assert_eq!(status.bucket(), "files");
    assert_eq!(status.description(), Some("uploads"));
    assert_eq!(status.ttl(), Duration::from_secs(3600));
    assert_eq!(status.storage(), StorageType::File);
    assert_eq!(status.metadata().get("team").map(String::as_str), Some("a"));
    assert!(!status.sealed());
    let sc = &status.stream_info().config;
    assert_eq!(sc.subjects, ["$O.files.C.>", "$O.files.M.>"]);
    assert!(sc.allow_rollup_hdrs && sc.allow_direct);
    assert_eq!(js.object_store_names().unwrap(), ["files"]);
    assert!(js.object_store("files").is_ok());
    assert!(matches!(
        js.object_store("nope"),
        Err(ObjectError::BucketNotFound)
    ));
    assert!(matches!(
        js.object_store("a.b"),
        Err(ObjectError::InvalidBucketName)
    ));
    c.max_bytes = 1024;
    assert!(matches!(
        js.create_object_store(&c),
        Err(ObjectError::BucketExists)
    ));

    store.put_bytes("a", b"hello").unwrap();
    store.seal().unwrap();
    assert!(store.status().unwrap().sealed());
    assert!(store.put_bytes("b", b"more").is_err());
    assert_eq!(store.get_bytes("a").unwrap(), b"hello");
    js.delete_object_store("files").unwrap();
    assert!(matches!(
        js.object_store("files"),
        Err(ObjectError::BucketNotFound)
    ));
}

#[test]
fn objects_round_trip_at_every_chunk_boundary() {
    let (_s, js) = setup();
    let store = store(&js, "rt");
    let chunk = 1024u32;
    for (name, len) in [
        ("empty", 0),
        ("small", 10),
        ("exact", 4096),
        ("multi", 10_000),
    ] {
        let body = data(len);
        let info = store
            .put(small_chunks(name, chunk), &mut &body[..])
            .unwrap();
        assert_eq!(info.size, len as u64, "{name}");
        assert_eq!(info.chunks, (len as u64).div_ceil(chunk as u64), "{name}");
        assert!(info.digest.as_deref().unwrap().starts_with("SHA-256="));
        assert_eq!(info.chunk_size(), chunk);
        assert_eq!(store.info(name).unwrap(), info);
        assert_eq!(read_all(&store, name).unwrap(), body, "{name}");
        // Partial reads of odd sizes reassemble the same bytes.
        let mut reader = store.get(name).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 333];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, body, "{name}");
    }
    // The default chunk size: a 300 KiB object is three chunks of up to 128 KiB.
    let body = data(300 * 1024);
    let info = store.put("default", &mut &body[..]).unwrap();
    assert_eq!((info.chunks, info.chunk_size()), (3, 128 * 1024));
    assert_eq!(store.get_bytes("default").unwrap(), body);
    // A 3 MiB object streamed through an io::Read that yields odd-sized pieces.
    struct Trickle(Vec<u8>, usize);
    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = out.len().min(7777).min(self.0.len() - self.1);
            out[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }
    let big = data(3 * 1024 * 1024);
    let info = store.put("big", &mut Trickle(big.clone(), 0)).unwrap();
    assert_eq!(info.chunks, 24);
    assert_eq!(read_all(&store, "big").unwrap(), big);
    assert!(matches!(store.get("missing"), Err(ObjectError::NotFound)));
    assert!(matches!(
        store.put_bytes("", b"x"),
        Err(ObjectError::InvalidName)
    ));
}

#[test]
fn tampered_chunks_and_digests_are_detected() {
    let (_s, js) = setup();
    let store = store(&js, "tamper");
    let body = data(4096);
    let info = store
        .put(small_chunks("doc", 1024), &mut &body[..])
        .unwrap();
    let chunk_subject = format!("$O.tamper.C.{}", info.nuid);
    let stream = js.get_stream("OBJ_tamper").unwrap();

    // One chunk replaced by another of the same size: count and size hold, the digest
    // does not.
    let first = stream.get_message(1).unwrap();
    assert_eq!(first.subject, chunk_subject);
    // Purging below sequence 2 on the chunk subject removes the first chunk only.
    stream
        .purge_with(&PurgeOptions::new().filter(&chunk_subject).sequence(2))
        .unwrap();
    js.publish(&chunk_subject, vec![0u8; 1024]).unwrap();
    let e = read_all(&store, "doc").unwrap_err();
    assert!(matches!(e, ObjectError::DigestMismatch { .. }), "{e:?}");
    assert!(e.is_corruption());
    // The io::Error of a Read carries it, as InvalidData.
    let mut out = Vec::new();
    let io = store.get("doc").unwrap().read_to_end(&mut out).unwrap_err();
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidData);

    // An extra chunk: the count check fires.
    let info = store
        .put(small_chunks("doc2", 1024), &mut &body[..])
        .unwrap();
    js.publish(&format!("$O.tamper.C.{}", info.nuid), "extra")
        .unwrap();
    let e = read_all(&store, "doc2").unwrap_err();
    assert!(
        matches!(e, ObjectError::ChunkCountMismatch { expected: 4, .. }),
        "{e:?}"
    );

    // An info whose digest was changed.
    let mut info = store.put_bytes("doc3", b"payload").unwrap();
    info.digest = Some("SHA-256=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into());
    republish_info(&js, &info);
    assert!(matches!(
        read_all(&store, "doc3"),
        Err(ObjectError::DigestMismatch { .. })
    ));
    info.digest = Some("MD5=xyz".into());
    republish_info(&js, &info);
    assert!(matches!(
        store.get("doc3"),
        Err(ObjectError::InvalidDigest(_))
    ));
}

/// Overwrites an object's info as another client would.
fn republish_info(js: &Context, info: &natsy_jetstream::object::ObjectInfo) {
    use base64::Engine as _;
    let name = base64::engine::general_purpose::URL_SAFE.encode(&info.name);
    let subject = format!("$O.{}.M.{name}", info.bucket);
    js.publish(&subject, serde_json::to_vec(info).unwrap())
        .unwrap();
}

#[test]
fn replacing_and_deleting_purge_chunks() {
    let (_s, js) = setup();
    let store = store(&js, "repl");
    store
        .put(small_chunks("a", 100), &mut &data(1000)[..])
        .unwrap();
    assert_eq!(stream_messages(&js, "repl"), 11);
    let second = store
        .put(small_chunks("a", 100), &mut &data(250)[..])
        .unwrap();
    // The old ten chunks are gone, the old info rolled up.
    assert_eq!(stream_messages(&js, "repl"), 4);
    assert_eq!(store.get_bytes("a").unwrap(), data(250));

    store.delete("a").unwrap();
    assert_eq!(stream_messages(&js, "repl"), 1);
    assert!(matches!(store.info("a"), Err(ObjectError::NotFound)));
    assert!(matches!(store.get("a"), Err(ObjectError::NotFound)));
    let marker = store.info_with_deleted("a").unwrap();
    assert!(marker.deleted && marker.size == 0 && marker.digest.is_none());
    assert_eq!(marker.nuid, second.nuid);
    assert!(matches!(store.delete("never"), Err(ObjectError::NotFound)));
    // Storing again over a deleted marker works.
    store.put_bytes("a", b"again").unwrap();
    assert_eq!(store.get_bytes("a").unwrap(), b"again");
}

#[test]
fn a_failed_put_purges_its_chunks_and_keeps_the_old_object() {
    let (_s, js) = setup();
    let store = store(&js, "fail");
    store.put_bytes("a", b"original").unwrap();
    let before = stream_messages(&js, "fail");
    struct Broken(usize);
    impl Read for Broken {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            self.0 -= 1;
            out.fill(7);
            Ok(out.len())
        }
    }
    let e = store
        .put(small_chunks("a", 64), &mut Broken(5))
        .unwrap_err();
    assert!(matches!(e, ObjectError::Read(_)), "{e:?}");
    assert_eq!(stream_messages(&js, "fail"), before);
    assert_eq!(store.get_bytes("a").unwrap(), b"original");
}

#[test]
fn a_put_the_bucket_refuses_purges_what_it_stored() {
    let (_s, js) = setup();
    let mut c = ObjectStoreConfig::new("full");
    c.storage = StorageType::Memory;
    c.max_bytes = 20_000;
    let store = js.create_object_store(&c).unwrap();
    store.put_bytes("small", b"fits").unwrap();
    let before = stream_messages(&js, "full");
    // Discard-new: the chunk that goes past max_bytes is refused; the ones before it
    // were stored and must be purged again.
    let e = store
        .put(small_chunks("big", 1000), &mut &data(50_000)[..])
        .unwrap_err();
    assert!(matches!(e, ObjectError::JetStream(_)), "{e:?}");
    assert_eq!(stream_messages(&js, "full"), before);
    assert!(matches!(store.info("big"), Err(ObjectError::NotFound)));
    assert_eq!(store.get_bytes("small").unwrap(), b"fits");
}

#[test]
fn links_point_at_objects_and_buckets() {
    let (_s, js) = setup();
    let store = store(&js, "links");
    let other = self::store(&js, "other");
    let target = other.put_bytes("t", b"linked data").unwrap();
    let link = store.add_link("l", &target).unwrap();
    assert!(link.is_link());
    assert_eq!(store.get_bytes("l").unwrap(), b"linked data");
    assert_eq!(store.get("l").unwrap().info().name, "t");
    assert!(matches!(
        store.add_link("l2", &link),
        Err(ObjectError::LinkToLink)
    ));
    let local = store.put_bytes("obj", b"x").unwrap();
    assert!(matches!(
        store.add_link("obj", &target),
        Err(ObjectError::AlreadyExists)
    ));
    // Relinking a link is fine.
    store.add_link("l", &local).unwrap();
    assert_eq!(store.get_bytes("l").unwrap(), b"x");
    store.add_bucket_link("b", "other").unwrap();
    assert!(matches!(store.get("b"), Err(ObjectError::LinkIsBucket)));
    other.delete("t").unwrap();
    let gone = other.info_with_deleted("t").unwrap();
    assert!(matches!(
        store.add_link("l3", &gone),
        Err(ObjectError::LinkToDeleted)
    ));
}

#[test]
fn meta_updates_rename_and_describe() {
    let (_s, js) = setup();
    let store = store(&js, "meta");
    store.put_bytes("a", b"aaa").unwrap();
    store.put_bytes("b", b"bbb").unwrap();
    let mut meta = ObjectMeta::new("c");
    meta.description = Some("renamed".into());
    meta.headers.insert("X-Kind", "text").unwrap();
    meta.metadata.insert("k".into(), "v".into());
    let info = store.update_meta("a", meta).unwrap();
    assert_eq!(info.name, "c");
    assert!(matches!(store.info("a"), Err(ObjectError::NotFound)));
    let c = store.info("c").unwrap();
    assert_eq!(c.description.as_deref(), Some("renamed"));
    assert_eq!(c.headers.get("X-Kind"), Some("text"));
    assert_eq!(c.metadata["k"], "v");
    assert_eq!(store.get_bytes("c").unwrap(), b"aaa");
    assert!(matches!(
        store.update_meta("c", "b"),
        Err(ObjectError::AlreadyExists)
    ));
    assert!(matches!(
        store.update_meta("zz", "y"),
        Err(ObjectError::NotFound)
    ));
}

#[test]
fn list_and_watch_report_infos_then_the_marker_then_changes() {
    let (_s, js) = setup();
    let store = store(&js, "w");
    assert!(store.list().unwrap().is_empty());
    let mut w = store.watch().unwrap();
    assert_eq!(next(&mut w), ObjectWatchEvent::InitialValuesDone);
    // Each change is read before the next: a delete's rollup removes the info it
    // replaces from the stream, so a watch that had not read it yet never sees it.
    store.put_bytes("one", b"1").unwrap();
    assert!(matches!(next(&mut w), ObjectWatchEvent::Info(i) if i.name == "one" && !i.deleted));
    store.put_bytes("two", b"22").unwrap();
    assert!(matches!(next(&mut w), ObjectWatchEvent::Info(i) if i.name == "two" && i.size == 2));
    store.delete("one").unwrap();
    assert!(matches!(next(&mut w), ObjectWatchEvent::Info(i) if i.name == "one" && i.deleted));
    let names: Vec<_> = store.list().unwrap().into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["two"]);
    // A new watch: the newest info per object, then the marker.
    let mut w2 = store.watch().unwrap();
    let mut seen = Vec::new();
    while let ObjectWatchEvent::Info(i) = next(&mut w2) {
        seen.push((i.name, i.deleted));
    }
    assert_eq!(
        seen,
        [("two".to_string(), false), ("one".to_string(), true)]
    );
    let mut w3 = store
        .watch_with(ObjectWatchOptions::new().updates_only())
        .unwrap();
    assert_eq!(next(&mut w3), ObjectWatchEvent::InitialValuesDone);
    store.put_bytes("three", b"3").unwrap();
    assert!(matches!(next(&mut w3), ObjectWatchEvent::Info(i) if i.name == "three"));
    assert!(matches!(next(&mut w2), ObjectWatchEvent::Info(i) if i.name == "three"));
    // Deleting the bucket ends a watch with one typed error.
    js.delete_object_store("w").unwrap();
    let end: Vec<_> = w3.by_ref().collect();
    assert!(
        matches!(end.as_slice(), [Err(ObjectError::BucketNotFound)]),
        "{end:?}"
    );
}

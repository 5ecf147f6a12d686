//! Object store interop with async-nats: objects natsy writes (one chunk, many chunks,
//! empty, links) are read by async-nats with its digest check, and the other way round;
//! deletes and lists agree.
//!
//! async-nats is not built by this workspace (CI must not compile tokio); the peer is
//! `benches/compare`'s `object_interop` binary. Build it and point `OBJECT_INTEROP_BIN`
//! at it:
//!
//! ```text
//! cargo build --release --manifest-path benches/compare/Cargo.toml --bin object_interop
//! OBJECT_INTEROP_BIN=benches/compare/target/release/object_interop \
//!     cargo test -p natsy-test-harness --test object_interop
//! ```
//!
//! Without the variable the test says so on stderr and checks nothing.

use natsy_jetstream::object::{ObjectError, ObjectMeta, ObjectStoreConfig};
use natsy_test_harness::{InteropPeer, NatsServer};

/// The peer's pattern: byte `i` is `(i * 31) ^ (i >> 7)`, truncated.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 7)) as u8)
        .collect()
}

#[test]
fn natsy_and_async_nats_read_each_others_objects() {
    let server = NatsServer::builder().jetstream().start().expect("server");
    let Some(peer) = InteropPeer::from_env("OBJECT_INTEROP_BIN", server.url()) else {
        return;
    };
    let js = natsy_jetstream::new(natsy::connect(server.url()).unwrap());
    let store = js
        .create_object_store(&ObjectStoreConfig::new("interop"))
        .unwrap();

    // natsy writes, async-nats reads (and checks the digest natsy computed).
    let mut small = ObjectMeta::new("small chunks/ä.bin");
    small.chunk_size = Some(1000);
    let cases = [
        (ObjectMeta::new("one"), 100usize),
        (ObjectMeta::new("many"), 300 * 1024 + 7),
        (small, 10_000),
        (ObjectMeta::new("empty"), 0),
    ];
    for (meta, len) in cases {
        let name = meta.name.clone();
        let info = store.put(meta, &mut &pattern(len)[..]).unwrap();
        assert_eq!(
            peer.run(&["interop", "get", &name]),
            [format!("{len} pattern")],
            "{name}"
        );
        let line = &peer.run(&["interop", "info", &name])[0];
        let digest = info.digest.as_deref().unwrap();
        assert!(
            line.ends_with(&format!("{len} {} {digest} false -", info.chunks)),
            "{line}"
        );
    }
    let many = store.info("many").unwrap();
    store.add_link("to-many", &many).unwrap();
    assert_eq!(
        peer.run(&["interop", "get", "to-many"]),
        [format!("{} pattern", 300 * 1024 + 7)]
    );

    // async-nats writes, natsy reads (and checks the digest async-nats computed).
    for (name, len) in [("theirs", 1024 * 1024 + 3), ("tiny", 5), ("nothing", 0)] {
        let out = peer.run(&["interop", "put", name, &len.to_string()]);
        let info = store.info(name).unwrap();
        assert_eq!(
            out,
            [format!(
                "{} {} {}",
                info.size,
                info.chunks,
                info.digest.as_deref().unwrap_or("-")
            )]
        );
        assert_eq!(store.get_bytes(name).unwrap(), pattern(len), "{name}");
    }
    peer.run(&["interop", "link", "their-link", "theirs"]);
    assert_eq!(
        store.get_bytes("their-link").unwrap(),
        pattern(1024 * 1024 + 3)
    );

    // Deletes and lists agree.
    peer.run(&["interop", "delete", "one"]);
    assert!(matches!(store.info("one"), Err(ObjectError::NotFound)));
    store.delete("tiny").unwrap();
    let mut natsy_names: Vec<String> = store.list().unwrap().into_iter().map(|i| i.name).collect();
    natsy_names.sort();
    assert_eq!(peer.run(&["interop", "list"]), natsy_names);
    assert!(
        !natsy_names.contains(&"one".to_string()) && !natsy_names.contains(&"tiny".to_string())
    );
}

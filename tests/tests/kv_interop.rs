//! KV interop with async-nats: a bucket natsy writes is read by async-nats and the other
//! way round, and each client's watch sees the other's writes.
//!
//! async-nats is not built by this workspace (CI must not compile tokio); the peer is
//! `benches/compare`'s `kv_interop` binary. Build it and point `KV_INTEROP_BIN` at it:
//!
//! ```text
//! cargo build --release --manifest-path benches/compare/Cargo.toml --bin kv_interop
//! KV_INTEROP_BIN=benches/compare/target/release/kv_interop \
//!     cargo test -p natsy-test-harness --test kv_interop
//! ```
//!
//! Without the variable the test says so on stderr and checks nothing.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use natsy_jetstream::kv::{KvConfig, KvError, Operation, WatchEvent};
use natsy_test_harness::{InteropPeer, NatsServer};

#[test]
fn natsy_and_async_nats_read_each_others_buckets() {
    let server = NatsServer::builder().jetstream().start().expect("server");
    let Some(peer) = InteropPeer::from_env("KV_INTEROP_BIN", server.url()) else {
        return;
    };
    let js = natsy_jetstream::new(natsy::connect(server.url()).unwrap());

    // natsy writes, async-nats reads.
    let mut config = KvConfig::new("interop");
    config.history = 5;
    let kv = js.create_key_value(&config).unwrap();
    let r1 = kv.put("a", "1").unwrap();
    let r2 = kv.put("a", "2").unwrap();
    kv.put("b", "x").unwrap();
    kv.delete("b").unwrap();
    let rc = kv.create("c", "new").unwrap();
    assert_eq!(
        peer.run(&["interop", "get", "a"]),
        [format!("a {r2} PUT 2")]
    );
    // async-nats's `entry` returns the delete marker itself: natsy's DEL is its Delete.
    let b = peer.run(&["interop", "get", "b"]);
    assert!(b[0].starts_with("b ") && b[0].contains(" DEL"), "{b:?}");
    assert_eq!(peer.run(&["interop", "get", "never"]), ["none"]);
    assert_eq!(
        peer.run(&["interop", "get", "c"]),
        [format!("c {rc} PUT new")]
    );
    assert_eq!(peer.run(&["interop", "keys"]), ["a", "c"]);
    assert_eq!(
        peer.run(&["interop", "history", "a"]),
        [format!("a {r1} PUT 1"), format!("a {r2} PUT 2")]
    );
    let hb = peer.run(&["interop", "history", "b"]);
    assert_eq!(hb.len(), 2);
    assert!(hb[1].starts_with("b ") && hb[1].contains(" DEL"), "{hb:?}");

    // async-nats writes, natsy reads.
    let rd: u64 = peer.run(&["interop", "put", "d", "from-async"])[0]
        .parse()
        .unwrap();
    let d = kv.entry("d").unwrap();
    assert_eq!((d.revision, &d.value[..]), (rd, &b"from-async"[..]));
    peer.run(&["interop", "delete", "c"]);
    assert_eq!(kv.get("c").unwrap_err(), KvError::KeyNotFound);
    assert_eq!(
        kv.history("c").unwrap().last().unwrap().operation,
        Operation::Delete
    );
    kv.create("c", "recreated").unwrap();
    peer.run(&["interop", "purge", "a"]);
    let ha = kv.history("a").unwrap();
    assert_eq!(ha.len(), 1);
    assert_eq!(ha[0].operation, Operation::Purge);

    // A bucket async-nats creates is bound and read by natsy.
    peer.run(&["fromasync", "create", "3"]);
    peer.run(&["fromasync", "put", "k", "v"]);
    let other = js.key_value("fromasync").unwrap();
    assert_eq!(other.status().unwrap().history(), 3);
    assert_eq!(&other.get("k").unwrap()[..], b"v");
    other.put("k", "w").unwrap();
    let got = peer.run(&["fromasync", "get", "k"]);
    assert!(got[0].ends_with(" PUT w"), "{got:?}");

    // async-nats watches natsy's writes: initial values, the marker, then live changes.
    let mut child = Command::new(&peer.bin)
        .args([peer.url.as_str(), "interop", "watch", "2"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut initial = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line == "--current--" {
            break;
        }
        initial.push(line);
    }
    let keys: Vec<&str> = initial
        .iter()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(keys, ["b", "d", "c", "a"], "{initial:?}");
    let re = kv.put("e", "1").unwrap();
    kv.delete("d").unwrap();
    let live: Vec<String> = lines.map(Result::unwrap).collect();
    assert!(child.wait().unwrap().success());
    assert_eq!(live[0], format!("e {re} PUT 1"));
    assert!(
        live[1].starts_with("d ") && live[1].contains(" DEL"),
        "{live:?}"
    );

    // natsy watches async-nats's writes.
    let mut watch = kv.watch("f").unwrap();
    let first = watch.next_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(first, Some(WatchEvent::InitialValuesDone));
    peer.run(&["interop", "put", "f", "async-live"]);
    match watch.next_timeout(Duration::from_secs(5)).unwrap() {
        Some(WatchEvent::Entry(e)) => assert_eq!(&e.value[..], b"async-live"),
        other => panic!("expected f, got {other:?}"),
    }
}

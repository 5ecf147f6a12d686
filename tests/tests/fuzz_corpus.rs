//! Replays every committed fuzz corpus input (`fuzz/corpus/<target>/*`) through its fuzz
//! target, as a plain test: a regression suite of everything the fuzzer ever found
//! interesting, with no libFuzzer needed.
//!
//! The target bodies are the fuzz crate's own `src/targets.rs`, compiled in here.

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../fuzz/src/targets.rs"]
mod targets;

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let data = std::fs::read(&path).expect("corpus file");
            (path, data)
        })
        .collect();
    inputs.sort();
    inputs
}

fn replay(target: &str, run: fn(&[u8])) {
    let inputs = corpus(target);
    assert!(!inputs.is_empty(), "no corpus for {target}");
    for (path, data) in inputs {
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", path.display());
    }
}

#[test]
fn server_ops() {
    replay("server_ops", targets::server_ops);
}

#[test]
fn client_ops() {
    replay("client_ops", targets::client_ops);
}

#[test]
fn headers() {
    replay("headers", targets::headers);
}

#[test]
fn auth_material() {
    replay("auth_material", targets::auth_material);
}

#[test]
fn connection() {
    replay("connection", targets::connection);
}

#[test]
fn differential() {
    replay("differential", targets::differential);
    // The server-op corpus has the same shape (chunking seed, then bytes): the reference
    // parser must agree on all of it too.
    replay("server_ops", targets::differential);
}

#[test]
fn encode_roundtrip() {
    replay("encode_roundtrip", targets::encode_roundtrip);
}

/// Every fuzz target has a corpus and a replay test here.
#[test]
fn every_target_is_replayed() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/fuzz_targets");
    let mut targets: Vec<String> = std::fs::read_dir(dir)
        .expect("fuzz_targets")
        .map(|e| {
            e.expect("entry")
                .path()
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into()
        })
        .collect();
    targets.sort();
    let replayed = [
        "auth_material",
        "client_ops",
        "connection",
        "differential",
        "encode_roundtrip",
        "headers",
        "server_ops",
        "websocket",
    ];
    assert_eq!(
        targets, replayed,
        "add a replay test for each new fuzz target"
    );
}

#[test]
fn websocket() {
    replay("websocket", targets::websocket);
}

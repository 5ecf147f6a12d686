//! The bodies of natsy's fuzz targets.
//!
//! Each `fuzz_targets/*.rs` is one line that calls a function here. The same functions are
//! compiled into the workspace test `tests/tests/fuzz_corpus.rs` (via `#[path]`), which
//! replays every committed corpus input as a regression test without needing libFuzzer.
pub mod targets;

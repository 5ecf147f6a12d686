//! `natsy-bench`: throughput and latency of the natsy client against a real server.
//!
//! `cargo run --release -p natsy-benches --bin natsy-bench -- --help` lists the scenarios
//! and flags. Without `--url` it starts (and afterwards stops) a local `nats-server`.

fn main() -> std::process::ExitCode {
    natsy_benches::runner::main(natsy_benches::natsy_client::Natsy)
}

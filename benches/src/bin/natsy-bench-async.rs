//! `natsy-bench-async`: the natsy-bench scenarios on natsy's async API (`natsy::aio`) on
//! tokio, with the same flags and output as `natsy-bench`, for `benches/compare.sh` to put
//! beside async-nats.

fn main() -> std::process::ExitCode {
    match natsy_benches::natsy_async::NatsyAsync::new() {
        Ok(client) => natsy_benches::runner::main(client),
        Err(e) => {
            eprintln!("natsy-bench-async: cannot start the tokio runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! Chaos runner: kills and restarts nodes of a real 3-node cluster while clients publish,
//! subscribe and consume, then prints what was lost (see `natsy_test_harness::chaos`).
//!
//! ```text
//! cargo run -p natsy-test-harness --bin chaos -- --minutes 10 --core --jetstream
//! ```
//!
//! Options: `--minutes N` or `--seconds N` (default 60 s), `--core`, `--jetstream` (default
//! both), `--kill-every-ms N` (default 5000), `--seed N`. Exits non-zero if any invariant
//! fails (an unexplained core loss, a duplicate, a slow-consumer drop, an acknowledged
//! JetStream message missing, stored twice or never consumed).

use std::process::ExitCode;
use std::time::Duration;

use natsy_test_harness::chaos::{self, ChaosOptions};

fn main() -> ExitCode {
    let mut opts = ChaosOptions::default();
    let (mut core, mut js) = (false, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Option<u64> {
            let v = args.next().and_then(|v| v.parse().ok());
            if v.is_none() {
                eprintln!("{name} needs a number");
            }
            v
        };
        match arg.as_str() {
            "--minutes" => match number("--minutes") {
                Some(n) => opts.duration = Duration::from_secs(n * 60),
                None => return ExitCode::from(2),
            },
            "--seconds" => match number("--seconds") {
                Some(n) => opts.duration = Duration::from_secs(n),
                None => return ExitCode::from(2),
            },
            "--kill-every-ms" => match number("--kill-every-ms") {
                Some(n) => opts.kill_every = Duration::from_millis(n),
                None => return ExitCode::from(2),
            },
            "--seed" => match number("--seed") {
                Some(n) => opts.seed = n,
                None => return ExitCode::from(2),
            },
            "--core" => core = true,
            "--jetstream" => js = true,
            other => {
                eprintln!("unknown argument {other:?}; see the file's docs");
                return ExitCode::from(2);
            }
        }
    }
    if !core && !js {
        (core, js) = (true, true);
    }
    let mut ok = true;
    if core {
        match chaos::run_core(&opts) {
            Ok(r) => {
                println!("{r}");
                ok &= r.unexplained == 0 && r.duplicates == 0 && r.slow_consumer_drops == 0;
            }
            Err(e) => {
                eprintln!("core chaos failed to run: {e}");
                ok = false;
            }
        }
    }
    if js {
        match chaos::run_jetstream(&opts) {
            Ok(r) => {
                println!("{r}");
                ok &= r.lost == 0 && r.extra == 0 && r.unconsumed == 0;
            }
            Err(e) => {
                eprintln!("jetstream chaos failed to run: {e}");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

//! The main loop shared by `natsy-bench` and the async-nats peer: parse flags, start a
//! local server if no URL was given, run every scenario × size × repetition, print the
//! table (or JSON lines), and exit non-zero if any run failed.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cli::{self, Command, Config, Scenario};
use crate::progress::{Progress, ProgressBar};
use crate::report::{human_size, Outcome, RunResult};
use crate::server::{find_or_install_nats_server, LocalServer};

/// What one run of one scenario gets to know.
#[derive(Debug, Clone)]
pub struct RunCtx<'a> {
    /// Server URL.
    pub url: &'a str,
    /// All flags.
    pub config: &'a Config,
    /// Payload size of this run.
    pub size: usize,
    /// Messages of this run.
    pub msgs: u64,
    /// Where to report progress.
    pub progress: Progress,
    /// A token unique to this run, for subjects and stream names.
    pub id: String,
}

impl RunCtx<'_> {
    /// `bench.<id>.<what>`.
    pub fn subject(&self, what: &str) -> String {
        format!("bench.{}.{what}", self.id)
    }

    /// `BENCH_<id>` (a valid stream name).
    pub fn stream_name(&self) -> String {
        format!("BENCH_{}", self.id)
    }
}

/// A client under benchmark.
pub trait BenchClient {
    /// The name in results (`natsy`, `async-nats`).
    fn name(&self) -> &'static str;

    /// Runs `scenario` once. `Err` is a failed run: lost, extra or wrong messages, an
    /// error from the client, or a scenario the client does not implement.
    fn run(&mut self, scenario: Scenario, ctx: &RunCtx<'_>) -> Result<Outcome, String>;
}

/// Splits `total` into `parts` shares that differ by at most one.
pub fn shares(total: u64, parts: usize) -> Vec<u64> {
    let parts = parts.max(1) as u64;
    (0..parts)
        .map(|i| total / parts + u64::from(i < total % parts))
        .collect()
}

/// A payload of `size` bytes as a static `Bytes`: cloning it per message costs no
/// reference-count atomics (the cheapest way a user can publish one payload many times),
/// so the client's own cost is what is measured. Both clients of the comparison use it.
/// It leaks one buffer of `size` bytes per call (once per run).
pub fn static_payload(size: usize) -> bytes::Bytes {
    let leaked: &'static [u8] = Box::leak(vec![b'x'; size].into_boxed_slice());
    bytes::Bytes::from_static(leaked)
}

fn unique_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}_{nanos:x}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs every configured run against `url` and returns the results.
pub fn run_all<C: BenchClient>(client: &mut C, config: &Config, url: &str) -> Vec<RunResult> {
    // No bar at a fixed rate: its redraws would be charged to the process measured.
    let show_progress =
        config.progress && !config.json && config.rate.is_none() && std::io::stdout().is_terminal();
    let print_table = !config.json;
    if print_table {
        println!("{}", RunResult::header());
    }
    let mut all = Vec::new();
    for &scenario in &config.scenarios {
        for &size in &config.sizes {
            let msgs = config.msgs_for(scenario, size);
            let mut runs = Vec::new();
            for rep in 1..=config.reps {
                let progress = Progress::new();
                let ctx = RunCtx {
                    url,
                    config,
                    size,
                    msgs,
                    progress: progress.clone(),
                    id: unique_id(),
                };
                let label = format!("{} {scenario} {}", client.name(), human_size(size));
                let bar = ProgressBar::start(show_progress, label, progress, msgs);
                let outcome = client.run(scenario, &ctx);
                drop(bar);
                let mut result = RunResult::new(client.name(), scenario.name(), size, rep, outcome);
                result.rate = config.rate;
                if config.json {
                    println!("{}", result.to_json());
                } else {
                    println!("{}", result.row());
                }
                runs.push(result);
            }
            if config.reps > 1 && print_table {
                if let Some(m) = RunResult::median_of(&runs) {
                    println!("{}", m.row());
                }
            }
            all.extend(runs);
        }
    }
    all
}

fn helper_exit(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// The whole program: flags from the command line, then [`run_all`].
pub fn main<C: BenchClient>(mut client: C) -> ExitCode {
    let mut args = std::env::args();
    let program = args.next().unwrap_or_else(|| "natsy-bench".into());
    let config = match cli::parse(args) {
        Ok(Command::Run(c)) => c,
        Ok(Command::Help) => {
            println!("{}", cli::usage(&program));
            return ExitCode::SUCCESS;
        }
        Ok(Command::Publisher(p)) => return helper_exit(crate::publisher::run_child(&p)),
        Ok(Command::Responder(r)) => return helper_exit(crate::responder::run_child(&r)),
        Err(e) => {
            eprintln!("error: {e}\n\n{}", cli::usage(&program));
            return ExitCode::from(2);
        }
    };
    let mut _server = None;
    let url = match &config.url {
        Some(u) => u.clone(),
        None => {
            let started = find_or_install_nats_server().and_then(|bin| LocalServer::start(&bin));
            match started {
                Ok(s) => {
                    let url = s.url();
                    if !config.json {
                        println!("started a local nats-server at {url} (stopped at exit)");
                    }
                    _server = Some(s);
                    url
                }
                Err(e) => {
                    eprintln!("error: no server: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let results = run_all(&mut client, &config, &url);
    if results.iter().all(|r| r.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        assert_eq!(shares(10, 3), vec![4, 3, 3]);
        assert_eq!(shares(2, 4), vec![1, 1, 0, 0]);
        assert_eq!(shares(7, 0), vec![7]);
        assert_eq!(shares(1_000_001, 4).iter().sum::<u64>(), 1_000_001);
    }

    #[test]
    fn static_payloads_have_the_size_and_share_their_bytes() {
        let p = static_payload(16);
        assert_eq!(p.len(), 16);
        assert!(p.iter().all(|&b| b == b'x'));
        assert_eq!(p.clone().as_ptr(), p.as_ptr());
        assert!(static_payload(0).is_empty());
    }

    #[test]
    fn ids_are_unique_and_valid_in_names() {
        let a = unique_id();
        let b = unique_id();
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    }
}

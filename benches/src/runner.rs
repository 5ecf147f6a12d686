//! The main loop shared by `natsy-bench` and the async-nats peer: parse flags, start a
//! local server if no URL was given, run every scenario × size × repetition, print the
//! table (or CSV, or JSON lines), and exit non-zero if any run failed.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cli::{self, Command, Config, Format, Scenario};
use crate::progress::{Progress, ProgressBar};
use crate::report::{human_size, thousands, CsvOut, Outcome, RunResult, Table};
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

/// A [`RunCtx`] that owns what it borrows, so a run can move onto a runtime's worker
/// (see [`OwnedRunCtx::ctx`]).
#[derive(Debug, Clone)]
pub struct OwnedRunCtx {
    url: String,
    config: Config,
    size: usize,
    msgs: u64,
    progress: Progress,
    id: String,
}

impl OwnedRunCtx {
    /// An owned copy of `ctx` (its progress counter is shared, not copied).
    pub fn new(ctx: &RunCtx<'_>) -> Self {
        OwnedRunCtx {
            url: ctx.url.to_owned(),
            config: ctx.config.clone(),
            size: ctx.size,
            msgs: ctx.msgs,
            progress: ctx.progress.clone(),
            id: ctx.id.clone(),
        }
    }

    /// The context to run with, borrowing from this copy.
    ///
    /// The async clients (natsy's and the async-nats peer) run each scenario as a task
    /// spawned on their tokio runtime, not in `block_on` on the main thread: there every
    /// wake-up of the benchmark's own loop (a reply, a message, a paced sleep ending)
    /// crosses from a worker to the main thread, a futex wake and a park each time.
    /// `natsy-pace-floor` measures that at 40–50 µs of CPU per paced slot with no
    /// NATS at all (BENCHMARKS.md), and a tokio service runs its handlers as tasks.
    pub fn ctx(&self) -> RunCtx<'_> {
        RunCtx {
            url: &self.url,
            config: &self.config,
            size: self.size,
            msgs: self.msgs,
            progress: self.progress.clone(),
            id: self.id.clone(),
        }
    }
}

/// A client under benchmark.
pub trait BenchClient {
    /// The name in results (`natsy`, `async-nats`).
    fn name(&self) -> &'static str;

    /// Runs `scenario` once. `Err` is a failed run: lost, extra or wrong messages, an
    /// error from the client, or a scenario the client does not implement.
    fn run(&mut self, scenario: Scenario, ctx: &RunCtx<'_>) -> Result<Outcome, String>;

    /// Whether the client implements `scenario`; the others are skipped with a line on
    /// stderr (so `all` runs everything the client has). Default: all of them.
    fn supports(&self, scenario: Scenario) -> bool {
        let _ = scenario;
        true
    }
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

/// A run's id (`<pid>_<nanos hex>_<n>`), unique on the machine: subjects and stream
/// names are built from it ([`RunCtx::subject`]).
pub fn unique_id() -> String {
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

/// Where results go, in the configured format.
enum Output {
    Table(Table),
    Csv(Box<CsvOut<std::io::Stdout>>),
    Json,
}

impl Output {
    fn new(config: &Config, client: &str) -> Output {
        match config.format {
            Format::Table => Output::Table(Table::new(client)),
            Format::Csv => Output::Csv(Box::new(CsvOut::new(std::io::stdout()))),
            Format::Json => Output::Json,
        }
    }

    /// Prints one run (a median only in the table).
    fn print(&mut self, r: &RunResult) {
        if crate::interrupt::interrupted() {
            return;
        }
        match self {
            Output::Table(t) => {
                for line in t.lines(r) {
                    println!("{line}");
                }
            }
            Output::Csv(out) if r.rep != 0 => {
                if let Err(e) = out.write(r) {
                    eprintln!("error: writing CSV: {e}");
                }
            }
            Output::Json if r.rep != 0 => println!("{}", r.to_json()),
            _ => {}
        }
    }
}

/// Runs every configured run against `url` and returns the results.
pub fn run_all<C: BenchClient>(client: &mut C, config: &Config, url: &str) -> Vec<RunResult> {
    // Only with the table, and no bar at a fixed rate: its redraws would be charged to the
    // process measured. (ProgressBar also checks that stderr is a terminal.)
    let show_progress =
        config.progress && !config.quiet && config.format == Format::Table && config.rate.is_none();
    let mut output = Output::new(config, client.name());
    let mut all = Vec::new();
    for &scenario in &config.scenarios {
        if !client.supports(scenario) {
            if !config.quiet {
                eprintln!("{}: skipping {scenario}: not implemented", client.name());
            }
            continue;
        }
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
                if config.verbose {
                    eprintln!(
                        "run: {scenario} {} rep {rep}, {} msgs",
                        human_size(size),
                        thousands(msgs)
                    );
                }
                let label = format!("{} {scenario} {}", client.name(), human_size(size));
                let bar = ProgressBar::start(show_progress, label, progress, msgs);
                let outcome = client.run(scenario, &ctx);
                drop(bar);
                let mut result = RunResult::new(client.name(), scenario.name(), size, rep, outcome);
                result.rate = config.rate;
                output.print(&result);
                runs.push(result);
            }
            if config.reps > 1 {
                if let Some(m) = RunResult::median_of(&runs) {
                    output.print(&m);
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

/// The whole program: flags from the command line, then [`run_all`]. A usage error exits
/// with status 2 (with clap's suggestion for a mistyped flag), Ctrl-C with 130, a failed
/// run with 1.
pub fn main<C: BenchClient>(mut client: C) -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let program = args
        .first()
        .and_then(|p| std::path::Path::new(p).file_name())
        .map_or_else(
            || client.name().to_string(),
            |p| p.to_string_lossy().into_owned(),
        );
    let config = match cli::parse(args) {
        Ok(Command::Run(c)) => c,
        Ok(Command::Publisher(p)) => return helper_exit(crate::publisher::run_child(&p)),
        Ok(Command::Responder(r)) => return helper_exit(crate::responder::run_child(&r)),
        Err(e) => e.exit(),
    };
    if let Err(e) = crate::interrupt::install(&program) {
        eprintln!("{program}: warning: no Ctrl-C handler ({e}): a started server may outlive an interrupted run");
    }
    let mut _server = None;
    let url = match &config.url {
        Some(u) => u.clone(),
        None => {
            let started = find_or_install_nats_server().and_then(|bin| LocalServer::start(&bin));
            match started {
                Ok(s) => {
                    let url = s.url();
                    if config.verbose {
                        eprintln!(
                            "started nats-server pid {} at {url}, store {} (stopped at exit)",
                            s.pid(),
                            s.dir().display()
                        );
                    } else if !config.quiet && config.format == Format::Table {
                        eprintln!("started a local nats-server at {url} (stopped at exit)");
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

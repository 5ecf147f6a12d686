//! Command-line flags of the benchmark programs, parsed with `clap` and shared by
//! `natsy-bench` and the async-nats peer in `benches/compare/`, so both take the same flags.
//!
//! A flag given twice takes its last value (`natsy-compare` appends a case's `--msgs` and
//! `--rate` after the user's flags). The helper processes' hidden subcommands
//! (`_publisher`, `_responder`) have parsers of their own, not shown in `--help`.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, ValueEnum};

/// One benchmark scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    /// Publish only, then flush.
    Pub,
    /// Receive from a separate publisher process.
    Sub,
    /// A publisher and a subscriber on two connections in one process.
    PubSub,
    /// Sequential request/reply latency.
    Req,
    /// One publisher, M subscribers each receiving everything.
    Fanout,
    /// M queue subscribers sharing the work.
    Queue,
    /// JetStream publish, waiting for each ack.
    JsPubSync,
    /// JetStream publish with a bounded window of outstanding acks.
    JsPubAsync,
    /// Durable pull consumer: fetch in batches and ack every message.
    JsFetch,
    /// A subscriber that stops reading while a separate process publishes at it; its
    /// resident memory is sampled (the memory target of the issue).
    Memory,
    /// Key-Value put, waiting for each ack, over 1,000 keys of one bucket.
    KvPut,
    /// Key-Value get of the latest value, one after another, over 1,000 keys (direct
    /// get: the bucket allows it, as every client creates it).
    KvGet,
    /// A Key-Value watch of every key from the start: the initial values of `--msgs`
    /// distinct keys, timed up to the end-of-initial-values marker.
    KvWatch,
    /// Object store put of one object of `--msgs` chunks of `--size` bytes, streamed
    /// from memory.
    ObjPut,
    /// Object store get of such an object (put first, untimed), read to the end with
    /// its digest checked.
    ObjGet,
}

impl Scenario {
    /// Every scenario `all` runs, in order: grouped by [`Kind`], so the table has one
    /// header per kind.
    pub const ALL: [Scenario; 15] = [
        Scenario::Pub,
        Scenario::Sub,
        Scenario::PubSub,
        Scenario::Fanout,
        Scenario::Queue,
        Scenario::JsPubAsync,
        Scenario::JsFetch,
        Scenario::KvWatch,
        Scenario::ObjPut,
        Scenario::ObjGet,
        Scenario::Req,
        Scenario::JsPubSync,
        Scenario::KvPut,
        Scenario::KvGet,
        Scenario::Memory,
    ];

    /// The scenario of a name in results (`None` for a name no program of ours uses).
    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Which table the scenario's rows go in.
    pub fn kind(self) -> Kind {
        match self {
            Scenario::Req | Scenario::JsPubSync | Scenario::KvPut | Scenario::KvGet => {
                Kind::Latency
            }
            Scenario::Memory => Kind::Memory,
            _ => Kind::Throughput,
        }
    }

    /// The name on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Pub => "pub",
            Scenario::Sub => "sub",
            Scenario::PubSub => "pubsub",
            Scenario::Req => "req",
            Scenario::Fanout => "fanout",
            Scenario::Queue => "queue",
            Scenario::JsPubSync => "js-pub-sync",
            Scenario::JsPubAsync => "js-pub-async",
            Scenario::JsFetch => "js-fetch",
            Scenario::Memory => "memory",
            Scenario::KvPut => "kv-put",
            Scenario::KvGet => "kv-get",
            Scenario::KvWatch => "kv-watch",
            Scenario::ObjPut => "obj-put",
            Scenario::ObjGet => "obj-get",
        }
    }

    /// Whether `--rate` applies: `sub` (its publisher process is paced) and `req` (the
    /// requester is paced; the responder becomes a separate process).
    pub fn supports_rate(self) -> bool {
        matches!(self, Scenario::Sub | Scenario::Req)
    }

    /// Whether each message is timed one by one (latency percentiles are reported).
    pub fn has_latency(self) -> bool {
        self.kind() == Kind::Latency
    }

    /// The default message count for a payload of `size` bytes: a million for the
    /// throughput scenarios (at most 512 MiB of payload), fewer where every message is
    /// a round trip.
    pub fn default_msgs(self, size: usize) -> u64 {
        match self {
            Scenario::Req | Scenario::JsPubSync | Scenario::KvPut | Scenario::KvGet => 20_000,
            Scenario::JsPubAsync | Scenario::JsFetch | Scenario::KvWatch => 100_000,
            // 1 GiB published at the stopped subscriber.
            Scenario::Memory => ((1u64 << 30) / size.max(1) as u64).max(1),
            // A 256 MiB object.
            Scenario::ObjPut | Scenario::ObjGet => ((256u64 << 20) / size.max(1) as u64).max(1),
            _ => ((512u64 << 20) / size.max(1) as u64).clamp(10_000, 1_000_000),
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kinds of scenario, each with its own table columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Messages as fast as they go: msgs/s, MB/s, CPU per message.
    Throughput,
    /// One message at a time, each timed: msgs/s, CPU per message, latency percentiles.
    Latency,
    /// The `memory` scenario: throughput of what was published at a stopped subscriber,
    /// and its resident memory in the note.
    Memory,
}

/// A scenario name on the command line: one scenario or a group of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ScenarioArg {
    /// Publish only (then flush: the timer stops at the server's PONG).
    Pub,
    /// Receive from a separate publisher process.
    Sub,
    /// Publisher and subscriber on two connections in one process.
    Pubsub,
    /// Sequential request/reply latency (p50, p90, p99, p99.9, max).
    Req,
    /// One publisher, --subs subscribers each receiving everything.
    Fanout,
    /// --subs queue subscribers sharing the work.
    Queue,
    /// Both js-pub-sync and js-pub-async.
    JsPub,
    /// JetStream publish, waiting for each ack (latency per publish).
    JsPubSync,
    /// JetStream publish with --window acks outstanding.
    JsPubAsync,
    /// Durable pull consumer: fetch --batch at a time, ack each message.
    JsFetch,
    /// A subscriber that stops reading while 1 GiB is published at it: resident memory
    /// must stay within its pending limits + 16 MiB (natsy only).
    Memory,
    /// kv-put, kv-get and kv-watch.
    Kv,
    /// Key-Value put, waiting for each ack (latency per put).
    KvPut,
    /// Key-Value get of the latest value, one after another (latency per get).
    KvGet,
    /// A Key-Value watch of every key: --msgs initial values up to the marker.
    KvWatch,
    /// obj-put and obj-get.
    Obj,
    /// Object store put of one object of --msgs chunks of --size bytes.
    ObjPut,
    /// Object store get of such an object, digest checked.
    ObjGet,
    /// Every scenario above, memory included.
    All,
}

impl ScenarioArg {
    fn expand(self) -> Vec<Scenario> {
        let one = match self {
            ScenarioArg::All => return Scenario::ALL.to_vec(),
            ScenarioArg::JsPub => return vec![Scenario::JsPubSync, Scenario::JsPubAsync],
            ScenarioArg::Kv => return vec![Scenario::KvPut, Scenario::KvGet, Scenario::KvWatch],
            ScenarioArg::Obj => return vec![Scenario::ObjPut, Scenario::ObjGet],
            ScenarioArg::Pub => Scenario::Pub,
            ScenarioArg::Sub => Scenario::Sub,
            ScenarioArg::Pubsub => Scenario::PubSub,
            ScenarioArg::Req => Scenario::Req,
            ScenarioArg::Fanout => Scenario::Fanout,
            ScenarioArg::Queue => Scenario::Queue,
            ScenarioArg::JsPubSync => Scenario::JsPubSync,
            ScenarioArg::JsPubAsync => Scenario::JsPubAsync,
            ScenarioArg::JsFetch => Scenario::JsFetch,
            ScenarioArg::Memory => Scenario::Memory,
            ScenarioArg::KvPut => Scenario::KvPut,
            ScenarioArg::KvGet => Scenario::KvGet,
            ScenarioArg::KvWatch => Scenario::KvWatch,
            ScenarioArg::ObjPut => Scenario::ObjPut,
            ScenarioArg::ObjGet => Scenario::ObjGet,
        };
        vec![one]
    }
}

/// How results are printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table per kind of scenario, for people (at most 100 columns).
    Table,
    /// One CSV record per run, after a header record.
    Csv,
    /// One JSON object per run and line (what `natsy-compare` reads).
    Json,
}

/// JetStream storage of the benchmark streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Storage {
    /// Memory storage (the default: measures the client, not the disk).
    #[value(alias = "mem")]
    Memory,
    /// File storage.
    File,
}

/// Everything a benchmark run is configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The scenarios, in order.
    pub scenarios: Vec<Scenario>,
    /// Server URL; `None` starts a local `nats-server`.
    pub url: Option<String>,
    /// Messages per run; `None` uses [`Scenario::default_msgs`].
    pub msgs: Option<u64>,
    /// Payload sizes in bytes (each scenario runs once per size).
    pub sizes: Vec<usize>,
    /// Publishers (`pub`, `pubsub`).
    pub pubs: usize,
    /// Subscribers (`fanout`, `queue`).
    pub subs: usize,
    /// Repetitions of each scenario.
    pub reps: usize,
    /// How results are printed.
    pub format: Format,
    /// Draw a progress bar (only ever on a terminal, and only with the table).
    pub progress: bool,
    /// `--quiet`: nothing on stderr but errors (no progress bar, no server line).
    pub quiet: bool,
    /// `--verbose`: the started server's pid and store, and each run, on stderr.
    pub verbose: bool,
    /// Outstanding acks of `js-pub-async`.
    pub window: usize,
    /// Batch size of `js-fetch`.
    pub batch: usize,
    /// JetStream storage.
    pub storage: Storage,
    /// Pending-bytes limit of the `memory` scenario's subscriber.
    pub pending_bytes: usize,
    /// `memory` only: when not 0, a busy subscription on the same connection, whose reader
    /// keeps up, gets a message of this many bytes after each one to the unread one.
    pub busy_bytes: usize,
    /// `--rate N`: messages (`sub`) or requests (`req`) per second on an absolute
    /// schedule; `None` runs as fast as the client goes.
    pub rate: Option<u64>,
}

/// How many seconds of operations a `--rate` run has when `--msgs` is not given.
pub const RATE_DEFAULT_SECONDS: u64 = 5;

impl Default for Config {
    fn default() -> Self {
        Config {
            scenarios: vec![Scenario::Pub],
            url: None,
            msgs: None,
            sizes: vec![128],
            pubs: 1,
            subs: 4,
            reps: 1,
            format: Format::Table,
            progress: true,
            quiet: false,
            verbose: false,
            window: 256,
            batch: 500,
            storage: Storage::Memory,
            pending_bytes: 64 << 20,
            busy_bytes: 0,
            rate: None,
        }
    }
}

impl Config {
    /// The message count of `scenario` at payload `size`: `--msgs`, else
    /// [`RATE_DEFAULT_SECONDS`] worth at `--rate`, else the scenario's default.
    pub fn msgs_for(&self, scenario: Scenario, size: usize) -> u64 {
        if let (None, Some(rate)) = (self.msgs, self.rate) {
            return rate.saturating_mul(RATE_DEFAULT_SECONDS).max(1);
        }
        let size = match scenario {
            // 1 GiB in all, the busy subscription's messages included.
            Scenario::Memory => size.saturating_add(self.busy_bytes),
            _ => size,
        };
        self.msgs.unwrap_or_else(|| scenario.default_msgs(size))
    }
}

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run benchmarks.
    Run(Config),
    /// The internal publisher process of `sub` and `memory` (not for users).
    Publisher(PublisherArgs),
    /// The internal responder process of `req --rate` (not for users).
    Responder(ResponderArgs),
}

/// Arguments of the internal publisher process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherArgs {
    /// Server URL.
    pub url: String,
    /// Subject to publish to.
    pub subject: String,
    /// Messages to publish.
    pub msgs: u64,
    /// Payload size.
    pub size: usize,
    /// Another subject, and the size of the message published to it after each one.
    pub busy: Option<(String, usize)>,
    /// Messages per second on an absolute schedule (`None`: as fast as it goes).
    pub rate: Option<u64>,
}

impl PublisherArgs {
    /// The command-line arguments after [`PUBLISHER_SUBCOMMAND`] that [`parse`] turns back
    /// into these.
    pub fn to_args(&self) -> Vec<String> {
        let mut v: Vec<String> = vec![
            "--url".into(),
            self.url.clone(),
            "--subject".into(),
            self.subject.clone(),
            "--msgs".into(),
            self.msgs.to_string(),
            "--size".into(),
            self.size.to_string(),
        ];
        if let Some((subject, size)) = &self.busy {
            v.extend(["--busy-subject".into(), subject.clone()]);
            v.extend(["--busy-size".into(), size.to_string()]);
        }
        if let Some(rate) = self.rate {
            v.extend(["--rate".into(), rate.to_string()]);
        }
        v
    }
}

/// Arguments of the internal responder process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponderArgs {
    /// Server URL.
    pub url: String,
    /// Subject to serve: every request is answered with its own payload.
    pub subject: String,
}

/// The name of the hidden subcommand that runs the publisher process.
pub const PUBLISHER_SUBCOMMAND: &str = "_publisher";

/// The name of the hidden subcommand that runs the responder process.
pub const RESPONDER_SUBCOMMAND: &str = "_responder";

/// The notes printed after the flags by `--help`.
const AFTER_HELP: &str = "\
Every run checks that nothing was lost: a run that did not deliver every message exactly \
is reported as FAILED, never as a fast one.

CPU is user + system time of this process (all threads, CLOCK_PROCESS_CPUTIME_ID) over \
the timed part, per message; helper processes (sub's publisher, req --rate's responder) \
and the server are not in it. Latency percentiles come from an HDR histogram (3 \
significant digits, constant memory whatever --msgs is).

Ctrl-C stops the run: the nats-server this program started is killed and its temporary \
JetStream store removed; the exit status is 130.";

/// The flags of a benchmark run, as clap parses them (turned into a [`Config`]).
#[derive(Debug, Parser)]
#[command(
    about = "Throughput and latency of a NATS client against a real nats-server.",
    args_override_self = true,
    after_long_help = AFTER_HELP
)]
struct RunArgs {
    /// Scenarios to run, in order (default: pub).
    #[arg(value_enum, value_name = "SCENARIO")]
    scenarios: Vec<ScenarioArg>,
    /// Server to use (default: start a local nats-server).
    ///
    /// Without it, a local nats-server is started with JetStream on a free loopback port
    /// and a temporary store, installing the pinned one with tests/install-nats-server if
    /// none is found ($NATS_SERVER_BIN, the repository's .nats-server/, then PATH).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Messages per run, e.g. 20k or 1m (default: depends on the scenario).
    ///
    /// Defaults: 1M capped at 512 MiB of payload; req and js-pub-sync 20k; js-pub-async
    /// and js-fetch 100k; memory 1 GiB's worth; with --rate, 5 s worth.
    #[arg(short = 'n', long, value_name = "N", value_parser = parse_msgs)]
    msgs: Option<u64>,
    /// Payload bytes, one or more, e.g. 16,128,4k [default: 128].
    #[arg(short = 's', long = "size", value_name = "N[,N...]", value_parser = parse_sizes)]
    sizes: Option<Sizes>,
    /// Publishers of pub and pubsub.
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_positive)]
    pubs: usize,
    /// Subscribers of fanout and queue.
    #[arg(long, value_name = "N", default_value = "4", value_parser = parse_positive)]
    subs: usize,
    /// Repetitions of each scenario (the table adds a median row).
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_positive)]
    reps: usize,
    /// Outstanding acks of js-pub-async.
    #[arg(long, value_name = "N", default_value = "256", value_parser = parse_positive)]
    window: usize,
    /// Fetch batch of js-fetch.
    #[arg(long, value_name = "N", default_value = "500", value_parser = parse_positive)]
    batch: usize,
    /// Storage of the JetStream streams.
    #[arg(long, value_enum, value_name = "S", default_value = "memory")]
    storage: Storage,
    /// Pending-bytes limit of the memory scenario's subscriber.
    #[arg(long, value_name = "N", default_value = "64m", value_parser = parse_size_arg)]
    pending_bytes: usize,
    /// memory: N-byte messages to a busy subscription next to the unread one (0: none).
    ///
    /// A busy subscription on the same connection, whose reader keeps up, gets an N-byte
    /// message after each one to the unread subscription.
    #[arg(long = "busy", value_name = "N", default_value = "0", value_parser = parse_size_arg)]
    busy_bytes: usize,
    /// Operations per second on a fixed schedule instead of flat out (sub and req only).
    ///
    /// Operation i (from 0) is due at start + i/N and waited for by sleeping, never
    /// spinning; one that is late goes at once and the schedule does not move. sub: the
    /// separate publisher process publishes N msgs/s. req: N sequential requests/s,
    /// answered by a separate responder process, so the process measured holds only the
    /// client under test. Latency is from each request's start; the note says how many
    /// started more than 1/N s late. No progress bar (its redraws would be charged to the
    /// process measured). Default --msgs: 5 s worth (N x 5).
    #[arg(long, value_name = "N", value_parser = parse_positive_u64)]
    rate: Option<u64>,
    #[command(flatten)]
    output: OutputArgs,
}

/// How and how much to print.
#[derive(Debug, Args)]
struct OutputArgs {
    /// How to print results on stdout.
    #[arg(long, value_enum, value_name = "F", conflicts_with_all = ["json", "csv"])]
    format: Option<Format>,
    /// Same as --format json.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Same as --format csv.
    #[arg(long)]
    csv: bool,
    /// No progress bar (there is one only on a terminal, with the table).
    #[arg(long)]
    no_progress: bool,
    /// Nothing on stderr but errors: no progress bar, no line about the server started.
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
    /// On stderr: the started server's pid and store, and each run as it starts.
    #[arg(short, long)]
    verbose: bool,
}

/// The payload sizes of `--size`, parsed as one list so that a later `--size` replaces
/// an earlier one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sizes(Vec<usize>);

fn parse_sizes(text: &str) -> Result<Sizes, String> {
    let sizes = text
        .split(',')
        .map(|s| parse_size(s).map_err(|e| e.0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Sizes(sizes))
}

fn parse_size_arg(text: &str) -> Result<usize, String> {
    parse_size(text).map_err(|e| e.0)
}

fn parse_msgs(text: &str) -> Result<u64, String> {
    match parse_count(text)? {
        0 => Err("must be at least 1".into()),
        n => Ok(n),
    }
}

fn parse_positive_u64(text: &str) -> Result<u64, String> {
    parse_msgs(text)
}

fn parse_positive(text: &str) -> Result<usize, String> {
    usize::try_from(parse_msgs(text)?).map_err(|_| format!("too large: {text:?}"))
}

/// The flags of the hidden publisher subcommand.
#[derive(Debug, Parser)]
#[command(name = PUBLISHER_SUBCOMMAND, no_binary_name = true)]
struct PublisherFlags {
    #[arg(long)]
    url: String,
    #[arg(long)]
    subject: String,
    #[arg(long, value_parser = parse_count)]
    msgs: u64,
    #[arg(long, value_parser = parse_size_arg)]
    size: usize,
    #[arg(long, requires = "busy_size")]
    busy_subject: Option<String>,
    #[arg(long, requires = "busy_subject", value_parser = parse_size_arg)]
    busy_size: Option<usize>,
    #[arg(long, value_parser = parse_positive_u64)]
    rate: Option<u64>,
}

/// The flags of the hidden responder subcommand.
#[derive(Debug, Parser)]
#[command(name = RESPONDER_SUBCOMMAND, no_binary_name = true)]
struct ResponderFlags {
    #[arg(long)]
    url: String,
    #[arg(long)]
    subject: String,
}

/// The clap command of a benchmark run (for `--help` and for errors in its style).
pub fn command() -> clap::Command {
    RunArgs::command()
}

/// Parses a whole command line, the program's name first. `Err` is clap's error, also
/// for `--help` and `--version`: [`clap::Error::exit`] prints it where it belongs and
/// exits with its status (0 for help, 2 for a usage error).
pub fn parse<I, T>(args: I) -> Result<Command, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    match args.get(1).and_then(|a| a.to_str()) {
        Some(PUBLISHER_SUBCOMMAND) => {
            let f = PublisherFlags::try_parse_from(&args[2..])?;
            return Ok(Command::Publisher(PublisherArgs {
                url: f.url,
                subject: f.subject,
                msgs: f.msgs,
                size: f.size,
                busy: f.busy_subject.zip(f.busy_size),
                rate: f.rate,
            }));
        }
        Some(RESPONDER_SUBCOMMAND) => {
            let f = ResponderFlags::try_parse_from(&args[2..])?;
            return Ok(Command::Responder(ResponderArgs {
                url: f.url,
                subject: f.subject,
            }));
        }
        _ => {}
    }
    let a = RunArgs::try_parse_from(args)?;
    let mut config = Config::default();
    let mut scenarios: Vec<Scenario> = a.scenarios.iter().flat_map(|s| s.expand()).collect();
    let mut seen = Vec::new();
    scenarios.retain(|s| {
        let new = !seen.contains(s);
        seen.push(*s);
        new
    });
    if !scenarios.is_empty() {
        config.scenarios = scenarios;
    }
    config.url = a.url;
    config.msgs = a.msgs;
    if let Some(Sizes(sizes)) = a.sizes {
        config.sizes = sizes;
    }
    config.pubs = a.pubs;
    config.subs = a.subs;
    config.reps = a.reps;
    config.window = a.window;
    config.batch = a.batch;
    config.storage = a.storage;
    config.pending_bytes = a.pending_bytes;
    config.busy_bytes = a.busy_bytes;
    config.rate = a.rate;
    let o = a.output;
    config.format = match (o.format, o.json, o.csv) {
        (Some(f), _, _) => f,
        (None, true, _) => Format::Json,
        (None, false, true) => Format::Csv,
        (None, false, false) => Format::Table,
    };
    config.progress = !o.no_progress && !o.quiet;
    config.quiet = o.quiet;
    config.verbose = o.verbose;
    if config.rate.is_some() {
        if let Some(s) = config.scenarios.iter().find(|s| !s.supports_rate()) {
            let hint = if *s == Scenario::PubSub {
                " (pubsub's publisher shares the process measured: use sub)"
            } else {
                ""
            };
            return Err(command().error(
                ErrorKind::ArgumentConflict,
                format!("--rate applies to sub and req only, not {s}{hint}"),
            ));
        }
    }
    Ok(Command::Run(config))
}

/// A size or count that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Parses a size such as `16`, `4k`, `4KiB`, `1m` or `1MiB` (binary multiples).
pub fn parse_size(text: &str) -> Result<usize, UsageError> {
    let lower = text.trim().to_ascii_lowercase();
    let (digits, shift) = if let Some(d) = lower
        .strip_suffix("kib")
        .or_else(|| lower.strip_suffix("kb"))
        .or_else(|| lower.strip_suffix('k'))
    {
        (d, 10)
    } else if let Some(d) = lower
        .strip_suffix("mib")
        .or_else(|| lower.strip_suffix("mb"))
        .or_else(|| lower.strip_suffix('m'))
    {
        (d, 20)
    } else if let Some(d) = lower
        .strip_suffix("gib")
        .or_else(|| lower.strip_suffix("gb"))
        .or_else(|| lower.strip_suffix('g'))
    {
        (d, 30)
    } else {
        (lower.strip_suffix('b').unwrap_or(&lower), 0)
    };
    let n: usize = digits
        .trim()
        .replace('_', "")
        .parse()
        .map_err(|_| UsageError(format!("not a size: {text:?}")))?;
    n.checked_mul(1usize << shift)
        .ok_or_else(|| UsageError(format!("size too large: {text:?}")))
}

/// Parses a count such as `500`, `20k`, `1m` or `1_000` (decimal multiples).
fn parse_count(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase().replace('_', "");
    let (digits, mul) = if let Some(d) = lower.strip_suffix('k') {
        (d.to_string(), 1_000)
    } else if let Some(d) = lower.strip_suffix('m') {
        (d.to_string(), 1_000_000)
    } else {
        (lower, 1)
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .ok_or_else(|| format!("not a count: {text:?}"))
}

/// Where the internal helper program (its `_publisher` and `_responder` subcommands)
/// lives: `NATSY_BENCH_PUBLISHER` if set (the comparison points every client, the
/// async-nats and nats.c peers too, at natsy-bench, so all receive from the same
/// publisher and ask the same responder), else this program.
pub fn publisher_exe() -> std::io::Result<PathBuf> {
    match std::env::var_os("NATSY_BENCH_PUBLISHER") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => std::env::current_exe(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(rest: &[&str]) -> Vec<String> {
        std::iter::once("natsy-bench")
            .chain(rest.iter().copied())
            .map(String::from)
            .collect()
    }

    fn run(rest: &[&str]) -> Result<Config, clap::Error> {
        match parse(args(rest))? {
            Command::Run(c) => Ok(c),
            other => panic!("expected Run, got {other:?}"),
        }
    }

    #[test]
    fn the_clap_command_is_consistent() {
        command().debug_assert();
        PublisherFlags::command().debug_assert();
        ResponderFlags::command().debug_assert();
    }

    #[test]
    fn defaults_and_flags() {
        let c = run(&[]).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.scenarios, vec![Scenario::Pub]);
        let c = run(&[
            "pubsub",
            "req",
            "--url",
            "nats://127.0.0.1:4333",
            "--msgs=2k",
            "--size",
            "16,128,4KiB",
            "--pubs",
            "2",
            "--subs=3",
            "--reps",
            "5",
            "--json",
            "--no-progress",
            "--window",
            "64",
            "--batch",
            "100",
            "--storage",
            "file",
            "--pending-bytes",
            "1m",
            "--busy",
            "16k",
        ])
        .unwrap();
        assert_eq!(c.scenarios, vec![Scenario::PubSub, Scenario::Req]);
        assert_eq!(c.url.as_deref(), Some("nats://127.0.0.1:4333"));
        assert_eq!(c.msgs, Some(2000));
        assert_eq!(c.sizes, vec![16, 128, 4096]);
        assert_eq!((c.pubs, c.subs, c.reps), (2, 3, 5));
        assert_eq!(c.format, Format::Json);
        assert!(!c.progress);
        assert_eq!((c.window, c.batch), (64, 100));
        assert_eq!(c.storage, Storage::File);
        assert_eq!((c.pending_bytes, c.busy_bytes), (1 << 20, 16 << 10));
        assert_eq!(run(&["--storage", "mem"]).unwrap().storage, Storage::Memory);
    }

    #[test]
    fn a_repeated_flag_takes_its_last_value() {
        // natsy-compare appends a case's --msgs and --rate after the user's flags.
        let c = run(&[
            "sub",
            "--msgs",
            "1000",
            "--rate",
            "10",
            "--msgs",
            "50",
            "--rate=20",
        ])
        .unwrap();
        assert_eq!((c.msgs, c.rate), (Some(50), Some(20)));
        let c = run(&["--size", "16,32", "--size", "64", "--json", "--json"]).unwrap();
        assert_eq!(c.sizes, vec![64]);
    }

    #[test]
    fn output_formats() {
        assert_eq!(run(&[]).unwrap().format, Format::Table);
        assert_eq!(run(&["--csv"]).unwrap().format, Format::Csv);
        assert_eq!(run(&["--format", "csv"]).unwrap().format, Format::Csv);
        assert_eq!(run(&["--format=json"]).unwrap().format, Format::Json);
        let q = run(&["-q"]).unwrap();
        assert!(q.quiet && !q.progress && !q.verbose);
        assert!(run(&["--verbose"]).unwrap().verbose);
        for bad in [
            &["--json", "--csv"][..],
            &["--format", "table", "--json"],
            &["--format", "xml"],
            &["-q", "-v"],
        ] {
            assert!(run(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn scenario_lists_expand_and_dedupe() {
        let c = run(&["js-pub", "js-pub-sync", "all"]).unwrap();
        assert_eq!(
            c.scenarios[..2],
            [Scenario::JsPubSync, Scenario::JsPubAsync]
        );
        assert_eq!(c.scenarios.len(), Scenario::ALL.len());
        assert!(c.scenarios.contains(&Scenario::Memory));
        for s in Scenario::ALL {
            assert_eq!(run(&[s.name()]).unwrap().scenarios, vec![s]);
            assert_eq!(Scenario::from_name(s.name()), Some(s));
        }
        assert_eq!(Scenario::from_name("nope"), None);
        // `all` is grouped by kind, so the table has one header per kind.
        let kinds: Vec<Kind> = Scenario::ALL.iter().map(|s| s.kind()).collect();
        let mut changes = kinds.windows(2).filter(|w| w[0] != w[1]).count();
        changes += 1;
        assert_eq!(changes, 3, "{kinds:?}");
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        for bad in [
            &["--msgs"][..],
            &["--msgs", "lots"],
            &["--msgs", "0"],
            &["--reps", "0"],
            &["--size", "4q"],
            &["--size", "99999999999999999999g"],
            &["--storage", "tape"],
            &["--frobnicate"],
            &["pubz"],
        ] {
            let e = run(bad).expect_err(&format!("{bad:?} should be refused"));
            assert_eq!(e.exit_code(), 2, "{bad:?}: {e}");
        }
        let help = parse(args(&["-h"])).unwrap_err();
        assert_eq!(help.kind(), ErrorKind::DisplayHelp);
        assert_eq!(help.exit_code(), 0);
    }

    #[test]
    fn mistyped_flags_and_scenarios_get_a_suggestion() {
        let e = run(&["--mgs", "10"]).unwrap_err().render().to_string();
        assert!(e.contains("--msgs"), "{e}");
        let e = run(&["pubz"]).unwrap_err().render().to_string();
        assert!(e.contains("'pub'"), "{e}");
    }

    #[test]
    fn sizes_and_default_counts() {
        assert_eq!(parse_size("16").unwrap(), 16);
        assert_eq!(parse_size("4k").unwrap(), 4096);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_count("1_000").unwrap(), 1000);
        assert_eq!(Scenario::Pub.default_msgs(16), 1_000_000);
        assert_eq!(Scenario::Pub.default_msgs(4096), 131_072);
        assert_eq!(Scenario::Pub.default_msgs(1 << 20), 10_000);
        assert_eq!(Scenario::Memory.default_msgs(4096), 262_144);
        assert_eq!(Scenario::Req.default_msgs(16), 20_000);
        // With a busy subscription, its messages count towards the 1 GiB.
        let c = run(&["memory", "--busy", "16k", "--pending-bytes", "1m"]).unwrap();
        assert_eq!((c.busy_bytes, c.pending_bytes), (16 << 10, 1 << 20));
        assert_eq!(c.msgs_for(Scenario::Memory, 16), (1 << 30) / (16 + 16384));
        assert_eq!(c.msgs_for(Scenario::Pub, 16), 1_000_000);
    }

    fn helper(words: &[&str]) -> Result<Command, clap::Error> {
        parse(args(words))
    }

    #[test]
    fn publisher_subcommand() {
        let words = [
            "_publisher",
            "--url",
            "nats://h:1",
            "--subject",
            "a.b",
            "--msgs",
            "10",
            "--size",
            "16",
        ];
        assert_eq!(
            helper(&words).unwrap(),
            Command::Publisher(PublisherArgs {
                url: "nats://h:1".into(),
                subject: "a.b".into(),
                msgs: 10,
                size: 16,
                busy: None,
                rate: None,
            })
        );
        let busy = [&words[..], &["--busy-subject", "c", "--busy-size", "16k"]].concat();
        assert!(matches!(
            helper(&busy),
            Ok(Command::Publisher(PublisherArgs { busy: Some((s, 16384)), .. })) if s == "c"
        ));
        let half = [&words[..], &["--busy-size", "16"]].concat();
        assert!(helper(&half).is_err());
        assert!(helper(&["_publisher", "--url"]).is_err());
        assert!(helper(&["_publisher"]).is_err());
    }

    #[test]
    fn publisher_args_round_trip() {
        for (busy, rate) in [(None, None), (Some(("c.d".to_string(), 16)), Some(2000))] {
            let p = PublisherArgs {
                url: "nats://h:1".into(),
                subject: "a.b".into(),
                msgs: 10,
                size: 128,
                busy,
                rate,
            };
            let line = ["natsy-bench".to_string(), PUBLISHER_SUBCOMMAND.to_string()]
                .into_iter()
                .chain(p.to_args());
            assert_eq!(parse(line).unwrap(), Command::Publisher(p));
        }
        let zero = ["_publisher", "--url", "u", "--subject", "s", "--msgs", "1"];
        assert!(helper(&[&zero[..], &["--size", "1", "--rate", "0"]].concat()).is_err());
    }

    #[test]
    fn responder_subcommand() {
        let words = ["_responder", "--url", "nats://h:1", "--subject", "a.b"];
        assert_eq!(
            helper(&words).unwrap(),
            Command::Responder(ResponderArgs {
                url: "nats://h:1".into(),
                subject: "a.b".into(),
            })
        );
        assert!(helper(&words[..3]).is_err());
        assert!(helper(&[&words[..], &["--size", "1"]].concat()).is_err());
    }

    #[test]
    fn rate_is_for_sub_and_req_and_defaults_to_five_seconds() {
        let c = run(&["sub", "req", "--rate", "2k"]).unwrap();
        assert_eq!(c.rate, Some(2000));
        assert_eq!(c.msgs_for(Scenario::Sub, 128), 10_000);
        assert_eq!(c.msgs_for(Scenario::Req, 128), 10_000);
        let c = run(&["req", "--rate=1000", "--msgs", "300"]).unwrap();
        assert_eq!((c.rate, c.msgs_for(Scenario::Req, 16)), (Some(1000), 300));
        assert!(Scenario::Sub.supports_rate() && Scenario::Req.supports_rate());
        for bad in [
            &["sub", "--rate", "0"][..],
            &["sub", "--rate"],
            &["sub", "--rate", "fast"],
            &["--rate", "10"],
            &["pub", "--rate", "10"],
            &["sub", "fanout", "--rate", "10"],
            &["all", "--rate", "10"],
        ] {
            assert!(run(bad).is_err(), "{bad:?} should be refused");
        }
        let e = run(&["pubsub", "--rate", "10"]).unwrap_err().to_string();
        assert!(e.contains("use sub"), "{e}");
        let help = command().render_long_help().to_string();
        assert!(
            help.contains("--rate <N>") && help.contains("memory included"),
            "{help}"
        );
    }
}

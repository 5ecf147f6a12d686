//! Command-line flags of the benchmark programs: a small hand-written parser shared by
//! `natsy-bench` and the async-nats peer in `benches/compare/`, so both take the same flags.

use std::fmt;
use std::path::PathBuf;

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
}

impl Scenario {
    /// Every scenario `all` runs, in order (`memory` is run only when named).
    pub const ALL: [Scenario; 9] = [
        Scenario::Pub,
        Scenario::Sub,
        Scenario::PubSub,
        Scenario::Req,
        Scenario::Fanout,
        Scenario::Queue,
        Scenario::JsPubSync,
        Scenario::JsPubAsync,
        Scenario::JsFetch,
    ];

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
        }
    }

    /// Parses a name; `js-pub` and `all` expand to several scenarios.
    pub fn parse_list(name: &str) -> Option<Vec<Scenario>> {
        let one = match name {
            "all" => return Some(Scenario::ALL.to_vec()),
            "js-pub" => return Some(vec![Scenario::JsPubSync, Scenario::JsPubAsync]),
            "pub" => Scenario::Pub,
            "sub" => Scenario::Sub,
            "pubsub" => Scenario::PubSub,
            "req" => Scenario::Req,
            "fanout" => Scenario::Fanout,
            "queue" => Scenario::Queue,
            "js-pub-sync" => Scenario::JsPubSync,
            "js-pub-async" => Scenario::JsPubAsync,
            "js-fetch" => Scenario::JsFetch,
            "memory" => Scenario::Memory,
            _ => return None,
        };
        Some(vec![one])
    }

    /// Whether `--rate` applies: `sub` (its publisher process is paced) and `req` (the
    /// requester is paced; the responder becomes a separate process).
    pub fn supports_rate(self) -> bool {
        matches!(self, Scenario::Sub | Scenario::Req)
    }

    /// Whether each message is timed one by one (latency percentiles are reported).
    pub fn has_latency(self) -> bool {
        matches!(self, Scenario::Req | Scenario::JsPubSync)
    }

    /// The default message count for a payload of `size` bytes: a million for the
    /// throughput scenarios (at most 512 MiB of payload), fewer where every message is
    /// a round trip.
    pub fn default_msgs(self, size: usize) -> u64 {
        match self {
            Scenario::Req | Scenario::JsPubSync => 20_000,
            Scenario::JsPubAsync | Scenario::JsFetch => 100_000,
            // 1 GiB published at the stopped subscriber.
            Scenario::Memory => ((1u64 << 30) / size.max(1) as u64).max(1),
            _ => ((512u64 << 20) / size.max(1) as u64).clamp(10_000, 1_000_000),
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// JetStream storage of the benchmark streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Memory storage (the default: measures the client, not the disk).
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
    /// JSON lines instead of the table.
    pub json: bool,
    /// Draw a progress bar (only ever on a terminal).
    pub progress: bool,
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
            json: false,
            progress: true,
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
    /// Print the usage text.
    Help,
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

/// The usage text; `program` is the binary's name.
pub fn usage(program: &str) -> String {
    format!(
        "usage: {program} [SCENARIO...] [FLAGS]

Scenarios (default: pub):
  pub           publish only (then flush: the timer stops at the server's PONG)
  sub           receive from a separate publisher process
  pubsub        publisher and subscriber on two connections in one process
  req           sequential request/reply latency (p50, p90, p99, p99.9, max)
  fanout        one publisher, --subs subscribers each receiving everything
  queue         --subs queue subscribers sharing the work
  js-pub        both js-pub-sync (ack per publish) and js-pub-async (--window)
  js-fetch      durable pull consumer: fetch --batch at a time, ack each message
  all           every scenario above
  memory        a subscriber that stops reading while 1 GiB is published at it;
                checks resident memory stays within its pending limits + 16 MiB
                (with --busy, next to a busy subscription on the same connection)

Flags:
  --url URL           server to use (default: start a local nats-server, installing
                      the pinned one with tests/install-nats-server if missing)
  --msgs N            messages per run (default: 1M capped at 512 MiB of payload;
                      req and js-pub-sync 20k; js-pub-async and js-fetch 100k)
  --size N[,N...]     payload bytes, e.g. 16,128,4k (default 128)
  --pubs N            publishers for pub and pubsub (default 1)
  --subs N            subscribers for fanout and queue (default 4)
  --reps N            repetitions of each scenario (default 1)
  --window N          outstanding acks of js-pub-async (default 256)
  --batch N           fetch batch of js-fetch (default 500)
  --storage S         memory or file, for JetStream streams (default memory)
  --pending-bytes N   pending-bytes limit of the memory scenario (default 64m)
  --busy N            memory: a busy subscription on the same connection gets an N-byte
                      message after each one to the unread one (default 0: none)
  --rate N            fixed rate instead of flat out, sub and req only: operation i
                      (from 0) is due at start + i/N and waited for by sleeping, never
                      spinning; one that is late goes at once and the schedule does not
                      move. sub: the separate publisher process publishes N msgs/s.
                      req: N sequential requests/s, answered by a separate responder
                      process (natsy, echoing the payload) instead of a responder
                      connection in this process. Either way the process measured, and
                      whose CPU is reported, holds only the client under test.
                      Latency is from each request's start; the note says how many
                      started more than 1/N s late. Default --msgs: 5 s worth (N x 5).
  --json              one JSON object per run on stdout instead of the table
  --no-progress       no progress bar (there is none unless stdout is a terminal)
  -h, --help          this text

Every run checks that nothing was lost: a run that did not deliver every message
exactly is reported as FAILED, never as a fast one.

CPU is user + system time of this process (all threads, CLOCK_PROCESS_CPUTIME_ID) over
the timed part, per message; helper processes (sub's publisher, req --rate's responder)
and the server are not in it. With --rate there is no progress bar (its redraws would
be charged to the process measured)."
    )
}

/// A flag the parser did not accept.
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

fn parse_count(flag: &str, text: &str) -> Result<u64, UsageError> {
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
        .ok_or_else(|| UsageError(format!("{flag}: not a count: {text:?}")))
}

fn positive(flag: &str, text: &str) -> Result<usize, UsageError> {
    let n = parse_count(flag, text)?;
    usize::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| UsageError(format!("{flag} must be at least 1")))
}

/// Parses the arguments after the program name.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, UsageError> {
    let mut args = args.into_iter().peekable();
    if args.peek().map(String::as_str) == Some(PUBLISHER_SUBCOMMAND) {
        args.next();
        return parse_publisher(args);
    }
    if args.peek().map(String::as_str) == Some(RESPONDER_SUBCOMMAND) {
        args.next();
        return parse_responder(args);
    }
    let mut config = Config::default();
    let mut scenarios = Vec::new();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, UsageError> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => args
                    .next()
                    .ok_or_else(|| UsageError(format!("{name} needs a value"))),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--url" => config.url = Some(value("--url")?),
            "--msgs" | "-n" => config.msgs = Some(parse_count("--msgs", &value("--msgs")?)?),
            "--size" | "-s" => {
                let v = value("--size")?;
                config.sizes = v
                    .split(',')
                    .map(parse_size)
                    .collect::<Result<Vec<_>, _>>()?;
                if config.sizes.is_empty() {
                    return Err(UsageError("--size needs at least one size".into()));
                }
            }
            "--pubs" => config.pubs = positive("--pubs", &value("--pubs")?)?,
            "--subs" => config.subs = positive("--subs", &value("--subs")?)?,
            "--reps" => config.reps = positive("--reps", &value("--reps")?)?,
            "--window" => config.window = positive("--window", &value("--window")?)?,
            "--batch" => config.batch = positive("--batch", &value("--batch")?)?,
            "--pending-bytes" => config.pending_bytes = parse_size(&value("--pending-bytes")?)?,
            "--busy" => config.busy_bytes = parse_size(&value("--busy")?)?,
            "--rate" => config.rate = Some(positive("--rate", &value("--rate")?)? as u64),
            "--storage" => {
                config.storage = match value("--storage")?.as_str() {
                    "memory" | "mem" => Storage::Memory,
                    "file" => Storage::File,
                    other => {
                        return Err(UsageError(format!(
                            "--storage: memory or file, not {other:?}"
                        )))
                    }
                }
            }
            "--json" => config.json = true,
            "--no-progress" => config.progress = false,
            f if f.starts_with('-') => return Err(UsageError(format!("unknown flag {f}"))),
            name => match Scenario::parse_list(name) {
                Some(list) => scenarios.extend(list),
                None => return Err(UsageError(format!("unknown scenario {name:?}"))),
            },
        }
    }
    if !scenarios.is_empty() {
        let mut seen = Vec::new();
        scenarios.retain(|s| {
            let new = !seen.contains(s);
            seen.push(*s);
            new
        });
        config.scenarios = scenarios;
    }
    if config.msgs == Some(0) {
        return Err(UsageError("--msgs must be at least 1".into()));
    }
    if config.rate.is_some() {
        if let Some(s) = config.scenarios.iter().find(|s| !s.supports_rate()) {
            let hint = if *s == Scenario::PubSub {
                " (pubsub's publisher shares the process measured: use sub)"
            } else {
                ""
            };
            return Err(UsageError(format!(
                "--rate applies to sub and req only, not {s}{hint}"
            )));
        }
    }
    Ok(Command::Run(config))
}

fn parse_publisher<I: Iterator<Item = String>>(mut args: I) -> Result<Command, UsageError> {
    let mut url = None;
    let mut subject = None;
    let mut msgs = None;
    let mut size = None;
    let mut busy_subject = None;
    let mut busy_size = None;
    let mut rate = None;
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| UsageError(format!("{flag} needs a value")))?;
        match flag.as_str() {
            "--url" => url = Some(value),
            "--subject" => subject = Some(value),
            "--msgs" => msgs = Some(parse_count("--msgs", &value)?),
            "--size" => size = Some(parse_size(&value)?),
            "--busy-subject" => busy_subject = Some(value),
            "--busy-size" => busy_size = Some(parse_size(&value)?),
            "--rate" => rate = Some(positive("--rate", &value)? as u64),
            other => return Err(UsageError(format!("unknown flag {other}"))),
        }
    }
    let busy = match (busy_subject, busy_size) {
        (Some(subject), Some(size)) => Some((subject, size)),
        (None, None) => None,
        _ => {
            return Err(UsageError(
                "--busy-subject and --busy-size go together".into(),
            ))
        }
    };
    match (url, subject, msgs, size) {
        (Some(url), Some(subject), Some(msgs), Some(size)) => {
            Ok(Command::Publisher(PublisherArgs {
                url,
                subject,
                msgs,
                size,
                busy,
                rate,
            }))
        }
        _ => Err(UsageError(format!(
            "{PUBLISHER_SUBCOMMAND} needs --url, --subject, --msgs and --size"
        ))),
    }
}

fn parse_responder<I: Iterator<Item = String>>(mut args: I) -> Result<Command, UsageError> {
    let mut url = None;
    let mut subject = None;
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| UsageError(format!("{flag} needs a value")))?;
        match flag.as_str() {
            "--url" => url = Some(value),
            "--subject" => subject = Some(value),
            other => return Err(UsageError(format!("unknown flag {other}"))),
        }
    }
    match (url, subject) {
        (Some(url), Some(subject)) => Ok(Command::Responder(ResponderArgs { url, subject })),
        _ => Err(UsageError(format!(
            "{RESPONDER_SUBCOMMAND} needs --url and --subject"
        ))),
    }
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

    fn run(args: &[&str]) -> Result<Config, UsageError> {
        match parse(args.iter().map(|s| s.to_string()))? {
            Command::Run(c) => Ok(c),
            other => panic!("expected Run, got {other:?}"),
        }
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
        ])
        .unwrap();
        assert_eq!(c.scenarios, vec![Scenario::PubSub, Scenario::Req]);
        assert_eq!(c.url.as_deref(), Some("nats://127.0.0.1:4333"));
        assert_eq!(c.msgs, Some(2000));
        assert_eq!(c.sizes, vec![16, 128, 4096]);
        assert_eq!((c.pubs, c.subs, c.reps), (2, 3, 5));
        assert!(c.json && !c.progress);
        assert_eq!((c.window, c.batch), (64, 100));
        assert_eq!(c.storage, Storage::File);
    }

    #[test]
    fn scenario_lists_expand_and_dedupe() {
        let c = run(&["js-pub", "js-pub-sync", "all"]).unwrap();
        assert_eq!(
            c.scenarios[..2],
            [Scenario::JsPubSync, Scenario::JsPubAsync]
        );
        assert_eq!(c.scenarios.len(), Scenario::ALL.len());
        for s in Scenario::ALL {
            assert_eq!(Scenario::parse_list(s.name()), Some(vec![s]));
        }
        assert_eq!(Scenario::parse_list("memory"), Some(vec![Scenario::Memory]));
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
            assert!(run(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(parse(["-h".to_string()]).unwrap(), Command::Help);
    }

    #[test]
    fn sizes_and_default_counts() {
        assert_eq!(parse_size("16").unwrap(), 16);
        assert_eq!(parse_size("4k").unwrap(), 4096);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
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

    #[test]
    fn publisher_subcommand() {
        let args = [
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
            parse(args.iter().map(|s| s.to_string())).unwrap(),
            Command::Publisher(PublisherArgs {
                url: "nats://h:1".into(),
                subject: "a.b".into(),
                msgs: 10,
                size: 16,
                busy: None,
                rate: None,
            })
        );
        let busy: Vec<String> = args
            .iter()
            .chain(&["--busy-subject", "c", "--busy-size", "16k"])
            .map(|s| s.to_string())
            .collect();
        assert!(matches!(
            parse(busy),
            Ok(Command::Publisher(PublisherArgs { busy: Some((s, 16384)), .. })) if s == "c"
        ));
        let half: Vec<String> = args
            .iter()
            .chain(&["--busy-size", "16"])
            .map(|s| s.to_string())
            .collect();
        assert!(parse(half).is_err());
        assert!(parse(["_publisher".to_string(), "--url".to_string()]).is_err());
        assert!(parse(["_publisher".to_string()]).is_err());
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
            let args = std::iter::once(PUBLISHER_SUBCOMMAND.to_string()).chain(p.to_args());
            assert_eq!(parse(args).unwrap(), Command::Publisher(p));
        }
        let zero = ["_publisher", "--url", "u", "--subject", "s", "--msgs", "1"]
            .iter()
            .chain(&["--size", "1", "--rate", "0"])
            .map(|s| s.to_string());
        assert!(parse(zero).is_err());
    }

    #[test]
    fn responder_subcommand() {
        let args = ["_responder", "--url", "nats://h:1", "--subject", "a.b"];
        assert_eq!(
            parse(args.iter().map(|s| s.to_string())).unwrap(),
            Command::Responder(ResponderArgs {
                url: "nats://h:1".into(),
                subject: "a.b".into(),
            })
        );
        assert!(parse(args[..3].iter().map(|s| s.to_string())).is_err());
        let extra = args.iter().chain(&["--size", "1"]).map(|s| s.to_string());
        assert!(parse(extra).is_err());
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
        let e = run(&["pubsub", "--rate", "10"]).unwrap_err();
        assert!(e.0.contains("use sub"), "{e}");
        assert!(usage("x").contains("--rate N"));
    }
}

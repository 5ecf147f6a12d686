//! One run's result, printed as a table for people ([`Table`]: one header per kind of
//! scenario, at most [`WIDTH`] columns, thousands separators and units), as a CSV record
//! ([`CsvRecord`]) or as a JSON line (what the comparison driver reads; the same format
//! from natsy-bench, the async-nats peer and the nats.c peer).

use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::cli::{Kind, Scenario};
use crate::measure::{median, Measured, Percentiles};

/// What a scenario hands back when every message was accounted for.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Messages the throughput counts (for `fanout`, deliveries: published × subscribers).
    pub msgs: u64,
    /// Payload bytes the throughput counts.
    pub bytes: u64,
    /// Wall and CPU time of the timed part.
    pub measured: Measured,
    /// Per-message latencies, for the scenarios that time each one.
    pub latency: Option<Percentiles>,
    /// Anything else worth printing (e.g. the memory scenario's peak).
    pub note: Option<String>,
}

/// One run, as printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// `natsy` or `async-nats`.
    pub client: String,
    /// Scenario name.
    pub scenario: String,
    /// Payload bytes.
    pub size: usize,
    /// Repetition, from 1.
    pub rep: usize,
    /// Whether every message was accounted for. A failed run has no numbers.
    pub ok: bool,
    /// Why the run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Messages counted.
    pub msgs: u64,
    /// Timed seconds.
    pub elapsed_s: f64,
    /// Messages per second.
    pub msgs_per_sec: f64,
    /// Payload megabytes (10^6 bytes) per second.
    pub mb_per_sec: f64,
    /// CPU microseconds of this process per counted message.
    pub cpu_us_per_msg: f64,
    /// `--rate`: the operations per second the run was paced at (none: flat out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u64>,
    /// Latency percentiles in microseconds, where measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<Percentiles>,
    /// A remark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl RunResult {
    /// Builds the row of one run.
    pub fn new(
        client: &str,
        scenario: &str,
        size: usize,
        rep: usize,
        outcome: Result<Outcome, String>,
    ) -> RunResult {
        let mut r = RunResult {
            client: client.to_string(),
            scenario: scenario.to_string(),
            size,
            rep,
            ok: false,
            error: None,
            msgs: 0,
            elapsed_s: 0.0,
            msgs_per_sec: 0.0,
            mb_per_sec: 0.0,
            cpu_us_per_msg: 0.0,
            rate: None,
            latency_us: None,
            note: None,
        };
        match outcome {
            Ok(o) => {
                let secs = o.measured.elapsed.as_secs_f64().max(1e-9);
                r.ok = true;
                r.msgs = o.msgs;
                r.elapsed_s = secs;
                r.msgs_per_sec = o.msgs as f64 / secs;
                r.mb_per_sec = o.bytes as f64 / secs / 1e6;
                r.cpu_us_per_msg = o.measured.cpu.as_secs_f64() * 1e6 / o.msgs.max(1) as f64;
                r.latency_us = o.latency;
                r.note = o.note;
            }
            Err(e) => r.error = Some(e),
        }
        r
    }

    /// The median of several runs of one scenario and size (failed runs are left out;
    /// the row is failed if any run failed).
    pub fn median_of(runs: &[RunResult]) -> Option<RunResult> {
        let first = runs.first()?;
        let good: Vec<&RunResult> = runs.iter().filter(|r| r.ok).collect();
        let failed = runs.len() - good.len();
        let m = |f: fn(&RunResult) -> f64| median(&good.iter().map(|r| f(r)).collect::<Vec<_>>());
        let lat = |f: fn(&Percentiles) -> f64| {
            median(
                &good
                    .iter()
                    .filter_map(|r| r.latency_us.as_ref().map(f))
                    .collect::<Vec<_>>(),
            )
        };
        let latency_us = match (
            lat(|p| p.p50),
            lat(|p| p.p90),
            lat(|p| p.p99),
            lat(|p| p.p999),
            lat(|p| p.max),
        ) {
            (Some(p50), Some(p90), Some(p99), Some(p999), Some(max)) => Some(Percentiles {
                p50,
                p90,
                p99,
                p999,
                max,
            }),
            _ => None,
        };
        Some(RunResult {
            client: first.client.clone(),
            scenario: first.scenario.clone(),
            size: first.size,
            rep: 0,
            ok: failed == 0,
            error: (failed > 0).then(|| format!("{failed} of {} runs failed", runs.len())),
            msgs: first.msgs,
            elapsed_s: m(|r| r.elapsed_s).unwrap_or(0.0),
            msgs_per_sec: m(|r| r.msgs_per_sec).unwrap_or(0.0),
            mb_per_sec: m(|r| r.mb_per_sec).unwrap_or(0.0),
            cpu_us_per_msg: m(|r| r.cpu_us_per_msg).unwrap_or(0.0),
            rate: first.rate,
            latency_us,
            note: None,
        })
    }

    /// One JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Which table the row goes in (by scenario name: a failed latency run has no
    /// latency but still belongs with the latency rows).
    pub fn kind(&self) -> Kind {
        Scenario::from_name(&self.scenario).map_or(Kind::Throughput, Scenario::kind)
    }
}

/// The widest line a [`Table`] prints.
pub const WIDTH: usize = 100;

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `x` with `decimals` decimals and thousands separators: `1,234.5`.
pub fn thousands_f(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let text = format!("{:.*}", decimals, x.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let sign = if x < 0.0 && text.chars().any(|c| c != '0' && c != '.') {
        "-"
    } else {
        ""
    };
    let int = thousands(int.parse().unwrap_or(0));
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// A latency in microseconds with three significant digits and its unit: `52.1 µs`,
/// `1.25 ms`, `2.00 s` (at most 7 characters below 1,000 s).
pub fn latency(us: f64) -> String {
    let (value, unit) = if us < 999.5 {
        (us, "µs")
    } else if us < 999_500.0 {
        (us / 1e3, "ms")
    } else {
        (us / 1e6, "s")
    };
    let decimals = if value < 9.995 {
        2
    } else if value < 99.95 {
        1
    } else {
        0
    };
    format!("{} {unit}", thousands_f(value, decimals))
}

/// One column of a table: its header and width; numbers are right-aligned.
#[derive(Debug, Clone, Copy)]
struct Column {
    header: &'static str,
    width: usize,
    left: bool,
}

const fn left(header: &'static str, width: usize) -> Column {
    Column {
        header,
        width,
        left: true,
    }
}

const fn right(header: &'static str, width: usize) -> Column {
    Column {
        header,
        width,
        left: false,
    }
}

const THROUGHPUT: &[Column] = &[
    left("scenario", 12),
    right("size", 6),
    right("rep", 3),
    right("msgs", 13),
    right("msgs/s", 13),
    right("MB/s", 10),
    right("CPU µs/msg", 10),
    left("result", 6),
];

const LATENCY: &[Column] = &[
    left("scenario", 11),
    right("size", 6),
    right("rep", 3),
    right("msgs", 9),
    right("msgs/s", 9),
    right("CPU µs/msg", 10),
    right("p50", 7),
    right("p90", 7),
    right("p99", 7),
    right("p99.9", 7),
    right("max", 7),
    left("result", 6),
];

const MEMORY: &[Column] = &[
    left("scenario", 12),
    right("size", 6),
    right("rep", 3),
    right("msgs", 13),
    right("msgs/s", 13),
    right("MB/s", 10),
    left("result", 6),
];

impl Kind {
    fn columns(self) -> &'static [Column] {
        match self {
            Kind::Throughput => THROUGHPUT,
            Kind::Latency => LATENCY,
            Kind::Memory => MEMORY,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::Throughput => "throughput",
            Kind::Latency => "latency, one message at a time (HDR histogram percentiles)",
            Kind::Memory => "memory of a subscriber that stopped reading",
        }
    }
}

fn line(columns: &[Column], cells: &[String]) -> String {
    let mut out = String::new();
    for (i, (c, text)) in columns.iter().zip(cells).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let pad = c.width.saturating_sub(text.chars().count());
        let last = i + 1 == columns.len();
        if c.left {
            out.push_str(text);
            if !last {
                out.push_str(&" ".repeat(pad));
            }
        } else {
            out.push_str(&" ".repeat(pad));
            out.push_str(text);
        }
    }
    out
}

/// `text` after `first` on the first line and `indent` spaces on the others, wrapped at
/// word boundaries to [`WIDTH`] columns (a word longer than a line is cut).
fn wrap(first: &str, indent: usize, text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = current.chars().count();
            let room = WIDTH.saturating_sub(used + usize::from(!empty));
            if word.len() <= room {
                if !empty {
                    current.push(' ');
                }
                current.extend(word.iter());
                empty = false;
                break;
            }
            if empty && room > 0 {
                // A word that fits on no line: as much as fits here.
                current.extend(word.drain(..room));
            }
            lines.push(std::mem::replace(&mut current, " ".repeat(indent)));
            empty = true;
        }
    }
    lines.push(current);
    lines
}

/// The table for people, printed as runs finish: a title and a header whenever the kind
/// of scenario changes, then one line per run, and an indented line for its note or
/// error. Every line is at most [`WIDTH`] columns.
#[derive(Debug, Clone)]
pub struct Table {
    client: String,
    kind: Option<Kind>,
}

impl Table {
    /// A table of `client`'s runs.
    pub fn new(client: &str) -> Table {
        Table {
            client: client.to_string(),
            kind: None,
        }
    }

    /// The lines to print for `r` (`rep` 0 is a median, shown as `med`).
    pub fn lines(&mut self, r: &RunResult) -> Vec<String> {
        let kind = r.kind();
        let mut out = Vec::new();
        if self.kind != Some(kind) {
            if self.kind.is_some() {
                out.push(String::new());
            }
            out.push(format!("{}: {}", self.client, kind.title()));
            let columns = kind.columns();
            let headers: Vec<String> = columns.iter().map(|c| c.header.to_string()).collect();
            out.push(line(columns, &headers));
            self.kind = Some(kind);
        }
        out.push(line(kind.columns(), &cells(kind, r)));
        let detail = if r.ok {
            r.note.as_deref().map(|n| ("  note: ", n))
        } else {
            Some(("  ", r.error.as_deref().unwrap_or("incomplete run")))
        };
        if let Some((first, text)) = detail {
            out.extend(wrap(first, 8, text));
        }
        out
    }
}

fn cells(kind: Kind, r: &RunResult) -> Vec<String> {
    let rep = if r.rep == 0 {
        "med".to_string()
    } else {
        r.rep.to_string()
    };
    let result = if r.ok { "ok" } else { "FAILED" };
    let mut v = vec![r.scenario.clone(), human_size(r.size), rep];
    // A failed run has no numbers; a median with failed runs among them has.
    let blank = !r.ok && r.msgs_per_sec == 0.0;
    let n = kind.columns().len();
    if blank {
        v.resize(n - 1, String::new());
        v.push(result.to_string());
        return v;
    }
    v.push(thousands(r.msgs));
    match kind {
        Kind::Throughput => {
            v.push(thousands_f(r.msgs_per_sec, 0));
            v.push(thousands_f(r.mb_per_sec, 1));
            v.push(thousands_f(r.cpu_us_per_msg, 3));
        }
        Kind::Latency => {
            v.push(thousands_f(r.msgs_per_sec, 0));
            v.push(thousands_f(r.cpu_us_per_msg, 3));
            let p = r.latency_us;
            for f in [
                |p: &Percentiles| p.p50,
                |p: &Percentiles| p.p90,
                |p: &Percentiles| p.p99,
                |p: &Percentiles| p.p999,
                |p: &Percentiles| p.max,
            ] {
                v.push(p.as_ref().map_or("-".into(), |p| latency(f(p))));
            }
        }
        Kind::Memory => {
            v.push(thousands_f(r.msgs_per_sec, 0));
            v.push(thousands_f(r.mb_per_sec, 1));
        }
    }
    v.push(result.to_string());
    v
}

/// One run as a CSV record: the fields of [`RunResult`], latency flattened into
/// `p50_us` ... `max_us`, absent values empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CsvRecord {
    /// `natsy`, `async-nats` or `nats.c`.
    pub client: String,
    /// Scenario name.
    pub scenario: String,
    /// Payload bytes.
    pub size: usize,
    /// Repetition, from 1.
    pub rep: usize,
    /// Whether every message was accounted for.
    pub ok: bool,
    /// Why the run failed.
    pub error: Option<String>,
    /// Messages counted.
    pub msgs: u64,
    /// Timed seconds.
    pub elapsed_s: f64,
    /// Messages per second.
    pub msgs_per_sec: f64,
    /// Payload megabytes (10^6 bytes) per second.
    pub mb_per_sec: f64,
    /// CPU microseconds of the process per counted message.
    pub cpu_us_per_msg: f64,
    /// `--rate`, if the run was paced.
    pub rate: Option<u64>,
    /// Median latency, microseconds.
    pub p50_us: Option<f64>,
    /// 90th percentile latency, microseconds.
    pub p90_us: Option<f64>,
    /// 99th percentile latency, microseconds.
    pub p99_us: Option<f64>,
    /// 99.9th percentile latency, microseconds.
    pub p999_us: Option<f64>,
    /// Largest latency, microseconds.
    pub max_us: Option<f64>,
    /// A remark.
    pub note: Option<String>,
}

impl From<&RunResult> for CsvRecord {
    fn from(r: &RunResult) -> Self {
        let p = r.latency_us;
        CsvRecord {
            client: r.client.clone(),
            scenario: r.scenario.clone(),
            size: r.size,
            rep: r.rep,
            ok: r.ok,
            error: r.error.clone(),
            msgs: r.msgs,
            elapsed_s: r.elapsed_s,
            msgs_per_sec: r.msgs_per_sec,
            mb_per_sec: r.mb_per_sec,
            cpu_us_per_msg: r.cpu_us_per_msg,
            rate: r.rate,
            p50_us: p.map(|p| p.p50),
            p90_us: p.map(|p| p.p90),
            p99_us: p.map(|p| p.p99),
            p999_us: p.map(|p| p.p999),
            max_us: p.map(|p| p.max),
            note: r.note.clone(),
        }
    }
}

/// Writes CSV records to `out`, the header record before the first.
#[derive(Debug)]
pub struct CsvOut<W: Write> {
    writer: csv::Writer<W>,
}

impl<W: Write> CsvOut<W> {
    /// A writer on `out`.
    pub fn new(out: W) -> CsvOut<W> {
        CsvOut {
            writer: csv::Writer::from_writer(out),
        }
    }

    /// Writes `r` and flushes, so a record is out as soon as its run is done.
    pub fn write(&mut self, r: &RunResult) -> Result<(), csv::Error> {
        self.writer.serialize(CsvRecord::from(r))?;
        self.writer.flush()?;
        Ok(())
    }

    /// The writer back.
    pub fn into_inner(self) -> Option<W> {
        self.writer.into_inner().ok()
    }
}

/// `16B`, `4KiB`, `1MiB`.
pub fn human_size(size: usize) -> String {
    if size >= 1 << 20 && size % (1 << 20) == 0 {
        format!("{}MiB", size >> 20)
    } else if size >= 1 << 10 && size % (1 << 10) == 0 {
        format!("{}KiB", size >> 10)
    } else {
        format!("{size}B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn outcome(msgs: u64, secs: f64, cpu_ms: u64) -> Outcome {
        Outcome {
            msgs,
            bytes: msgs * 16,
            measured: Measured {
                elapsed: Duration::from_secs_f64(secs),
                cpu: Duration::from_millis(cpu_ms),
            },
            latency: None,
            note: None,
        }
    }

    #[test]
    fn rates_come_from_counts_and_time() {
        let r = RunResult::new("natsy", "pub", 16, 1, Ok(outcome(1_000_000, 0.5, 100)));
        assert!(r.ok);
        assert_eq!(r.msgs_per_sec, 2_000_000.0);
        assert_eq!(r.mb_per_sec, 32.0);
        assert!((r.cpu_us_per_msg - 0.1).abs() < 1e-12);
        let back: RunResult = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn a_failed_run_has_no_numbers_and_fails_the_median() {
        let bad = RunResult::new("natsy", "pubsub", 16, 2, Err("got 9 of 10".into()));
        assert!(!bad.ok);
        assert_eq!(bad.msgs_per_sec, 0.0);
        let lines = Table::new("natsy").lines(&bad);
        assert!(
            lines[2].ends_with("FAILED") && lines[3].contains("got 9 of 10"),
            "{lines:?}"
        );
        let runs = vec![
            RunResult::new("natsy", "pubsub", 16, 1, Ok(outcome(10, 1.0, 1))),
            bad,
            RunResult::new("natsy", "pubsub", 16, 3, Ok(outcome(10, 2.0, 1))),
        ];
        let m = RunResult::median_of(&runs).unwrap();
        assert!(!m.ok);
        assert_eq!(m.msgs_per_sec, 7.5);
        assert_eq!(m.error.as_deref(), Some("1 of 3 runs failed"));
        assert!(RunResult::median_of(&[]).is_none());
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(16), "16B");
        assert_eq!(human_size(4096), "4KiB");
        assert_eq!(human_size(1 << 20), "1MiB");
        assert_eq!(human_size(1000), "1000B");
    }

    fn extreme(scenario: &str, rep: usize) -> RunResult {
        let mut r = RunResult::new(
            scenario_client(),
            scenario,
            1 << 20,
            rep,
            Ok(outcome(1, 1.0, 1)),
        );
        // Larger than any real run: ten billion messages at a hundred million a second.
        r.msgs = 9_999_999_999;
        r.msgs_per_sec = 123_456_789.0;
        r.mb_per_sec = 99_999.9;
        r.cpu_us_per_msg = 9_999.999;
        if Scenario::from_name(scenario).is_some_and(Scenario::has_latency) {
            // Ten million round trips, at a million a second.
            r.msgs = 9_999_999;
            r.msgs_per_sec = 1_000_000.0;
            r.latency_us = Some(Percentiles {
                p50: 0.123,
                p90: 999.4,
                p99: 99_949.0,
                p999: 999_000.0,
                max: 999_000_000.0,
            });
        }
        r.note =
            Some("RSS +12.3 MiB, bound 80.0 MiB; queued 123456 (60.0 MiB), dropped 0; ".repeat(3));
        r
    }

    fn scenario_client() -> &'static str {
        "async-nats"
    }

    #[test]
    fn every_table_line_fits_100_columns() {
        let mut table = Table::new("async-nats");
        let mut all = Vec::new();
        for s in Scenario::ALL {
            for rep in [1, 0] {
                all.extend(table.lines(&extreme(s.name(), rep)));
            }
            let mut failed = RunResult::new("async-nats", s.name(), 16, 2, Err("x ".repeat(80)));
            failed.rate = Some(1000);
            all.extend(table.lines(&failed));
            all.extend(table.lines(&RunResult::new("x", s.name(), 16, 1, Err("y".repeat(250)))));
        }
        for l in &all {
            assert!(
                l.chars().count() <= WIDTH,
                "{} columns: {l}",
                l.chars().count()
            );
        }
        // One title and header per kind: `all` is grouped by kind.
        let titles = all.iter().filter(|l| l.starts_with("async-nats: ")).count();
        assert_eq!(titles, 3, "{all:#?}");
        // Headers line up with their rows.
        let mut t = Table::new("natsy");
        let lines = t.lines(&extreme("req", 1));
        let width = |l: &str, last: &str| l.trim_end_matches(last).chars().count();
        assert_eq!(
            width(&lines[1], "result"),
            width(&lines[2], "ok"),
            "{lines:#?}"
        );
        assert!(
            lines[1].contains("p99.9") && lines[2].contains("999 ms"),
            "{lines:#?}"
        );
        let lines = Table::new("natsy").lines(&extreme("pub", 1));
        assert!(
            !lines[1].contains("p50") && lines[1].contains("MB/s"),
            "{lines:#?}"
        );
        assert!(lines[2].contains("9,999,999,999") && lines[2].contains("123,456,789"));
        assert!(lines[3].starts_with("  note: RSS"), "{lines:#?}");
    }

    #[test]
    fn a_median_row_and_a_repeated_kind_share_the_header() {
        let mut t = Table::new("natsy");
        let ok = RunResult::new("natsy", "pub", 16, 1, Ok(outcome(1_000_000, 0.5, 100)));
        let first = t.lines(&ok);
        assert_eq!(first.len(), 3, "{first:?}");
        assert!(
            first[2].contains("2,000,000") && first[2].ends_with("ok"),
            "{first:?}"
        );
        let mut med = ok.clone();
        med.rep = 0;
        let again = t.lines(&med);
        assert_eq!(again.len(), 1);
        assert!(again[0].contains(" med "), "{again:?}");
        let next = t.lines(&RunResult::new(
            "natsy",
            "req",
            16,
            1,
            Ok(outcome(10, 1.0, 1)),
        ));
        assert_eq!(next[0], "", "a blank line before a new kind: {next:?}");
        assert!(next[3].contains(" - "), "no latency measured: {next:?}");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
        assert_eq!(thousands_f(1234.56, 1), "1,234.6");
        assert_eq!(thousands_f(999.96, 1), "1,000.0");
        assert_eq!(thousands_f(0.0812, 3), "0.081");
        assert_eq!(thousands_f(-1234.0, 0), "-1,234");
        assert_eq!(thousands_f(12_345_678.4, 0), "12,345,678");
        assert_eq!(latency(0.123), "0.12 µs");
        assert_eq!(latency(52.14), "52.1 µs");
        assert_eq!(latency(999.4), "999 µs");
        assert_eq!(latency(999.6), "1.00 ms");
        assert_eq!(latency(12_345.0), "12.3 ms");
        assert_eq!(latency(2_000_000.0), "2.00 s");
        assert_eq!(latency(5e9), "5,000 s");
    }

    #[test]
    fn csv_records_parse_back() {
        let mut ok = RunResult::new("natsy", "req", 128, 1, Ok(outcome(20_000, 2.0, 50)));
        ok.latency_us = Some(Percentiles {
            p50: 50.5,
            p90: 60.0,
            p99: 70.0,
            p999: 80.0,
            max: 90.0,
        });
        ok.rate = Some(1000);
        ok.note = Some("a note, with \"quotes\" and a comma".into());
        let bad = RunResult::new("natsy", "pub", 16, 2, Err("lost 1, of 10".into()));
        let mut out = CsvOut::new(Vec::new());
        out.write(&ok).unwrap();
        out.write(&bad).unwrap();
        let bytes = out.into_inner().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(
            text.starts_with("client,scenario,size,rep,ok,error,msgs,"),
            "{text}"
        );
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let back: Vec<CsvRecord> = reader.deserialize().collect::<Result<_, _>>().unwrap();
        assert_eq!(back, vec![CsvRecord::from(&ok), CsvRecord::from(&bad)]);
        assert_eq!(back[0].p50_us, Some(50.5));
        assert_eq!(back[1].p50_us, None);
        assert_eq!(back[1].error.as_deref(), Some("lost 1, of 10"));
    }

    #[test]
    fn json_lines_parse_back() {
        let mut r = RunResult::new("natsy", "req", 128, 1, Ok(outcome(10, 1.0, 1)));
        r.note = Some("line\nbreak".into());
        let line = r.to_json();
        assert!(!line.contains('\n'), "{line}");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        for key in [
            "client",
            "scenario",
            "size",
            "rep",
            "ok",
            "msgs",
            "msgs_per_sec",
        ] {
            assert!(v.get(key).is_some(), "{key} in {line}");
        }
        assert_eq!(serde_json::from_str::<RunResult>(&line).unwrap(), r);
    }
}

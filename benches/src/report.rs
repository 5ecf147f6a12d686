//! One run's result, as a table row for people and as a JSON line for the comparison
//! driver (the same format from natsy-bench and from the async-nats peer).

use serde::{Deserialize, Serialize};

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

    /// The table header matching [`RunResult::row`].
    pub fn header() -> String {
        format!(
            "{:<10} {:<12} {:>6} {:>4} {:>9} {:>12} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}  result",
            "client",
            "scenario",
            "size",
            "rep",
            "msgs",
            "msgs/s",
            "MB/s",
            "cpu us/m",
            "p50 us",
            "p90 us",
            "p99 us",
            "p99.9 us",
            "max us"
        )
    }

    /// One table row; `rep` 0 is shown as `med`.
    pub fn row(&self) -> String {
        let rep = if self.rep == 0 {
            "med".to_string()
        } else {
            self.rep.to_string()
        };
        let lat = |f: fn(&Percentiles) -> f64| match &self.latency_us {
            Some(p) => format!("{:.1}", f(p)),
            None => "-".into(),
        };
        let result = if self.ok {
            match &self.note {
                Some(n) => format!("ok ({n})"),
                None => "ok".into(),
            }
        } else {
            format!(
                "FAILED: {}",
                self.error.as_deref().unwrap_or("incomplete run")
            )
        };
        if !self.ok && self.rep != 0 {
            return format!(
                "{:<10} {:<12} {:>6} {:>4} {result}",
                self.client,
                self.scenario,
                human_size(self.size),
                rep
            );
        }
        format!(
            "{:<10} {:<12} {:>6} {:>4} {:>9} {:>12.0} {:>9.1} {:>9.3} {:>8} {:>8} {:>8} {:>8} {:>8}  {result}",
            self.client,
            self.scenario,
            human_size(self.size),
            rep,
            self.msgs,
            self.msgs_per_sec,
            self.mb_per_sec,
            self.cpu_us_per_msg,
            lat(|p| p.p50),
            lat(|p| p.p90),
            lat(|p| p.p99),
            lat(|p| p.p999),
            lat(|p| p.max),
        )
    }
}

/// `16 B`, `4 KiB`, `1 MiB`.
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
        assert!(r.row().ends_with("ok"));
    }

    #[test]
    fn a_failed_run_has_no_numbers_and_fails_the_median() {
        let bad = RunResult::new("natsy", "pubsub", 16, 2, Err("got 9 of 10".into()));
        assert!(!bad.ok);
        assert_eq!(bad.msgs_per_sec, 0.0);
        assert!(bad.row().contains("FAILED: got 9 of 10"));
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
}

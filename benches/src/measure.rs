//! What a run measures: wall time, this process's CPU time, resident memory, and latency
//! percentiles (from an HDR histogram, [`Latencies`]).
//!
//! CPU time is `CLOCK_PROCESS_CPUTIME_ID`: user plus system time of every thread of this
//! process, including threads that have already exited — the same kernel accounting
//! `getrusage(RUSAGE_SELF)` reports, with nanosecond resolution and without unsafe code.
//! Child processes (the `sub` scenario's publisher) are not included.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// CPU time (user + system) this process has used so far, all threads included.
pub fn process_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(t.tv_nsec).unwrap_or(0);
    Duration::new(secs, nanos)
}

/// Resident memory of this process in bytes (`VmRSS` of `/proc/self/status`), if known.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

/// The `VmRSS:` line of a `/proc/<pid>/status` text, in bytes.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let n: u64 = words.next()?.parse().ok()?;
    let unit = match words.next() {
        Some("kB") | None => 1024,
        Some("mB") => 1 << 20,
        Some(_) => return None,
    };
    n.checked_mul(unit)
}

/// Wall-clock and CPU time since [`Meter::start`].
#[derive(Debug, Clone, Copy)]
pub struct Meter {
    wall: Instant,
    cpu: Duration,
}

/// What a [`Meter`] measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    /// Wall-clock time.
    pub elapsed: Duration,
    /// CPU time of this process (all threads).
    pub cpu: Duration,
}

impl Meter {
    /// Starts measuring now.
    pub fn start() -> Meter {
        Meter {
            cpu: process_cpu_time(),
            wall: Instant::now(),
        }
    }

    /// What was used since the start.
    pub fn stop(&self) -> Measured {
        let elapsed = self.wall.elapsed();
        Measured {
            elapsed,
            cpu: process_cpu_time().saturating_sub(self.cpu),
        }
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

/// Per-message latencies as an HDR histogram (`hdrhistogram`): 3 significant digits from
/// 1 ns to an hour, in a fixed ~300 KB whatever the message count, where keeping every
/// sample would cost 8 bytes a message (80 MB for `--msgs 10m`).
#[derive(Debug, Clone)]
pub struct Latencies {
    histogram: hdrhistogram::Histogram<u64>,
}

/// The largest latency recorded as itself; longer ones count as this.
const LATENCY_MAX_NANOS: u64 = 3_600 * 1_000_000_000;

impl Default for Latencies {
    fn default() -> Self {
        Latencies::new()
    }
}

impl Latencies {
    /// An empty histogram.
    pub fn new() -> Latencies {
        let histogram = hdrhistogram::Histogram::new_with_bounds(1, LATENCY_MAX_NANOS, 3)
            .expect("1 ns to an hour at 3 significant digits are valid bounds");
        Latencies { histogram }
    }

    /// Records one latency (below 1 ns counts as 1 ns, above an hour as an hour).
    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.histogram
            .saturating_record(nanos.clamp(1, LATENCY_MAX_NANOS));
    }

    /// How many latencies were recorded.
    pub fn len(&self) -> u64 {
        self.histogram.len()
    }

    /// Whether none was recorded.
    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    /// The percentiles (within the histogram's 0.1%); `None` if nothing was recorded.
    pub fn percentiles(&self) -> Option<Percentiles> {
        if self.histogram.is_empty() {
            return None;
        }
        let at = |q: f64| self.histogram.value_at_quantile(q) as f64 / 1e3;
        Some(Percentiles {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: self.histogram.max() as f64 / 1e3,
        })
    }
}

/// The median of `values` (the mean of the middle two for an even count); `None` if empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_advances_with_work() {
        let meter = Meter::start();
        let mut x = 0u64;
        let until = Instant::now() + Duration::from_millis(30);
        while Instant::now() < until {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let m = meter.stop();
        assert!(m.elapsed >= Duration::from_millis(30));
        // Busy for 30 ms of wall time: some CPU time was charged, and never more than
        // the wall time times the number of threads that could have run.
        assert!(m.cpu > Duration::ZERO, "{m:?}");
        assert!(m.cpu <= m.elapsed * 64, "{m:?}");
    }

    #[test]
    fn vm_rss_is_parsed() {
        let status = "Name:\tx\nVmPeak:\t  100 kB\nVmRSS:\t    2048 kB\nThreads:\t1\n";
        assert_eq!(parse_vm_rss(status), Some(2048 * 1024));
        assert_eq!(parse_vm_rss("VmRSS: lots kB\n"), None);
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        assert!(resident_bytes().is_some_and(|b| b > 0));
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut l = Latencies::new();
        assert!(l.is_empty() && l.percentiles().is_none());
        for us in (1..=1000).rev() {
            l.record(Duration::from_micros(us));
        }
        assert_eq!(l.len(), 1000);
        let p = l.percentiles().unwrap();
        // 3 significant digits: each within 0.1% of the exact nearest rank.
        for (got, want) in [
            (p.p50, 500.0),
            (p.p90, 900.0),
            (p.p99, 990.0),
            (p.p999, 999.0),
            (p.max, 1000.0),
        ] {
            assert!((got - want).abs() <= want * 1e-3, "{got} vs {want}");
        }
        let mut one = Latencies::new();
        one.record(Duration::from_micros(7));
        let p = one.percentiles().unwrap();
        assert!(
            (p.p50 - 7.0).abs() < 0.01 && (p.max - 7.0).abs() < 0.01,
            "{p:?}"
        );
        // Out-of-range values are clamped, never lost.
        let mut odd = Latencies::new();
        odd.record(Duration::ZERO);
        odd.record(Duration::from_secs(100_000));
        assert_eq!(odd.len(), 2);
        assert!(odd.percentiles().unwrap().max >= 3.6e9 * 0.999);
    }

    #[test]
    fn the_histogram_does_not_grow_with_the_count() {
        let mut l = Latencies::new();
        let before = l.histogram.distinct_values();
        for i in 0..200_000u64 {
            l.record(Duration::from_nanos(1 + i * 7919 % 50_000_000));
        }
        assert_eq!(l.histogram.distinct_values(), before);
        assert_eq!(l.len(), 200_000);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 5.0]), Some(5.0));
        assert_eq!(median(&[]), None);
    }
}

//! Fixed-rate pacing for `--rate N`: operation `i` (from 0) is due at `start + i/N`, an
//! absolute schedule, so a late operation does not push back the ones after it (they
//! simply find their time already come and go at once). Waiting is a sleep, never a
//! spin: the point of a fixed-rate run is what a client costs while mostly idle.
//!
//! The blocking [`Pacer::wait`] sleeps with `std::thread::sleep`; an async caller sleeps
//! until [`Pacer::deadline`] with its own timer and then calls [`Pacer::started`].

use std::time::{Duration, Instant};

/// The schedule of one paced run, and how well it was kept.
#[derive(Debug, Clone)]
pub struct Pacer {
    start: Instant,
    rate: u64,
    interval: Duration,
    max_lag: Duration,
    late: u64,
}

impl Pacer {
    /// A schedule of `rate` operations per second (at least 1) starting now.
    pub fn new(rate: u64) -> Pacer {
        Pacer::starting_at(Instant::now(), rate)
    }

    /// A schedule of `rate` operations per second starting at `start`.
    pub fn starting_at(start: Instant, rate: u64) -> Pacer {
        let rate = rate.max(1);
        Pacer {
            start,
            rate,
            interval: Duration::from_nanos(1_000_000_000 / rate),
            max_lag: Duration::ZERO,
            late: 0,
        }
    }

    /// When operation `i` (from 0) is due: `start + i/rate`, rounded down to the
    /// nanosecond.
    pub fn deadline(&self, i: u64) -> Instant {
        let nanos = u128::from(i) * 1_000_000_000 / u128::from(self.rate);
        self.start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Sleeps until operation `i` is due (not at all if it is overdue), records how late
    /// it starts and returns that start.
    pub fn wait(&mut self, i: u64) -> Instant {
        let due = self.deadline(i);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let start = Instant::now();
        self.started(i, start);
        start
    }

    /// Records that operation `i` started at `at`.
    pub fn started(&mut self, i: u64, at: Instant) {
        let lag = at.saturating_duration_since(self.deadline(i));
        self.max_lag = self.max_lag.max(lag);
        if lag > self.interval {
            self.late += 1;
        }
    }

    /// The largest delay of an operation's start behind its time.
    pub fn max_lag(&self) -> Duration {
        self.max_lag
    }

    /// Operations that started more than one interval (`1/rate`) behind their time.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// `paced at N/s; M started more than 1/N late, the latest by L us`.
    pub fn summary(&self) -> String {
        format!(
            "paced at {}/s; {} started more than 1/{} s late, the latest by {:.0} us",
            self.rate,
            self.late,
            self.rate,
            self.max_lag.as_secs_f64() * 1e6
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_absolute() {
        let t0 = Instant::now();
        let p = Pacer::starting_at(t0, 2000);
        assert_eq!(p.deadline(0), t0);
        assert_eq!(p.deadline(1), t0 + Duration::from_micros(500));
        assert_eq!(p.deadline(2000), t0 + Duration::from_secs(1));
        // No drift: the millionth slot is exactly 500 s on, whatever the rounding of 1/N.
        let q = Pacer::starting_at(t0, 3);
        assert_eq!(q.deadline(3_000_000), t0 + Duration::from_secs(1_000_000));
        assert_eq!(q.deadline(1), t0 + Duration::from_nanos(333_333_333));
        // A rate of 0 is taken as 1.
        assert_eq!(
            Pacer::starting_at(t0, 0).deadline(5),
            t0 + Duration::from_secs(5)
        );
    }

    #[test]
    fn lateness_is_recorded() {
        let t0 = Instant::now();
        let mut p = Pacer::starting_at(t0, 1000);
        p.started(0, t0 + Duration::from_micros(200));
        assert_eq!((p.late(), p.max_lag()), (0, Duration::from_micros(200)));
        p.started(1, t0 + Duration::from_millis(3));
        assert_eq!((p.late(), p.max_lag()), (1, Duration::from_millis(2)));
        // Early (impossible through wait, but harmless) counts as on time.
        p.started(9, t0);
        assert_eq!(p.late(), 1);
        assert!(p.summary().contains("1 started more than 1/1000 s late"));
    }

    #[test]
    fn waiting_sleeps_to_the_schedule() {
        let mut p = Pacer::new(1000);
        let t0 = Instant::now();
        for i in 0..20 {
            p.wait(i);
        }
        // The 20th operation (i = 19) is due 19 ms after the start.
        assert!(
            t0.elapsed() >= Duration::from_millis(18),
            "{:?}",
            t0.elapsed()
        );
        // Overdue operations go at once.
        let mut late = Pacer::starting_at(Instant::now() - Duration::from_secs(1), 10);
        let t1 = Instant::now();
        late.wait(3);
        assert!(t1.elapsed() < Duration::from_millis(50));
        assert_eq!(late.late(), 1);
    }
}

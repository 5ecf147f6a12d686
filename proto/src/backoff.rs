//! [`ReconnectDelay`]: how long to wait before a reconnect pass. Pure: the RNG is given.
//!
//! This module owns the delay policy only. When to wait (after a whole pass over the pool)
//! is decided by [`ServerPool`](crate::ServerPool); this module says how long.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, RngCore};

/// A user-supplied delay: given the number of full passes over the pool so far, the delay.
pub type DelayFn = Arc<dyn Fn(u32) -> Duration + Send + Sync>;

/// Default `reconnect_wait` (nats.go `DefaultReconnectWait`).
pub const DEFAULT_RECONNECT_WAIT: Duration = Duration::from_secs(2);
/// Default jitter without TLS (nats.go `DefaultReconnectJitter`).
pub const DEFAULT_JITTER: Duration = Duration::from_millis(100);
/// Default jitter with TLS (nats.go `DefaultReconnectJitterTLS`).
pub const DEFAULT_JITTER_TLS: Duration = Duration::from_secs(1);

/// The delay policy between passes over the server pool.
///
/// ```
/// use std::time::Duration;
/// use natsy_proto::ReconnectDelay;
/// use rand::{rngs::StdRng, SeedableRng};
///
/// let mut rng = StdRng::seed_from_u64(7);
/// let d = ReconnectDelay::new(false).delay(1, &mut rng);
/// assert!(d >= Duration::from_secs(2) && d < Duration::from_millis(2100));
/// ```
#[derive(Clone)]
pub struct ReconnectDelay {
    /// `reconnect_wait`: base wait between passes. Default 2 s (nats.go `ReconnectWait`).
    pub wait: Duration,
    /// Upper bound of the uniform jitter added to `wait`: 100 ms plain, 1 s with TLS
    /// (nats.go `ReconnectJitter`, `ReconnectJitterTLS`).
    pub jitter: Duration,
    /// Replaces wait + jitter when set (nats.go `CustomReconnectDelay`).
    pub custom: Option<DelayFn>,
}

impl ReconnectDelay {
    /// Defaults for a plain (`tls == false`) or TLS connection: 2 s wait plus up to
    /// 100 ms (plain) or 1 s (TLS) of jitter, no custom function.
    pub fn new(tls: bool) -> Self {
        ReconnectDelay {
            wait: DEFAULT_RECONNECT_WAIT,
            jitter: if tls {
                DEFAULT_JITTER_TLS
            } else {
                DEFAULT_JITTER
            },
            custom: None,
        }
    }

    /// Replaces wait + jitter with `f(passes)` (nats.go `CustomReconnectDelay`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use natsy_proto::ReconnectDelay;
    /// use rand::{rngs::StdRng, SeedableRng};
    ///
    /// let d = ReconnectDelay::new(true).with_custom(|passes| Duration::from_secs(passes.into()));
    /// assert_eq!(d.delay(3, &mut StdRng::seed_from_u64(0)), Duration::from_secs(3));
    /// ```
    pub fn with_custom(mut self, f: impl Fn(u32) -> Duration + Send + Sync + 'static) -> Self {
        self.custom = Some(Arc::new(f));
        self
    }

    /// The delay before the next pass; `passes` counts completed passes.
    ///
    /// [`ServerPool`](crate::ServerPool) passes 1 for the first wait of a reconnect
    /// episode, 2 for the second, and so on (nats.go hands the same count to
    /// `CustomReconnectDelayCB`). With `custom` set this is `custom(passes)`; otherwise
    /// `wait` plus a uniform random amount in `[0, jitter)`, drawn from `rng` (exactly `wait`
    /// when `jitter` is zero, without touching `rng`).
    pub fn delay(&self, passes: u32, rng: &mut dyn RngCore) -> Duration {
        if let Some(custom) = &self.custom {
            return custom(passes);
        }
        let jitter_nanos = u64::try_from(self.jitter.as_nanos()).unwrap_or(u64::MAX);
        if jitter_nanos == 0 {
            return self.wait;
        }
        let extra = Duration::from_nanos(rng.random_range(0..jitter_nanos));
        self.wait.saturating_add(extra)
    }
}

impl Default for ReconnectDelay {
    /// The plain-connection defaults, [`ReconnectDelay::new(false)`](ReconnectDelay::new).
    fn default() -> Self {
        ReconnectDelay::new(false)
    }
}

impl fmt::Debug for ReconnectDelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReconnectDelay")
            .field("wait", &self.wait)
            .field("jitter", &self.jitter)
            .field("custom", &self.custom.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::sync::Mutex;

    #[test]
    fn defaults_match_nats_go() {
        let plain = ReconnectDelay::new(false);
        assert_eq!(
            (plain.wait, plain.jitter),
            (Duration::from_secs(2), Duration::from_millis(100))
        );
        assert!(plain.custom.is_none());
        let tls = ReconnectDelay::new(true);
        assert_eq!(
            (tls.wait, tls.jitter),
            (Duration::from_secs(2), Duration::from_secs(1))
        );
        assert_eq!(ReconnectDelay::default().jitter, Duration::from_millis(100));
    }

    #[test]
    fn jitter_stays_in_bounds_and_spreads() {
        for tls in [false, true] {
            let d = ReconnectDelay::new(tls);
            let mut rng = StdRng::seed_from_u64(42);
            let draws: Vec<Duration> = (0..2000).map(|p| d.delay(p, &mut rng)).collect();
            for x in &draws {
                assert!(
                    *x >= d.wait && *x < d.wait + d.jitter,
                    "{x:?} out of bounds"
                );
            }
            let min = draws.iter().min().unwrap();
            let max = draws.iter().max().unwrap();
            // 2000 uniform draws cover most of the range.
            assert!(*min < d.wait + d.jitter / 20, "min {min:?}");
            assert!(*max > d.wait + d.jitter * 19 / 20, "max {max:?}");
        }
    }

    #[test]
    fn same_seed_same_delays() {
        let d = ReconnectDelay::new(true);
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..20).map(|p| d.delay(p, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9), run(10));
    }

    #[test]
    fn zero_jitter_is_exactly_wait() {
        let d = ReconnectDelay {
            wait: Duration::from_millis(250),
            jitter: Duration::ZERO,
            custom: None,
        };
        let mut rng = StdRng::seed_from_u64(1);
        for p in 0..100 {
            assert_eq!(d.delay(p, &mut rng), Duration::from_millis(250));
        }
    }

    #[test]
    fn huge_values_saturate_instead_of_panicking() {
        let d = ReconnectDelay {
            wait: Duration::MAX,
            jitter: Duration::MAX,
            custom: None,
        };
        assert_eq!(d.delay(1, &mut StdRng::seed_from_u64(3)), Duration::MAX);
    }

    #[test]
    fn custom_function_gets_the_pass_count() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let d = ReconnectDelay::new(false).with_custom(move |passes| {
            log.lock().unwrap().push(passes);
            Duration::from_millis(u64::from(passes) * 10)
        });
        let mut rng = StdRng::seed_from_u64(5);
        let got: Vec<_> = [1, 2, 7].iter().map(|&p| d.delay(p, &mut rng)).collect();
        assert_eq!(
            got,
            [
                Duration::from_millis(10),
                Duration::from_millis(20),
                Duration::from_millis(70)
            ]
        );
        assert_eq!(*seen.lock().unwrap(), [1, 2, 7]);
        assert_eq!(
            format!("{d:?}"),
            "ReconnectDelay { wait: 2s, jitter: 100ms, custom: true }"
        );
    }
}

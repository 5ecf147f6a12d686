//! [`ReconnectDelay`]: how long to wait before a reconnect pass. Pure: the RNG is given.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;

/// A user-supplied delay: given the number of full passes over the pool so far, the delay.
pub type DelayFn = Arc<dyn Fn(u32) -> Duration + Send + Sync>;

/// The delay policy between passes over the server pool.
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
    /// Defaults for a plain (`tls == false`) or TLS connection.
    pub fn new(tls: bool) -> Self {
        let _ = tls;
        todo!("policy helper")
    }

    /// The delay before the next pass; `passes` counts completed passes.
    pub fn delay(&self, passes: u32, rng: &mut dyn RngCore) -> Duration {
        let _ = (passes, rng);
        todo!("policy helper")
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

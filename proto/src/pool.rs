//! [`ServerPool`]: which server to try next. Pure: no clock, the RNG is given.

use std::time::Duration;

use rand::RngCore;

use crate::backoff::ReconnectDelay;
use crate::error::UrlError;
use crate::server_error::ServerError;
use crate::url::ServerAddr;

/// How the pool is built and when it gives up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolOptions {
    /// Shuffle the servers (the first explicit URL stays first). Default true
    /// (nats.go `NoRandomize` = false).
    pub randomize: bool,
    /// Attempts per server before it is dropped; `None` = for ever. Default `Some(60)`
    /// (nats.go `MaxReconnect`, -1 for ever).
    pub max_reconnects: Option<u32>,
    /// Do not add servers learned from INFO `connect_urls`. Default false
    /// (nats.go `IgnoreDiscoveredServers`).
    pub ignore_discovered: bool,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions { randomize: true, max_reconnects: Some(60), ignore_discovered: false }
    }
}

/// One connection attempt the pool asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Where to connect.
    pub server: ServerAddr,
    /// The name to verify the TLS certificate against (the original host name for
    /// discovered IP-only servers).
    pub tls_name: String,
    /// How long to wait before dialing.
    pub wait: Duration,
}

/// The server pool.
#[derive(Debug)]
pub struct ServerPool {
    _private: (),
}

impl ServerPool {
    /// Builds a pool from explicit servers.
    pub fn new(
        servers: Vec<ServerAddr>,
        options: PoolOptions,
        rng: &mut dyn RngCore,
    ) -> Result<Self, UrlError> {
        let _ = (servers, options, rng);
        todo!("policy helper")
    }

    /// The next attempt, or `None` when every server has used up its attempts.
    pub fn next_attempt(&mut self, delay: &ReconnectDelay, rng: &mut dyn RngCore) -> Option<Attempt> {
        let _ = (delay, rng);
        todo!("policy helper")
    }

    /// The last attempt succeeded: reset its attempt count.
    pub fn connected(&mut self) {
        todo!("policy helper")
    }

    /// The last attempt failed with an auth error. Returns true when this is the same
    /// error this server returned last time: stop trying it.
    pub fn auth_failed(&mut self, error: &ServerError) -> bool {
        let _ = error;
        todo!("policy helper")
    }

    /// Merges INFO `connect_urls`; returns true if a server never seen before was added.
    pub fn merge_discovered(&mut self, connect_urls: &[String], rng: &mut dyn RngCore) -> bool {
        let _ = (connect_urls, rng);
        todo!("policy helper")
    }

    /// The servers, in the order they will be tried.
    pub fn servers(&self) -> Vec<ServerAddr> {
        todo!("policy helper")
    }
}

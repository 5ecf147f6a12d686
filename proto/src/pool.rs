//! [`ServerPool`]: which server to try next. Pure: no clock, the RNG is given.
//!
//! This module owns the server list and the nats.go rules for walking it: the initial
//! connect pass, the reconnect loop (rotation, per-server attempt limits, when to wait),
//! the auth-abort rule, and merging servers discovered through INFO `connect_urls`.
//! It never sleeps: an [`Attempt`] says how long the caller should wait before dialing.

use std::collections::HashSet;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::RngCore;

use crate::backoff::ReconnectDelay;
use crate::error::UrlError;
use crate::server_error::{ServerError, ServerErrorKind};
use crate::url::ServerAddr;

/// How the pool is built and when it gives up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolOptions {
    /// Shuffle the explicit servers, so clients given the same list spread over the
    /// cluster. Default true (nats.go `NoRandomize` = false; nats.go shuffles all of
    /// `Servers`).
    pub randomize: bool,
    /// Keep the first given server first when shuffling: it is tried before the others,
    /// which are shuffled. Default false. This is nats.go's `Url` option, which is tried
    /// before the shuffled `Servers`; leave it off when many clients share one list, or
    /// they all crowd onto the first server.
    pub keep_first: bool,
    /// Attempts per server before it is dropped; `None` = for ever. Default `Some(60)`
    /// (nats.go `MaxReconnect`, -1 for ever).
    pub max_reconnects: Option<u32>,
    /// Do not add servers learned from INFO `connect_urls`. Default false
    /// (nats.go `IgnoreDiscoveredServers`).
    pub ignore_discovered: bool,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            randomize: true,
            keep_first: false,
            max_reconnects: Some(60),
            ignore_discovered: false,
        }
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

/// One server in the pool, with the bookkeeping the pool keeps about it.
#[derive(Debug, Clone)]
pub struct PoolEntry {
    addr: ServerAddr,
    key: String,
    implicit: bool,
    attempts: u32,
    did_connect: bool,
    tls_name: Option<String>,
    last_auth_error: Option<ServerErrorKind>,
    tried_initially: bool,
}

impl PoolEntry {
    fn new(addr: ServerAddr, implicit: bool, tls_name: Option<String>) -> Self {
        PoolEntry {
            key: addr.host_port(),
            addr,
            implicit,
            attempts: 0,
            did_connect: false,
            tls_name,
            last_auth_error: None,
            tried_initially: false,
        }
    }

    /// The server's address (with the credentials to use for it).
    pub fn addr(&self) -> &ServerAddr {
        &self.addr
    }

    /// `host:port`, the key the pool knows the server by.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Reconnect attempts since this server last accepted a connection.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// True for servers learned from INFO `connect_urls` rather than given by the user.
    pub fn is_implicit(&self) -> bool {
        self.implicit
    }

    /// True once a connection to this server has succeeded.
    pub fn did_connect(&self) -> bool {
        self.did_connect
    }

    /// The name to check the TLS certificate against: the remembered host name for a
    /// discovered IP-only server, else the host itself.
    pub fn tls_name(&self) -> &str {
        self.tls_name.as_deref().unwrap_or(&self.addr.host)
    }

    /// The auth error this server returned on its last failed handshake, if any.
    pub fn last_auth_error(&self) -> Option<&ServerErrorKind> {
        self.last_auth_error.as_ref()
    }
}

/// Where the pool is in the connection's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The first connect: every server once, in order, no wait.
    Initial,
    /// `connected()` was called; the next `next_attempt` starts a reconnect episode.
    Connected,
    /// A reconnect episode (nats.go `doReconnect`).
    Reconnecting {
        /// Attempts made in the current pass (nats.go `i`).
        in_pass: usize,
        /// Waits so far in this episode (nats.go `wlf`), handed to the delay.
        passes: u32,
        /// Skip the next wait (forced reconnect).
        skip_wait: bool,
    },
}

/// The server pool: the servers to try, in order, and the nats.go rules for trying them.
///
/// The pool is a pure state machine. The connection drives it with four calls:
///
/// - [`next_attempt`](Self::next_attempt) → the server to dial and how long to wait first,
///   or `None` when there is nothing (more) to try;
/// - [`connected`](Self::connected) when the handshake with that server succeeded;
/// - [`auth_failed`](Self::auth_failed) when it failed with an auth `-ERR`;
/// - [`merge_discovered`](Self::merge_discovered) for every INFO with `connect_urls`.
///
/// # Initial connect versus reconnect
///
/// A new pool is in the **initial connect** phase: `next_attempt` hands out every server
/// once, in pool order, with a zero wait, and does not count attempts. When each server
/// has been tried it returns `None`: the initial connect failed (nats.go `ErrNoServers`).
///
/// The **reconnect** phase begins with [`start_reconnect`](Self::start_reconnect), which the
/// connection calls when an established connection is lost, or after a failed initial pass
/// when it retries on failed connect. A `next_attempt` after [`connected`](Self::connected)
/// starts a reconnect episode by itself, so calling `start_reconnect` there is optional;
/// after a failed initial pass it is required. [`start_forced_reconnect`](Self::start_forced_reconnect)
/// does the same but skips the first wait (nats.go `ForceReconnect`).
///
/// In the reconnect phase each `next_attempt` moves the current server to the tail (or drops
/// it once its attempts reached `max_reconnects`), picks the head, counts an attempt on it,
/// and waits only after a whole pass: with N servers the first N−1 attempts are immediate
/// and the N-th waits [`ReconnectDelay::delay`]; with one server every attempt waits.
/// `None` means every server is exhausted: close the connection.
///
/// ```
/// use std::time::Duration;
/// use natsy_proto::{PoolOptions, ReconnectDelay, ServerAddr, ServerPool};
/// use rand::{rngs::StdRng, SeedableRng};
///
/// let mut rng = StdRng::seed_from_u64(1);
/// let servers = ServerAddr::parse_list("nats://a:4222, nats://b:4222").unwrap();
/// let options = PoolOptions { randomize: false, ..PoolOptions::default() };
/// let mut pool = ServerPool::new(servers, options, &mut rng).unwrap();
/// let delay = ReconnectDelay::new(pool.tls());
///
/// // Initial connect: a, then b, never waiting; then give up.
/// let first = pool.next_attempt(&delay, &mut rng).unwrap();
/// assert_eq!((first.server.host.as_str(), first.wait), ("a", Duration::ZERO));
/// assert_eq!(pool.next_attempt(&delay, &mut rng).unwrap().server.host, "b");
/// pool.connected(); // b accepted us
///
/// // b goes away: reconnect. a at once, then b after a full pass.
/// pool.start_reconnect();
/// let a = pool.next_attempt(&delay, &mut rng).unwrap();
/// assert_eq!((a.server.host.as_str(), a.wait), ("a", Duration::ZERO));
/// let b = pool.next_attempt(&delay, &mut rng).unwrap();
/// assert_eq!(b.server.host, "b");
/// assert!(b.wait >= Duration::from_secs(2));
/// ```
#[derive(Debug, Clone)]
pub struct ServerPool {
    entries: Vec<PoolEntry>,
    /// Key of the server of the last attempt (nats.go `current`).
    current: Option<String>,
    /// Every key ever in the pool (nats.go `urls`): decides what counts as new.
    seen: HashSet<String>,
    options: PoolOptions,
    tls: bool,
    phase: Phase,
}

impl ServerPool {
    /// Builds a pool from explicit servers.
    ///
    /// Duplicates (same `host:port`) are dropped, the first one kept. With
    /// `options.randomize` the whole pool is shuffled (nats.go shuffles every URL of
    /// `Servers`; keeping the first one first would send every client to the same node).
    /// Any `tls://` server makes the whole pool TLS
    /// ([`tls`](Self::tls)).
    ///
    /// # Errors
    ///
    /// [`UrlError::Empty`] when `servers` is empty.
    pub fn new(
        servers: Vec<ServerAddr>,
        options: PoolOptions,
        rng: &mut dyn RngCore,
    ) -> Result<Self, UrlError> {
        let tls = servers.iter().any(|s| s.tls);
        let mut seen = HashSet::new();
        let mut entries = Vec::with_capacity(servers.len());
        for addr in servers {
            if seen.insert(addr.host_port()) {
                entries.push(PoolEntry::new(addr, false, None));
            }
        }
        if entries.is_empty() {
            return Err(UrlError::Empty);
        }
        if options.randomize {
            let first = entries.first().map(|e| e.key.clone());
            entries.shuffle(rng);
            if let (true, Some(first)) = (options.keep_first, first) {
                if let Some(pos) = entries.iter().position(|e| e.key == first) {
                    entries.swap(0, pos);
                }
            }
        }
        Ok(ServerPool {
            entries,
            current: None,
            seen,
            options,
            tls,
            phase: Phase::Initial,
        })
    }

    /// The next attempt, or `None` when every server has used up its attempts.
    ///
    /// In the initial connect phase, `None` means every server was tried once; in the
    /// reconnect phase, that the pool is empty. See the [type docs](Self) for the rules.
    pub fn next_attempt(
        &mut self,
        delay: &ReconnectDelay,
        rng: &mut dyn RngCore,
    ) -> Option<Attempt> {
        match self.phase {
            Phase::Initial => self.next_initial(),
            Phase::Connected => {
                self.start_reconnect();
                self.next_reconnect(delay, rng)
            }
            Phase::Reconnecting { .. } => self.next_reconnect(delay, rng),
        }
    }

    fn next_initial(&mut self) -> Option<Attempt> {
        let entry = self.entries.iter_mut().find(|e| !e.tried_initially)?;
        entry.tried_initially = true;
        let attempt = attempt_for(entry, Duration::ZERO);
        self.current = Some(entry.key.clone());
        Some(attempt)
    }

    fn next_reconnect(&mut self, delay: &ReconnectDelay, rng: &mut dyn RngCore) -> Option<Attempt> {
        // Move the current server to the tail, or drop it when it is out of attempts.
        if let Some(pos) = self.current_index() {
            let entry = self.entries.remove(pos);
            let exhausted = self
                .options
                .max_reconnects
                .is_some_and(|max| entry.attempts >= max);
            if !exhausted {
                self.entries.push(entry);
            }
        }
        let len = self.entries.len();
        if len == 0 {
            self.current = None;
            return None;
        }
        // Wait only when this attempt completes a pass (nats.go: `i+1 >= len(pool)`).
        let wait = match &mut self.phase {
            Phase::Reconnecting {
                in_pass,
                passes,
                skip_wait,
            } => {
                let full_pass = in_pass.saturating_add(1) >= len;
                if full_pass && !*skip_wait {
                    *in_pass = 0;
                    *passes = passes.saturating_add(1);
                    delay.delay(*passes, rng)
                } else {
                    *skip_wait = false;
                    *in_pass = in_pass.saturating_add(1);
                    Duration::ZERO
                }
            }
            Phase::Initial | Phase::Connected => Duration::ZERO,
        };
        let head = self.entries.first_mut()?;
        head.attempts = head.attempts.saturating_add(1);
        let attempt = attempt_for(head, wait);
        self.current = Some(head.key.clone());
        Some(attempt)
    }

    /// Starts a reconnect episode: the connection was lost (or the initial connect failed
    /// and the caller retries on failed connect). Pass counting starts over.
    pub fn start_reconnect(&mut self) {
        self.phase = Phase::Reconnecting {
            in_pass: 0,
            passes: 0,
            skip_wait: false,
        };
    }

    /// Like [`start_reconnect`](Self::start_reconnect), but the first attempt does not
    /// wait even if it completes a pass (nats.go `ForceReconnect`).
    pub fn start_forced_reconnect(&mut self) {
        self.phase = Phase::Reconnecting {
            in_pass: 0,
            passes: 0,
            skip_wait: true,
        };
    }

    /// True between [`start_reconnect`](Self::start_reconnect) (or a `next_attempt` after
    /// [`connected`](Self::connected)) and the next [`connected`](Self::connected).
    pub fn is_reconnecting(&self) -> bool {
        matches!(self.phase, Phase::Reconnecting { .. })
    }

    /// The last attempt succeeded: reset its attempt count.
    ///
    /// The server is also marked as having connected once, and the pool leaves the initial
    /// or reconnect phase. Its last auth error is kept, as in nats.go.
    pub fn connected(&mut self) {
        if let Some(pos) = self.current_index() {
            let entry = &mut self.entries[pos];
            entry.attempts = 0;
            entry.did_connect = true;
            self.phase = Phase::Connected;
        }
    }

    /// The last attempt failed with an auth error. Returns true when this is the same
    /// error this server returned last time: stop trying it.
    ///
    /// "Same" compares the [`ServerErrorKind`]. On true the server is removed from the pool
    /// (nats.go goes further and closes the connection; the caller decides). Errors that are
    /// not [auth errors](ServerError::is_auth_error) are ignored and return false. To get
    /// nats.go `IgnoreAuthErrorAbort`, do not call this method.
    pub fn auth_failed(&mut self, error: &ServerError) -> bool {
        if !error.is_auth_error() {
            return false;
        }
        let Some(pos) = self.current_index() else {
            return false;
        };
        if self.entries[pos].last_auth_error.as_ref() == Some(&error.kind) {
            self.entries.remove(pos);
            self.current = None;
            return true;
        }
        self.entries[pos].last_auth_error = Some(error.kind.clone());
        false
    }

    /// Merges INFO `connect_urls`; returns true if a server never seen before was added.
    ///
    /// Nothing happens when `connect_urls` is empty or `ignore_discovered` is set. Otherwise:
    /// discovered (implicit) servers missing from the list are removed, except the current
    /// one; explicit servers are never removed; listed servers not in the pool are added as
    /// implicit, with the pool's scheme and the current server's credentials, and with the
    /// current host name as TLS name when the new host is an IP and the current one is not.
    /// Entries that do not parse are skipped. When a server never seen before was added and
    /// `randomize` is on, the pool is reshuffled from index 1 (the head stays).
    pub fn merge_discovered(&mut self, connect_urls: &[String], rng: &mut dyn RngCore) -> bool {
        if self.options.ignore_discovered || connect_urls.is_empty() {
            return false;
        }
        let mut listed: Vec<ServerAddr> = Vec::with_capacity(connect_urls.len());
        let mut listed_keys = HashSet::with_capacity(connect_urls.len());
        for url in connect_urls {
            if let Ok(addr) = ServerAddr::parse(url) {
                if listed_keys.insert(addr.host_port()) {
                    listed.push(addr);
                }
            }
        }
        let current = self.current.clone();
        self.entries.retain(|e| {
            !e.implicit || Some(&e.key) == current.as_ref() || listed_keys.contains(&e.key)
        });
        let template = self
            .current_index()
            .map(|pos| self.entries[pos].addr.clone());
        let mut has_new = false;
        for mut addr in listed {
            let key = addr.host_port();
            if self.entries.iter().any(|e| e.key == key) {
                continue;
            }
            addr.tls = self.tls;
            let mut tls_name = None;
            if let Some(cur) = &template {
                // A WebSocket client is told of its cluster's WebSocket listeners.
                addr.websocket = cur.websocket;
                addr.path.clone_from(&cur.path);
                if !addr.has_userinfo() {
                    addr.user.clone_from(&cur.user);
                    addr.pass.clone_from(&cur.pass);
                    addr.token.clone_from(&cur.token);
                }
                if addr.is_ip_host() && !cur.is_ip_host() {
                    tls_name = Some(cur.host.clone());
                }
            }
            if self.seen.insert(key) {
                has_new = true;
            }
            self.entries.push(PoolEntry::new(addr, true, tls_name));
        }
        if has_new && self.options.randomize {
            if let Some(tail) = self.entries.get_mut(1..) {
                tail.shuffle(rng);
            }
        }
        has_new
    }

    /// The servers, in the order they will be tried.
    ///
    /// While reconnecting, the head is the server of the last attempt (as in nats.go); the
    /// next reconnect attempt moves it to the tail before picking the new head.
    pub fn servers(&self) -> Vec<ServerAddr> {
        self.entries.iter().map(|e| e.addr.clone()).collect()
    }

    /// The pool entries with their bookkeeping, in the order they will be tried.
    pub fn entries(&self) -> &[PoolEntry] {
        &self.entries
    }

    /// Reconnect attempts counted for the server with this `host:port`, if it is in the pool.
    pub fn attempts(&self, host_port: &str) -> Option<u32> {
        self.entries
            .iter()
            .find(|e| e.key == host_port)
            .map(|e| e.attempts)
    }

    /// The server of the last attempt, while it is still in the pool.
    pub fn current(&self) -> Option<&ServerAddr> {
        self.current_index().map(|pos| &self.entries[pos].addr)
    }

    /// True when any explicit server was `tls://`: the whole connection uses TLS.
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// The options the pool was built with.
    pub fn options(&self) -> &PoolOptions {
        &self.options
    }

    /// Number of servers in the pool.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when every server has been dropped.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn current_index(&self) -> Option<usize> {
        let key = self.current.as_ref()?;
        self.entries.iter().position(|e| &e.key == key)
    }
}

fn attempt_for(entry: &PoolEntry, wait: Duration) -> Attempt {
    Attempt {
        server: entry.addr.clone(),
        tls_name: entry.tls_name().to_string(),
        wait,
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;

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
        PoolOptions {
            randomize: true,
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
    /// `options.randomize` the pool is shuffled, then the first given server is put back in
    /// slot 0 so it is tried first. Any `tls://` server makes the whole pool TLS
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
            let first = entries[0].key.clone();
            entries.shuffle(rng);
            if let Some(pos) = entries.iter().position(|e| e.key == first) {
                entries.swap(0, pos);
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
mod tests {
    use super::*;
    use crate::secret::Secret;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::sync::{Arc, Mutex};

    const W: Duration = Duration::from_secs(2);

    fn rng(seed: u64) -> StdRng {
        StdRng::seed_from_u64(seed)
    }

    fn fixed_delay() -> ReconnectDelay {
        ReconnectDelay {
            wait: W,
            jitter: Duration::ZERO,
            custom: None,
        }
    }

    fn ordered() -> PoolOptions {
        PoolOptions {
            randomize: false,
            ..PoolOptions::default()
        }
    }

    fn pool(urls: &str, options: PoolOptions, seed: u64) -> ServerPool {
        ServerPool::new(
            ServerAddr::parse_list(urls).unwrap(),
            options,
            &mut rng(seed),
        )
        .unwrap()
    }

    fn keys(p: &ServerPool) -> Vec<String> {
        p.servers().iter().map(ServerAddr::host_port).collect()
    }

    fn urls(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// (host, wait) of the next attempt.
    fn step(p: &mut ServerPool, d: &ReconnectDelay, r: &mut StdRng) -> Option<(String, Duration)> {
        p.next_attempt(d, r).map(|a| (a.server.host, a.wait))
    }

    const FIVE: &str = "nats://a:1, nats://b:1, nats://c:1, nats://d:1, nats://e:1";

    #[test]
    fn first_url_stays_first_under_shuffle() {
        for seed in 0..64 {
            let p = pool(FIVE, PoolOptions::default(), seed);
            let k = keys(&p);
            assert_eq!(k[0], "a:1", "seed {seed}");
            let mut sorted = k.clone();
            sorted.sort();
            assert_eq!(sorted, ["a:1", "b:1", "c:1", "d:1", "e:1"]);
        }
    }

    #[test]
    fn shuffle_varies_with_seeds_and_is_deterministic_per_seed() {
        let orders: HashSet<Vec<String>> = (0..64)
            .map(|seed| keys(&pool(FIVE, PoolOptions::default(), seed)))
            .collect();
        assert!(orders.len() > 5, "only {} distinct orders", orders.len());
        for seed in [3, 17] {
            assert_eq!(
                keys(&pool(FIVE, PoolOptions::default(), seed)),
                keys(&pool(FIVE, PoolOptions::default(), seed))
            );
        }
    }

    #[test]
    fn no_randomize_keeps_order() {
        for seed in 0..8 {
            assert_eq!(
                keys(&pool(FIVE, ordered(), seed)),
                ["a:1", "b:1", "c:1", "d:1", "e:1"]
            );
        }
    }

    #[test]
    fn duplicates_by_host_port_are_dropped_and_tls_is_pool_wide() {
        let p = pool(
            "nats://u:p@a, a:4222, tls://a:4222, nats://b:4222, b",
            ordered(),
            0,
        );
        assert_eq!(keys(&p), ["a:4222", "b:4222"]);
        // The first spelling wins; a tls:// entry anywhere makes the pool TLS.
        assert_eq!(p.servers()[0].user.as_deref(), Some("u"));
        assert!(!p.servers()[0].tls);
        assert!(p.tls());
        assert!(!pool("a, b", ordered(), 0).tls());
        assert_eq!(
            ServerPool::new(Vec::new(), ordered(), &mut rng(0)).err(),
            Some(UrlError::Empty)
        );
    }

    #[test]
    fn initial_connect_tries_each_server_once_without_waiting() {
        let mut p = pool("a, b, c", ordered(), 0);
        let (d, mut r) = (fixed_delay(), rng(1));
        assert!(!p.is_reconnecting());
        assert_eq!(p.current(), None);
        for host in ["a", "b", "c"] {
            assert_eq!(
                step(&mut p, &d, &mut r),
                Some((host.to_string(), Duration::ZERO))
            );
            assert_eq!(p.current().map(|s| s.host.as_str()), Some(host));
        }
        assert_eq!(step(&mut p, &d, &mut r), None);
        // Initial attempts are not reconnect attempts.
        assert!(p
            .entries()
            .iter()
            .all(|e| e.attempts() == 0 && !e.did_connect()));
        assert_eq!(p.len(), 3);
    }

    #[test]
    fn retry_after_failed_initial_connect_starts_over_from_the_head() {
        let mut p = pool("a, b", ordered(), 0);
        let (d, mut r) = (fixed_delay(), rng(1));
        while step(&mut p, &d, &mut r).is_some() {}
        p.start_reconnect();
        assert!(p.is_reconnecting());
        assert_eq!(step(&mut p, &d, &mut r), Some(("a".into(), Duration::ZERO)));
        assert_eq!(step(&mut p, &d, &mut r), Some(("b".into(), W)));
        assert_eq!(p.attempts("a:4222"), Some(1));
        assert_eq!(p.attempts("b:4222"), Some(1));
    }

    #[test]
    fn one_server_waits_before_every_reconnect_attempt() {
        let mut p = pool("nats://solo:4222", ordered(), 0);
        let (d, mut r) = (fixed_delay(), rng(1));
        step(&mut p, &d, &mut r);
        p.connected();
        p.start_reconnect();
        for n in 1..=4 {
            assert_eq!(step(&mut p, &d, &mut r), Some(("solo".into(), W)));
            assert_eq!(p.attempts("solo:4222"), Some(n));
        }
    }

    #[test]
    fn three_servers_wait_only_after_a_full_pass() {
        let mut p = pool("a, b, c", ordered(), 0);
        let (d, mut r) = (fixed_delay(), rng(1));
        step(&mut p, &d, &mut r);
        p.connected(); // on a
        p.start_reconnect();
        let got: Vec<_> = (0..7).map(|_| step(&mut p, &d, &mut r).unwrap()).collect();
        let z = Duration::ZERO;
        let want = [
            ("b", z),
            ("c", z),
            ("a", W),
            ("b", z),
            ("c", z),
            ("a", W),
            ("b", z),
        ];
        let want: Vec<_> = want.iter().map(|(h, w)| (h.to_string(), *w)).collect();
        assert_eq!(got, want);
        assert_eq!(
            p.entries()
                .iter()
                .map(PoolEntry::attempts)
                .collect::<Vec<_>>(),
            // b was tried last and stays at the head until the next attempt moves it.
            [3, 2, 2]
        );
    }

    #[test]
    fn custom_delay_gets_the_pass_count_and_it_restarts_per_episode() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let d = ReconnectDelay::new(false).with_custom(move |passes| {
            log.lock().unwrap().push(passes);
            Duration::from_millis(u64::from(passes))
        });
        let mut p = pool("a, b", ordered(), 0);
        let mut r = rng(1);
        step(&mut p, &d, &mut r);
        p.connected();
        let waits: Vec<_> = (0..6)
            .map(|_| step(&mut p, &d, &mut r).unwrap().1)
            .collect();
        let ms = Duration::from_millis;
        assert_eq!(waits, [ms(0), ms(1), ms(0), ms(2), ms(0), ms(3)]);
        p.connected();
        p.start_reconnect();
        assert_eq!(step(&mut p, &d, &mut r).unwrap().1, ms(0));
        assert_eq!(step(&mut p, &d, &mut r).unwrap().1, ms(1));
        assert_eq!(*seen.lock().unwrap(), [1, 2, 3, 1]);
    }

    #[test]
    fn default_jitter_bounds_waits_and_replays_per_seed() {
        let run = |seed| {
            let mut p = pool(FIVE, PoolOptions::default(), seed);
            let d = ReconnectDelay::new(p.tls());
            let mut r = rng(seed);
            step(&mut p, &d, &mut r);
            p.connected();
            (0..200)
                .map(|_| step(&mut p, &d, &mut r).unwrap())
                .collect::<Vec<_>>()
        };
        let a = run(11);
        for (i, (_, wait)) in a.iter().enumerate() {
            if i % 5 == 4 {
                assert!(
                    *wait >= W && *wait < W + Duration::from_millis(100),
                    "{wait:?}"
                );
            } else {
                assert_eq!(*wait, Duration::ZERO);
            }
        }
        assert_eq!(a, run(11));
        assert_ne!(a, run(12));
    }

    #[test]
    fn forced_reconnect_skips_only_the_first_wait() {
        let mut p = pool("solo", ordered(), 0);
        let (d, mut r) = (fixed_delay(), rng(1));
        step(&mut p, &d, &mut r);
        p.connected();
        p.start_forced_reconnect();
        assert_eq!(
            step(&mut p, &d, &mut r),
            Some(("solo".into(), Duration::ZERO))
        );
        assert_eq!(step(&mut p, &d, &mut r), Some(("solo".into(), W)));
        assert_eq!(step(&mut p, &d, &mut r), Some(("solo".into(), W)));
    }

    #[test]
    fn next_attempt_after_connected_starts_a_reconnect_by_itself() {
        let mut p = pool("a, b", ordered(), 0);
        let (d, mut r) = (fixed_delay(), rng(1));
        step(&mut p, &d, &mut r);
        p.connected();
        assert!(!p.is_reconnecting());
        assert_eq!(step(&mut p, &d, &mut r), Some(("b".into(), Duration::ZERO)));
        assert!(p.is_reconnecting());
    }

    #[test]
    fn max_reconnects_drops_servers_and_ends_with_none() {
        let options = PoolOptions {
            max_reconnects: Some(2),
            ..ordered()
        };
        let mut p = pool("a, b", options, 0);
        let (d, mut r) = (fixed_delay(), rng(1));
        step(&mut p, &d, &mut r);
        p.connected();
        let mut got = Vec::new();
        while let Some(s) = step(&mut p, &d, &mut r) {
            got.push(s);
            assert!(got.len() < 10, "pool never ran dry");
        }
        let z = Duration::ZERO;
        let want = [("b", z), ("a", W), ("b", z), ("a", W)];
        let want: Vec<_> = want.iter().map(|(h, w)| (h.to_string(), *w)).collect();
        assert_eq!(got, want);
        assert!(p.is_empty());
        assert_eq!(p.current(), None);
        assert_eq!(step(&mut p, &d, &mut r), None);
    }

    #[test]
    fn success_resets_the_attempt_count() {
        let options = PoolOptions {
            max_reconnects: Some(3),
            ..ordered()
        };
        let mut p = pool("solo", options, 0);
        let (d, mut r) = (fixed_delay(), rng(1));
        step(&mut p, &d, &mut r);
        p.connected();
        step(&mut p, &d, &mut r);
        step(&mut p, &d, &mut r);
        assert_eq!(p.attempts("solo:4222"), Some(2));
        p.connected();
        assert_eq!(p.attempts("solo:4222"), Some(0));
        assert!(p.entries()[0].did_connect());
        // The full budget is available again.
        p.start_reconnect();
        for _ in 0..3 {
            assert!(step(&mut p, &d, &mut r).is_some());
        }
        assert_eq!(step(&mut p, &d, &mut r), None);
    }

    #[test]
    fn unlimited_reconnects_never_run_dry() {
        let options = PoolOptions {
            max_reconnects: None,
            ..ordered()
        };
        let mut p = pool("a, b", options, 0);
        let (d, mut r) = (fixed_delay(), rng(1));
        step(&mut p, &d, &mut r);
        p.start_reconnect();
        for _ in 0..500 {
            assert!(step(&mut p, &d, &mut r).is_some());
        }
        assert_eq!(p.attempts("a:4222"), Some(250));
    }

    #[test]
    fn same_auth_error_twice_from_one_server_removes_it() {
        let violation = ServerError::parse("-ERR 'Authorization Violation'");
        let expired = ServerError::parse("-ERR 'User Authentication Expired'");
        let stale = ServerError::parse("-ERR 'Stale Connection'");
        let mut p = pool("a, b", ordered(), 0);
        let (d, mut r) = (fixed_delay(), rng(1));

        assert_eq!(step(&mut p, &d, &mut r).unwrap().0, "a");
        assert!(!p.auth_failed(&violation));
        assert!(!p.auth_failed(&stale), "not an auth error");
        assert_eq!(
            p.entries()[0].last_auth_error(),
            Some(&ServerErrorKind::AuthorizationViolation)
        );
        assert_eq!(step(&mut p, &d, &mut r).unwrap().0, "b");
        assert!(!p.auth_failed(&violation), "same error, other server");

        p.start_reconnect();
        assert_eq!(step(&mut p, &d, &mut r).unwrap().0, "a");
        assert!(!p.auth_failed(&expired), "different error, same server");
        assert_eq!(step(&mut p, &d, &mut r).unwrap().0, "b");
        assert!(p.auth_failed(&violation), "b refused us the same way twice");
        assert_eq!(keys(&p), ["a:4222"]);
        assert_eq!(p.current(), None);
        assert!(!p.auth_failed(&violation), "no current server");

        assert_eq!(step(&mut p, &d, &mut r).unwrap().0, "a");
        assert!(p.auth_failed(&expired));
        assert!(p.is_empty());
        assert_eq!(step(&mut p, &d, &mut r), None);
    }

    /// A pool connected to `seed.example` with credentials, plus an explicit `other`.
    fn connected_pool(options: PoolOptions) -> ServerPool {
        let mut p = pool(
            "nats://alice:pw@seed.example, nats://other.example",
            options,
            0,
        );
        p.next_attempt(&fixed_delay(), &mut rng(0)).unwrap();
        p.connected();
        p
    }

    #[test]
    fn discovered_servers_are_added_as_implicit_with_inherited_credentials() {
        let mut p = connected_pool(ordered());
        let mut r = rng(5);
        let list = urls(&[
            "10.0.0.1:4222",
            "10.0.0.2:4222",
            "[::1]:5000",
            "seed.example:4222",
        ]);
        assert!(p.merge_discovered(&list, &mut r));
        assert_eq!(
            keys(&p),
            [
                "seed.example:4222",
                "other.example:4222",
                "10.0.0.1:4222",
                "10.0.0.2:4222",
                "[::1]:5000"
            ]
        );
        for e in &p.entries()[2..] {
            assert!(e.is_implicit());
            assert!(!e.addr().tls);
            assert_eq!(e.addr().user.as_deref(), Some("alice"));
            assert_eq!(e.addr().pass.as_ref().map(Secret::expose), Some("pw"));
            assert_eq!(
                e.tls_name(),
                "seed.example",
                "IP entries check the seed's name"
            );
        }
        assert!(!p.entries()[0].is_implicit() && !p.entries()[1].is_implicit());
        // The same list again adds nothing.
        assert!(!p.merge_discovered(&list, &mut r));
        assert_eq!(p.len(), 5);
    }

    #[test]
    fn attempts_on_discovered_ip_servers_carry_the_remembered_tls_name() {
        let mut p = connected_pool(ordered());
        let (d, mut r) = (fixed_delay(), rng(1));
        assert!(p.merge_discovered(&urls(&["10.0.0.9:4222", "named.example:4222"]), &mut r));
        let mut tls_names = Vec::new();
        for _ in 0..3 {
            let a = p.next_attempt(&d, &mut r).unwrap();
            tls_names.push((a.server.host, a.tls_name));
        }
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            tls_names,
            [
                pair("other.example", "other.example"),
                pair("10.0.0.9", "seed.example"),
                pair("named.example", "named.example"),
            ]
        );
    }

    #[test]
    fn ip_current_server_gives_no_tls_name() {
        let mut p = pool("nats://10.0.0.1", ordered(), 0);
        let mut r = rng(0);
        p.next_attempt(&fixed_delay(), &mut r);
        p.connected();
        assert!(p.merge_discovered(&urls(&["10.0.0.2:4222"]), &mut r));
        assert_eq!(p.entries()[1].tls_name(), "10.0.0.2");
    }

    #[test]
    fn merge_removes_implicit_entries_but_never_explicit_or_current_ones() {
        let mut p = connected_pool(ordered());
        let mut r = rng(5);
        p.merge_discovered(
            &urls(&["10.0.0.1:4222", "10.0.0.2:4222", "10.0.0.3:4222"]),
            &mut r,
        );

        assert!(!p.merge_discovered(&urls(&["10.0.0.1:4222"]), &mut r));
        assert_eq!(
            keys(&p),
            ["seed.example:4222", "other.example:4222", "10.0.0.1:4222"]
        );

        // A server seen before comes back: re-added, but it is not news.
        assert!(!p.merge_discovered(&urls(&["10.0.0.2:4222"]), &mut r));
        assert_eq!(
            keys(&p),
            ["seed.example:4222", "other.example:4222", "10.0.0.2:4222"]
        );

        // Move onto the implicit 10.0.0.2 and connect there; it is kept while current.
        let d = fixed_delay();
        assert_eq!(step(&mut p, &d, &mut r).unwrap().0, "other.example");
        assert_eq!(step(&mut p, &d, &mut r).unwrap().0, "10.0.0.2");
        p.connected();
        assert!(p.merge_discovered(&urls(&["10.0.0.4:4222"]), &mut r));
        assert_eq!(
            keys(&p),
            [
                "10.0.0.2:4222",
                "seed.example:4222",
                "other.example:4222",
                "10.0.0.4:4222"
            ]
        );
        // Current was an IP: the new IP entry keeps its own name.
        assert_eq!(p.entries()[3].tls_name(), "10.0.0.4");
    }

    #[test]
    fn merge_reshuffles_behind_the_head_only_when_something_new_appears() {
        let list = urls(&["n1:1", "n2:1", "n3:1", "n4:1", "n5:1"]);
        let mut orders = HashSet::new();
        for seed in 0..32 {
            let mut p = connected_pool(PoolOptions::default());
            let head = keys(&p)[0].clone();
            let mut r = rng(seed);
            assert!(p.merge_discovered(&list, &mut r));
            let k = keys(&p);
            assert_eq!(k[0], head, "seed {seed}");
            assert_eq!(k.len(), 7);
            orders.insert(k.clone());
            // Nothing new: no reshuffle.
            assert!(!p.merge_discovered(&list, &mut r));
            assert_eq!(keys(&p), k);
        }
        assert!(orders.len() > 5, "only {} distinct orders", orders.len());
    }

    #[test]
    fn merge_is_a_no_op_when_ignored_or_empty_and_skips_garbage() {
        let options = PoolOptions {
            ignore_discovered: true,
            ..ordered()
        };
        let mut p = connected_pool(options);
        let mut r = rng(0);
        assert!(!p.merge_discovered(&urls(&["10.0.0.1:4222"]), &mut r));
        assert_eq!(p.len(), 2);

        let mut p = connected_pool(ordered());
        assert!(!p.merge_discovered(&[], &mut r));
        assert_eq!(p.len(), 2);
        let list = urls(&[
            "not a url",
            "ws://x:1",
            "10.0.0.1:4222",
            "10.0.0.1:4222",
            "h:0",
        ]);
        assert!(p.merge_discovered(&list, &mut r));
        assert_eq!(
            keys(&p),
            ["seed.example:4222", "other.example:4222", "10.0.0.1:4222"]
        );
    }

    #[test]
    fn discovered_servers_use_the_pool_scheme() {
        let mut p = pool("tls://tok@secure.example", ordered(), 0);
        let mut r = rng(0);
        p.next_attempt(&fixed_delay(), &mut r);
        p.connected();
        assert!(p.merge_discovered(&urls(&["10.1.1.1:4222"]), &mut r));
        let added = p.entries()[1].addr();
        assert!(added.tls);
        assert_eq!(added.token.as_ref().map(Secret::expose), Some("tok"));
        assert_eq!(added.to_string(), "tls://10.1.1.1:4222");
    }
}

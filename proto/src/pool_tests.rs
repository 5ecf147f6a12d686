//! Tests for the server pool: seeded, deterministic, no clock.

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
fn every_url_can_come_first_under_shuffle() {
    // nats.go shuffles all of `Servers`: pinning the first URL would send every client
    // given the same list to the same node.
    let mut firsts = HashSet::new();
    for seed in 0..64 {
        let p = pool(FIVE, PoolOptions::default(), seed);
        let k = keys(&p);
        firsts.insert(k[0].clone());
        let mut sorted = k.clone();
        sorted.sort();
        assert_eq!(sorted, ["a:1", "b:1", "c:1", "d:1", "e:1"]);
    }
    assert_eq!(firsts.len(), 5, "{firsts:?}");
}

#[test]
fn keep_first_pins_the_first_url_and_shuffles_the_rest() {
    let options = PoolOptions {
        keep_first: true,
        ..PoolOptions::default()
    };
    let mut rests = HashSet::new();
    for seed in 0..64 {
        let k = keys(&pool(FIVE, options.clone(), seed));
        assert_eq!(k[0], "a:1", "seed {seed}");
        rests.insert(k[1..].to_vec());
    }
    assert!(rests.len() > 5, "the others are not shuffled: {rests:?}");
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
        "http://x:1",
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

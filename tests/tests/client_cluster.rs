//! The `natsy` client against a real three-node cluster: servers discovered from INFO,
//! `no_randomize` order, connections spread over the nodes, failover when the connected
//! node is killed, and moving away from a node in lame duck mode.

use std::collections::HashMap;

use std::time::{Duration, Instant};

use natsy::{ConnectOptions, Event, NextError, ServerAddr, State};
use natsy_test_harness::events::{wait_for_event, with_events};
use natsy_test_harness::{NatsCluster, NatsServer, CLUSTER_FORM_TIMEOUT};

const WAIT: Duration = Duration::from_secs(10);

/// Polls `f` until it is true, up to 10 s.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn fast() -> ConnectOptions {
    ConnectOptions::new()
        .connect_timeout(Duration::from_secs(2))
        .reconnect_wait(Duration::from_millis(50))
        .reconnect_jitter(Duration::ZERO, Duration::ZERO)
        .max_reconnects(None)
}

fn ports(servers: &[ServerAddr]) -> Vec<u16> {
    let mut p: Vec<u16> = servers.iter().map(|s| s.port).collect();
    p.sort_unstable();
    p.dedup();
    p
}

fn connected_port(client: &natsy::Client) -> u16 {
    client.server_info().expect("connected").port
}

/// The client ports advertised in a node's INFO.
fn advertised_ports(node: &NatsServer) -> Vec<u16> {
    let info = node.info().unwrap();
    let mut out: Vec<u16> = info["connect_urls"]
        .as_array()
        .map(|urls| {
            urls.iter()
                .filter_map(|u| u.as_str()?.rsplit(':').next()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort_unstable();
    out
}

#[test]
fn discovery_order_and_spread() {
    let mut cluster = NatsCluster::start(3, NatsServer::builder()).unwrap();
    let all: Vec<u16> = {
        let mut p: Vec<u16> = cluster.nodes().iter().map(NatsServer::port).collect();
        p.sort_unstable();
        p
    };
    let urls = cluster.urls();

    // Knowing one node is enough: INFO lists the others.
    let client = fast().connect(urls[0].as_str()).unwrap();
    assert_eq!(connected_port(&client), cluster.node(0).port());
    assert_eq!(ports(&client.servers()), all);
    drop(client);

    // no_randomize: the given order, first URL first, every time.
    let reversed = vec![urls[2].clone(), urls[1].clone(), urls[0].clone()];
    for _ in 0..5 {
        let client = fast().no_randomize().connect(reversed.clone()).unwrap();
        assert_eq!(connected_port(&client), cluster.node(2).port());
        let order: Vec<u16> = client.servers().iter().map(|s| s.port).collect();
        assert_eq!(
            order[..3],
            [
                cluster.node(2).port(),
                cluster.node(1).port(),
                cluster.node(0).port()
            ]
        );
    }

    // 60 clients given all three URLs spread over the nodes: no thundering herd on the
    // first URL. With a fair shuffle each node expects 20; fewer than 6 is ~1e-4 likely.
    let clients: Vec<natsy::Client> = (0..60)
        .map(|_| fast().connect(urls.clone()).unwrap())
        .collect();
    let mut per_node: HashMap<u16, usize> = HashMap::new();
    for c in &clients {
        *per_node.entry(connected_port(c)).or_default() += 1;
    }
    for port in &all {
        let n = per_node.get(port).copied().unwrap_or(0);
        assert!(n >= 6, "node {port} got {n} of 60 clients: {per_node:?}");
    }
    // The servers agree (monitoring /connz).
    let total: u64 = cluster
        .nodes()
        .iter()
        .map(|n| {
            n.monitor_json("/connz").unwrap()["num_connections"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(total, 60);
    drop(clients);

    // A node joining later is announced with DiscoveredServers.
    let late = cluster.node(2).port();
    cluster.node_mut(2).kill_hard();
    eventually("node 0 to stop advertising node 2", || {
        !advertised_ports(cluster.node(0)).contains(&late)
    });
    let (opts, rx) = with_events(fast());
    let client = opts.connect(urls[0].as_str()).unwrap();
    assert!(!ports(&client.servers()).contains(&late));
    cluster.node_mut(2).start_again().unwrap();
    cluster.wait_until_formed(CLUSTER_FORM_TIMEOUT).unwrap();
    let servers = wait_for_event(&rx, WAIT, |e| match e {
        Event::DiscoveredServers(s) => Some(s.clone()),
        _ => None,
    });
    assert!(ports(&servers).contains(&late), "{servers:?}");
    assert_eq!(ports(&client.servers()), all);
}

#[test]
fn failover_when_the_connected_node_is_killed() {
    let mut cluster = NatsCluster::start(3, NatsServer::builder()).unwrap();
    let urls = cluster.urls();
    let (opts, rx) = with_events(fast());
    let publisher = opts.no_randomize().connect(urls[0].as_str()).unwrap();
    assert_eq!(connected_port(&publisher), cluster.node(0).port());
    // The subscriber lives on node 1 and never notices the failure.
    let subscriber = fast().connect(urls[1].as_str()).unwrap();
    let mut sub = subscriber.subscribe("fo.>").unwrap();
    subscriber.flush().unwrap();

    // Wait until node 0 knows about the subscriber's interest (routes are asynchronous).
    let deadline = Instant::now() + WAIT;
    loop {
        publisher.publish("fo.probe", "probe").unwrap();
        publisher.flush().unwrap();
        if sub.next_timeout(Duration::from_millis(100)).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "interest never reached node 0");
    }
    while sub.next_timeout(Duration::from_millis(200)).is_ok() {}

    for i in 0..50 {
        publisher.publish("fo.data", format!("m{i}")).unwrap();
    }
    publisher.flush().unwrap();
    // A flush only says node 0 has them; wait until they crossed the route, since a
    // SIGKILL loses whatever node 0 had not forwarded yet.
    for i in 0..50 {
        let m = sub.next_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(m.subject(), "fo.data");
        assert_eq!(m.payload(), format!("m{i}").as_bytes());
    }

    cluster.node_mut(0).kill_hard();
    wait_for_event(&rx, WAIT, |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    });
    // Publishing goes on while failing over; these wait in the reconnect buffer.
    for i in 50..100 {
        publisher.publish("fo.data", format!("m{i}")).unwrap();
    }
    let server = wait_for_event(&rx, WAIT, |e| match e {
        Event::Reconnected { server } => Some(server.clone()),
        _ => None,
    });
    assert_ne!(server.port, cluster.node(0).port());
    assert_eq!(publisher.connection_state(), State::Connected);
    assert_ne!(connected_port(&publisher), cluster.node(0).port());
    publisher.flush().unwrap();

    // Everything published during the failover arrives, once, in order.
    for i in 50..100 {
        let m = sub.next_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(m.subject(), "fo.data");
        assert_eq!(m.payload(), format!("m{i}").as_bytes());
    }
    assert_eq!(
        sub.next_timeout(Duration::from_millis(200)).err(),
        Some(NextError::TimedOut)
    );
}

#[test]
fn lame_duck_mode_moves_clients_to_other_nodes() {
    // The shortest duration the server accepts (30 s) and a short grace period: with few
    // clients the server closes them about a second apart after the grace period.
    let template =
        NatsServer::builder().lame_duck(Duration::from_secs(30), Duration::from_millis(500));
    let mut cluster = NatsCluster::start(3, template).unwrap();
    let urls = cluster.urls();
    let ldm_port = cluster.node(0).port();

    let mut clients = Vec::new();
    for _ in 0..3 {
        let (opts, rx) = with_events(fast().no_randomize());
        let client = opts.connect(urls.clone()).unwrap();
        assert_eq!(connected_port(&client), ldm_port);
        let mut sub = client.subscribe("ldm.check").unwrap();
        client.flush().unwrap();
        // Drain the probe below per client later.
        let _ = sub.try_next();
        clients.push((client, rx, sub));
    }

    cluster.node(0).signal_lame_duck().unwrap();
    for (_, rx, _) in &clients {
        wait_for_event(rx, WAIT, |e| matches!(e, Event::LameDuckMode).then_some(()));
    }
    for (client, rx, _) in &clients {
        let server = wait_for_event(rx, Duration::from_secs(20), |e| match e {
            Event::Reconnected { server } => Some(server.clone()),
            _ => None,
        });
        assert_ne!(server.port, ldm_port);
        assert_ne!(connected_port(client), ldm_port);
        client.flush().unwrap();
    }
    // Working on their new nodes, subscriptions included.
    let checker = fast().connect(urls[1].as_str()).unwrap();
    let deadline = Instant::now() + WAIT;
    for (_, _, sub) in &mut clients {
        loop {
            checker.publish("ldm.check", "hi").unwrap();
            checker.flush().unwrap();
            if sub.next_timeout(Duration::from_millis(100)).is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "a moved client gets no messages");
        }
    }
    // The lame duck exits once its clients are gone.
    eventually("the lame duck node to exit", || {
        !cluster.node_mut(0).is_running()
    });
}

/// A TLS client fails over to a server it only learned as an IP address (INFO
/// `connect_urls`) and still verifies that server's certificate against the host name it
/// was given: the certificates are valid for `localhost` only, not for 127.0.0.1.
#[test]
fn tls_failover_to_a_discovered_ip_verifies_the_original_host_name() {
    let files = natsy_test_harness::TlsFiles::generate_for(&["localhost"]).unwrap();
    let mut cluster = NatsCluster::start(3, NatsServer::builder().tls(files.server_tls())).unwrap();
    let first = format!("tls://localhost:{}", cluster.node(0).port());
    let (options, events) = with_events(fast().root_certificates(files.ca_cert()));
    let client = options.connect(first.as_str()).unwrap();
    eventually("the other nodes discovered", || client.servers().len() >= 3);
    assert!(
        client.servers().iter().any(|s| s.is_ip_host()),
        "discovered servers are IP-only: {:?}",
        client.servers()
    );
    let mut sub = client.subscribe("tls.failover").unwrap();
    client.flush().unwrap();

    cluster.node_mut(0).kill_hard();
    let server = wait_for_event(&events, WAIT, |e| match e {
        Event::Reconnected { server } => Some(server.clone()),
        _ => None,
    });
    assert!(
        server.is_ip_host(),
        "failed over to a discovered IP URL: {server}"
    );
    assert_ne!(server.port, cluster.node(0).port());
    client.publish("tls.failover", "after failover").unwrap();
    client.flush().unwrap();
    let msg = sub.next_timeout(WAIT).unwrap();
    assert_eq!(msg.payload(), b"after failover");
}

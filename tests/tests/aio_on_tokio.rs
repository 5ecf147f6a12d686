//! A connection driven as a task on a tokio runtime (`ConnectOptions::tokio_runtime`),
//! against a real nats-server: no loop thread of natsy's, reconnects with the reconnect
//! buffer as on the thread, the blocking API on the same connection, a runtime that
//! shuts down closes the connection instead of leaving its waiters hanging, and a
//! connection whose tasks wait leaves the workers asleep. Every transport (TLS, TLS
//! first, mutual TLS, WebSocket with and without TLS) registers its socket with the
//! runtime's reactor and is exercised here in both directions. The executor scenarios
//! (aio_runtimes.rs) and 10,000 requests on one thread (aio_cancel.rs) run on this
//! driver too.

use std::time::Duration;

use futures_util::StreamExt;
use natsy::{aio, ConnectOptions, Event, NextError, State, SubscriptionEnded};
use natsy_test_harness::{NatsServer, TlsFiles};

const WAIT: Duration = Duration::from_secs(10);

/// Names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    natsy_test_harness::tokio_multi_thread()
}

fn fast(rt: &tokio::runtime::Runtime) -> ConnectOptions {
    ConnectOptions::new()
        .tokio_runtime(rt.handle().clone())
        .reconnect_wait(Duration::from_millis(50))
        .reconnect_jitter(Duration::ZERO, Duration::ZERO)
        .max_reconnects(None)
}

async fn next_event(events: &mut aio::Events, mut pick: impl FnMut(&Event) -> bool) {
    loop {
        let event = tokio::time::timeout(WAIT, events.next())
            .await
            .expect("an event in time")
            .expect("the event stream goes on");
        if pick(&event) {
            return;
        }
    }
}

#[test]
fn no_loop_thread_and_the_blocking_api_works_on_the_same_connection() {
    let server = NatsServer::start().unwrap();
    let rt = runtime();
    let client = rt.block_on(fast(&rt).connect_async(server.url())).unwrap();
    assert!(
        !thread_names().iter().any(|n| n == "natsy-loop"),
        "a loop thread: {:?}",
        thread_names()
    );
    // Blocking calls from a thread that is not one of the runtime's workers.
    let blocking = client.blocking().clone();
    let mut sub = blocking.subscribe("mixed.>").unwrap();
    blocking.flush().unwrap();
    rt.block_on(async {
        client.publish("mixed.a", "from a task").await.unwrap();
        client.flush().await.unwrap();
    });
    let msg = sub.next_timeout(WAIT).unwrap();
    assert_eq!(msg.payload(), b"from a task");
    assert!(!thread_names().iter().any(|n| n == "natsy-loop"));
}

#[test]
fn publishes_awaited_while_the_server_is_down_all_arrive_after_the_restart() {
    let mut server = NatsServer::start().unwrap();
    let rt = runtime();
    rt.block_on(async {
        let client = fast(&rt).connect_async(server.url()).await.unwrap();
        let mut events = client.events();
        let mut sub = client.subscribe("buf.>").await.unwrap();
        for i in 0..100 {
            client
                .publish("buf.a", format!("before {i}"))
                .await
                .unwrap();
        }
        client.flush().await.unwrap();

        server.stop().unwrap();
        next_event(&mut events, |e| matches!(e, Event::Disconnected { .. })).await;
        assert_ne!(client.connection_state(), State::Connected);
        for i in 0..500 {
            client
                .publish("buf.b", format!("during {i}"))
                .await
                .unwrap();
        }
        assert!(client.statistics().buffered_bytes > 0);
        server.start_again().unwrap();
        next_event(&mut events, |e| matches!(e, Event::Reconnected { .. })).await;
        client.flush().await.unwrap();
        assert_eq!(client.statistics().reconnects, 1);

        let want = (0..100)
            .map(|i| format!("before {i}"))
            .chain((0..500).map(|i| format!("during {i}")));
        for w in want {
            let m = tokio::time::timeout(WAIT, sub.next())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(m.payload(), w.as_bytes());
        }
        assert!(
            tokio::time::timeout(Duration::from_millis(300), sub.next())
                .await
                .is_err(),
            "an extra message"
        );
        assert_eq!(client.statistics().in_messages, 600);
        client.drain().await.unwrap();
        assert!(sub.next().await.is_none());
    });
}

#[test]
fn a_runtime_that_shuts_down_closes_the_connection_and_releases_its_waiters() {
    let server = NatsServer::start().unwrap();
    let rt = runtime();
    let client = rt.block_on(fast(&rt).connect_async(server.url())).unwrap();
    let blocking = client.blocking().clone();
    let mut sub = blocking.subscribe("quiet").unwrap();
    blocking.flush().unwrap();
    // A thread blocked on the connection while the runtime goes away.
    let waiter = std::thread::spawn(move || sub.next_timeout(Duration::from_secs(60)));
    std::thread::sleep(Duration::from_millis(100));
    drop(rt);
    match waiter.join().unwrap() {
        Err(NextError::Ended(SubscriptionEnded::ConnectionClosed)) => {}
        other => panic!("expected the subscription to end with the connection, got {other:?}"),
    }
    assert!(blocking.close_reason().is_some());
    assert!(blocking.publish("after", "x").is_err());
}

/// CPU time (user + system, clock ticks) of this process's threads named `name`.
fn cpu_ticks_of_threads(name: &str) -> u64 {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| {
            let dir = t.ok()?.path();
            let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
            if comm.trim() != name {
                return None;
            }
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            // Fields after the parenthesised name: state is the 3rd, utime the 14th.
            let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
            Some(fields[11].parse::<u64>().ok()? + fields[12].parse::<u64>().ok()?)
        })
        .sum()
}

/// A connection whose tasks all wait (a subscriber, a loop-served timer, keepalive) must
/// leave the runtime's workers asleep: a driver that spins shows a whole core here. The
/// connection is checked to be alive afterwards, since a dead loop burns nothing either.
#[test]
fn a_waiting_connection_leaves_the_runtime_idle() {
    const WORKER: &str = "natsy-idle-chk";
    let server = NatsServer::start().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(WORKER)
        .enable_all()
        .build()
        .unwrap();
    let client = rt
        .block_on(
            ConnectOptions::new()
                .tokio_runtime(rt.handle().clone())
                .connect_async(server.url()),
        )
        .unwrap();
    let mut sub = rt.block_on(client.subscribe("idle.>")).unwrap();
    rt.block_on(client.flush()).unwrap();
    let received = rt.spawn(async move { sub.next().await.map(|m| m.payload().to_vec()) });
    let timer = rt.spawn(client.sleep(Duration::from_secs(60)));
    std::thread::sleep(Duration::from_millis(200));

    let before = cpu_ticks_of_threads(WORKER);
    std::thread::sleep(Duration::from_millis(1500));
    let spent = cpu_ticks_of_threads(WORKER) - before;
    // 15 ticks (150 ms at USER_HZ 100) of 1.5 s: a tenth of one core, far above an idle
    // runtime's 0–1 and far below a spinning one's ~150.
    assert!(
        spent <= 15,
        "the idle runtime's workers used {spent} ticks in 1.5 s"
    );

    rt.block_on(async {
        client.publish("idle.still", "alive").await.unwrap();
        let got = tokio::time::timeout(WAIT, received).await.expect("in time");
        assert_eq!(got.unwrap().as_deref(), Some(&b"alive"[..]));
    });
    timer.abort();
}

/// A subscription, a request and a message of 1 MiB, more than a socket buffer takes at
/// once, so the loop waits for writability as well as readability.
async fn both_directions(client: &aio::Client) {
    let mut sub = client.subscribe("both.>").await.unwrap();
    let mut service = client.subscribe("svc").await.unwrap();
    let responder = client.clone();
    let answer = tokio::spawn(async move {
        let req = service.next().await.expect("the request");
        responder
            .publish(req.reply().unwrap().to_string(), req.payload().to_vec())
            .await
            .unwrap();
    });
    let big = vec![7u8; 1 << 20];
    client.publish("both.big", big.clone()).await.unwrap();
    let m = tokio::time::timeout(WAIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.payload(), &big[..]);
    let reply = tokio::time::timeout(WAIT, client.request("svc", "ping"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.payload(), b"ping");
    answer.await.unwrap();
}

#[test]
fn every_transport_is_driven_by_the_reactor() {
    let files = TlsFiles::generate().unwrap();
    let mut first = files.server_tls();
    first.handshake_first = true;
    let plain = NatsServer::builder().websocket().start().unwrap();
    let tls = NatsServer::builder()
        .tls(files.server_tls())
        .websocket_tls(files.server_tls())
        .start()
        .unwrap();
    let tls_first = NatsServer::builder().tls(first).start().unwrap();
    let mutual = NatsServer::builder()
        .tls(files.mutual_tls())
        .start()
        .unwrap();
    let rt = runtime();
    rt.block_on(async {
        let ca = || fast(&rt).root_certificates(files.ca_cert());
        let clients = [
            ("tcp", fast(&rt).connect_async(plain.url()).await),
            ("ws", fast(&rt).connect_async(plain.ws_url()).await),
            ("tls", ca().connect_async(tls.tls_url()).await),
            ("wss", ca().connect_async(tls.wss_url()).await),
            (
                "tls first",
                ca().tls_first().connect_async(tls_first.tls_url()).await,
            ),
            (
                "mutual tls",
                ca().client_certificate(files.client_cert(), files.client_key())
                    .connect_async(mutual.tls_url())
                    .await,
            ),
        ];
        for (name, client) in clients {
            let client = client.unwrap_or_else(|e| panic!("{name}: {e}"));
            both_directions(&client).await;
        }
        // A connect the server refuses at the TCP level ends with an error, not a hang:
        // the refusal shows as write-closed readiness, which the driver must act on.
        let port = plain.port();
        drop(plain);
        let refused = tokio::time::timeout(
            WAIT,
            fast(&rt)
                .no_reconnect()
                .connect_async(format!("nats://127.0.0.1:{port}")),
        )
        .await
        .expect("the refused connect ends");
        assert!(refused.is_err());
    });
    assert!(!thread_names().iter().any(|n| n == "natsy-loop"));
}

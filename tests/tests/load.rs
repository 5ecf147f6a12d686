//! Load and resource tests against a real nats-server: 1,000 subscriptions on one
//! connection, 100 connections from one process, and many requests in flight over time
//! (answered, refused with no responders, timed out and abandoned). After each, the
//! client's tables are back to zero (`pending_requests`, subscription pending counts, the
//! server's view of our subscriptions) and threads, file descriptors and resident memory
//! are back near where they started.
//!
//! The request test runs the full million requests (about 15 s in a debug build on an idle
//! machine); `NATSY_LOAD_REQUESTS=N` changes the count.
//!
//! The tests in this file run one at a time (a lock), so that one test's threads and
//! sockets do not blur another's before/after samples.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use natsy::{Client, ConnectOptions, RequestError};
use natsy_test_harness::{NatsServer, ProcessStats};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits up to 10 s for `cond`.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The server's subscription count for the connection named `name`.
fn server_subs(server: &NatsServer, name: &str) -> Option<u64> {
    let connz = server.monitor_json("/connz?subs=1").ok()?;
    connz["connections"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)?["subscriptions"]
        .as_u64()
}

fn server_connections(server: &NatsServer) -> u64 {
    server.monitor_json("/varz").unwrap()["connections"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_thousand_subscriptions_on_one_connection_deliver_and_clean_up() {
    let _serial = serial();
    let server = NatsServer::builder().monitoring().start().unwrap();
    let client = ConnectOptions::new()
        .name("thousand")
        .connect(server.url())
        .unwrap();
    let mut subs: Vec<_> = (0..1000)
        .map(|i| client.subscribe(&format!("many.{i}")).unwrap())
        .collect();
    client.flush().unwrap();
    eventually("1000 subscriptions at the server", || {
        server_subs(&server, "thousand") == Some(1000)
    });
    for round in 0..3 {
        for i in 0..1000 {
            client
                .publish(&format!("many.{i}"), format!("{round}:{i}"))
                .unwrap();
        }
    }
    client.flush().unwrap();
    for (i, sub) in subs.iter_mut().enumerate() {
        for round in 0..3 {
            let m = sub.next_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!(m.payload(), format!("{round}:{i}").as_bytes());
        }
        assert_eq!(sub.pending(), (0, 0), "sub {i} still holds messages");
    }
    for sub in subs.iter_mut() {
        assert!(sub.try_next().unwrap().is_none(), "a message arrived twice");
    }
    // Half unsubscribe explicitly, half by drop: the server forgets all of them.
    let rest = subs.split_off(500);
    for sub in subs {
        sub.unsubscribe().unwrap();
    }
    drop(rest);
    client.flush().unwrap();
    eventually("0 subscriptions at the server", || {
        server_subs(&server, "thousand") == Some(0)
    });
    assert_eq!(client.statistics().dropped_messages, 0);
}

#[test]
fn a_hundred_connections_from_one_process_work_and_leave_nothing_behind() {
    let _serial = serial();
    let server = NatsServer::builder().monitoring().start().unwrap();
    let publisher = natsy::connect(server.url()).unwrap();
    let before = ProcessStats::sample();
    for round in 0..2 {
        let clients: Vec<Client> = (0..100)
            .map(|_| natsy::connect(server.url()).unwrap())
            .collect();
        let mut subs: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let s = c.subscribe(&format!("conn.{i}")).unwrap();
                c.flush().unwrap();
                s
            })
            .collect();
        assert_eq!(server_connections(&server), 101);
        for i in 0..100 {
            publisher
                .publish(&format!("conn.{i}"), format!("hello {round} {i}"))
                .unwrap();
        }
        publisher.flush().unwrap();
        for (i, sub) in subs.iter_mut().enumerate() {
            let m = sub.next_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!(m.payload(), format!("hello {round} {i}").as_bytes());
        }
        drop(subs);
        for c in &clients {
            c.close().unwrap();
        }
        drop(clients);
        eventually("the 100 connections to close at the server", || {
            server_connections(&server) == 1
        });
    }
    if let (Some(before), Some(_)) = (before, ProcessStats::sample()) {
        // Every client's threads and sockets are gone (a little slack for the runtime).
        eventually("threads and fds back to the baseline", || {
            let now = ProcessStats::sample().unwrap();
            now.threads <= before.threads + 2 && now.fds <= before.fds + 2
        });
    }
}

/// Answers every request on `svc.echo` until stopped; holds (never answers) `svc.hole`.
fn responder(server: &NatsServer, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let client = natsy::connect(server.url()).unwrap();
    let mut echo = client.subscribe("svc.echo").unwrap();
    let _hole = client.subscribe("svc.hole").unwrap();
    client.flush().unwrap();
    std::thread::spawn(move || {
        let _hole = _hole;
        let mut answered = 0;
        loop {
            match echo.next_timeout(Duration::from_millis(50)) {
                Ok(m) => {
                    if let Some(reply) = m.reply() {
                        client.publish(reply, m.payload_bytes()).unwrap();
                        answered += 1;
                    }
                }
                Err(_) if stop.load(Ordering::SeqCst) => break,
                Err(_) => {}
            }
        }
        client.flush().unwrap();
        answered
    })
}

#[test]
fn many_requests_in_flight_over_time_leave_no_pending_state() {
    let _serial = serial();
    let total: usize = std::env::var("NATSY_LOAD_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    const WINDOW: usize = 500;
    let server = NatsServer::start().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let answering = responder(&server, stop.clone());
    let client = natsy::connect(server.url()).unwrap();

    let started = Instant::now();
    let mut sent = 0usize;
    let mut answered = 0usize;
    let mut no_responders = 0usize;
    let mut timed_out = 0usize;
    let mut abandoned = 0usize;
    let mut warm: Option<ProcessStats> = None;
    let mut peak_pending = 0usize;
    let mut batch = 0usize;
    while sent < total {
        let n = WINDOW.min(total - sent);
        let handles: Vec<_> = (0..n)
            .map(|k| {
                client
                    .send_request("svc.echo", None, format!("r{}", sent + k))
                    .unwrap()
            })
            .collect();
        peak_pending = peak_pending.max(client.pending_requests());
        for (k, h) in handles.into_iter().enumerate() {
            // Every 97th is abandoned without waiting.
            if (sent + k) % 97 == 0 {
                drop(h);
                abandoned += 1;
                continue;
            }
            let m = h.wait_timeout(Duration::from_secs(10)).unwrap();
            assert_eq!(m.payload(), format!("r{}", sent + k).as_bytes());
            answered += 1;
        }
        sent += n;
        batch += 1;
        // Now and then: nobody listening, and a listener that never answers.
        if batch % 20 == 0 {
            assert_eq!(
                client.request("svc.nobody", "x").unwrap_err(),
                RequestError::NoResponders
            );
            no_responders += 1;
            assert_eq!(
                client
                    .request_timeout("svc.hole", "x", Duration::from_millis(5))
                    .unwrap_err(),
                RequestError::TimedOut
            );
            timed_out += 1;
        }
        if warm.is_none() && sent >= total / 10 {
            warm = ProcessStats::sample();
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(client.pending_requests(), 0, "the request table leaked");
    assert!(
        peak_pending >= WINDOW / 2,
        "requests were not in flight together"
    );
    client.flush().unwrap();
    stop.store(true, Ordering::SeqCst);
    let served = answering.join().unwrap();
    assert!(served as usize >= answered);
    let stats = client.statistics();
    assert_eq!(stats.buffered_bytes, 0);
    assert_eq!(stats.dropped_messages, 0);
    let end = ProcessStats::sample();
    eprintln!(
        "{total} requests in {elapsed:?}: {answered} answered, {abandoned} abandoned, \
         {no_responders} no-responders, {timed_out} timed out, peak {peak_pending} in flight; \
         warm {warm:?}, end {end:?}"
    );
    if let (Some(warm), Some(end)) = (warm, end) {
        // Memory is flat after warm-up: 90% of the requests added less than 32 MiB
        // (a leak of even 64 bytes per request would show at a million).
        assert!(
            end.rss_kib < warm.rss_kib + 32 * 1024,
            "RSS grew from {warm} to {end}"
        );
    }
}

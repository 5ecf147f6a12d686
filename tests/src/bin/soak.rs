//! Soak runner: mixed traffic (publish/subscribe, request/reply, JetStream publishes) against
//! a real server that is restarted periodically, printing resident memory, threads and open
//! file descriptors over time. They must stay flat.
//!
//! ```text
//! cargo run -p natsy-test-harness --bin soak -- --minutes 30
//! ```
//!
//! Options: `--minutes N` or `--seconds N` (default 60 s), `--restart-every-s N` (default
//! 15), `--report-every-s N` (default 10). Exits non-zero when, between the first report
//! after warm-up and the last, threads or file descriptors grew by more than 2 or resident
//! memory by more than 25% + 16 MiB, or when the client's request table did not drain.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use natsy::ConnectOptions;
use natsy_jetstream::{PublishOptions, StorageType, StreamConfig};
use natsy_test_harness::{NatsServer, ProcessStats};

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    received: AtomicU64,
    requests_ok: AtomicU64,
    requests_failed: AtomicU64,
    js_acked: AtomicU64,
    js_failed: AtomicU64,
}

fn options(name: &str) -> ConnectOptions {
    ConnectOptions::new()
        .name(name)
        .reconnect_wait(Duration::from_millis(100))
        .max_reconnects(None)
        .retry_on_failed_connect()
}

fn main() -> ExitCode {
    let mut duration = Duration::from_secs(60);
    let mut restart_every = Duration::from_secs(15);
    let mut report_every = Duration::from_secs(10);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value: Option<u64> = args.next().and_then(|v| v.parse().ok());
        let Some(value) = value else {
            eprintln!("{arg} needs a number; see the file's docs");
            return ExitCode::from(2);
        };
        match arg.as_str() {
            "--minutes" => duration = Duration::from_secs(value * 60),
            "--seconds" => duration = Duration::from_secs(value),
            "--restart-every-s" => restart_every = Duration::from_secs(value.max(1)),
            "--report-every-s" => report_every = Duration::from_secs(value.max(1)),
            other => {
                eprintln!("unknown argument {other:?}; see the file's docs");
                return ExitCode::from(2);
            }
        }
    }
    match run(duration, restart_every, report_every) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak failed to run: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    duration: Duration,
    restart_every: Duration,
    report_every: Duration,
) -> Result<bool, String> {
    let mut server = NatsServer::builder()
        .jetstream()
        .start()
        .map_err(|e| e.to_string())?;
    let url = server.url();
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let connect = |name: &str| {
        options(name)
            .connect(url.as_str())
            .map_err(|e| e.to_string())
    };

    let admin = natsy_jetstream::new(connect("admin")?);
    admin
        .create_stream(&StreamConfig {
            subjects: vec!["soak.js.>".into()],
            storage: StorageType::File,
            max_msgs: 10_000,
            ..StreamConfig::new("SOAK")
        })
        .map_err(|e| e.to_string())?;

    let mut workers = Vec::new();
    // Publish/subscribe.
    {
        let sub_client = connect("sub")?;
        let mut sub = sub_client
            .subscribe("soak.msg.>")
            .map_err(|e| e.to_string())?;
        let (halt, c) = (stop.clone(), counters.clone());
        workers.push(thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                if sub.next_timeout(Duration::from_millis(100)).is_ok() {
                    c.received.fetch_add(1, Ordering::Relaxed);
                }
            }
            drop(sub_client);
        }));
        let client = connect("pub")?;
        let (halt, c) = (stop.clone(), counters.clone());
        workers.push(thread::spawn(move || {
            let mut i = 0u64;
            while !halt.load(Ordering::Relaxed) {
                if client
                    .publish(&format!("soak.msg.{}", i % 16), "x".repeat(128))
                    .is_ok()
                {
                    c.published.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
                if i % 100 == 0 {
                    let _ = client.flush_timeout(Duration::from_secs(2));
                    thread::sleep(Duration::from_millis(5));
                }
            }
        }));
    }
    // Request/reply.
    let requester = connect("requester")?;
    {
        let responder = connect("responder")?;
        let mut svc = responder.subscribe("soak.svc").map_err(|e| e.to_string())?;
        let halt = stop.clone();
        workers.push(thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                if let Ok(m) = svc.next_timeout(Duration::from_millis(100)) {
                    if let Some(reply) = m.reply() {
                        let _ = responder.publish(reply, m.payload_bytes());
                    }
                }
            }
        }));
        let client = requester.clone();
        let (halt, c) = (stop.clone(), counters.clone());
        workers.push(thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                let handles: Vec<_> = (0..50)
                    .filter_map(|_| client.send_request("soak.svc", None, "ping").ok())
                    .collect();
                // One deadline for the batch: requests lost in a restart cost 2 s, not
                // 2 s each.
                let deadline = Instant::now() + Duration::from_secs(2);
                for h in handles {
                    match h.wait_timeout(deadline.saturating_duration_since(Instant::now())) {
                        Ok(_) => c.requests_ok.fetch_add(1, Ordering::Relaxed),
                        Err(_) => c.requests_failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }
        }));
    }
    // JetStream publishes.
    {
        let js = natsy_jetstream::new(connect("js")?).with_timeout(Duration::from_secs(2));
        let (halt, c) = (stop.clone(), counters.clone());
        workers.push(thread::spawn(move || {
            let mut i = 0u64;
            while !halt.load(Ordering::Relaxed) {
                let id = format!("m-{i}");
                match js.publish_with("soak.js.x", id.clone(), &PublishOptions::new().msg_id(&id)) {
                    Ok(_) => c.js_acked.fetch_add(1, Ordering::Relaxed),
                    Err(_) => c.js_failed.fetch_add(1, Ordering::Relaxed),
                };
                i += 1;
            }
        }));
    }

    let started = Instant::now();
    let mut next_restart = started + restart_every;
    let mut next_report = started + report_every;
    let mut restarts = 0;
    let mut samples: Vec<ProcessStats> = Vec::new();
    println!("  time  restarts       rss_kib threads fds   published    received  req_ok req_fail js_acked js_fail pending_req");
    while started.elapsed() < duration {
        let now = Instant::now();
        if now >= next_restart {
            server.restart().map_err(|e| e.to_string())?;
            restarts += 1;
            next_restart = Instant::now() + restart_every;
        }
        if now >= next_report {
            next_report += report_every;
            if let Some(s) = ProcessStats::sample() {
                samples.push(s);
                let c = &counters;
                println!(
                    "{:>5}s {:>9} {:>13} {:>7} {:>3} {:>11} {:>11} {:>7} {:>8} {:>8} {:>7} {:>11}",
                    started.elapsed().as_secs(),
                    restarts,
                    s.rss_kib,
                    s.threads,
                    s.fds,
                    c.published.load(Ordering::Relaxed),
                    c.received.load(Ordering::Relaxed),
                    c.requests_ok.load(Ordering::Relaxed),
                    c.requests_failed.load(Ordering::Relaxed),
                    c.js_acked.load(Ordering::Relaxed),
                    c.js_failed.load(Ordering::Relaxed),
                    requester.pending_requests(),
                );
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().map_err(|_| "a worker panicked".to_string())?;
    }
    let pending = requester.pending_requests();
    let mut flat = pending == 0;
    if pending != 0 {
        println!("FAIL: {pending} requests still pending");
    }
    // Compare the first sample after warm-up (the second) with the last.
    if let (Some(first), Some(last)) = (
        samples.get(1.min(samples.len().saturating_sub(1))),
        samples.last(),
    ) {
        let rss_ok = last.rss_kib <= first.rss_kib + first.rss_kib / 4 + 16 * 1024;
        let threads_ok = last.threads <= first.threads + 2;
        let fds_ok = last.fds <= first.fds + 2;
        println!(
            "resources from {first} to {last}: rss {}, threads {}, fds {}",
            if rss_ok { "flat" } else { "GREW" },
            if threads_ok { "flat" } else { "GREW" },
            if fds_ok { "flat" } else { "GREW" },
        );
        flat &= rss_ok && threads_ok && fds_ok;
    }
    Ok(flat)
}

//! Pending limits bound the memory a subscription really holds, not just the bytes it
//! counts: one subscription left unread, with a 1 MiB pending-bytes limit, next to a busy
//! subscription on the same connection. Before, each of its small messages kept alive the
//! whole read allocation (128 KiB) it was cut from: 8,000 of them, counted as under 1 MiB,
//! kept hundreds of MiB resident.
//!
//! This file holds one test only, so that nothing else in the process moves its resident
//! memory while it is measured.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use natsy::{ConnectOptions, NextError, PendingLimits};
use natsy_test_harness::{NatsServer, ProcessStats};

/// Resident memory of this process in bytes.
fn resident() -> u64 {
    ProcessStats::sample().expect("/proc/self").rss_kib * 1024
}

#[test]
fn an_unread_subscription_next_to_a_busy_one_holds_no_more_than_its_limit() {
    const LIMIT: usize = 1 << 20;
    const SLACK: u64 = 16 << 20;
    const ROUNDS: u64 = 8_000;
    let server = NatsServer::start().unwrap();
    let client = ConnectOptions::new()
        .pending_limits(PendingLimits {
            messages: PendingLimits::default().messages,
            bytes: LIMIT,
        })
        .connect(server.url())
        .unwrap();
    let slow = client.subscribe("mem.slow").unwrap();
    let mut busy = client.subscribe("mem.busy").unwrap();
    client.flush().unwrap();
    let publisher = natsy::connect(server.url()).unwrap();

    // The busy subscription's reader keeps up until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut received = 0u64;
            loop {
                match busy.next_timeout(Duration::from_millis(50)) {
                    Ok(m) => {
                        assert_eq!(m.payload().len(), 16 * 1024);
                        received += 1;
                    }
                    Err(NextError::TimedOut) if !stop.load(Ordering::Relaxed) => {}
                    Err(NextError::TimedOut) => return (received, busy.dropped()),
                    Err(e) => panic!("busy subscription: {e}"),
                }
            }
        })
    };
    let busy_payload = Bytes::from(vec![b'b'; 16 * 1024]);
    let round = |n: u64, slow_too: bool| {
        for _ in 0..n {
            if slow_too {
                publisher.publish("mem.slow", "0123456789").unwrap();
            }
            publisher.publish("mem.busy", busy_payload.clone()).unwrap();
        }
        publisher.flush().unwrap();
        // Everything the server sent before this PONG has been queued.
        client.flush().unwrap();
    };
    // Warm-up: buffers, queues and the server connections reach their steady sizes.
    round(2_000, false);
    let baseline = resident();

    let sampling = Arc::new(AtomicBool::new(true));
    let peak = Arc::new(AtomicU64::new(baseline));
    let sampler = {
        let (sampling, peak) = (sampling.clone(), peak.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(resident(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    // One small message for the unread subscription after each 16 KiB one for the busy
    // one: every read allocation holds a few of each.
    round(ROUNDS, true);
    peak.fetch_max(resident(), Ordering::Relaxed);
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let (received, dropped) = reader.join().unwrap();

    let grown = peak.load(Ordering::Relaxed).saturating_sub(baseline);
    let (queued, queued_bytes) = slow.pending();
    let mib = |b: u64| b as f64 / f64::from(1u32 << 20);
    eprintln!(
        "resident +{:.1} MiB; unread: {queued} queued ({queued_bytes} bytes), {} dropped; \
         busy: {received} received, {dropped} dropped",
        mib(grown),
        slow.dropped()
    );
    assert_eq!(
        received + dropped,
        2_000 + ROUNDS,
        "busy: every message accounted for"
    );
    assert_eq!(
        (queued as u64, slow.dropped()),
        (ROUNDS, 0),
        "every small message fits the limit"
    );
    assert!(queued_bytes <= LIMIT);
    assert!(
        grown <= LIMIT as u64 + SLACK,
        "resident memory grew by {:.1} MiB, more than the {:.1} MiB limit + 16 MiB",
        mib(grown),
        mib(LIMIT as u64)
    );
}

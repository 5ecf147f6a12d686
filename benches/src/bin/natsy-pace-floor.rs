//! What pacing alone costs, without NATS: the CPU per slot of a loop that sleeps until
//! each slot of a fixed rate and then does one task-to-task round trip, on a tokio
//! multi-thread runtime of 2 workers, beside a thread that sleeps until each slot (as
//! `natsy-bench` paces). The tokio loop runs twice: in `block_on` on the main thread,
//! where every wake-up crosses to that thread, and as a spawned task, as
//! `natsy-bench-async` and the async-nats peer now run their bodies. The differences
//! are what the executor and the harness's shape add to every fixed-rate row before any
//! client does anything (BENCHMARKS.md).
//!
//! ```text
//! natsy-pace-floor [--rate 1000] [--slots 3000]
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use natsy_benches::measure::process_cpu_time;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Slot `i` of `rate` per second after `start` (saturating: a huge `--slots` or a tiny
/// `--rate` makes a far deadline, not an overflow).
fn slot(start: Instant, rate: u64, i: u64) -> Instant {
    let after = Duration::from_nanos(i.saturating_mul(1_000_000_000) / rate.max(1));
    start
        .checked_add(after)
        .unwrap_or(start + Duration::from_secs(86_400 * 365))
}

/// A tokio runtime: each slot, sleep until it, then hand a number to a second task and
/// wait for it back from a spawned task.
fn on_tokio(rate: u64, slots: u64, spawned: bool) -> Duration {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let cpu = process_cpu_time();
    let body = async move {
        let (to_peer, mut peer_rx) = tokio::sync::mpsc::channel::<u64>(1);
        let (to_main, mut main_rx) = tokio::sync::mpsc::channel::<u64>(1);
        let peer = tokio::spawn(async move {
            while let Some(i) = peer_rx.recv().await {
                if to_main.send(i).await.is_err() {
                    return;
                }
            }
        });
        let start = Instant::now();
        for i in 0..slots {
            tokio::time::sleep_until(slot(start, rate, i).into()).await;
            to_peer.send(i).await.expect("the peer runs");
            assert_eq!(main_rx.recv().await, Some(i));
        }
        drop(to_peer);
        let _ = peer.await;
    };
    if spawned {
        rt.block_on(rt.spawn(body)).expect("the body runs");
    } else {
        rt.block_on(body);
    }
    process_cpu_time().saturating_sub(cpu)
}

/// A thread: each slot, sleep until it, then hand a number to a second thread and wait
/// for it back.
fn on_threads(rate: u64, slots: u64) -> Duration {
    let (to_peer, peer_rx) = std::sync::mpsc::sync_channel::<u64>(1);
    let (to_main, main_rx) = std::sync::mpsc::sync_channel::<u64>(1);
    let served = Arc::new(AtomicU64::new(0));
    let counted = served.clone();
    let peer = std::thread::spawn(move || {
        for i in peer_rx {
            counted.fetch_add(1, Ordering::Relaxed);
            if to_main.send(i).is_err() {
                return;
            }
        }
    });
    let cpu = process_cpu_time();
    let start = Instant::now();
    for i in 0..slots {
        let due = slot(start, rate, i);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        to_peer.send(i).expect("the peer runs");
        assert_eq!(main_rx.recv().ok(), Some(i));
    }
    let used = process_cpu_time().saturating_sub(cpu);
    drop(to_peer);
    let _ = peer.join();
    assert_eq!(served.load(Ordering::Relaxed), slots);
    used
}

fn main() {
    let rate = arg("--rate", 1000);
    let slots = arg("--slots", 3000).max(1);
    let per_slot = |d: Duration| d.as_secs_f64() * 1e6 / slots as f64;
    println!(
        "tokio multi-thread (2 workers): {:.1} µs CPU per slot",
        per_slot(on_tokio(rate, slots, false))
    );
    println!(
        "tokio, body spawned:            {:.1} µs CPU per slot",
        per_slot(on_tokio(rate, slots, true))
    );
    println!(
        "threads:                        {:.1} µs CPU per slot",
        per_slot(on_threads(rate, slots))
    );
}

//! The bounded (60-second) CI versions of the chaos runs in `natsy_test_harness::chaos`:
//! a random node of a real 3-node cluster is SIGKILLed and restarted every few seconds
//! while clients publish, subscribe and consume. The long version is the `chaos` binary
//! (`cargo run -p natsy-test-harness --bin chaos -- --minutes N`); figures in RELIABILITY.md.
//!
//! The two runs take turns (a lock): two clusters at once on a small CI machine would
//! measure the machine, not the client.

use std::sync::Mutex;
use std::time::Duration;

use natsy_test_harness::chaos::{run_core, run_jetstream, ChaosOptions};

static SERIAL: Mutex<()> = Mutex::new(());

fn ci_options(seed: u64) -> ChaosOptions {
    ChaosOptions {
        duration: Duration::from_secs(60),
        kill_every: Duration::from_secs(5),
        seed,
        ..ChaosOptions::default()
    }
}

#[test]
fn core_chaos_loses_only_what_was_in_flight_at_a_kill() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let report = run_core(&ci_options(11)).unwrap();
    eprintln!("{report}");
    assert!(report.kills >= 3, "too few kills: {report}");
    assert!(report.published > 0 && report.received > 0);
    assert_eq!(report.unexplained, 0, "a loss outside every fault window");
    assert_eq!(report.duplicates, 0);
    assert_eq!(report.slow_consumer_drops, 0);
    assert!(report.lost <= report.at_risk);
    assert_eq!(
        report.lost_per_kill.iter().sum::<u64>(),
        report.lost,
        "every loss follows a kill"
    );
}

#[test]
fn jetstream_chaos_keeps_every_acknowledged_message_exactly_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let report = run_jetstream(&ci_options(12)).unwrap();
    eprintln!("{report}");
    assert!(report.kills >= 2, "too few kills: {report}");
    assert!(report.acked > 0);
    assert_eq!(report.lost, 0, "an acknowledged message is missing");
    assert_eq!(
        report.extra, 0,
        "a message is stored twice or unacknowledged"
    );
    assert_eq!(report.stored, report.acked);
    assert_eq!(
        report.unconsumed, 0,
        "an acknowledged message was never consumed"
    );
}

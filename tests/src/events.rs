//! Watching a client's events in tests: a receiver for them, and a bounded wait for the
//! first one that matters.

use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use natsy::{ConnectOptions, Event};

/// `options` with its events sent, in order, to the returned receiver.
pub fn with_events(options: ConnectOptions) -> (ConnectOptions, Receiver<Event>) {
    let (tx, rx) = mpsc::channel();
    (options.event_sender(tx), rx)
}

/// Waits up to `timeout` for the first event `pick` accepts; returns what `pick` made of
/// it and the events seen before it. Panics, listing what was seen, when none comes.
pub fn wait_for_event_after<T>(
    rx: &Receiver<Event>,
    timeout: Duration,
    pick: impl Fn(&Event) -> Option<T>,
) -> (T, Vec<Event>) {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(e) => {
                if let Some(v) = pick(&e) {
                    return (v, seen);
                }
                seen.push(e);
            }
            Err(_) => panic!("event not seen within {timeout:?}; saw {seen:?}"),
        }
    }
}

/// [`wait_for_event_after`] without the events seen before.
pub fn wait_for_event<T>(
    rx: &Receiver<Event>,
    timeout: Duration,
    pick: impl Fn(&Event) -> Option<T>,
) -> T {
    wait_for_event_after(rx, timeout, pick).0
}

/// Options that reconnect at once (50 ms between passes, no jitter, for ever), with their
/// events on the returned receiver.
pub fn fast_reconnect_with_events() -> (ConnectOptions, Receiver<Event>) {
    with_events(
        ConnectOptions::new()
            .reconnect_wait(Duration::from_millis(50))
            .reconnect_jitter(Duration::ZERO, Duration::ZERO)
            .max_reconnects(None),
    )
}

/// The next event that is not a failed reconnect attempt, waiting up to `timeout`.
pub fn next_event(rx: &Receiver<Event>, timeout: Duration) -> Event {
    loop {
        match rx.recv_timeout(timeout).expect("an event") {
            Event::ReconnectAttemptFailed { .. } => continue,
            e => return e,
        }
    }
}

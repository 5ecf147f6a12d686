//! Network faults between the client and a real nats-server, injected by
//! [`FaultProxy`]: a cut (also in the middle of a frame, either way), delayed bytes, a
//! stall, one dropped direction, garbage and truncated frames towards the client, and a
//! close with `-ERR`.
//!
//! For each fault the test proves the documented outcome: the client notices (a typed
//! [`DisconnectReason`] within its bound: at once for a closed socket or bad bytes,
//! `(max_pings_out + 1) * ping_interval` for a silent one), reconnects, re-subscribes and
//! sends its reconnect buffer, and every core message published after the application saw
//! `Disconnected` arrives exactly once, in order, at a subscriber on the server and (echo)
//! at the client's own restored subscription. JetStream publishes through the same faults
//! are each acknowledged or fail with an error, never hang, and every acknowledged one is
//! in the stream.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use natsy::{Client, CloseReason, ConnectOptions, DisconnectReason, Event, PublishError};
use natsy_jetstream::{AsyncPublishOptions, PublishOptions, StorageType, StreamConfig};
use natsy_proto::{ProtocolError, ServerErrorKind};
use natsy_test_harness::{Direction, FaultProxy, NatsServer};

const WAIT: Duration = Duration::from_secs(10);
const PING_INTERVAL: Duration = Duration::from_millis(200);
const MAX_PINGS_OUT: u32 = 2;
/// Scheduling slack on a loaded 2-core machine, added to every detection bound.
const SLACK: Duration = Duration::from_secs(2);
/// Messages published after the client noticed the fault.
const AFTER: usize = 200;

/// A fault command; returns how many connections it hit.
type Fault = dyn Fn(&FaultProxy) -> usize;

/// How soon a fault must be noticed.
#[derive(Clone, Copy, Debug)]
enum Bound {
    /// A closed socket or bad bytes: as soon as they are read.
    Immediate,
    /// A silent connection: `(max_pings_out + 1) * ping_interval`.
    Stale,
}

impl Bound {
    fn limit(self) -> Duration {
        match self {
            Bound::Immediate => SLACK,
            Bound::Stale => PING_INTERVAL * (MAX_PINGS_OUT + 1) + SLACK,
        }
    }
}

fn options() -> (ConnectOptions, Receiver<Event>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let opts = ConnectOptions::new()
        .ping_interval(PING_INTERVAL)
        .max_pings_out(MAX_PINGS_OUT)
        .connect_timeout(Duration::from_secs(2))
        .reconnect_wait(Duration::from_millis(50))
        .reconnect_jitter(Duration::ZERO, Duration::ZERO)
        .max_reconnects(None)
        .event_callback(move |e| {
            let _ = tx.lock().unwrap().send(e);
        });
    (opts, rx)
}

/// Waits for the first event `pick` accepts.
fn wait_event<T>(rx: &Receiver<Event>, pick: impl Fn(&Event) -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(e) => {
                if let Some(v) = pick(&e) {
                    return v;
                }
                seen.push(e);
            }
            Err(_) => panic!("event not seen within {WAIT:?}; saw {seen:?}"),
        }
    }
}

fn disconnect_reason(e: &Event) -> Option<DisconnectReason> {
    match e {
        Event::Disconnected { reason } => Some(reason.clone()),
        _ => None,
    }
}

/// Receives messages on `sub` until the payloads on `subject` equal `want` (in order),
/// skipping other subjects; then checks that no further copy arrives.
fn expect_exactly(sub: &mut natsy::Subscription, subject: &str, want: &[String], who: &str) {
    let deadline = Instant::now() + WAIT;
    let mut got: Vec<String> = Vec::new();
    while got.len() < want.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match sub.next_timeout(left) {
            Ok(m) if m.subject() == subject => {
                got.push(String::from_utf8_lossy(m.payload()).into_owned());
            }
            Ok(_) => {}
            Err(e) => panic!(
                "{who}: {} of {} messages, then {e}; last {:?}",
                got.len(),
                want.len(),
                got.last()
            ),
        }
    }
    assert_eq!(got, want, "{who}: wrong messages or order");
    while let Ok(m) = sub.next_timeout(Duration::from_millis(200)) {
        assert_ne!(m.subject(), subject, "{who}: a message arrived twice");
    }
}

/// One fault scenario against a fresh server and proxy.
struct Rig {
    _server: NatsServer,
    proxy: FaultProxy,
    client: Client,
    events: Receiver<Event>,
    direct: Client,
    own_sub: natsy::Subscription,
    direct_sub: natsy::Subscription,
}

impl Rig {
    fn new() -> Rig {
        let server = NatsServer::start().unwrap();
        let proxy = FaultProxy::start(server.addr()).unwrap();
        let (opts, events) = options();
        let client = opts.connect(proxy.url()).unwrap();
        let direct = natsy::connect(server.url()).unwrap();
        let own_sub = client.subscribe("f.>").unwrap();
        let direct_sub = direct.subscribe("f.>").unwrap();
        client.flush().unwrap();
        direct.flush().unwrap();
        let mut rig = Rig {
            _server: server,
            proxy,
            client,
            events,
            direct,
            own_sub,
            direct_sub,
        };
        // Traffic flows through the proxy before the fault.
        let before: Vec<String> = (0..20).map(|i| format!("before {i}")).collect();
        for p in &before {
            rig.client.publish("f.before", p.clone()).unwrap();
        }
        rig.client.flush().unwrap();
        expect_exactly(&mut rig.direct_sub, "f.before", &before, "direct");
        expect_exactly(&mut rig.own_sub, "f.before", &before, "own");
        assert_eq!(rig.proxy.live_connections(), 1);
        rig
    }

    /// Waits for `Disconnected` (within `bound` of `since`), publishes [`AFTER`] messages,
    /// waits for `Reconnected` and proves they all arrive once, in order, at both
    /// subscribers. Returns the reason and how long detection took.
    fn expect_recovery(&mut self, since: Instant, bound: Bound) -> (DisconnectReason, Duration) {
        let reason = wait_event(&self.events, disconnect_reason);
        let took = since.elapsed();
        assert!(
            took <= bound.limit(),
            "noticed after {took:?}, bound {:?} ({reason:?})",
            bound.limit()
        );
        let after: Vec<String> = (0..AFTER).map(|i| format!("after {i}")).collect();
        for p in &after {
            self.client
                .publish("f.after", p.clone())
                .unwrap_or_else(|e| panic!("publish after the disconnect: {e}"));
        }
        wait_event(&self.events, |e| {
            matches!(e, Event::Reconnected { .. }).then_some(())
        });
        self.client.flush().unwrap();
        let stats = self.client.statistics();
        assert_eq!(stats.buffered_bytes, 0, "reconnect buffer not flushed");
        assert!(stats.reconnects >= 1);
        assert!(self.proxy.accepted() >= 2, "no new connection was made");
        expect_exactly(&mut self.direct_sub, "f.after", &after, "direct subscriber");
        expect_exactly(
            &mut self.own_sub,
            "f.after",
            &after,
            "restored subscription",
        );
        (reason, took)
    }
}

fn is_eof_or_io(r: &DisconnectReason) -> bool {
    matches!(r, DisconnectReason::Eof | DisconnectReason::Transport(_))
}

#[test]
fn a_cut_connection_is_noticed_at_once_and_recovered() {
    let mut rig = Rig::new();
    let t = Instant::now();
    assert_eq!(rig.proxy.cut(), 1);
    let (reason, _) = rig.expect_recovery(t, Bound::Immediate);
    assert!(is_eof_or_io(&reason), "{reason:?}");
}

#[test]
fn a_cut_in_the_middle_of_a_frame_to_the_client_is_recovered() {
    let mut rig = Rig::new();
    rig.proxy.cut_mid_frame(Direction::ToClient);
    // A message to the client's subscription carries the frame that gets cut.
    rig.direct.publish("f.trigger", "x".repeat(64)).unwrap();
    rig.direct.flush().unwrap();
    assert!(rig.proxy.wait_for(WAIT, |p| p.mid_frame_cuts() == 1));
    let t = Instant::now();
    let (reason, _) = rig.expect_recovery(t, Bound::Immediate);
    assert!(is_eof_or_io(&reason), "{reason:?}");
}

#[test]
fn a_cut_in_the_middle_of_a_frame_to_the_server_is_recovered() {
    let mut rig = Rig::new();
    rig.proxy.cut_mid_frame(Direction::ToServer);
    // Published before the client can know: allowed to be lost, and it is.
    rig.client.publish("f.half", "y".repeat(64)).unwrap();
    assert!(rig.proxy.wait_for(WAIT, |p| p.mid_frame_cuts() == 1));
    let t = Instant::now();
    let (reason, _) = rig.expect_recovery(t, Bound::Immediate);
    assert!(is_eof_or_io(&reason), "{reason:?}");
}

#[test]
fn a_short_delay_loses_nothing_and_keeps_the_connection() {
    let mut rig = Rig::new();
    // Round trip 2 x 40 ms, well inside the ping interval: not stale.
    rig.proxy.set_delay(Duration::from_millis(40));
    let msgs: Vec<String> = (0..AFTER).map(|i| format!("delayed {i}")).collect();
    for p in &msgs {
        rig.client.publish("f.after", p.clone()).unwrap();
    }
    rig.client.flush().unwrap();
    expect_exactly(&mut rig.direct_sub, "f.after", &msgs, "direct subscriber");
    expect_exactly(&mut rig.own_sub, "f.after", &msgs, "own subscription");
    // Several ping intervals with the delay: still the first connection.
    std::thread::sleep(PING_INTERVAL * 5);
    rig.client.flush().unwrap();
    while let Ok(e) = rig.events.try_recv() {
        assert!(
            !matches!(e, Event::Disconnected { .. }),
            "a 40 ms delay made the client disconnect: {e:?}"
        );
    }
    assert_eq!(rig.proxy.accepted(), 1);
    assert_eq!(rig.client.statistics().reconnects, 0);
}

#[test]
fn a_delay_longer_than_the_ping_bound_is_a_stale_connection() {
    let mut rig = Rig::new();
    let t = Instant::now();
    rig.proxy.set_delay(Duration::from_secs(5));
    let (reason, _) = rig.expect_recovery(t, Bound::Stale);
    assert_eq!(reason, DisconnectReason::StaleConnection);
}

#[test]
fn a_stall_is_a_stale_connection() {
    let mut rig = Rig::new();
    let t = Instant::now();
    rig.proxy.stall();
    let (reason, _) = rig.expect_recovery(t, Bound::Stale);
    assert_eq!(reason, DisconnectReason::StaleConnection);
}

#[test]
fn dropping_what_the_client_sends_is_a_stale_connection() {
    let mut rig = Rig::new();
    let t = Instant::now();
    rig.proxy.drop_direction(Direction::ToServer);
    let (reason, _) = rig.expect_recovery(t, Bound::Stale);
    assert_eq!(reason, DisconnectReason::StaleConnection);
}

#[test]
fn dropping_what_the_server_sends_is_a_stale_connection() {
    let mut rig = Rig::new();
    let t = Instant::now();
    rig.proxy.drop_direction(Direction::ToClient);
    let (reason, _) = rig.expect_recovery(t, Bound::Stale);
    assert_eq!(reason, DisconnectReason::StaleConnection);
}

#[test]
fn garbage_towards_the_client_is_a_protocol_error() {
    let mut rig = Rig::new();
    let t = Instant::now();
    rig.proxy.inject_to_client(b"\x00\xff this is not NATS\r\n");
    let (reason, _) = rig.expect_recovery(t, Bound::Immediate);
    assert!(
        matches!(reason, DisconnectReason::ProtocolError(_)),
        "{reason:?}"
    );
}

#[test]
fn a_truncated_frame_followed_by_more_traffic_is_detected() {
    let mut rig = Rig::new();
    let t = Instant::now();
    // Announces 10 payload bytes but brings 2; what follows (PONGs, messages) is read as
    // the rest of the payload until the frame's trailer cannot match.
    rig.proxy.inject_to_client(b"MSG f.trunc 999 10\r\nab");
    let (reason, _) = rig.expect_recovery(t, Bound::Stale);
    assert!(
        matches!(
            reason,
            DisconnectReason::ProtocolError(_) | DisconnectReason::StaleConnection
        ),
        "{reason:?}"
    );
}

#[test]
fn a_truncated_frame_then_a_close_is_recovered() {
    let mut rig = Rig::new();
    let t = Instant::now();
    rig.proxy
        .inject_and_close(b"MSG f.trunc 1 100\r\nonly a part");
    let (reason, _) = rig.expect_recovery(t, Bound::Immediate);
    assert!(is_eof_or_io(&reason), "{reason:?}");
}

#[test]
fn an_err_stale_connection_and_close_is_recovered() {
    let mut rig = Rig::new();
    let t = Instant::now();
    rig.proxy.close_with_err("Stale Connection");
    let (reason, _) = rig.expect_recovery(t, Bound::Immediate);
    match reason {
        DisconnectReason::ServerError(e) => assert_eq!(e.kind, ServerErrorKind::StaleConnection),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_fatal_err_closes_the_client_and_publishes_fail_with_closed() {
    let rig = Rig::new();
    rig.proxy.close_with_err("Unknown Protocol Operation");
    let reason = wait_event(&rig.events, |e| match e {
        Event::Closed { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    match reason {
        CloseReason::Fatal(e) => assert_eq!(e.kind, ServerErrorKind::UnknownProtocolOperation),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        rig.client.publish("f.after", "refused"),
        Err(PublishError::Closed)
    );
    assert_eq!(
        rig.proxy.accepted(),
        1,
        "a closed client must not reconnect"
    );
}

#[test]
fn a_protocol_error_names_what_was_wrong() {
    // The garbage case above, checked for the typed detail rather than just the variant.
    let mut rig = Rig::new();
    let t = Instant::now();
    rig.proxy.inject_to_client(b"XYZZY\r\n");
    let (reason, _) = rig.expect_recovery(t, Bound::Immediate);
    let DisconnectReason::ProtocolError(e) = reason else {
        panic!("{reason:?}")
    };
    assert_eq!(e, ProtocolError::UnknownOp);
    assert!(!e.to_string().is_empty());
}

/// JetStream publishes through every fault, one after another: each publish returns an
/// ack or an error within its timeout (never hangs); retried with the same message id until
/// acknowledged, every message is in the stream exactly once, at the acknowledged sequence.
#[test]
fn jetstream_publishes_through_faults_are_acked_or_fail_and_acked_ones_are_stored() {
    let server = NatsServer::builder().jetstream().start().unwrap();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let (opts, events) = options();
    let client = opts.connect(proxy.url()).unwrap();
    let js = natsy_jetstream::new(client).with_timeout(Duration::from_secs(1));
    let checker = natsy_jetstream::new(natsy::connect(server.url()).unwrap());
    checker
        .create_stream(&StreamConfig {
            subjects: vec!["js.>".into()],
            storage: StorageType::File,
            ..StreamConfig::new("FAULTS")
        })
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut acks = Vec::new();
            let mut errors = 0usize;
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("m-{i}");
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let started = Instant::now();
                    let result = js.publish_with(
                        "js.x",
                        format!("payload {i}"),
                        &PublishOptions::new().msg_id(&id),
                    );
                    assert!(
                        started.elapsed() < Duration::from_secs(4),
                        "a publish took {:?}",
                        started.elapsed()
                    );
                    match result {
                        Ok(ack) => {
                            acks.push((i, ack));
                            break;
                        }
                        Err(_) => {
                            errors += 1;
                            assert!(Instant::now() < deadline, "message {i} never acknowledged");
                        }
                    }
                }
                i += 1;
            }
            (acks, errors)
        })
    };

    let faults: [(&str, Box<Fault>); 6] = [
        ("cut", Box::new(|p| p.cut())),
        ("stall", Box::new(|p| p.stall())),
        (
            "garbage",
            Box::new(|p| p.inject_to_client(b"\x01garbage\r\n")),
        ),
        (
            "mid-frame to client",
            Box::new(|p| p.cut_mid_frame(Direction::ToClient)),
        ),
        ("-ERR", Box::new(|p| p.close_with_err("Stale Connection"))),
        (
            "drop to server",
            Box::new(|p| p.drop_direction(Direction::ToServer)),
        ),
    ];
    for (name, fault) in &faults {
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(fault(&proxy), 1, "{name}: no live connection");
        let reason = wait_event(&events, disconnect_reason);
        wait_event(&events, |e| {
            matches!(e, Event::Reconnected { .. }).then_some(())
        });
        eprintln!("fault {name}: {reason}");
    }
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    let (acks, errors) = publisher.join().unwrap();
    let n = acks.len();
    eprintln!(
        "{} faults, {n} messages acknowledged, {errors} failed attempts",
        faults.len()
    );
    assert!(n > 0);

    let stream = checker.get_stream("FAULTS").unwrap();
    assert_eq!(
        stream.info().unwrap().state.messages,
        n as u64,
        "stored exactly once"
    );
    let mut seqs: Vec<u64> = acks.iter().map(|(_, a)| a.sequence).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), n, "two messages acknowledged with one sequence");
    for (i, ack) in &acks {
        assert_eq!(ack.stream, "FAULTS");
        let stored = stream.get_message(ack.sequence).unwrap();
        assert_eq!(stored.payload, format!("payload {i}").as_bytes());
    }
}

/// The windowed asynchronous publisher through a cut and a stall: every handle resolves to
/// an ack or an error within its timeout, and every acknowledged message is in the stream
/// at its sequence (unacknowledged ones may or may not be: the ack, not the message, may
/// have been lost).
#[test]
fn async_jetstream_publishes_through_faults_resolve_and_acked_ones_are_stored() {
    let server = NatsServer::builder().jetstream().start().unwrap();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let (opts, events) = options();
    let client = opts.connect(proxy.url()).unwrap();
    let js = natsy_jetstream::new(client).with_timeout(Duration::from_secs(2));
    let checker = natsy_jetstream::new(natsy::connect(server.url()).unwrap());
    checker
        .create_stream(&StreamConfig {
            subjects: vec!["ajs.>".into()],
            storage: StorageType::File,
            ..StreamConfig::new("AFAULTS")
        })
        .unwrap();

    let mut publisher = js.async_publisher(AsyncPublishOptions {
        window: 64,
        ..AsyncPublishOptions::default()
    });
    let mut outcomes = Vec::new();
    let mut i = 0usize;
    let faults: [Box<Fault>; 2] = [Box::new(|p| p.cut()), Box::new(|p| p.stall())];
    for fault in &faults {
        for _ in 0..500 {
            publisher
                .publish_with(
                    "ajs.x",
                    format!("async {i}"),
                    &PublishOptions::new().msg_id(&format!("a-{i}")),
                )
                .unwrap();
            i += 1;
        }
        assert_eq!(fault(&proxy), 1);
        for _ in 0..500 {
            publisher
                .publish_with(
                    "ajs.x",
                    format!("async {i}"),
                    &PublishOptions::new().msg_id(&format!("a-{i}")),
                )
                .unwrap();
            i += 1;
        }
        wait_event(&events, disconnect_reason);
        wait_event(&events, |e| {
            matches!(e, Event::Reconnected { .. }).then_some(())
        });
        let started = Instant::now();
        outcomes.extend(publisher.wait_all());
        assert!(started.elapsed() < Duration::from_secs(8), "acks hung");
    }
    assert_eq!(outcomes.len(), i, "every publish resolved");
    let stream = checker.get_stream("AFAULTS").unwrap();
    let mut acked = 0;
    for (n, outcome) in outcomes.iter().enumerate() {
        if let Ok(ack) = outcome {
            acked += 1;
            let stored = stream.get_message(ack.sequence).unwrap();
            assert_eq!(stored.payload, format!("async {n}").as_bytes(), "ack {n}");
        }
    }
    eprintln!(
        "{i} async publishes, {acked} acknowledged, {} errors",
        i - acked
    );
    assert!(acked > 0);
    assert!(stream.info().unwrap().state.messages >= acked as u64);
}

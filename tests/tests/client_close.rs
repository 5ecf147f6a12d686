//! Nothing is discarded silently when the client closes or drains, against a real
//! nats-server: `close()` on a connected client writes what is queued first; publishes
//! that can no longer be sent are reported by `close()`, the `Closed` event and
//! `statistics()`; `drain()` that runs out of time says what was left.

use std::time::{Duration, Instant};

use natsy::{ConnectOptions, DrainError, Event};
use natsy_test_harness::events::{fast_reconnect_with_events, wait_for_event, with_events};
use natsy_test_harness::NatsServer;

const WAIT: Duration = Duration::from_secs(10);

fn closed_event(events: &std::sync::mpsc::Receiver<Event>) -> natsy::Discarded {
    wait_for_event(events, WAIT, |e| match e {
        Event::Closed { discarded, .. } => Some(*discarded),
        _ => None,
    })
}

#[test]
fn close_on_a_connected_client_sends_what_is_queued_first() {
    let server = NatsServer::start().unwrap();
    let receiver = natsy::connect(server.url()).unwrap();
    let mut sub = receiver.subscribe("close.flush").unwrap();
    receiver.flush().unwrap();

    let (options, events) = with_events(ConnectOptions::new());
    let client = options.connect(server.url()).unwrap();
    let n = 20_000;
    for i in 0..n {
        client.publish("close.flush", format!("{i}")).unwrap();
    }
    // No flush: close itself must get them out.
    client.close().expect("nothing discarded");
    assert_eq!(closed_event(&events), natsy::Discarded::default());
    for i in 0..n {
        let m = sub
            .next_timeout(WAIT)
            .expect("every publish made before close");
        assert_eq!(m.payload(), format!("{i}").as_bytes());
    }
    assert_eq!(client.statistics().discarded_messages, 0);
}

#[test]
fn close_while_disconnected_reports_the_discarded_reconnect_buffer() {
    let mut server = NatsServer::start().unwrap();
    let (options, events) = fast_reconnect_with_events();
    let client = options.connect(server.url()).unwrap();
    server.kill_hard();
    wait_for_event(&events, WAIT, |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    });
    for _ in 0..1_000 {
        client.publish("close.lost", "0123456789").unwrap();
    }
    let buffered = client.buffered() as u64;
    let err = client
        .close()
        .expect_err("the buffered publishes are reported");
    assert_eq!(err.discarded.messages, 1_000);
    assert_eq!(err.discarded.bytes, buffered);
    assert!(err.to_string().contains("1000"), "{err}");
    assert_eq!(closed_event(&events), err.discarded);
    let stats = client.statistics();
    assert_eq!(stats.discarded_messages, 1_000);
    assert_eq!(stats.discarded_bytes, buffered);
    assert_eq!(
        stats.out_messages, 1_000,
        "accepted, counted, and reported lost"
    );
    client
        .close()
        .expect("a second close has nothing more to report");
}

#[test]
fn running_out_of_reconnects_reports_the_discarded_reconnect_buffer() {
    let mut server = NatsServer::start().unwrap();
    let (options, events) = with_events(
        ConnectOptions::new()
            .max_reconnects(Some(2))
            .reconnect_wait(Duration::from_millis(50))
            .reconnect_jitter(Duration::ZERO, Duration::ZERO),
    );
    let client = options.connect(server.url()).unwrap();
    server.kill_hard();
    wait_for_event(&events, WAIT, |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    });
    let mut accepted = 0;
    // Publish until the client gives up (closes): each accepted publish is either
    // sent or counted as discarded.
    while client.publish("close.gave_up", "x").is_ok() {
        accepted += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    let discarded = closed_event(&events);
    assert!(accepted > 0);
    assert_eq!(discarded.messages, accepted);
    assert_eq!(client.statistics().discarded_messages, accepted);
}

#[test]
fn drain_that_runs_out_of_time_says_what_was_left() {
    let server = NatsServer::start().unwrap();
    let client = ConnectOptions::new()
        .drain_timeout(Duration::from_millis(1500))
        .connect(server.url())
        .unwrap();
    // A responder that never answers.
    let _silent = client.subscribe("drain.never").unwrap();
    let _pending = client.send_request("drain.never", None, "?").unwrap();
    let started = Instant::now();
    let err = client.drain().expect_err("a request was left unanswered");
    assert!(started.elapsed() >= Duration::from_millis(1400));
    match err {
        DrainError::TimedOut {
            unanswered_requests,
            publishes_confirmed,
            discarded,
        } => {
            assert_eq!(unanswered_requests, 1);
            assert!(publishes_confirmed);
            assert_eq!(discarded.messages, 0);
        }
        other => panic!("expected TimedOut, got {other:?}"),
    }
    assert_eq!(client.connection_state(), natsy::State::Closed);
}

#[test]
fn drain_with_nothing_left_is_ok() {
    let server = NatsServer::start().unwrap();
    let client = natsy::connect(server.url()).unwrap();
    let responder = client.subscribe("drain.echo").unwrap();
    let serving = std::thread::spawn(move || {
        for m in responder {
            let _ = m.respond("pong");
        }
    });
    assert_eq!(
        client.request("drain.echo", "ping").unwrap().payload(),
        b"pong"
    );
    client.publish("drain.echo.other", "x").unwrap();
    client.drain().unwrap();
    serving.join().unwrap();
}

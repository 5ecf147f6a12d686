//! The server pool walk, reconnect and close policy, the replay order after a reconnect,
//! and the reconnect buffer.

use crate::sim::*;

#[test]
fn initial_connect_tries_each_server_once_without_waiting() {
    let mut sim = Sim::new(config(&["nats://n1", "nats://n2", "nats://n3"]));
    let mut dials = Vec::new();
    for _ in 0..3 {
        let ev = sim.events();
        dials.extend(kinds(&ev).into_iter().filter(|k| k.starts_with("Dial")));
        sim.conn
            .handle_transport_error(sim.now, transport_error("connection refused"));
    }
    assert_eq!(dials, ["Dial n1", "Dial n2", "Dial n3"]);
    assert_eq!(sim.elapsed(), Duration::ZERO);
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Failed n3", "Closed"]);
    assert_eq!(
        connect_error(&ev),
        AttemptError::Transport(transport_error("connection refused"))
    );
    assert_eq!(close_reason(&ev), CloseReason::NoServers);
    assert_eq!(
        sim.conn.publish("a", None, None, Bytes::new()),
        Err(PublishError::Closed)
    );
}

#[test]
fn retry_on_failed_connect_reports_connected_not_reconnected() {
    let mut c = config(&["nats://n1"]);
    c.retry_on_failed_connect = true;
    let mut sim = Sim::new(c);
    sim.events();
    sim.conn
        .handle_transport_error(sim.now, transport_error("refused"));
    assert_eq!(kinds(&sim.events()), ["CloseTransport", "Failed n1"]);
    assert_eq!(sim.conn.state(), State::Reconnecting);
    sim.conn
        .publish("early", None, None, Bytes::from_static(b"x"))
        .unwrap();
    let wake = sim.conn.poll_timeout().unwrap();
    assert!(
        wake >= sim.now + Duration::from_secs(2),
        "one server: the retry waits"
    );
    sim.advance(wake - sim.now);
    let ops = sim.accept(INFO);
    assert_eq!(ops.len(), 2);
    sim.input("PONG\r\n");
    assert_eq!(kinds(&sim.events()), ["Connected n1"]);
    assert_eq!(sim.sent_strs(), ["PUB early x"]);
    assert_eq!(sim.conn.stats().reconnects, 0);
}

#[test]
fn reconnect_walks_the_pool_in_order_and_waits_only_after_a_full_pass() {
    let mut sim = Sim::connected(config(&["nats://n1", "nats://n2", "nats://n3"]));
    sim.conn.handle_transport_eof(sim.now);
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Disconnected", "Dial n2"]);
    assert_eq!(
        ev[1],
        Event::Disconnected {
            reason: DisconnectReason::Eof
        }
    );
    assert_eq!(sim.conn.state(), State::Reconnecting);
    sim.conn
        .handle_transport_error(sim.now, transport_error("refused"));
    assert_eq!(
        kinds(&sim.events()),
        ["CloseTransport", "Failed n2", "Dial n3"]
    );
    sim.conn
        .handle_transport_error(sim.now, transport_error("refused"));
    assert_eq!(kinds(&sim.events()), ["CloseTransport", "Failed n3"]);
    // A full pass without success: wait reconnect_wait + jitter (2 s + [0, 100 ms)).
    let wake = sim.conn.poll_timeout().unwrap() - sim.now;
    assert!(
        wake >= Duration::from_secs(2) && wake < Duration::from_millis(2100),
        "{wake:?}"
    );
    sim.advance(wake - Duration::from_millis(1));
    assert!(sim.events().is_empty());
    sim.advance(Duration::from_millis(1));
    assert_eq!(kinds(&sim.events()), ["Dial n1"]);
    sim.conn.handle_transport_connected(sim.now);
    sim.input(&format!("{INFO}\r\n"));
    sim.sent();
    sim.input("PONG\r\n");
    assert_eq!(kinds(&sim.events()), ["Reconnected n1"]);
    assert_eq!(sim.conn.stats().reconnects, 1);
}

#[test]
fn max_reconnects_exhausted_closes() {
    let mut c = config(&["nats://n1"]);
    c.pool.max_reconnects = Some(2);
    let mut sim = Sim::connected(c);
    sim.conn.handle_transport_eof(sim.now);
    let mut dials = 0;
    for _ in 0..10 {
        sim.advance(Duration::from_secs(5));
        let ev = sim.events();
        if ev.iter().any(|e| matches!(e, Event::Dial { .. })) {
            dials += 1;
            sim.conn
                .handle_transport_error(sim.now, transport_error("refused"));
        }
        if sim.conn.state() == State::Closed {
            break;
        }
    }
    assert_eq!(dials, 2);
    assert_eq!(sim.conn.state(), State::Closed);
    assert_eq!(
        sim.conn.close_reason(),
        Some(&CloseReason::MaxReconnectsExhausted)
    );
}

#[test]
fn reconnect_disabled_closes_on_disconnect() {
    let mut c = config(&["nats://n1", "nats://n2"]);
    c.allow_reconnect = false;
    let mut sim = Sim::connected(c);
    sim.conn
        .handle_transport_error(sim.now, transport_error("reset"));
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Disconnected", "Closed"]);
    assert_eq!(close_reason(&ev), CloseReason::ReconnectDisabled);
    assert_eq!(sim.conn.poll_timeout(), None);
}

#[test]
fn close_during_a_reconnect_wait_stops_everything() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    let flush = sim.conn.flush(sim.now).unwrap();
    sim.conn.handle_transport_eof(sim.now);
    assert_eq!(
        kinds(&sim.events()),
        [
            "CloseTransport",
            "Disconnected",
            format!("FlushFailed {}", flush.0).as_str()
        ]
    );
    assert!(
        sim.conn.poll_timeout().is_some(),
        "waiting to redial the only server"
    );
    let pending = sim.conn.flush(sim.now).unwrap();
    sim.conn.close(sim.now);
    let ev = sim.events();
    assert_eq!(
        kinds(&ev),
        [format!("FlushFailed {}", pending.0).as_str(), "Closed"]
    );
    assert_eq!(close_reason(&ev), CloseReason::User);
    assert_eq!(sim.conn.poll_timeout(), None);
    sim.advance(Duration::from_secs(600));
    assert!(sim.events().is_empty());
    assert_eq!(
        sim.conn.flush(sim.now),
        Err(natsy_proto::connection::ConnectionClosed)
    );
}

#[test]
fn user_close_while_connected_keeps_the_last_bytes() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    sim.conn
        .publish("last", None, None, Bytes::from_static(b"words"))
        .unwrap();
    sim.conn.close(sim.now);
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Disconnected", "Closed"]);
    assert_eq!(
        ev[1],
        Event::Disconnected {
            reason: DisconnectReason::UserClose
        }
    );
    assert_eq!(sim.sent_strs(), ["PUB last words"]);
    assert_eq!(sim.conn.state(), State::Closed);
}

#[test]
fn same_seed_same_run() {
    let run = |seed: u64| {
        let urls: Vec<String> = (1..=6).map(|i| format!("nats://n{i}")).collect();
        let mut c = ConnectionConfig::new(urls.iter().map(|u| addr(u)).collect());
        c.rng_seed = seed;
        c.retry_on_failed_connect = true;
        let mut sim = Sim::new(c);
        let mut log = Vec::new();
        for _ in 0..20 {
            sim.advance(Duration::from_millis(500));
            for e in sim.events() {
                if let Event::Dial { server, .. } = &e {
                    log.push((sim.elapsed(), server.host.clone()));
                    sim.conn
                        .handle_transport_error(sim.now, transport_error("refused"));
                }
            }
        }
        log
    };
    assert_eq!(run(42), run(42));
    assert!(!run(42).is_empty());
}

#[test]
fn reconnect_resends_subscriptions_before_buffered_publishes() {
    let mut sim = Sim::connected(config(&["nats://n1", "nats://n2"]));
    let a = sim.conn.subscribe("orders.>", None).unwrap();
    let b = sim.conn.subscribe("work", Some("workers")).unwrap();
    assert_eq!((a, b), (1, 2));
    assert_eq!(sim.sent_strs(), ["SUB orders.> 1", "SUB work workers 2"]);
    sim.conn
        .publish("kept", None, None, Bytes::from_static(b"unwritten"))
        .unwrap();
    sim.conn.handle_transport_eof(sim.now);
    assert_eq!(
        kinds(&sim.events()),
        ["CloseTransport", "Disconnected", "Dial n2"]
    );
    assert!(
        sim.sent().is_empty(),
        "nothing is written without a transport"
    );
    // The publish the dead socket never took waits in the reconnect buffer.
    assert!(sim.conn.reconnect_buffer_len() > 0);

    sim.conn
        .publish("p", None, None, Bytes::from_static(b"one"))
        .unwrap();
    let c = sim.conn.subscribe("late", None).unwrap();
    let mut headers = HeaderMap::new();
    headers.append("K", "v").unwrap();
    sim.conn
        .publish("p", Some("r"), Some(&headers), Bytes::from_static(b"two"))
        .unwrap();
    let flush = sim.conn.flush(sim.now).unwrap();
    assert!(sim.conn.reconnect_buffer_len() > 0);
    assert!(
        sim.sent().is_empty(),
        "nothing is written while disconnected"
    );

    assert_eq!(sim.accept_after_dial(INFO), 2);
    sim.input("PONG\r\n");
    assert_eq!(kinds(&sim.events()), ["Reconnected n2"]);
    assert_eq!(
        sim.sent_strs(),
        [
            "SUB orders.> 1",
            "SUB work workers 2",
            format!("SUB late {c}").as_str(),
            "PUB kept unwritten",
            "PUB p one",
            "PUB p r +H two",
            "PING"
        ]
    );
    assert_eq!(sim.conn.reconnect_buffer_len(), 0);
    sim.input("PONG\r\n");
    assert_eq!(sim.events(), vec![Event::FlushComplete(flush)]);
    assert_eq!(sim.conn.stats().out_msgs, 3);
}

#[test]
fn reconnect_buffer_is_bounded() {
    let mut c = config(&["nats://n1"]);
    c.reconnect_buffer_size = Some(64);
    let mut sim = Sim::connected(c);
    sim.conn.handle_transport_eof(sim.now);
    sim.events();
    let payload = Bytes::from_static(&[b'x'; 20]);
    let mut accepted = 0;
    let err = loop {
        let before = sim.conn.reconnect_buffer_len();
        match sim.conn.publish("s", None, None, payload.clone()) {
            Ok(()) => {
                assert!(before < 64, "accepted with {before} bytes already buffered");
                accepted += 1;
            }
            Err(e) => {
                assert!(before >= 64);
                break e;
            }
        }
        assert!(accepted < 100);
    };
    assert_eq!(err, PublishError::ReconnectBufferFull);
    // `PUB s 20\r\n` + 20 + CRLF = 32 bytes: two fit below 64, the check is before append.
    assert_eq!(accepted, 2);
}

#[test]
fn disabled_reconnect_buffer_fails_at_once() {
    let mut c = config(&["nats://n1"]);
    c.reconnect_buffer_size = None;
    let mut sim = Sim::connected(c);
    sim.conn.handle_transport_eof(sim.now);
    assert_eq!(
        sim.conn.publish("s", None, None, Bytes::from_static(b"x")),
        Err(PublishError::Disconnected)
    );
    assert_eq!(sim.conn.stats().out_msgs, 0);
}

#[test]
fn auto_unsubscribe_survives_a_reconnect() {
    let mut sim = Sim::connected(config(&["nats://n1", "nats://n2"]));
    let sid = sim.conn.subscribe("t", None).unwrap();
    sim.conn.unsubscribe(sid, Some(5)).unwrap();
    assert_eq!(sim.sent_strs(), ["SUB t 1", "UNSUB 1 5"]);
    sim.input("MSG t 1 1\r\na\r\nMSG t 1 1\r\nb\r\n");
    assert_eq!(kinds(&sim.events()), ["Msg 1 t", "Msg 1 t"]);
    sim.conn.handle_transport_eof(sim.now);
    sim.events();
    sim.accept_after_dial(INFO);
    sim.input("PONG\r\n");
    sim.events();
    assert_eq!(sim.sent_strs(), ["SUB t 1", "UNSUB 1 3"]);
    sim.input("MSG t 1 1\r\nc\r\nMSG t 1 1\r\nd\r\nMSG t 1 1\r\ne\r\nMSG t 1 1\r\nf\r\n");
    let ev = sim.events();
    assert_eq!(
        kinds(&ev),
        ["Msg 1 t", "Msg 1 t", "Msg 1 t", "SubscriptionClosed 1"]
    );
    assert!(matches!(
        ev[3],
        Event::SubscriptionClosed {
            reason: SubscriptionClosedReason::AutoUnsubscribed,
            ..
        }
    ));
    assert_eq!(sim.conn.subscription_count(), 0);
    assert_eq!(sim.conn.stats().in_msgs, 5);
}

#[test]
fn force_reconnect_skips_the_wait_even_without_allow_reconnect() {
    let mut c = config(&["nats://n1"]);
    c.allow_reconnect = false;
    let mut sim = Sim::connected(c);
    sim.conn.force_reconnect(sim.now);
    // The old connection is retired with a last PING; its PONG drops it.
    assert!(sim.events().is_empty());
    assert_eq!(sim.sent_strs(), ["PING"]);
    sim.input("PONG\r\n");
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Disconnected", "Dial n1"]);
    assert_eq!(
        ev[1],
        Event::Disconnected {
            reason: DisconnectReason::ForcedReconnect
        }
    );
    // A second call while the attempt runs is coalesced.
    sim.conn.force_reconnect(sim.now);
    assert!(sim.events().is_empty());
    assert_eq!(sim.accept_after_dial(INFO), 2);
    sim.input("PONG\r\n");
    assert_eq!(kinds(&sim.events()), ["Reconnected n1"]);

    // While waiting to redial, it dials at once.
    let mut sim = Sim::connected(config(&["nats://n1"]));
    sim.conn.handle_transport_eof(sim.now);
    assert_eq!(kinds(&sim.events()), ["CloseTransport", "Disconnected"]);
    sim.conn.force_reconnect(sim.now);
    assert_eq!(kinds(&sim.events()), ["Dial n1"]);
    assert_eq!(sim.elapsed(), Duration::ZERO);
}

#[test]
fn force_reconnect_delivers_what_was_published_before_and_buffers_what_follows() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    let sid = sim.conn.subscribe("force.>", None).unwrap();
    sim.conn
        .publish("force.before", None, None, Bytes::from_static(b"1"))
        .unwrap();
    sim.conn.force_reconnect(sim.now);
    sim.conn
        .publish("force.during", None, None, Bytes::from_static(b"2"))
        .unwrap();
    let flush = sim.conn.flush(sim.now).unwrap();
    // Only what came before the call is on the old connection, then the retiring PING.
    assert_eq!(
        sim.sent_strs(),
        ["SUB force.> 1", "PUB force.before 1", "PING"]
    );
    // The server's message for the first publish comes before the PONG: it is delivered.
    sim.input(&format!("MSG force.before {sid} 1\r\n1\r\nPONG\r\n"));
    assert_eq!(
        kinds(&sim.events()),
        [
            "Msg 1 force.before",
            "CloseTransport",
            "Disconnected",
            "Dial n1"
        ]
    );
    assert_eq!(
        sim.accept_after_dial(INFO),
        2,
        "CONNECT and PING, the rest waits for the PONG"
    );
    sim.input("PONG\r\n");
    assert_eq!(kinds(&sim.events()), ["Reconnected n1"]);
    assert_eq!(
        sim.sent_strs(),
        ["SUB force.> 1", "PUB force.during 2", "PING"]
    );
    sim.input("PONG\r\n");
    assert_eq!(sim.events(), vec![Event::FlushComplete(flush)]);
}

#[test]
fn force_reconnect_gives_up_on_a_silent_old_connection_after_connect_timeout() {
    let mut c = config(&["nats://n1"]);
    c.connect_timeout = Duration::from_secs(2);
    let mut sim = Sim::connected(c);
    sim.conn
        .publish("unwritten", None, None, Bytes::from_static(b"x"))
        .unwrap();
    sim.conn.force_reconnect(sim.now);
    sim.advance(Duration::from_millis(1999));
    assert!(sim.events().is_empty());
    sim.advance(Duration::from_millis(1));
    assert_eq!(
        kinds(&sim.events()),
        ["CloseTransport", "Disconnected", "Dial n1"]
    );
    // The publish the dead socket never took is sent on the new connection.
    assert_eq!(sim.accept_after_dial(INFO), 2);
    sim.input("PONG\r\n");
    assert_eq!(kinds(&sim.events()), ["Reconnected n1"]);
    assert_eq!(sim.sent_strs(), ["PUB unwritten x"]);
}

#[test]
fn a_flush_made_while_disconnected_survives_failed_attempts() {
    let mut sim = Sim::connected(config(&["nats://n1", "nats://n2"]));
    sim.conn.handle_transport_eof(sim.now);
    assert_eq!(
        kinds(&sim.events()),
        ["CloseTransport", "Disconnected", "Dial n2"]
    );
    let flush = sim.conn.flush(sim.now).unwrap();
    sim.conn.handle_transport_connected(sim.now);
    sim.input(&format!("{INFO}\r\n"));
    sim.sent();
    sim.input("-ERR 'maximum connections exceeded'\r\n");
    assert_eq!(kinds(&sim.events()), ["CloseTransport", "Failed n2"]);
    sim.advance(Duration::from_secs(3));
    assert_eq!(sim.accept(INFO).len(), 2);
    sim.input("PONG\r\n");
    assert_eq!(kinds(&sim.events()), ["Reconnected n1"]);
    assert_eq!(sim.sent_strs(), ["PING"]);
    sim.input("PONG\r\n");
    assert_eq!(sim.events(), vec![Event::FlushComplete(flush)]);
}

/// Writes exactly `n` bytes of what the connection has to send, as a short write would.
fn write_only(sim: &mut Sim, n: usize) {
    let mut left = n;
    while left > 0 {
        let len = {
            let mut slices = [IoSlice::new(&[]); 4];
            let k = sim.conn.poll_transmit(&mut slices);
            slices[..k].iter().map(|s| s.len()).sum::<usize>()
        };
        assert!(len > 0, "nothing left to write");
        let step = left.min(len);
        sim.conn.advance_transmit(step);
        left -= step;
    }
}

#[test]
fn unwritten_publishes_survive_a_disconnect_but_a_half_written_one_is_sent_not_kept() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    for body in ["one", "two", "three"] {
        sim.conn
            .publish("p", None, None, Bytes::from(body))
            .unwrap();
    }
    // The socket takes "PUB p 3\r\none\r\n" and half of the second frame, then dies.
    write_only(&mut sim, "PUB p 3\r\none\r\n".len() + 5);
    sim.conn
        .handle_transport_error(sim.now, transport_error("reset"));
    sim.conn
        .publish("p", None, None, Bytes::from_static(b"four"))
        .unwrap();
    sim.reconnect_after_wait();
    assert_eq!(sim.sent_strs(), ["PUB p three", "PUB p four"]);
}

#[test]
fn a_publish_survives_two_disconnects_in_a_row() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    sim.conn
        .publish("p", None, None, Bytes::from_static(b"a"))
        .unwrap();
    sim.conn.handle_transport_eof(sim.now);
    sim.events();
    sim.advance(Duration::from_secs(3));
    assert_eq!(sim.accept_after_dial(INFO), 2);
    sim.input("PONG\r\n");
    sim.events();
    // Reconnected, "PUB p a" is queued again but the new socket dies before writing it.
    sim.conn.handle_transport_eof(sim.now);
    sim.events();
    sim.advance(Duration::from_secs(3));
    assert_eq!(sim.accept_after_dial(INFO), 2);
    sim.input("PONG\r\n");
    sim.events();
    assert_eq!(sim.sent_strs(), ["PUB p a"]);
    assert_eq!(sim.conn.stats().out_msgs, 1);
}

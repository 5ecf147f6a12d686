//! Keepalive PINGs, stale detection, and the flush FIFO.

use crate::sim::*;

#[test]
fn stale_connection_detected_after_max_pings_out_plus_one_intervals() {
    let mut c = config(&["nats://n1", "nats://n2"]);
    c.ping_interval = Duration::from_secs(10);
    let mut sim = Sim::connected(c);
    let t0 = sim.now;
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.sent_strs(), ["PING"]);
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.sent_strs(), ["PING"]);
    assert!(sim.events().is_empty());
    sim.advance(Duration::from_secs(9));
    assert!(sim.events().is_empty());
    sim.advance(Duration::from_secs(1));
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Disconnected", "Dial n2"]);
    assert_eq!(
        ev[1],
        Event::Disconnected {
            reason: DisconnectReason::StaleConnection
        }
    );
    assert_eq!(sim.now - t0, Duration::from_secs(30));
}

#[test]
fn any_pong_resets_the_outstanding_ping_count() {
    let mut c = config(&["nats://n1"]);
    c.ping_interval = Duration::from_secs(10);
    let mut sim = Sim::connected(c);
    for _ in 0..10 {
        sim.advance(Duration::from_secs(10));
        assert_eq!(sim.sent_strs(), ["PING"]);
        sim.input("PONG\r\n");
    }
    assert!(sim.events().is_empty());
    assert_eq!(sim.conn.state(), State::Connected);
}

#[test]
fn server_ping_gets_a_pong() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    sim.input("PING\r\n");
    assert_eq!(sim.sent_strs(), ["PONG"]);
    assert!(sim.events().is_empty());
}

#[test]
fn flushes_complete_in_order_with_a_keepalive_interleaved() {
    let mut c = config(&["nats://n1"]);
    c.ping_interval = Duration::from_secs(10);
    let mut sim = Sim::connected(c);
    let f1 = sim.conn.flush(sim.now).unwrap();
    let f2 = sim.conn.flush(sim.now).unwrap();
    sim.advance(Duration::from_secs(10)); // keepalive PING
    let f3 = sim.conn.flush(sim.now).unwrap();
    assert!(f1 < f2 && f2 < f3);
    assert_eq!(sim.sent_strs(), ["PING", "PING", "PING", "PING"]);
    sim.input("PONG\r\n");
    assert_eq!(sim.events(), vec![Event::FlushComplete(f1)]);
    sim.input("PONG\r\nPONG\r\n");
    assert_eq!(sim.events(), vec![Event::FlushComplete(f2)]);
    sim.input("PONG\r\n");
    assert_eq!(sim.events(), vec![Event::FlushComplete(f3)]);
}

#[test]
fn a_zero_ping_interval_turns_keepalive_off() {
    let mut c = config(&["nats://n1"]);
    c.ping_interval = Duration::ZERO;
    let mut sim = Sim::connected(c);
    assert_eq!(sim.conn.poll_timeout(), None, "no keepalive timer");
    sim.advance(Duration::from_secs(3600));
    assert!(sim.sent().is_empty());
    assert!(sim.events().is_empty());
    assert_eq!(sim.conn.state(), State::Connected);
}

#[test]
fn a_ping_flood_from_a_server_that_does_not_read_queues_one_pong() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    for _ in 0..10_000 {
        sim.input("PING\r\n");
    }
    assert_eq!(sim.conn.transmit_len(), b"PONG\r\n".len());
    assert_eq!(sim.sent_strs(), ["PONG"]);
    // Once written, the next PING gets its own PONG.
    sim.input("PING\r\nPING\r\n");
    assert_eq!(sim.sent_strs(), ["PONG"]);
}

#[test]
fn a_socket_that_takes_nothing_is_stale_even_if_the_server_sends_pongs() {
    let mut c = config(&["nats://n1", "nats://n2"]);
    c.ping_interval = Duration::from_secs(10);
    let mut sim = Sim::connected(c);
    sim.conn
        .publish("stuck", None, None, Bytes::from_static(b"never written"))
        .unwrap();
    let t0 = sim.now;
    // The server answers every PING (unsolicited PONGs too) but reads nothing.
    for _ in 0..2 {
        sim.advance(Duration::from_secs(10));
        sim.input("PONG\r\nPONG\r\n");
        assert!(sim.events().is_empty());
    }
    sim.advance(Duration::from_secs(10));
    let ev = sim.events();
    assert_eq!(kinds(&ev), ["CloseTransport", "Disconnected", "Dial n2"]);
    assert_eq!(
        ev[1],
        Event::Disconnected {
            reason: DisconnectReason::WriteStalled
        }
    );
    assert_eq!(sim.now - t0, Duration::from_secs(30));
}

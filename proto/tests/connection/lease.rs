//! Output lent to a driver that writes without holding the connection (`lend_output`,
//! `handle_written`): every byte goes out once and in order while ops keep coming, and
//! what a disconnect or a close does meanwhile to the lent publishes is settled exactly
//! once the driver says how much the socket took.

use natsy_proto::connection::Lease;

use crate::sim::*;

/// Lends up to `chunks` chunks; the bytes the socket takes (at most `take`) are returned
/// as the lease goes back after `meanwhile` ran on the connection.
fn lend_write(
    sim: &mut Sim,
    chunks: usize,
    take: usize,
    meanwhile: impl FnOnce(&mut Sim),
) -> Vec<u8> {
    let mut lease = Lease::new();
    assert!(sim.conn.lend_output(&mut lease, chunks), "nothing to lend");
    let mut slices = [IoSlice::new(&[]); 8];
    let n = lease.io_slices(&mut slices[..chunks]);
    let lent: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
    assert_eq!(lent.len(), lease.len());
    meanwhile(sim);
    let taken = take.min(lent.len());
    sim.conn.handle_written(&mut lease, taken);
    assert!(lease.is_empty(), "handed back empty, for reuse");
    lent[..taken].to_vec()
}

fn publish(sim: &mut Sim, body: &'static str) {
    sim.conn
        .publish("p", None, None, Bytes::from_static(body.as_bytes()))
        .unwrap();
}

#[test]
fn lent_bytes_go_out_once_in_order_while_publishes_keep_coming() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    publish(&mut sim, "one");
    publish(&mut sim, "two");
    let mut wire = lend_write(&mut sim, 1, 9, |sim| {
        // One write in flight: nothing else is offered, a second lease is refused.
        let mut slices = [IoSlice::new(&[]); 4];
        assert_eq!(sim.conn.poll_transmit(&mut slices), 0);
        assert!(!sim.conn.lend_output(&mut Lease::new(), 4));
        publish(sim, "three");
    });
    while sim.conn.transmit_len() > 0 {
        wire.extend(lend_write(&mut sim, 2, 7, |_| {}));
    }
    assert_eq!(
        String::from_utf8(wire).unwrap(),
        "PUB p 3\r\none\r\nPUB p 3\r\ntwo\r\nPUB p 5\r\nthree\r\n"
    );
    assert_eq!(sim.conn.unsent(), (0, 0));
}

#[test]
fn publishes_lent_when_the_socket_dies_are_requeued_unless_the_socket_took_them() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    for body in ["one", "two", "three"] {
        publish(&mut sim, body);
    }
    // The socket took the first frame and half the second, and died while the driver
    // still held the lease; a publish came meanwhile.
    let taken = "PUB p 3\r\none\r\n".len() + 5;
    lend_write(&mut sim, 1, taken, |sim| {
        sim.conn
            .handle_transport_error(sim.now, transport_error("reset"));
        publish(sim, "four");
    });
    sim.reconnect_after_wait();
    assert_eq!(sim.sent_strs(), ["PUB p three", "PUB p four"]);
}

#[test]
fn a_lease_the_socket_took_nothing_of_resends_everything_in_order() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    for body in ["one", "two"] {
        publish(&mut sim, body);
    }
    lend_write(&mut sim, 1, 0, |sim| {
        sim.conn.handle_transport_eof(sim.now);
        publish(sim, "three");
    });
    sim.reconnect_after_wait();
    assert_eq!(sim.sent_strs(), ["PUB p one", "PUB p two", "PUB p three"]);
}

#[test]
fn lent_publishes_of_a_lease_returned_after_the_next_handshake_follow_on_the_new_transport() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    for body in ["one", "two"] {
        publish(&mut sim, body);
    }
    // A driver breaking the contract: the new transport's handshake completes (a server
    // answering before it read CONNECT) while the old transport's lease is still out.
    lend_write(&mut sim, 1, 0, |sim| {
        sim.conn.handle_transport_eof(sim.now);
        sim.advance(Duration::from_secs(3));
        sim.events();
        sim.conn.handle_transport_connected(sim.now);
        sim.input(&format!("{INFO}\r\nPONG\r\n"));
        assert_eq!(kinds(&sim.events()), ["Reconnected n1"]);
    });
    assert_eq!(
        sim.sent_strs(),
        ["CONNECT", "PING", "PUB p one", "PUB p two"],
        "nothing lost, nothing left waiting for another reconnect"
    );
}

#[test]
fn publishes_lent_when_the_connection_closes_are_counted_as_discarded_unless_written() {
    let mut sim = Sim::connected(config(&["nats://n1"]));
    for body in ["one", "two", "three"] {
        publish(&mut sim, body);
    }
    // A driver whose final write could not finish gives up on the output while its
    // lease is out; the socket had taken the first publish.
    let first = "PUB p 3\r\none\r\n".len();
    let total = sim.conn.transmit_len();
    lend_write(&mut sim, 1, first, |sim| {
        sim.conn.close(sim.now);
        sim.conn.discard_unwritten();
    });
    let stats = sim.conn.stats();
    assert_eq!(stats.discarded_msgs, 2);
    assert_eq!(stats.discarded_bytes, (total - first) as u64);
}

#[test]
fn lent_publishes_requeued_after_the_connection_closed_for_good_are_counted_as_discarded() {
    let mut c = config(&["nats://n1"]);
    c.allow_reconnect = false;
    let mut sim = Sim::connected(c);
    for body in ["one", "two"] {
        publish(&mut sim, body);
    }
    lend_write(&mut sim, 1, 0, |sim| {
        sim.conn
            .handle_transport_error(sim.now, transport_error("reset"));
    });
    assert_eq!(sim.conn.state(), State::Closed);
    assert_eq!(sim.conn.stats().discarded_msgs, 2);
    assert_eq!(sim.conn.unsent(), (0, 0));
}

//! A seeded random run that checks the driver contract under arbitrary event orders.

use crate::sim::*;

/// A seeded random mix of server behaviour, clock jumps and user calls. Whatever happens,
/// the driver contract holds: Dial and CloseTransport alternate, nothing follows Closed,
/// every byte written is valid protocol, and every flush is answered exactly once.
#[test]
fn seeded_chaos_keeps_the_driver_contract() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::HashMap;

    const SERVER_LINES: &[&str] = &[
        "PONG\r\n",
        "PING\r\n",
        "+OK\r\n",
        "MSG a 1 2\r\nhi\r\n",
        "MSG b.c 2 r 0\r\n\r\n",
        "HMSG a 3 12 14\r\nNATS/1.0\r\n\r\nyo\r\n",
        "-ERR 'Authorization Violation'\r\n",
        "-ERR 'Stale Connection'\r\n",
        "-ERR 'Permissions Violation for Subscription to \"a\"'\r\n",
        "-ERR 'Permissions Violation for Publish to \"x\"'\r\n",
        "-ERR 'maximum connections exceeded'\r\n",
        "-ERR 'Unknown Protocol Operation'\r\n",
        "INFO {\"server_id\":\"N\",\"max_payload\":4096,\"connect_urls\":[\"n4:4222\"]}\r\n",
        "INFO {\"server_id\":\"N\",\"ldm\":true,\"nonce\":\"abc\"}\r\n",
        "INFO {\"server_id\":\"N\",\"tls_required\":true}\r\n",
        "garbage\r\n",
        "MSG a 1 10\r\npart",
    ];

    let (mut connects, mut reconnects, mut messages) = (0, 0, 0);
    for seed in 0..150u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut c = config(&["nats://n1", "nats://n2", "nats://n3"]);
        c.rng_seed = seed;
        c.ping_interval = Duration::from_secs(5);
        c.retry_on_failed_connect = rng.random_bool(0.5);
        c.allow_reconnect = rng.random_bool(0.8);
        c.pool.max_reconnects = Some(rng.random_range(1..4));
        c.reconnect_buffer_size = if rng.random_bool(0.2) {
            None
        } else {
            Some(256)
        };
        let mut sim = Sim::new(c);
        let mut open = false;
        let mut closed = false;
        let mut flushes: HashMap<FlushId, u32> = HashMap::new();
        // The fake server is mostly cooperative: it accepts the transport, sends INFO and
        // answers PINGs, with random misbehaviour mixed in.
        let (mut up, mut info_sent, mut owed_pongs) = (false, false, 0usize);
        for _ in 0..400 {
            for e in sim.events() {
                assert!(!closed, "seed {seed}: {e:?} after Closed");
                match e {
                    Event::Dial { .. } => {
                        assert!(!open, "seed {seed}: two Dials without CloseTransport");
                        open = true;
                    }
                    Event::CloseTransport => {
                        assert!(open, "seed {seed}: CloseTransport without Dial");
                        open = false;
                        (up, info_sent, owed_pongs) = (false, false, 0);
                    }
                    Event::Closed { .. } => closed = true,
                    Event::Connected { .. } => connects += 1,
                    Event::Reconnected { .. } => reconnects += 1,
                    Event::Message(_) => messages += 1,
                    Event::FlushComplete(id) | Event::FlushFailed(id) => {
                        *flushes.get_mut(&id).expect("unknown flush id") += 1;
                    }
                    _ => {}
                }
            }
            owed_pongs += sim
                .sent()
                .iter()
                .filter(|op| **op == ClientOp::Ping)
                .count();
            if closed {
                assert_eq!(sim.conn.poll_timeout(), None);
                assert_eq!(sim.conn.state(), State::Closed);
                break;
            }
            let now = sim.now;
            if open && !up && rng.random_bool(0.7) {
                sim.conn.handle_transport_connected(now);
                up = true;
                continue;
            }
            if up && !info_sent && rng.random_bool(0.7) {
                sim.input(&format!("{INFO}\r\n"));
                info_sent = true;
                continue;
            }
            if owed_pongs > 0 && rng.random_bool(0.6) {
                sim.input("PONG\r\n");
                owed_pongs -= 1;
                continue;
            }
            match rng.random_range(0..16) {
                0 => sim.conn.handle_transport_connected(now),
                1 => sim.input(&format!("{INFO}\r\n")),
                2..=6 => sim.input(SERVER_LINES[rng.random_range(0..SERVER_LINES.len())]),
                7 => sim
                    .conn
                    .handle_transport_error(now, transport_error("reset")),
                8 => sim.conn.handle_transport_eof(now),
                9 | 10 => sim.advance(Duration::from_millis(rng.random_range(0..8000))),
                11 => sim.conn.handle_tls_established(now),
                12 => {
                    let _ = sim
                        .conn
                        .publish("a", None, None, Bytes::from_static(&[1; 40]));
                }
                13 => {
                    let _ = sim
                        .conn
                        .subscribe(["a", "b.*", "c"][rng.random_range(0..3)], None);
                    let _ = sim.conn.unsubscribe(rng.random_range(1..4), Some(2));
                }
                14 => sim.conn.force_reconnect(now),
                _ => {
                    if let Ok(id) = sim.conn.flush(now) {
                        assert!(flushes.insert(id, 0).is_none());
                    }
                }
            }
        }
        sim.conn.close(sim.now);
        for e in sim.events() {
            match e {
                Event::CloseTransport => {
                    assert!(open);
                    open = false;
                }
                Event::FlushComplete(id) | Event::FlushFailed(id) => {
                    *flushes.get_mut(&id).unwrap() += 1;
                }
                _ => {}
            }
        }
        assert!(!open, "seed {seed}: a transport was left open");
        assert_eq!(sim.conn.state(), State::Closed);
        for (id, answers) in flushes {
            assert_eq!(
                answers, 1,
                "seed {seed}: flush {id:?} answered {answers} times"
            );
        }
    }
    // The mix must reach the interesting states, or it tests nothing.
    assert!(
        connects > 50 && reconnects > 100 && messages > 20,
        "{connects} {reconnects} {messages}"
    );
}

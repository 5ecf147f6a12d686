//! The read path under seeded random traffic: messages of every size class (small, a
//! read's worth, just over and far over a standard read allocation) arrive through
//! `read_space`/`handle_read` in reads of random length, while the "application" keeps
//! some messages and drops others at random. The read buffer reuses allocations whose
//! messages are gone (standard ones and those made for large frames); every message,
//! those still held included, must keep exactly its own bytes.

use crate::sim::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The byte at `i` of message `k`'s payload.
fn pattern(k: usize, i: usize) -> u8 {
    ((k * 31 + i) % 251) as u8
}

fn random_size(rng: &mut StdRng) -> usize {
    match rng.random_range(0..6) {
        0 => rng.random_range(0..200),
        1 => rng.random_range(3_000..5_000),
        2 => rng.random_range(60_000..70_000),
        // Object-store chunks: just over a standard 128 KiB allocation.
        3 => rng.random_range(131_000..140_000),
        4 => rng.random_range(250_000..400_000),
        _ => rng.random_range(900_000..1_048_576),
    }
}

#[test]
fn held_messages_keep_their_bytes_while_allocations_are_reused() {
    for seed in 0..4u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut sim = Sim::connected(config(&["nats://a:4222"]));
        let sid = sim.conn.subscribe("s", None).unwrap();
        sim.sent();
        let count = 120;
        let mut wire = Vec::new();
        // Where each message's payload lies in `wire`.
        let mut payloads = Vec::new();
        for k in 0..count {
            let size = random_size(&mut rng);
            wire.extend_from_slice(format!("MSG s {sid} {size}\r\n").as_bytes());
            payloads.push(wire.len()..wire.len() + size);
            wire.extend((0..size).map(|i| pattern(k, i)));
            wire.extend_from_slice(b"\r\n");
        }
        let expected = |k: usize| &wire[payloads[k].clone()];
        let mut held: Vec<(usize, natsy_proto::Message)> = Vec::new();
        let mut next = 0usize;
        let mut at = 0usize;
        while at < wire.len() {
            let mut space = sim.conn.read_space();
            let room = space.len().min(wire.len() - at);
            let n = rng.random_range(1..=room);
            space[..n].copy_from_slice(&wire[at..at + n]);
            sim.conn.handle_read(sim.now, space, n);
            at += n;
            let mut arrived = false;
            for event in sim.events() {
                let Event::Message(m) = event else { continue };
                assert!(
                    m.payload() == expected(next),
                    "seed {seed}: message {next} arrived with other bytes"
                );
                arrived = true;
                if rng.random_bool(0.5) {
                    held.push((next, m));
                }
                next += 1;
            }
            if arrived {
                // The application lets go of some of what it kept; the rest must be
                // untouched by the reads that reused memory meanwhile.
                held.retain(|_| rng.random_bool(0.7));
                for (k, m) in &held {
                    assert!(
                        m.payload() == expected(*k),
                        "seed {seed}: held message {k} was overwritten"
                    );
                }
            }
        }
        assert_eq!(next, count, "seed {seed}");
    }
}

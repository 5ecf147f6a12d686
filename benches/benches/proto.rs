//! Criterion benches of `natsy-proto`: parsing MSG/HMSG, receiving one large message
//! through a `Connection`, and encoding PUB.
#![allow(missing_docs)] // criterion_group! generates undocumented functions
//!
//! Run: `cargo bench -p natsy-benches --bench proto`. Each parse group also times a plain
//! `memchr` scan for LF over the same buffer: no parser can beat touching every line once,
//! so the ratio parse/scan says how close to that limit we are. Results and the machine
//! they came from are recorded in `BENCHMARKS.md`.

use std::hint::black_box;
use std::io::IoSlice;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use natsy_benches::{hmsg_frames, msg_frames};
use natsy_proto::connection::{Connection, ConnectionConfig, Event};
use natsy_proto::{OutQueue, ServerOp, ServerOpParser, Status};

/// Frames per iteration: enough to amortise the per-iteration buffer copy.
fn frames_for(payload: usize) -> usize {
    (4 << 20) / (payload + 40)
}

fn parse_all(parser: &mut ServerOpParser, buf: &mut BytesMut) -> usize {
    let mut n = 0;
    while let Ok(Status::Complete(op)) = parser.parse(buf) {
        if let ServerOp::Msg(m) = op {
            black_box(m.payload());
            n += 1;
        }
    }
    n
}

fn bench_input(c: &mut Criterion, name: &str, input: Vec<u8>, frames: usize) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(frames as u64));
    group.bench_function("parse", |b| {
        let mut parser = ServerOpParser::default();
        b.iter_batched_ref(
            || BytesMut::from(&input[..]),
            |buf| assert_eq!(parse_all(&mut parser, buf), frames),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("memchr_scan", |b| {
        b.iter_batched_ref(
            || BytesMut::from(&input[..]),
            |buf| black_box(memchr::memchr_iter(b'\n', buf).count()),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn parse(c: &mut Criterion) {
    for payload in [16usize, 128, 1024, 64 * 1024] {
        let n = frames_for(payload);
        bench_input(
            c,
            &format!("parse_msg_{payload}B"),
            msg_frames(n, payload),
            n,
        );
    }
    let n = frames_for(128);
    bench_input(c, "parse_hmsg_3_headers_128B", hmsg_frames(n, 128, 3), n);
}

/// A connection after its handshake with a server whose `max_payload` is 64 MiB, with
/// one subscription (sid 1).
fn connected_64_mib(now: Instant) -> Connection {
    let mut conn = Connection::new(ConnectionConfig::default(), now).expect("config");
    assert!(matches!(conn.poll_event(), Some(Event::Dial { .. })));
    conn.handle_transport_connected(now);
    conn.handle_input(
        now,
        b"INFO {\"server_id\":\"B\",\"max_payload\":67108864}\r\n",
    );
    conn.handle_input(now, b"PONG\r\n");
    assert!(matches!(conn.poll_event(), Some(Event::Connected { .. })));
    assert_eq!(conn.subscribe("bench.subject", None).ok(), Some(1));
    conn
}

/// One large `MSG` fed to a `Connection` in 64 KiB reads, as the client's socket delivers
/// it: read buffer, parser and message delivery together, in bytes per second. Growing
/// the buffer read by read copied everything held each time (quadratic: 23 s for 63 MiB).
fn receive_large(c: &mut Criterion) {
    const READ: usize = 64 * 1024;
    let mut group = c.benchmark_group("receive_large_msg_64KiB_reads");
    group.sample_size(10);
    for mib in [1usize, 8, 64] {
        let wire = msg_frames(1, mib << 20);
        let now = Instant::now();
        group.throughput(Throughput::Bytes(wire.len() as u64));
        // A new connection each time: a reused one could find the last message's
        // allocation free and skip what a message still held by its reader costs.
        group.bench_function(format!("{mib}MiB"), |b| {
            b.iter_batched_ref(
                || connected_64_mib(now),
                |conn| {
                    for piece in wire.chunks(READ) {
                        conn.handle_input(now, piece);
                    }
                    let m = match conn.poll_event() {
                        Some(Event::Message(m)) => m,
                        other => panic!("expected the message, got {other:?}"),
                    };
                    assert_eq!(black_box(m.payload()).len(), mib << 20);
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

/// Publishes `n` times and drains the queue as a writer would, so the buffer is reused.
fn encode_n(q: &mut OutQueue, data: &Bytes, n: usize) {
    for _ in 0..n {
        q.publish("bench.subject", None, None, data.clone(), Some(1 << 20))
            .expect("valid publish");
    }
    while !q.is_empty() {
        let mut slices = [IoSlice::new(&[]); 64];
        let k = q.io_slices(&mut slices);
        let len: usize = slices[..k].iter().map(|s| s.len()).sum();
        black_box(&slices[..k]);
        q.advance(len);
    }
}

fn encode(c: &mut Criterion) {
    static PAYLOAD: [u8; 128] = [b'x'; 128];
    for payload in [16usize, 128] {
        let n = 10_000usize;
        let mut group = c.benchmark_group(format!("encode_pub_{payload}B"));
        group.throughput(Throughput::Elements(n as u64));
        // A payload the caller shares (`Bytes` from a Vec): each publish clones and drops
        // it, two atomic reference-count updates.
        let shared = Bytes::from(vec![b'x'; payload]);
        group.bench_function("encode", |b| {
            let mut q = OutQueue::new();
            b.iter(|| encode_n(&mut q, &shared, n))
        });
        // A static payload: the encoder's own cost.
        let fixed = Bytes::from_static(&PAYLOAD[..payload]);
        group.bench_function("encode_static", |b| {
            let mut q = OutQueue::new();
            b.iter(|| encode_n(&mut q, &fixed, n))
        });
        group.finish();
    }
}

criterion_group!(benches, parse, receive_large, encode);
criterion_main!(benches);

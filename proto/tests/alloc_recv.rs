//! Receiving messages allocates nothing: after a warm-up, parsing 100,000 `MSG`/`HMSG`
//! frames out of a reused read buffer, and dropping each message, makes zero heap
//! allocations.
//!
//! A counting global allocator wraps [`System`]; it counts per thread, so other threads
//! (the test harness) cannot disturb the count.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::BytesMut;
use natsy_proto::{ServerOp, ServerOpParser, Status};

struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with` fails only while the thread is being torn down; nothing to count then.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every method only counts, then forwards its arguments unchanged to `System`,
// which upholds the `GlobalAlloc` contract.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwards the caller's layout to System unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwards the caller's layout to System unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwards to System; `ptr` came from System through this same wrapper.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwards to System; `ptr` came from System through this same wrapper.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// `n` frames: mostly 16-byte MSGs, some with a reply, some HMSGs with three headers.
fn wire(n: usize) -> Vec<u8> {
    let headers = b"NATS/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    let mut wire = Vec::new();
    for i in 0..n {
        let sid = i % 7 + 1;
        match i % 10 {
            0 => {
                wire.extend_from_slice(format!("MSG orders.new {sid} _INBOX.abc 16\r\n").as_bytes())
            }
            1 => wire.extend_from_slice(
                format!(
                    "HMSG orders.new {sid} {} {}\r\n",
                    headers.len(),
                    headers.len() + 16
                )
                .as_bytes(),
            ),
            _ => wire.extend_from_slice(format!("MSG orders.new {sid} 16\r\n").as_bytes()),
        }
        if i % 10 == 1 {
            wire.extend_from_slice(headers);
        }
        wire.extend_from_slice(b"0123456789abcdef\r\n");
    }
    wire
}

/// Feeds `wire` in `chunk`-sized reads, parsing after each read like a client's read loop.
/// Returns (messages, payload bytes, sid sum) so the work cannot be optimised away.
fn receive(
    parser: &mut ServerOpParser,
    buf: &mut BytesMut,
    wire: &[u8],
    chunk: usize,
) -> (u64, u64, u64) {
    let (mut msgs, mut bytes, mut sids) = (0, 0, 0);
    for piece in wire.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match parser.parse(buf) {
                Ok(Status::Complete(ServerOp::Msg(msg))) => {
                    msgs += 1;
                    bytes += msg.payload().len() as u64;
                    sids += msg.sid();
                    assert_eq!(msg.subject(), "orders.new");
                    // `msg` is dropped here, as a subscriber would after handling it.
                }
                Ok(Status::Complete(other)) => panic!("unexpected {other:?}"),
                Ok(Status::Partial) => break,
                Err(e) => panic!("parse error {e}"),
            }
        }
    }
    (msgs, bytes, sids)
}

#[test]
fn receiving_messages_allocates_nothing() {
    // The counter works: this allocation is seen.
    let before = allocations();
    let probe = vec![1u8; 64];
    assert!(allocations() > before, "the counting allocator must count");
    drop(probe);

    let n = 100_000;
    let wire = wire(n);
    let warm = self::wire(100);
    let mut parser = ServerOpParser::default();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    // Warm-up: the first split turns the buffer into a shared one (one allocation).
    let (warm_msgs, _, _) = receive(&mut parser, &mut buf, &warm, 1000);
    assert_eq!(warm_msgs, 100);

    let before = allocations();
    // An odd chunk size, so frames and even control lines straddle reads.
    let (msgs, bytes, sids) = receive(&mut parser, &mut buf, &wire, 4093);
    let during = allocations() - before;

    assert_eq!(msgs, n as u64);
    assert_eq!(bytes, 16 * n as u64);
    assert_eq!(sids, (0..n).map(|i| (i % 7 + 1) as u64).sum::<u64>());
    assert!(buf.is_empty());
    assert_eq!(
        during, 0,
        "{during} allocations while receiving {n} messages"
    );
}

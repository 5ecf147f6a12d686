#![allow(unsafe_code)]
//! A large message costs memory in proportion to its size: a 63 MiB `MSG` (and an
//! `HMSG`) fed to a [`Connection`] in reads of just under 64 KiB, as a client's socket
//! delivers it, makes the read buffer allocate less than twice the frame, not a copy of
//! everything held per read (which was quadratic: 23 s for 63 MiB).
//!
//! A counting global allocator wraps `System` and adds up the bytes each allocation (or
//! reallocation) asks for, into the measuring thread's own counter, so the test harness's
//! threads and the other test in this file do not disturb the result.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::IoSlice;
use std::time::Instant;

use natsy_proto::connection::{Connection, ConnectionConfig, Event};

struct Counting;

thread_local! {
    // Const-initialized and without a destructor, so using it never allocates.
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

fn note(bytes: usize) {
    // `try_with` fails only while the thread is being torn down; nothing to count then.
    let _ = ALLOCATED.try_with(|a| a.set(a.get().saturating_add(bytes)));
}

/// Bytes this thread has asked the allocator for so far.
fn allocated() -> usize {
    ALLOCATED.with(Cell::get)
}

// SAFETY: every method only counts (a thread-local add, which never allocates), then
// forwards its arguments unchanged to `System`, which upholds the `GlobalAlloc` contract.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: only forwards to System with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: only forwards to System with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: only forwards to System; `ptr` was allocated by System via this wrapper.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: only forwards to System; `ptr` was allocated by System via this wrapper.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What a client reads at a time, less one so that frames straddle reads unevenly.
const READ: usize = 64 * 1024 - 1;

/// A connection after the handshake with a server whose `max_payload` is 64 MiB.
fn connected(now: Instant) -> Connection {
    let mut conn = Connection::new(ConnectionConfig::default(), now).unwrap();
    assert!(matches!(conn.poll_event(), Some(Event::Dial { .. })));
    conn.handle_transport_connected(now);
    conn.handle_input(
        now,
        b"INFO {\"server_id\":\"N1\",\"headers\":true,\"max_payload\":67108864}\r\n",
    );
    conn.handle_input(now, b"PONG\r\n");
    assert!(matches!(conn.poll_event(), Some(Event::Connected { .. })));
    conn
}

/// Writes and forgets what the connection has to send.
fn drain_transmit(conn: &mut Connection) {
    loop {
        let mut slices = [IoSlice::new(&[]); 8];
        let n = conn.poll_transmit(&mut slices);
        let len: usize = slices[..n].iter().map(|s| s.len()).sum();
        if len == 0 {
            return;
        }
        conn.advance_transmit(len);
    }
}

/// A `MSG` (or, with `headers`, an `HMSG`) of `size` payload bytes for `sid`, followed by
/// a small `MSG`, so that the read that ends the large frame carries more.
fn wire(sid: u64, size: usize, headers: bool) -> Vec<u8> {
    let block = b"NATS/1.0\r\nBig: yes\r\n\r\n";
    let mut wire = if headers {
        let (h, total) = (block.len(), block.len() + size);
        let mut w = format!("HMSG big {sid} {h} {total}\r\n").into_bytes();
        w.extend_from_slice(block);
        w
    } else {
        format!("MSG big {sid} {size}\r\n").into_bytes()
    };
    wire.resize(wire.len() + size, b'x');
    wire.extend_from_slice(b"\r\n");
    wire.extend_from_slice(format!("MSG big {sid} 5\r\nafter\r\n").as_bytes());
    wire
}

/// The next event, which must be a message.
fn next_message(conn: &mut Connection, what: &str) -> natsy_proto::Message {
    match conn.poll_event() {
        Some(Event::Message(m)) => m,
        other => panic!("expected {what}, got {other:?}"),
    }
}

#[test]
fn a_large_message_in_small_reads_allocates_less_than_twice_its_size() {
    let now = Instant::now();
    let mut conn = connected(now);
    let sid = conn.subscribe("big", None).unwrap();
    drain_transmit(&mut conn);
    let size = 63 << 20;
    for headers in [false, true] {
        let wire = wire(sid, size, headers);
        let before = allocated();
        for piece in wire.chunks(READ) {
            conn.handle_input(now, piece);
        }
        let during = allocated() - before;
        let big = next_message(&mut conn, "the large message");
        assert_eq!(big.payload().len(), size);
        assert!(big.payload().iter().all(|&b| b == b'x'));
        assert_eq!(big.header_block().is_some(), headers);
        assert_eq!(big.shared_buffer(), None, "it had an allocation to itself");
        let after = next_message(&mut conn, "the message after it");
        assert_eq!(after.payload(), b"after");
        assert!(after.shared_buffer().is_some());
        assert!(conn.poll_event().is_none());
        assert!(
            during < 2 * wire.len(),
            "{during} bytes allocated to receive a {} byte frame (headers: {headers})",
            wire.len()
        );
    }
}

#![allow(unsafe_code)]
//! Publishing small messages allocates nothing once the [`OutQueue`] is warm.
//!
//! A counting global allocator wraps `System`; it counts only while the measuring thread
//! has switched counting on, and into that thread's own counter, so the test harness's
//! threads and the other test in this file do not disturb the result.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::IoSlice;

use bytes::Bytes;
use natsy_proto::OutQueue;

struct Counting;

thread_local! {
    // Const-initialized and without a destructor, so using them never allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// This thread's count so far, reset to zero.
fn take_allocations() -> usize {
    ALLOCATIONS.with(|a| a.replace(0))
}

fn note_allocation() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + 1));
    }
}

// SAFETY: every method only forwards to `System` with the caller's arguments unchanged,
// so `System`'s guarantees carry over; the counting touches no allocator state.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: only forwards to System with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: only forwards to System with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
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

/// Publishes `count` 16-byte messages, draining the queue every 100 messages the way a
/// writer would: gather slices, write part of them, advance, repeat until empty.
/// Returns the number of bytes "written".
fn publish_and_drain(q: &mut OutQueue, payload: &Bytes, count: usize, sink: &mut [u8]) -> usize {
    let mut total = 0;
    for i in 0..count {
        q.publish("orders.new", None, None, payload.clone(), Some(1 << 20))
            .expect("valid publish");
        if i % 100 == 99 || i + 1 == count {
            // A socket that takes at most 1000 bytes per call: partial writes.
            total += write_down_to(q, 0, sink);
        }
    }
    total
}

/// Writes from the front of `q` into `sink`, at most `sink.len()` bytes per call, until
/// at most `keep` bytes are left; returns the bytes written.
fn write_down_to(q: &mut OutQueue, keep: usize, sink: &mut [u8]) -> usize {
    let mut total = 0;
    while q.len() > keep {
        let mut slices = [IoSlice::new(&[]); 8];
        let n = q.io_slices(&mut slices);
        let mut written = 0;
        for s in &slices[..n] {
            let take = s.len().min(sink.len() - written);
            sink[written..written + take].copy_from_slice(&s[..take]);
            written += take;
            if written == sink.len() {
                break;
            }
        }
        q.advance(written);
        total += written;
    }
    total
}

#[test]
fn steady_state_publish_allocates_nothing() {
    let payload = Bytes::from_static(b"0123456789abcdef");
    let per_msg = b"PUB orders.new 16\r\n0123456789abcdef\r\n".len();
    let mut sink = [0u8; 1000];
    let mut q = OutQueue::new();

    // Warm-up: the queue's buffer grows to its working size.
    assert_eq!(
        publish_and_drain(&mut q, &payload, 10_000, &mut sink),
        10_000 * per_msg
    );

    // Sanity check that the counter works on this thread.
    COUNTING.with(|c| c.set(true));
    let probe = vec![1u8; 64];
    COUNTING.with(|c| c.set(false));
    drop(probe);
    assert_eq!(take_allocations(), 1, "the allocator counts");

    COUNTING.with(|c| c.set(true));
    let written = publish_and_drain(&mut q, &payload, 100_000, &mut sink);
    COUNTING.with(|c| c.set(false));
    let allocations = take_allocations();

    assert_eq!(written, 100_000 * per_msg);
    assert!(q.is_empty());
    assert_eq!(
        allocations, 0,
        "allocations while publishing 100,000 small messages"
    );
}

/// A writer that lags behind: between 64 and 128 KiB always wait, so the coalescing
/// buffer keeps filling up with bytes still pending. Full buffers are chained as segments
/// and their allocations reused once written, not replaced by new ones.
#[test]
fn a_lagging_writer_causes_no_allocations_in_steady_state() {
    let payload = Bytes::from_static(b"0123456789abcdef");
    let per_msg = b"PUB orders.new 16\r\n0123456789abcdef\r\n".len();
    let mut q = OutQueue::new();
    let mut sink = vec![0u8; 8 * 1024];
    let mut run = |q: &mut OutQueue, count: usize| {
        let mut written = 0;
        for _ in 0..count {
            q.publish("orders.new", None, None, payload.clone(), Some(1 << 20))
                .expect("valid publish");
            if q.len() > 128 * 1024 {
                written += write_down_to(q, 64 * 1024, &mut sink);
            }
        }
        written
    };
    let warm = run(&mut q, 100_000);

    COUNTING.with(|c| c.set(true));
    let written = run(&mut q, 200_000);
    COUNTING.with(|c| c.set(false));
    let allocations = take_allocations();

    let rest = write_down_to(&mut q, 0, &mut sink);
    assert_eq!(warm + written + rest, 300_000 * per_msg, "every byte, once");
    assert_eq!(
        allocations, 0,
        "allocations while publishing 200,000 messages behind a lagging writer"
    );
}

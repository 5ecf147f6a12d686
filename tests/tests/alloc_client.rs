//! The client allocates nothing per message in steady state: after a warm-up, publishing
//! 100,000 messages through `Client::publish` and receiving them through a `Subscription`,
//! against a real nats-server, makes a bounded number of heap allocations in the whole
//! process — the event-loop thread included — that does not grow with the message count.
//! The same holds for a JetStream worker: consuming and acking 20,000 messages through
//! `Consumer::messages` allocates per pull request and per read buffer, not per message.
//!
//! A counting global allocator wraps [`System`] and counts every thread. This file holds
//! one test only, so no other test runs in this process while it counts.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use natsy_test_harness::NatsServer;

struct CountingAlloc;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method only counts (an atomic add, which never allocates), then forwards
// its arguments unchanged to `System`, which upholds the `GlobalAlloc` contract.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwards the caller's layout to System unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwards the caller's layout to System unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by System (every allocation goes through it) with
        // this layout, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for dealloc; the caller guarantees `new_size` is valid for `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Publishes `n` 16-byte messages in bursts of 100 and receives each, as a steady
/// publisher and a subscriber that keeps up would.
fn round(client: &natsy::Client, sub: &mut natsy::Subscription, n: usize) {
    let payload = bytes::Bytes::from_static(b"0123456789abcdef");
    for burst in 0..n / 100 {
        for _ in 0..100 {
            client
                .publish("alloc.steady", payload.clone())
                .expect("publish");
        }
        for _ in 0..100 {
            let msg = sub.next_timeout(Duration::from_secs(10)).expect("message");
            assert_eq!(msg.payload().len(), 16, "burst {burst}");
        }
    }
}

/// Takes `n` messages from a continuous pull and acks each, as a steady JetStream worker.
fn consume(messages: &mut natsy_jetstream::Messages, n: usize) {
    for i in 0..n {
        let msg = messages
            .next_timeout(Duration::from_secs(10))
            .expect("pull")
            .unwrap_or_else(|| panic!("message {i} never came"));
        msg.ack().expect("ack");
    }
}

/// A stream of `warm_up + n` stored messages, consumed and acked through
/// `Consumer::messages`: the allocations made while taking the last `n`.
fn jetstream_allocations(warm_up: usize, n: usize) -> u64 {
    use natsy_jetstream::{ConsumerConfig, StorageType, StreamConfig};

    let server = NatsServer::builder().jetstream().start().expect("server");
    let js = natsy_jetstream::new(natsy::connect(server.url()).expect("connect"));
    js.create_stream(&StreamConfig {
        subjects: vec!["alloc.js".into()],
        storage: StorageType::Memory,
        ..StreamConfig::new("ALLOC")
    })
    .expect("stream");
    let consumer = js
        .create_consumer(
            "ALLOC",
            ConsumerConfig {
                durable_name: Some("W".into()),
                ..Default::default()
            },
        )
        .expect("consumer");
    let payload = bytes::Bytes::from_static(b"0123456789abcdef");
    let total = warm_up + n;
    for _ in 0..total {
        js.client()
            .publish("alloc.js", payload.clone())
            .expect("publish");
    }
    js.client().flush().expect("flush");
    // Wait for the server to store them all (no assertion on how long it takes).
    while consumer.info().expect("consumer info").num_pending < total as u64 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut messages = consumer.messages().expect("messages");
    consume(&mut messages, warm_up);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    consume(&mut messages, n);
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn publishing_and_receiving_does_not_allocate_per_message() {
    let server = NatsServer::start().expect("server");
    let client = natsy::connect(server.url()).expect("connect");
    let mut sub = client.subscribe("alloc.steady").expect("subscribe");
    client.flush().expect("flush");

    // Warm-up: buffers, queues and the server connection reach their steady sizes.
    round(&client, &mut sub, 20_000);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    round(&client, &mut sub, 100_000);
    let during = ALLOCATIONS.load(Ordering::Relaxed) - before;
    // Received messages are zero-copy views into the read buffer, so a buffer still held
    // by an unread message is replaced rather than reused: a few allocations per 64 KiB
    // read, never one per message. Allow one per 100 messages; steady state is far less.
    assert!(
        during <= 1_000,
        "{during} allocations for 100,000 messages published and received"
    );
    eprintln!("allocations for 100,000 messages published and received: {during}");

    // JetStream: pulls (one per 250 messages with the default batch of 500) and read
    // buffers allocate; a message, its JsMessage and its ack must not. Allow one per ten
    // messages; a per-message allocation would be at least 20,000.
    let during = jetstream_allocations(5_000, 20_000);
    assert!(
        during <= 2_000,
        "{during} allocations for 20,000 JetStream messages consumed and acked"
    );
    eprintln!("allocations for 20,000 JetStream messages consumed and acked: {during}");
}

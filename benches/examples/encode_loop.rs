//! Encodes PUBs in a loop, draining as a writer would, for instruction-level profiling:
//! `valgrind --tool=callgrind target/release/examples/encode_loop [payload] [count]`.

use std::io::IoSlice;

use bytes::Bytes;
use natsy_proto::OutQueue;

fn main() {
    let mut args = std::env::args().skip(1);
    let payload: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let data = Bytes::from(vec![b'x'; payload]);
    let mut q = OutQueue::new();
    let mut written = 0usize;
    for i in 0..count {
        q.publish("bench.subject", None, None, data.clone(), Some(1 << 20))
            .expect("valid publish");
        if i % 100 == 99 {
            while !q.is_empty() {
                let mut slices = [IoSlice::new(&[]); 64];
                let n = q.io_slices(&mut slices);
                let len: usize = slices[..n].iter().map(|s| s.len()).sum();
                written += len;
                q.advance(len);
            }
        }
    }
    println!("{count} publishes, {written} bytes");
}

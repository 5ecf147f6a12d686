//! `natsy-object-bench`: the object store's memory and speed on a 1 GiB object (the
//! issue's target: memory while putting or getting stays under 32 MiB above baseline,
//! put and get at 90% or more of the rate the same server stores plain 128 KiB messages).
//!
//! Each round runs, interleaved so drift hits every phase alike: a plain stream of
//! 128 KiB messages published with a window of pipelined acks (the reference rate) and
//! read back with an ordered consumer (the get's reference without checks), an
//! object put of the same bytes from a generated reader (no file), and the object's
//! get into a sink, digest checked — for the blocking API and (`--async`) the async
//! one. Peak memory is this process's `VmHWM` (reset through `/proc/self/clear_refs`
//! before each phase) minus its `VmRSS` just before. Storage is file storage on a local
//! server started for the run (or `--url`); each phase deletes what it stored.
//!
//! `cargo run --release -p natsy-benches --bin natsy-object-bench -- --size-mib 1024 --rounds 3 --async`

use std::io::Read;
use std::time::Instant;

use clap::Parser;
use natsy_benches::measure::process_cpu_time;
use natsy_jetstream::object::{ObjectMeta, ObjectStoreConfig};
use natsy_jetstream::{AsyncPublishOptions, StreamConfig, WhenFull};

#[derive(Parser, Debug)]
#[command(about = "Object store memory and throughput on one large object")]
struct Args {
    /// The object's size in MiB.
    #[arg(long, default_value_t = 1024)]
    size_mib: u64,
    /// Rounds of (plain stream, put, get).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Chunk (and plain message) size in KiB.
    #[arg(long, default_value_t = 128)]
    chunk_kib: u32,
    /// Acks in flight for the plain stream (the object put keeps 4 MiB worth: 32 chunks
    /// of 128 KiB).
    #[arg(long, default_value_t = 32)]
    plain_window: usize,
    /// Also measure the async API (on a current-thread tokio runtime).
    #[arg(long = "async")]
    with_async: bool,
    /// A server to use instead of starting one (it needs JetStream with file storage).
    #[arg(long)]
    url: Option<String>,
}

/// Deterministic bytes, `len` in all, made as they are read: the object never exists
/// whole anywhere in this process.
struct Generated {
    left: u64,
    state: u64,
}

impl Generated {
    fn new(len: u64) -> Self {
        Generated {
            left: len,
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }

    fn fill(&mut self, out: &mut [u8]) -> usize {
        let n = out
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for word in out[..n].chunks_mut(8) {
            // xorshift64: fast, and not compressible to nothing.
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            word.copy_from_slice(&self.state.to_le_bytes()[..word.len()]);
        }
        self.left -= n as u64;
        n
    }
}

impl Read for Generated {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        Ok(self.fill(out))
    }
}

impl futures_io::AsyncRead for Generated {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        out: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(Ok(self.get_mut().fill(out)))
    }
}

fn status_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

/// Resets the peak (`VmHWM`) to the current RSS and returns that RSS in KiB.
fn reset_peak() -> u64 {
    // "5" resets the peak resident set size (Linux 4.0+).
    if std::fs::write("/proc/self/clear_refs", "5").is_err() {
        eprintln!("warning: cannot reset VmHWM; peaks include earlier phases");
    }
    status_kib("VmRSS:").unwrap_or(0)
}

/// One phase's outcome.
struct Phase {
    mib_per_s: f64,
    peak_above_mib: f64,
    /// This process's CPU seconds per GiB (all threads): what the client spends.
    cpu_s_per_gib: f64,
}

fn measure(bytes: u64, run: impl FnOnce()) -> Phase {
    let base = reset_peak();
    let start = Instant::now();
    let cpu = process_cpu_time();
    run();
    let secs = start.elapsed().as_secs_f64();
    let cpu = process_cpu_time().saturating_sub(cpu).as_secs_f64();
    let peak = status_kib("VmHWM:").unwrap_or(0);
    let gib = bytes as f64 / (1024.0 * 1024.0 * 1024.0);
    Phase {
        mib_per_s: gib * 1024.0 / secs,
        peak_above_mib: peak.saturating_sub(base) as f64 / 1024.0,
        cpu_s_per_gib: cpu / gib,
    }
}

fn plain_stream(js: &natsy_jetstream::Context, size: u64, chunk: usize, window: usize) {
    let _ = js.delete_stream("PLAIN");
    js.create_stream(&StreamConfig {
        subjects: vec!["plain".into()],
        ..StreamConfig::new("PLAIN")
    })
    .expect("plain stream");
    let mut publisher = js.async_publisher(AsyncPublishOptions {
        window,
        when_full: WhenFull::Block,
    });
    let mut data = Generated::new(size);
    let mut sent = 0usize;
    loop {
        let mut buf = vec![0u8; chunk];
        let n = data.fill(&mut buf);
        if n == 0 {
            break;
        }
        buf.truncate(n);
        publisher.publish("plain", buf).expect("publish");
        sent += 1;
        // Collect outcomes now and then so they do not pile up for the whole run.
        if sent % 1024 == 0 {
            for r in publisher.wait_all() {
                r.expect("ack");
            }
        }
    }
    for r in publisher.wait_all() {
        r.expect("ack");
    }
}

/// Reads the plain stream back through an ordered consumer pulling the same 8 MiB
/// worth at a time as an object get: the get's reference without chunk checks or digest.
fn plain_read(js: &natsy_jetstream::Context, size: u64, chunk: usize) {
    let mut config = natsy_jetstream::OrderedConfig::default();
    config.batch = (8 * 1024 * 1024 / chunk).clamp(2, 500);
    let mut consumer = js
        .ordered_consumer("PLAIN", config)
        .expect("ordered consumer");
    let mut got = 0u64;
    while got < size {
        let msg = consumer
            .next_timeout(std::time::Duration::from_secs(10))
            .expect("read")
            .expect("a message within 10 s");
        got += msg.payload().len() as u64;
    }
}

fn main() {
    let args = Args::parse();
    let size = args.size_mib * 1024 * 1024;
    let chunk = args.chunk_kib * 1024;
    let _server;
    let url = match &args.url {
        Some(u) => u.clone(),
        None => {
            let bin = natsy_benches::server::find_or_install_nats_server().expect("nats-server");
            let s = natsy_benches::server::LocalServer::start(&bin).expect("server");
            let url = s.url();
            _server = s;
            url
        }
    };
    let client = natsy::connect(url.as_str()).expect("connect");
    let js = natsy_jetstream::new(client.clone());
    let _ = js.delete_object_store("bench");
    let store = js
        .create_object_store(&ObjectStoreConfig::new("bench"))
        .expect("bucket");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let astore = args.with_async.then(|| {
        runtime.block_on(async {
            let js = natsy_jetstream::aio::new(natsy::aio::Client::from(client.clone()));
            js.object_store("bench").await.expect("bind")
        })
    });
    println!(
        "object {} MiB, chunks of {} KiB, plain window {}, {} rounds",
        args.size_mib, args.chunk_kib, args.plain_window, args.rounds
    );
    println!(
        "{:<6} {:<14} {:>10} {:>16} {:>14}",
        "round", "phase", "MiB/s", "peak above MiB", "client CPU s/GiB"
    );
    let mut rows: Vec<(String, f64, f64)> = Vec::new();
    let mut report = |round: usize, name: &str, p: Phase| {
        println!(
            "{round:<6} {name:<14} {:>10.1} {:>16.1} {:>14.2}",
            p.mib_per_s, p.peak_above_mib, p.cpu_s_per_gib
        );
        rows.push((name.to_string(), p.mib_per_s, p.peak_above_mib));
    };
    let mut meta = ObjectMeta::new("big");
    meta.chunk_size = Some(chunk);
    for round in 1..=args.rounds {
        let p = measure(size, || {
            plain_stream(&js, size, chunk as usize, args.plain_window)
        });
        report(round, "plain-publish", p);
        let p = measure(size, || plain_read(&js, size, chunk as usize));
        report(round, "plain-read", p);
        js.delete_stream("PLAIN").expect("delete plain");
        let p = measure(size, || {
            let info = store
                .put(meta.clone(), &mut Generated::new(size))
                .expect("put");
            assert_eq!(info.size, size);
        });
        report(round, "object-put", p);
        let p = measure(size, || {
            let mut reader = store.get("big").expect("get");
            let n = std::io::copy(&mut reader, &mut std::io::sink()).expect("read");
            assert_eq!(n, size);
        });
        report(round, "object-get", p);
        store.delete("big").expect("delete");
        if let Some(astore) = &astore {
            let p = measure(size, || {
                runtime.block_on(async {
                    let info = astore
                        .put(meta.clone(), &mut Generated::new(size))
                        .await
                        .expect("async put");
                    assert_eq!(info.size, size);
                })
            });
            report(round, "async-put", p);
            let p = measure(size, || {
                runtime.block_on(async {
                    let mut reader = astore.get("big").await.expect("async get");
                    let mut n = 0u64;
                    while let Some(c) = reader.next_chunk().await.expect("chunk") {
                        n += c.len() as u64;
                    }
                    assert_eq!(n, size);
                })
            });
            report(round, "async-get", p);
            store.delete("big").expect("delete");
        }
    }
    println!("\nmedians:");
    let mut names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    names.dedup();
    names.sort();
    names.dedup();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let plain = median(
        rows.iter()
            .filter(|r| r.0 == "plain-publish")
            .map(|r| r.1)
            .collect(),
    );
    for name in names {
        let rate = median(rows.iter().filter(|r| r.0 == name).map(|r| r.1).collect());
        let peak = rows
            .iter()
            .filter(|r| r.0 == name)
            .map(|r| r.2)
            .fold(0.0, f64::max);
        println!(
            "{name:<14} {rate:>8.1} MiB/s ({:>5.1}% of plain)  max peak above baseline {peak:.1} MiB",
            100.0 * rate / plain
        );
    }
    let _ = js.delete_object_store("bench");
}

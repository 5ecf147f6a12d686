//! What a client that does nothing but the wire would measure on a server and machine:
//! the floor of `req` latency and the ceiling of `pub` and `pubsub` rates.
//!
//! - `req` (the default): one thread holds two plain sockets, requester and responder;
//!   each request is written, read by the responder socket, answered, and the answer
//!   read back, all with blocking calls on the one thread. No client library, no second
//!   thread, no wake-up: what is left is the kernel's loopback and the server's two hops.
//!   A client's `req` p50 cannot go below this on the same server, so the ratio of two
//!   clients' p50s cannot go below floor / slower client (BENCHMARKS.md).
//! - `pub`: one socket writes pre-encoded `PUB` frames, 64 KiB at a time, then `PING`;
//!   timed to the `PONG`, as natsy-bench's `pub`.
//! - `pubsub`: the same writer, and a second socket on its own thread that subscribed
//!   and counts the bytes of the `MSG` frames it expects, parsing nothing; timed to the
//!   last byte. A client costs something per message, so its rate cannot reach this on
//!   the same server: where the ceiling is below a target's multiple of another client's
//!   rate, the target is out of reach on that machine (BENCHMARKS.md).
//!
//! ```text
//! natsy-wire-floor --url nats://127.0.0.1:4222 --msgs 10000 --size 128
//! natsy-wire-floor --url nats://127.0.0.1:4222 --scenario pubsub --msgs 1000000 --size 16
//! ```
//!
//! It prints one CSV line in natsy-bench's columns (`client` is `wire-floor`).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use natsy_benches::measure::{Measured, Meter};
use natsy_benches::runner::unique_id;

/// Untimed requests first, as the clients' `req` does.
const WARM_UP: usize = 100;

/// Bytes per write of the `pub` and `pubsub` writer.
const WRITE_BATCH: usize = 64 << 10;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Req,
    Pub,
    PubSub,
}

impl Scenario {
    const ALL: [Scenario; 3] = [Scenario::Req, Scenario::Pub, Scenario::PubSub];

    fn name(self) -> &'static str {
        match self {
            Scenario::Req => "req",
            Scenario::Pub => "pub",
            Scenario::PubSub => "pubsub",
        }
    }

    /// The CSV's `note`: how this scenario touches the wire.
    fn note(self) -> &'static str {
        match self {
            Scenario::Req => "one thread two sockets",
            Scenario::Pub => "one socket pre-encoded frames",
            Scenario::PubSub => "a writer socket and a byte-counting reader thread",
        }
    }
}

struct Args {
    addr: String,
    scenario: Scenario,
    msgs: usize,
    size: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:4222".into(),
        scenario: Scenario::Req,
        msgs: 10_000,
        size: 128,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => {
                let url = value()?;
                args.addr = url.strip_prefix("nats://").unwrap_or(&url).to_string();
            }
            "--scenario" => {
                let name = value()?;
                args.scenario = Scenario::ALL
                    .into_iter()
                    .find(|s| s.name() == name)
                    .ok_or(format!("--scenario: req, pub or pubsub, not {name}"))?;
            }
            "--msgs" => args.msgs = value()?.parse().map_err(|e| format!("--msgs: {e}"))?,
            "--size" => args.size = value()?.parse().map_err(|e| format!("--size: {e}"))?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

/// One side of the wire: a socket and what it has read but not yet used.
struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Wire {
    /// Connects and subscribes to `subject`, once the server has said INFO.
    fn open(addr: &str, subject: &str) -> io::Result<Wire> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut wire = Wire {
            stream,
            buf: Vec::with_capacity(1 << 16),
        };
        wire.line()?; // INFO
        let hello = format!(
            "CONNECT {{\"verbose\":false,\"pedantic\":false}}\r\nSUB {subject} 1\r\nPING\r\n"
        );
        wire.stream.write_all(hello.as_bytes())?;
        while wire.line()? != b"PONG" {}
        Ok(wire)
    }

    /// The next protocol line, without its CRLF.
    fn line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..end].to_vec();
                self.buf.drain(..end + 2);
                return Ok(line);
            }
            self.fill()?;
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 1 << 16];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// The next message's reply subject and payload size (the payload is skipped);
    /// a server PING is answered on the way.
    fn message(&mut self) -> io::Result<(Option<String>, usize)> {
        loop {
            let line = String::from_utf8_lossy(&self.line()?).into_owned();
            if line == "PING" {
                self.stream.write_all(b"PONG\r\n")?;
                continue;
            }
            let words: Vec<&str> = line.split(' ').collect();
            if words.first() != Some(&"MSG") || !(4..=5).contains(&words.len()) {
                return Err(io::Error::other(format!("unexpected line: {line}")));
            }
            let size: usize = words[words.len() - 1]
                .parse()
                .map_err(|_| io::Error::other(format!("bad size: {line}")))?;
            let reply = (words.len() == 5).then(|| words[3].to_string());
            while self.buf.len() < size + 2 {
                self.fill()?;
            }
            self.buf.drain(..size + 2);
            return Ok((reply, size));
        }
    }
}

/// One request: written on `requester`, answered through `responder`, read back.
fn request(requester: &mut Wire, responder: &mut Wire, frame: &[u8]) -> io::Result<()> {
    requester.stream.write_all(frame)?;
    let (reply, size) = responder.message()?;
    let reply = reply.ok_or_else(|| io::Error::other("a request without a reply subject"))?;
    responder.stream.write_all(&pub_frame(&reply, None, size))?;
    let (_, got) = requester.message()?;
    if got != size {
        return Err(io::Error::other(format!(
            "a reply of {got} bytes, not {size}"
        )));
    }
    Ok(())
}

/// One `PUB` frame with a payload of `size` bytes.
fn pub_frame(subject: &str, reply: Option<&str>, size: usize) -> Vec<u8> {
    let mut frame = match reply {
        Some(reply) => format!("PUB {subject} {reply} {size}\r\n"),
        None => format!("PUB {subject} {size}\r\n"),
    }
    .into_bytes();
    frame.resize(frame.len() + size, b'x');
    frame.extend_from_slice(b"\r\n");
    frame
}

/// Writes `msgs` frames of `subject` on `wire`, whole frames of about [`WRITE_BATCH`]
/// bytes at a time, then waits for the server's `PONG`.
fn publish(wire: &mut Wire, subject: &str, msgs: usize, size: usize) -> io::Result<()> {
    let frame = pub_frame(subject, None, size);
    let frame_len = frame.len();
    let per_batch = (WRITE_BATCH / frame_len).max(1);
    let batch = frame.repeat(per_batch);
    let mut left = msgs;
    while left > 0 {
        let n = left.min(per_batch);
        wire.stream.write_all(&batch[..n * frame_len])?;
        left -= n;
    }
    wire.stream.write_all(b"PING\r\n")?;
    while wire.line()? != b"PONG" {}
    Ok(())
}

/// Reads until `bytes` have come (what `msgs` `MSG` frames of the run add up to).
fn drain(mut wire: Wire, mut bytes: usize) -> io::Result<()> {
    bytes = bytes.saturating_sub(wire.buf.len());
    let mut chunk = vec![0u8; 1 << 18];
    while bytes > 0 {
        let n = wire.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if n > bytes {
            return Err(io::Error::other("more bytes than the messages add up to"));
        }
        bytes -= n;
    }
    Ok(())
}

/// `bench.<id>.<what>`, as long as the clients' subjects ([`RunCtx::subject`]): the
/// server's cost per message grows with the frame.
///
/// [`RunCtx::subject`]: natsy_benches::runner::RunCtx::subject
fn subject(what: &str) -> String {
    format!("bench.{}.{what}", unique_id())
}

fn run_req(args: &Args) -> io::Result<(Measured, Option<Histogram<u64>>)> {
    let (req, reply) = (subject("req"), subject("reply"));
    let mut responder = Wire::open(&args.addr, &req)?;
    let mut requester = Wire::open(&args.addr, &reply)?;
    let frame = pub_frame(&req, Some(&reply), args.size);
    for _ in 0..WARM_UP {
        request(&mut requester, &mut responder, &frame)?;
    }
    let mut latencies =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(io::Error::other)?;
    let meter = Meter::start();
    for _ in 0..args.msgs {
        let t = Instant::now();
        request(&mut requester, &mut responder, &frame)?;
        let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
        latencies.saturating_record(ns.max(1));
    }
    Ok((meter.stop(), Some(latencies)))
}

fn run_pub(args: &Args) -> io::Result<(Measured, Option<Histogram<u64>>)> {
    let mut wire = Wire::open(&args.addr, &subject("nothing"))?;
    let meter = Meter::start();
    publish(&mut wire, &subject("pub"), args.msgs, args.size)?;
    Ok((meter.stop(), None))
}

fn run_pubsub(args: &Args) -> io::Result<(Measured, Option<Histogram<u64>>)> {
    let pubsub = subject("pubsub");
    let receiver = Wire::open(&args.addr, &pubsub)?;
    let mut sender = Wire::open(&args.addr, &subject("nothing"))?;
    // The server delivers `MSG <subject> 1 <size>` for each `PUB <subject> <size>`.
    let per_msg = format!("MSG {pubsub} 1 {}\r\n", args.size).len() + args.size + 2;
    let bytes = per_msg * args.msgs;
    let meter = Meter::start();
    let reader = std::thread::spawn(move || drain(receiver, bytes));
    publish(&mut sender, &pubsub, args.msgs, args.size)?;
    reader
        .join()
        .map_err(|_| io::Error::other("the reader panicked"))??;
    Ok((meter.stop(), None))
}

fn run(args: &Args) -> io::Result<String> {
    let (measured, latencies) = match args.scenario {
        Scenario::Req => run_req(args)?,
        Scenario::Pub => run_pub(args)?,
        Scenario::PubSub => run_pubsub(args)?,
    };
    let secs = measured.elapsed.as_secs_f64();
    // Empty columns where the scenario has no latencies.
    let us = |of: fn(&Histogram<u64>) -> u64| {
        latencies
            .as_ref()
            .map(|l| (of(l) as f64 / 1000.0).to_string())
            .unwrap_or_default()
    };
    let n = args.msgs as f64;
    Ok(format!(
        "client,scenario,size,rep,ok,error,msgs,elapsed_s,msgs_per_sec,mb_per_sec,cpu_us_per_msg,rate,p50_us,p90_us,p99_us,p999_us,max_us,note\n\
         wire-floor,{scenario},{size},1,true,,{msgs},{secs},{rate},{mb},{cpu},,{p50},{p90},{p99},{p999},{max},{note}\n",
        scenario = args.scenario.name(),
        size = args.size,
        msgs = args.msgs,
        rate = n / secs,
        mb = n * args.size as f64 / secs / 1e6,
        cpu = measured.cpu.as_secs_f64() * 1e6 / n,
        p50 = us(|l| l.value_at_quantile(0.5)),
        p90 = us(|l| l.value_at_quantile(0.9)),
        p99 = us(|l| l.value_at_quantile(0.99)),
        p999 = us(|l| l.value_at_quantile(0.999)),
        max = us(Histogram::max),
        note = args.scenario.note(),
    ))
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("natsy-wire-floor: {e}\nusage: natsy-wire-floor [--url nats://HOST:PORT] [--scenario req|pub|pubsub] [--msgs N] [--size N]");
            std::process::exit(2);
        }
    };
    match run(&args) {
        Ok(csv) => print!("{csv}"),
        Err(e) => {
            eprintln!("natsy-wire-floor: {e}");
            std::process::exit(1);
        }
    }
}

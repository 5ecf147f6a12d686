//! The request latency floor of a server and machine: what a client that does nothing
//! but the wire would measure. One thread holds two plain sockets, requester and
//! responder; each request is written, read by the responder socket, answered, and the
//! answer read back, all with blocking calls on the one thread. No client library, no
//! second thread, no wake-up: what is left is the kernel's loopback and the server's two
//! hops. A client's `req` p50 cannot go below this on the same server, so the ratio of
//! two clients' p50s cannot go below floor / slower client (BENCHMARKS.md).
//!
//! ```text
//! natsy-wire-floor --url nats://127.0.0.1:4222 --msgs 10000 --size 128
//! ```
//!
//! It prints one CSV line in natsy-bench's columns (`client` is `wire-floor`).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use natsy_benches::measure::Meter;

/// Untimed requests first, as the clients' `req` does.
const WARM_UP: usize = 100;

struct Args {
    addr: String,
    msgs: usize,
    size: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:4222".into(),
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
    let mut answer = format!("PUB {reply} {size}\r\n").into_bytes();
    answer.resize(answer.len() + size, b'x');
    answer.extend_from_slice(b"\r\n");
    responder.stream.write_all(&answer)?;
    let (_, got) = requester.message()?;
    if got != size {
        return Err(io::Error::other(format!(
            "a reply of {got} bytes, not {size}"
        )));
    }
    Ok(())
}

fn run(args: &Args) -> io::Result<String> {
    let mut responder = Wire::open(&args.addr, "floor.req")?;
    let mut requester = Wire::open(&args.addr, "floor.reply")?;
    let mut frame = format!("PUB floor.req floor.reply {}\r\n", args.size).into_bytes();
    frame.resize(frame.len() + args.size, b'x');
    frame.extend_from_slice(b"\r\n");
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
    let measured = meter.stop();
    let secs = measured.elapsed.as_secs_f64();
    let us = |q: f64| latencies.value_at_quantile(q) as f64 / 1000.0;
    let n = args.msgs as f64;
    Ok(format!(
        "client,scenario,size,rep,ok,error,msgs,elapsed_s,msgs_per_sec,mb_per_sec,cpu_us_per_msg,rate,p50_us,p90_us,p99_us,p999_us,max_us,note\n\
         wire-floor,req,{size},1,true,,{msgs},{secs},{rate},{mb},{cpu},,{p50},{p90},{p99},{p999},{max},one thread two sockets\n",
        size = args.size,
        msgs = args.msgs,
        rate = n / secs,
        mb = n * args.size as f64 / secs / 1e6,
        cpu = measured.cpu.as_secs_f64() * 1e6 / n,
        p50 = us(0.5),
        p90 = us(0.9),
        p99 = us(0.99),
        p999 = us(0.999),
        max = latencies.max() as f64 / 1000.0,
    ))
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("natsy-wire-floor: {e}\nusage: natsy-wire-floor [--url nats://HOST:PORT] [--msgs N] [--size N]");
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

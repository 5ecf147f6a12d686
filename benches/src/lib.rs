//! natsy's benchmarks.
//!
//! - Input builders for the criterion benches of `natsy-proto` ([`msg_frames`],
//!   [`hmsg_frames`]): wire frames as the server would send them.
//! - The `natsy-bench` tool: scenarios against a real server ([`natsy_client`]) driven by
//!   a client-independent runner ([`runner`], [`cli`], [`measure`], [`report`],
//!   [`progress`], [`server`], [`pace`]) that the async-nats peer in `benches/compare/`
//!   shares, and the helper processes it starts ([`publisher`], [`responder`]).
//! - The comparison driver `natsy-compare` ([`compare`]).
//!
//! The crates natsy-bench stands on, each well kept and the usual choice for its job, so
//! the tool behaves as users of `nats bench` and other Rust CLIs expect:
//! - `clap` (derive) parses the command line ([`cli`]): `--help` generated from the same
//!   definitions that parse, errors that name the flag and suggest the nearest one for a
//!   typo (`--mgs` → `--msgs`, `pubz` → `pub`), and no hand-written parser to keep right.
//! - `hdrhistogram` holds the per-message latencies ([`measure::Latencies`]): percentiles
//!   at 3 significant digits in a fixed ~300 KB, where keeping every sample grew with
//!   `--msgs`.
//! - `indicatif` draws the progress bar on stderr ([`progress`]) with the rate and the
//!   time left, redrawn at most ten times a second, only on a terminal.
//! - `ctrlc` catches Ctrl-C ([`interrupt`]) on a thread of its own, so a run blocked in
//!   the client still stops at once and the server it started is not left behind.
//! - `csv` writes `--format csv` ([`report::CsvOut`]) with correct quoting of notes and
//!   errors.

use std::fmt::Write as _;

pub mod cli;
pub mod compare;
pub mod interrupt;
pub mod measure;
pub mod natsy_async;
pub mod natsy_client;
pub mod natsy_kv;
pub mod natsy_kv_async;
pub mod natsy_obj;
pub mod pace;
pub mod progress;
pub mod publisher;
pub mod report;
pub mod responder;
pub mod runner;
pub mod server;

/// `n` frames of `MSG bench.subject <sid> <len>\r\n<payload>\r\n`.
pub fn msg_frames(n: usize, payload_len: usize) -> Vec<u8> {
    let payload = vec![b'x'; payload_len];
    let mut out = Vec::with_capacity(n * (payload_len + 40));
    for i in 0..n {
        out.extend_from_slice(
            format!("MSG bench.subject {} {payload_len}\r\n", 1 + i % 8).as_bytes(),
        );
        out.extend_from_slice(&payload);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `n` HMSG frames with a reply subject and `headers` headers of ~20 bytes each.
pub fn hmsg_frames(n: usize, payload_len: usize, headers: usize) -> Vec<u8> {
    let mut block = String::from("NATS/1.0\r\n");
    for h in 0..headers {
        let _ = write!(block, "Header-Name-{h}: value-{h}\r\n");
    }
    block.push_str("\r\n");
    let payload = vec![b'x'; payload_len];
    let total = block.len() + payload_len;
    let mut out = Vec::with_capacity(n * (total + 60));
    for _ in 0..n {
        out.extend_from_slice(
            format!(
                "HMSG bench.subject 1 _INBOX.reply {} {total}\r\n",
                block.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(block.as_bytes());
        out.extend_from_slice(&payload);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_announced_sizes() {
        let f = msg_frames(2, 16);
        assert_eq!(f.len(), 2 * ("MSG bench.subject 1 16\r\n".len() + 18));
        let h = hmsg_frames(1, 4, 3);
        let text = String::from_utf8(h).unwrap();
        let line = text.lines().next().unwrap();
        let nums: Vec<usize> = line
            .split(' ')
            .rev()
            .take(2)
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(nums[0] - nums[1], 4);
    }
}

//! The separate responder process of `req --rate`.
//!
//! The parent starts `<program> _responder --url U --subject S`; the child connects with
//! natsy (whichever client the parent benchmarks, so every client asks the same
//! responder), subscribes, flushes, prints `ready`, answers every request with its own
//! payload until its stdin reaches end of file, then prints `done N` (requests answered)
//! and exits. Answering in another process keeps the responder's CPU out of the
//! requester's: at a fixed rate the requester's cost per request is the number wanted.

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::cli::{ResponderArgs, RESPONDER_SUBCOMMAND};
use crate::publisher::HelperProcess;

/// Runs the responder side (the child process); returns what to print on failure.
pub fn run_child(args: &ResponderArgs) -> Result<(), String> {
    let client = natsy::ConnectOptions::new()
        .name("natsy-bench-responder")
        .flush_timeout(Duration::from_secs(60))
        .connect(args.url.as_str())
        .map_err(|e| format!("responder: connect to {}: {e}", args.url))?;
    let sub = client
        .subscribe(&args.subject)
        .map_err(|e| format!("responder: subscribe: {e}"))?;
    client
        .flush()
        .map_err(|e| format!("responder: flush: {e}"))?;
    let served = Arc::new(AtomicU64::new(0));
    let serving = {
        let served = served.clone();
        std::thread::spawn(move || {
            // Ends when the client is closed below.
            for msg in sub {
                if msg.respond(msg.payload_bytes()).is_ok() {
                    served.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let mut stdout = std::io::stdout();
    writeln!(stdout, "ready").map_err(|e| e.to_string())?;
    stdout.flush().map_err(|e| e.to_string())?;
    // Serve until the parent closes our stdin (or dies).
    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    while stdin.read_line(&mut line).is_ok_and(|n| n > 0) {
        line.clear();
    }
    let flushed = client.flush();
    let _ = client.close();
    serving
        .join()
        .map_err(|_| "responder: the serving thread panicked".to_string())?;
    flushed.map_err(|e| format!("responder: flush: {e}"))?;
    writeln!(stdout, "done {}", served.load(Ordering::Relaxed)).map_err(|e| e.to_string())?;
    stdout.flush().map_err(|e| e.to_string())?;
    Ok(())
}

/// The parent's handle on a responder process; killed on drop unless it finished.
#[derive(Debug)]
pub struct ResponderChild {
    helper: HelperProcess,
}

impl ResponderChild {
    /// Starts the responder and waits until its subscription is in place at the server.
    pub fn start(url: &str, subject: &str) -> Result<Self, String> {
        let args = ["--url", url, "--subject", subject].map(str::to_string);
        let helper = HelperProcess::spawn("responder", RESPONDER_SUBCOMMAND, &args)?;
        Ok(ResponderChild { helper })
    }

    /// Stops it; returns how many requests it answered.
    pub fn finish(mut self) -> Result<u64, String> {
        self.helper.close_stdin();
        let line = self.helper.read_line()?;
        let served = line
            .strip_prefix("done ")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("responder: expected done, got {line:?}"))?;
        self.helper.wait_success()?;
        Ok(served)
    }
}

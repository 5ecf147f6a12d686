//! The separate publisher process of the `sub` and `memory` scenarios.
//!
//! The parent starts `<program> _publisher --url U --subject S --msgs N --size B`; the child
//! connects (with natsy, whichever client the parent benchmarks, so both clients receive
//! from the same sender), prints `ready`, waits for a line on stdin, publishes, flushes
//! (PING/PONG) and prints `done N`. It flushes every 8 MiB on the way so its own buffer
//! stays small. With `--busy-subject T --busy-size C` it also publishes a C-byte message to
//! T after each one (the `memory` scenario's busy subscription).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use crate::cli::{PublisherArgs, PUBLISHER_SUBCOMMAND};

/// Runs the publisher side (the child process); returns what to print on failure.
pub fn run_child(args: &PublisherArgs) -> Result<(), String> {
    let client = natsy::ConnectOptions::new()
        .name("natsy-bench-publisher")
        .flush_timeout(Duration::from_secs(120))
        .connect(args.url.as_str())
        .map_err(|e| format!("publisher: connect to {}: {e}", args.url))?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "ready").map_err(|e| e.to_string())?;
    stdout.flush().map_err(|e| e.to_string())?;
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("publisher: stdin: {e}"))?;
    if line.trim() != "go" {
        return Err(format!("publisher: expected go, got {line:?}"));
    }
    let payload = crate::runner::static_payload(args.size);
    let busy = args
        .busy
        .as_ref()
        .map(|(subject, size)| (subject, crate::runner::static_payload(*size)));
    let round = args.size + busy.as_ref().map_or(0, |(_, p)| p.len());
    let every = ((8u64 << 20) / round.max(1) as u64).max(1);
    for i in 1..=args.msgs {
        client
            .publish(&args.subject, payload.clone())
            .map_err(|e| format!("publisher: publish: {e}"))?;
        if let Some((subject, payload)) = &busy {
            client
                .publish(subject.as_str(), payload.clone())
                .map_err(|e| format!("publisher: publish: {e}"))?;
        }
        if i % every == 0 {
            client
                .flush()
                .map_err(|e| format!("publisher: flush: {e}"))?;
        }
    }
    client
        .flush()
        .map_err(|e| format!("publisher: flush: {e}"))?;
    writeln!(stdout, "done {}", args.msgs).map_err(|e| e.to_string())?;
    stdout.flush().map_err(|e| e.to_string())?;
    Ok(())
}

/// The parent's handle on a publisher process; killed on drop unless it finished.
#[derive(Debug)]
pub struct PublisherChild {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    msgs: u64,
}

impl PublisherChild {
    /// Starts the publisher and waits until it is connected.
    pub fn start(url: &str, subject: &str, msgs: u64, size: usize) -> Result<Self, String> {
        Self::start_with_busy(url, subject, msgs, size, None)
    }

    /// [`start`](Self::start), and after each message one of `busy.1` bytes to `busy.0`.
    pub fn start_with_busy(
        url: &str,
        subject: &str,
        msgs: u64,
        size: usize,
        busy: Option<(&str, usize)>,
    ) -> Result<Self, String> {
        let exe = crate::cli::publisher_exe().map_err(|e| format!("publisher program: {e}"))?;
        let mut command = Command::new(&exe);
        command
            .arg(PUBLISHER_SUBCOMMAND)
            .args(["--url", url, "--subject", subject])
            .args(["--msgs", &msgs.to_string(), "--size", &size.to_string()]);
        if let Some((subject, size)) = busy {
            command.args(["--busy-subject", subject, "--busy-size", &size.to_string()]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().map(BufReader::new);
        let (Some(stdin), Some(stdout)) = (stdin, stdout) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("publisher: no pipes".into());
        };
        let mut me = PublisherChild {
            child,
            stdin: Some(stdin),
            stdout,
            msgs,
        };
        let line = me.read_line()?;
        if line != "ready" {
            return Err(format!("publisher: expected ready, got {line:?}"));
        }
        Ok(me)
    }

    fn read_line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err("publisher exited early (see its message above)".into()),
            Ok(_) => Ok(line.trim().to_string()),
            Err(e) => Err(format!("publisher: {e}")),
        }
    }

    /// Tells it to publish.
    pub fn go(&mut self) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("publisher: already started")?;
        stdin
            .write_all(b"go\n")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("publisher: {e}"))
    }

    /// Waits until it has published and flushed everything, and exited cleanly.
    pub fn finish(mut self) -> Result<(), String> {
        let line = self.read_line()?;
        if line != format!("done {}", self.msgs) {
            return Err(format!("publisher: expected done, got {line:?}"));
        }
        self.stdin = None;
        let status = self.child.wait().map_err(|e| format!("publisher: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("publisher exited with {status}"))
        }
    }
}

impl Drop for PublisherChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

//! The separate publisher process of the `sub` and `memory` scenarios, and the helper
//! process plumbing it shares with the responder ([`crate::responder`]).
//!
//! The parent starts `<program> _publisher --url U --subject S --msgs N --size B`; the child
//! connects (with natsy, whichever client the parent benchmarks, so both clients receive
//! from the same sender), prints `ready`, waits for a line on stdin, publishes, flushes
//! (PING/PONG) and prints `done N`. It flushes every 8 MiB on the way so its own buffer
//! stays small. With `--busy-subject T --busy-size C` it also publishes a C-byte message to
//! T after each one (the `memory` scenario's busy subscription). With `--rate R` message
//! `i` (from 0) is published at `go + i/R`, sleeping in between ([`Pacer`]), so the
//! subscriber measured receives them one by one at R msgs/s; the pacing's own cost is in
//! this process, never in the one measured.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use crate::cli::{PublisherArgs, PUBLISHER_SUBCOMMAND};
use crate::pace::Pacer;

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
    let mut pacer = args.rate.map(Pacer::new);
    for i in 1..=args.msgs {
        if let Some(p) = &mut pacer {
            p.wait(i - 1);
        }
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
    helper: HelperProcess,
    msgs: u64,
}

impl PublisherChild {
    /// Starts the publisher and waits until it is connected.
    pub fn start(url: &str, subject: &str, msgs: u64, size: usize) -> Result<Self, String> {
        Self::start_paced(url, subject, msgs, size, None)
    }

    /// [`start`](Self::start), publishing at `rate` msgs/s once told to go (`None`: as
    /// fast as it can).
    pub fn start_paced(
        url: &str,
        subject: &str,
        msgs: u64,
        size: usize,
        rate: Option<u64>,
    ) -> Result<Self, String> {
        Self::spawn(&PublisherArgs {
            url: url.to_string(),
            subject: subject.to_string(),
            msgs,
            size,
            busy: None,
            rate,
        })
    }

    /// [`start`](Self::start), and after each message one of `busy.1` bytes to `busy.0`.
    pub fn start_with_busy(
        url: &str,
        subject: &str,
        msgs: u64,
        size: usize,
        busy: Option<(&str, usize)>,
    ) -> Result<Self, String> {
        Self::spawn(&PublisherArgs {
            url: url.to_string(),
            subject: subject.to_string(),
            msgs,
            size,
            busy: busy.map(|(s, n)| (s.to_string(), n)),
            rate: None,
        })
    }

    /// Starts a publisher process with `args` and waits until it is connected.
    pub fn spawn(args: &PublisherArgs) -> Result<Self, String> {
        let helper = HelperProcess::spawn("publisher", PUBLISHER_SUBCOMMAND, &args.to_args())?;
        Ok(PublisherChild {
            helper,
            msgs: args.msgs,
        })
    }

    /// Tells it to publish.
    pub fn go(&mut self) -> Result<(), String> {
        self.helper.send("go")
    }

    /// Waits until it has published and flushed everything, and exited cleanly.
    pub fn finish(mut self) -> Result<(), String> {
        let line = self.helper.read_line()?;
        if line != format!("done {}", self.msgs) {
            return Err(format!("publisher: expected done, got {line:?}"));
        }
        self.helper.close_stdin();
        self.helper.wait_success()
    }
}

/// A helper process (`<program> SUBCOMMAND ARGS...`, the program from
/// [`crate::cli::publisher_exe`]) that talks in lines: it prints `ready` once connected,
/// reads its orders on stdin and reports on stdout. Killed on drop unless it exited.
#[derive(Debug)]
pub struct HelperProcess {
    what: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl HelperProcess {
    /// Starts it and waits for its `ready`; `what` names it in errors.
    pub fn spawn(what: &'static str, subcommand: &str, args: &[String]) -> Result<Self, String> {
        let exe = crate::cli::publisher_exe().map_err(|e| format!("{what} program: {e}"))?;
        let mut child = Command::new(&exe)
            .arg(subcommand)
            .args(args)
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
            return Err(format!("{what}: no pipes"));
        };
        let mut me = HelperProcess {
            what,
            child,
            stdin: Some(stdin),
            stdout,
        };
        let line = me.read_line()?;
        if line != "ready" {
            return Err(format!("{what}: expected ready, got {line:?}"));
        }
        Ok(me)
    }

    /// The next line it printed, trimmed.
    pub fn read_line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err(format!(
                "{} exited early (see its message above)",
                self.what
            )),
            Ok(_) => Ok(line.trim().to_string()),
            Err(e) => Err(format!("{}: {e}", self.what)),
        }
    }

    /// Sends it one line.
    pub fn send(&mut self, line: &str) -> Result<(), String> {
        let what = self.what;
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| format!("{what}: its stdin is closed"))?;
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("{what}: {e}"))
    }

    /// Closes its stdin (it reads end of file).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for it to exit, which must be with success.
    pub fn wait_success(&mut self) -> Result<(), String> {
        let status = self
            .child
            .wait()
            .map_err(|e| format!("{}: {e}", self.what))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{} exited with {status}", self.what))
        }
    }
}

impl Drop for HelperProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

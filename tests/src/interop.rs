//! Another client's program as a test peer: a binary built outside this workspace (so CI
//! never compiles its runtime), named by an environment variable, run against a test
//! server with arguments, printing its findings one per line.

use std::process::Command;

/// A peer binary and the server URL it is always given first.
#[derive(Debug, Clone)]
pub struct InteropPeer {
    /// The binary.
    pub bin: String,
    /// The server's URL, its first argument.
    pub url: String,
}

impl InteropPeer {
    /// The peer named by the environment variable `var`, or `None` when it is not set
    /// (said on stderr: the check is skipped, never passed silently as run).
    pub fn from_env(var: &str, url: String) -> Option<InteropPeer> {
        match std::env::var(var) {
            Ok(bin) => Some(InteropPeer { bin, url }),
            Err(_) => {
                eprintln!("{var} is not set: skipping the interop check");
                None
            }
        }
    }

    /// Runs the peer with `args` after the URL and returns its stdout lines; panics with
    /// its stderr when it fails.
    pub fn run(&self, args: &[&str]) -> Vec<String> {
        let out = Command::new(&self.bin)
            .arg(&self.url)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", self.bin));
        assert!(
            out.status.success(),
            "{} {args:?}: {}",
            self.bin,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

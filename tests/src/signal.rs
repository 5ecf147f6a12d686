//! Sends Unix signals to processes by pid with the `kill` command, which keeps the crate
//! free of `libc`/`nix` (and of `unsafe`).

use std::process::{Command, Stdio};

use crate::HarnessError;

/// Sends `SIG<name>` (e.g. `"TERM"`, `"HUP"`, `"KILL"`) to `pid`.
pub fn send(pid: u32, name: &str) -> Result<(), HarnessError> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| HarnessError::io(format!("running kill -{name} {pid}"), e))?;
    if status.success() {
        Ok(())
    } else {
        Err(HarnessError::Probe {
            what: format!("kill -{name} {pid}"),
            detail: format!("exited with {status} (no such process?)"),
        })
    }
}

/// True when a process with this pid exists (`kill -0`). A zombie still counts; the
/// harness reaps its own processes, so for them "gone" really means gone.
pub fn process_exists(pid: u32) -> bool {
    Command::new("kill")
        .arg("-0")
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_exists() {
        assert!(process_exists(std::process::id()));
    }

    #[test]
    fn a_reaped_child_is_gone() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        assert!(process_exists(pid));
        send(pid, "KILL").unwrap();
        child.wait().unwrap();
        assert!(!process_exists(pid));
        assert!(send(pid, "TERM").is_err());
    }
}

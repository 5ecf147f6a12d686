//! [`ProcessStats`]: resident memory, threads and open file descriptors of this process,
//! for leak tests and the soak runner (read from `/proc/self`; Linux only, `None`
//! elsewhere).

use std::fmt;

/// One sample of this process's resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessStats {
    /// Resident set size in KiB (`VmRSS`).
    pub rss_kib: u64,
    /// Threads (`Threads`).
    pub threads: u64,
    /// Open file descriptors (entries of `/proc/self/fd`).
    pub fds: u64,
}

impl ProcessStats {
    /// Samples now; `None` when `/proc/self` is not readable (not Linux).
    pub fn sample() -> Option<ProcessStats> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let field = |name: &str| -> Option<u64> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            line[name.len()..].split_whitespace().next()?.parse().ok()
        };
        let fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        Some(ProcessStats {
            rss_kib: field("VmRSS:")?,
            threads: field("Threads:")?,
            fds,
        })
    }
}

impl fmt::Display for ProcessStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rss {} KiB, {} threads, {} fds",
            self.rss_kib, self.threads, self.fds
        )
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process() {
        let s = ProcessStats::sample().unwrap();
        assert!(s.rss_kib > 0 && s.threads >= 1 && s.fds >= 3, "{s}");
    }
}

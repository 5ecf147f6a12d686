//! The progress bar drawn while a run goes on, only when stdout is a terminal.
//!
//! Scenarios report progress through a [`Progress`] counter (a relaxed atomic add every
//! few thousand messages, so it costs nothing measurable); a [`ProgressBar`] thread reads
//! it ten times a second and redraws one line, which it clears when dropped.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How many messages a scenario reports at once.
pub const STEP: u64 = 4096;

/// A shared counter of messages done in the current run.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    done: Arc<AtomicU64>,
}

impl Progress {
    /// A counter at zero.
    pub fn new() -> Progress {
        Progress::default()
    }

    /// Adds `n` messages.
    pub fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Messages so far.
    pub fn get(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }
}

/// Draws `[#####.....]  48%  480000/1000000  pubsub 128 B` until dropped.
#[derive(Debug)]
pub struct ProgressBar {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// One line of the bar (without the leading carriage return).
pub fn render(label: &str, done: u64, total: u64, width: usize) -> String {
    let total = total.max(1);
    let done = done.min(total);
    let filled = (done as u128 * width as u128 / total as u128) as usize;
    let percent = done as u128 * 100 / total as u128;
    format!(
        "[{}{}] {percent:>3}%  {done}/{total}  {label}",
        "#".repeat(filled),
        ".".repeat(width - filled)
    )
}

impl ProgressBar {
    /// Starts drawing if `enabled`; otherwise does nothing.
    pub fn start(enabled: bool, label: String, progress: Progress, total: u64) -> ProgressBar {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = enabled.then(|| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut out = std::io::stdout();
                while !stop.load(Ordering::Relaxed) {
                    let _ = write!(out, "\r{}", render(&label, progress.get(), total, 30));
                    let _ = out.flush();
                    std::thread::sleep(Duration::from_millis(100));
                }
                // Clear the line for the table row that follows.
                let _ = write!(out, "\r\x1b[2K");
                let _ = out.flush();
            })
        });
        ProgressBar { stop, thread }
    }
}

impl Drop for ProgressBar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_fills_with_progress() {
        assert_eq!(render("x", 0, 10, 10), "[..........]   0%  0/10  x");
        assert_eq!(render("x", 5, 10, 10), "[#####.....]  50%  5/10  x");
        // Overshoot and a zero total never overflow the bar.
        assert_eq!(render("x", 20, 10, 4), "[####] 100%  10/10  x");
        assert_eq!(render("x", 0, 0, 4), "[....]   0%  0/1  x");
        let p = Progress::new();
        p.add(3);
        p.clone().add(4);
        assert_eq!(p.get(), 7);
        drop(ProgressBar::start(false, "x".into(), p, 10));
    }
}

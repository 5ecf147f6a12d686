//! The progress bar drawn on stderr while a run goes on (`indicatif`): done/total with
//! thousands separators, the rate in msgs/s and the time left.
//!
//! Scenarios report progress through a [`Progress`] counter (a relaxed atomic add every
//! few thousand messages, so it costs nothing measurable); a [`ProgressBar`] thread reads
//! it ten times a second and hands it to the bar, which it clears when dropped. The bar
//! being drawn is also known to [`clear_active`], so that Ctrl-C can clear it and give the
//! cursor back before the process exits.

use std::io::{IsTerminal, Write as _};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressDrawTarget, ProgressState, ProgressStyle, TermLike};

use crate::report::thousands;

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

/// The bar's template: `natsy pub 128B [#####>....]  48% 480,000/1,000,000 1,234,567 msgs/s ETA 3s`.
pub const TEMPLATE: &str = "{prefix} [{bar:30}] {percent:>3}% {done}/{total} {rate} ETA {eta}";

/// The bar's style, with the keys [`TEMPLATE`] uses beyond indicatif's own.
pub fn style() -> Result<ProgressStyle, indicatif::style::TemplateError> {
    Ok(ProgressStyle::with_template(TEMPLATE)?
        .progress_chars("#>.")
        .with_key("done", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&thousands(s.pos()));
        })
        .with_key("total", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&thousands(s.len().unwrap_or(0)));
        })
        .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{} msgs/s", rate_text(s.per_sec()));
        }))
}

/// `1,234,567` for a rate (0 for a rate not known yet).
pub fn rate_text(per_sec: f64) -> String {
    if per_sec.is_finite() && per_sec > 0.0 {
        thousands(per_sec.round() as u64)
    } else {
        "0".into()
    }
}

/// stderr as indicatif's terminal, three columns narrower than it is: indicatif pads its
/// line with spaces to the width it is told, and on the real full width the `^C` that a
/// terminal echoes would wrap to a new line, leaving the bar above it uncleared.
#[derive(Debug)]
struct Stderr(console::Term);

impl TermLike for Stderr {
    fn width(&self) -> u16 {
        self.0.size().1.saturating_sub(3).max(1)
    }

    fn height(&self) -> u16 {
        self.0.size().0
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_up(n)
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_down(n)
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_right(n)
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_left(n)
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.0.write_line(s)
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.0.write_str(s)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        self.0.clear_line()
    }

    fn flush(&self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// The bar being drawn, for [`clear_active`].
static ACTIVE: Mutex<Option<indicatif::ProgressBar>> = Mutex::new(None);

/// Clears the bar being drawn, if any, and shows the cursor again (for Ctrl-C).
pub fn clear_active() {
    let bar = ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(bar) = bar {
        // The bar clears the lines it drew (a line as wide as the terminal takes two);
        // hidden afterwards, so that a redraw already under way puts nothing back.
        bar.finish_and_clear();
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let mut err = std::io::stderr();
    if err.is_terminal() {
        // Show the cursor, in case anything hid it.
        let _ = write!(err, "\r\x1b[2K\x1b[?25h");
        let _ = err.flush();
    }
}

/// Draws the bar on stderr until dropped.
#[derive(Debug)]
pub struct ProgressBar {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ProgressBar {
    /// Starts drawing if `enabled` and stderr is a terminal; otherwise does nothing.
    pub fn start(enabled: bool, label: String, progress: Progress, total: u64) -> ProgressBar {
        let stop = Arc::new(AtomicBool::new(false));
        let style = style()
            .ok()
            .filter(|_| enabled && std::io::stderr().is_terminal());
        let thread = style.map(|style| {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(total),
                ProgressDrawTarget::term_like_with_hz(
                    Box::new(Stderr(console::Term::stderr())),
                    10,
                ),
            )
            .with_style(style)
            .with_prefix(label);
            *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) && !crate::interrupt::interrupted() {
                    bar.set_position(progress.get().min(total));
                    std::thread::sleep(Duration::from_millis(100));
                }
                ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).take();
                // Cleared for the table row that follows.
                bar.finish_and_clear();
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
    fn the_bar_shows_counts_rate_and_eta() {
        assert!(style().is_ok());
        for key in ["{done}", "{total}", "{rate}", "{eta}", "{bar:30}"] {
            assert!(TEMPLATE.contains(key), "{key}");
        }
        assert_eq!(rate_text(1_234_567.4), "1,234,567");
        assert_eq!(rate_text(f64::NAN), "0");
        assert_eq!(rate_text(0.0), "0");
    }

    #[test]
    fn the_counter_adds_up_and_a_disabled_bar_draws_nothing() {
        let p = Progress::new();
        p.add(3);
        p.clone().add(4);
        assert_eq!(p.get(), 7);
        let bar = ProgressBar::start(false, "x".into(), p, 10);
        assert!(bar.thread.is_none());
        drop(bar);
        clear_active();
    }
}

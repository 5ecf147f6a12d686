//! What Ctrl-C (SIGINT, and SIGTERM or SIGHUP) does to a benchmark run, with `ctrlc`: the
//! run stops where it is, the nats-server this program started is killed and its
//! temporary JetStream store removed ([`crate::server::stop_started_servers`]), the
//! progress bar is cleared and the cursor shown again, a short message goes to stderr,
//! and the process exits with status 130.
//!
//! The handler runs on a thread of its own (ctrlc's), so it does the cleanup itself and
//! exits: a scenario blocked in a receive or a flush need not notice anything. Helper
//! processes (`_publisher`, `_responder`) need no handler: a terminal's Ctrl-C reaches
//! them too, and they stop when their parent or the server goes.

use std::sync::atomic::{AtomicBool, Ordering};

/// The exit status after Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_STATUS: i32 = 130;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether Ctrl-C was pressed (results printed after it are left out).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// Installs the handler; `program` names this program in its message.
pub fn install(program: &str) -> Result<(), ctrlc::Error> {
    let program = program.to_string();
    ctrlc::set_handler(move || on_interrupt(&program))
}

fn on_interrupt(program: &str) -> ! {
    INTERRUPTED.store(true, Ordering::Relaxed);
    crate::progress::clear_active();
    // Held until exit, so nothing else stops (or restarts) a server meanwhile.
    let (stopped, _registry) = crate::server::stop_started_servers();
    let mut message = format!("{program}: interrupted");
    for s in &stopped {
        message += &format!(
            "; stopped the nats-server it started (pid {}) and removed {}",
            s.pid,
            s.dir.display()
        );
    }
    eprintln!("{message}");
    std::process::exit(EXIT_STATUS)
}

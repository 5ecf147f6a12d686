//! The one way a thread of the blocking API sleeps on a condition variable until a
//! deadline: shared by subscription queues and reply slots, which both record that a
//! thread sleeps so the loop notifies only then (a notify is a `futex` call even with
//! no waiter).

use std::sync::{Condvar, MutexGuard};
use std::time::Instant;

/// Sleeps on `ready` until notified or `deadline` (`None`: no deadline), with `sleeping`
/// told `true` before and `false` after, under the lock. `Err` with the guard, without
/// sleeping, when the deadline has passed.
pub(crate) fn sleep_until<'a, T>(
    ready: &Condvar,
    mut guard: MutexGuard<'a, T>,
    deadline: Option<Instant>,
    sleeping: impl Fn(&mut T, bool),
) -> Result<MutexGuard<'a, T>, MutexGuard<'a, T>> {
    let timeout = match deadline {
        None => None,
        Some(deadline) => {
            let now = Instant::now();
            if now >= deadline {
                return Err(guard);
            }
            Some(deadline - now)
        }
    };
    sleeping(&mut guard, true);
    let mut guard = match timeout {
        None => ready.wait(guard).unwrap_or_else(|e| e.into_inner()),
        Some(timeout) => {
            ready
                .wait_timeout(guard, timeout)
                .unwrap_or_else(|e| e.into_inner())
                .0
        }
    };
    sleeping(&mut guard, false);
    Ok(guard)
}

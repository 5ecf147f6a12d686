//! What async waits register with the loop thread: [`WakerSet`], the tasks to wake when a
//! condition they wait on may have changed (the futures' counterpart of a condition
//! variable), and [`Timers`], the deadlines the loop thread keeps for them so that a
//! timeout needs no async runtime.
//!
//! Both live in [`Core`](crate::core::Core), behind the one lock. Wakers are woken under
//! that lock, as condition variables are notified: by `Waker`'s contract a wake is a cheap
//! hand-off to the executor (a queue push and at most an unpark), never the task's code.

use std::collections::{BTreeMap, HashMap};
use std::task::Waker;
use std::time::Instant;

/// A registration key, unique per [`WakerSet`] or [`Timers`] for the client's lifetime.
pub(crate) type WaitKey = u64;

/// Keeps `waker` in a one-task slot: the clone is skipped when the slot already wakes
/// the same task, as it does on every poll of a future that stays on one executor.
pub(crate) fn remember(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        Some(w) => w.clone_from(waker),
        None => *slot = Some(waker.clone()),
    }
}

/// Tasks waiting for a condition, by key. A task registers (again) on every poll that
/// returns `Pending`, and removes itself when it completes or is dropped, so nothing is
/// left behind by a cancelled future.
#[derive(Debug, Default)]
pub(crate) struct WakerSet {
    wakers: HashMap<WaitKey, Waker>,
    next_key: WaitKey,
}

#[cfg_attr(not(feature = "async"), allow(dead_code))]
impl WakerSet {
    /// A key for a new waiting future.
    pub(crate) fn key(&mut self) -> WaitKey {
        self.next_key += 1;
        self.next_key
    }

    /// Registers (or refreshes) the waker of `key`.
    pub(crate) fn register(&mut self, key: WaitKey, waker: &Waker) {
        match self.wakers.get_mut(&key) {
            Some(w) if w.will_wake(waker) => {}
            Some(w) => w.clone_from(waker),
            None => {
                self.wakers.insert(key, waker.clone());
            }
        }
    }

    /// Forgets `key` (its future completed or was dropped).
    pub(crate) fn remove(&mut self, key: WaitKey) {
        self.wakers.remove(&key);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.wakers.is_empty()
    }

    /// Wakes every registered task; each registers again if it still has to wait.
    pub(crate) fn wake_all(&mut self) {
        for (_, waker) in self.wakers.drain() {
            waker.wake();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.wakers.len()
    }
}

/// Deadlines of waiting futures, kept by the loop thread: its `poll` sleeps no longer than
/// the earliest, and [`Timers::fire`] wakes the tasks whose deadline has passed.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    by_deadline: BTreeMap<(Instant, WaitKey), Waker>,
    next_key: WaitKey,
}

#[cfg_attr(not(feature = "async"), allow(dead_code))]
impl Timers {
    /// A key for a new timer.
    pub(crate) fn key(&mut self) -> WaitKey {
        self.next_key += 1;
        self.next_key
    }

    /// Registers (or refreshes) the waker of timer `key` due at `deadline`. True when this
    /// is now the earliest deadline: the loop, which may be sleeping for longer, must be
    /// woken to shorten its sleep.
    pub(crate) fn register(&mut self, deadline: Instant, key: WaitKey, waker: &Waker) -> bool {
        match self.by_deadline.get_mut(&(deadline, key)) {
            Some(w) => {
                if !w.will_wake(waker) {
                    w.clone_from(waker);
                }
                false
            }
            None => {
                self.by_deadline.insert((deadline, key), waker.clone());
                self.next() == Some(deadline)
            }
        }
    }

    /// Forgets timer `key` due at `deadline`.
    pub(crate) fn remove(&mut self, deadline: Instant, key: WaitKey) {
        self.by_deadline.remove(&(deadline, key));
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.by_deadline.keys().next().map(|(d, _)| *d)
    }

    /// Wakes (and forgets) every timer due by `now`.
    pub(crate) fn fire(&mut self, now: Instant) {
        while let Some(entry) = self.by_deadline.first_entry() {
            if entry.key().0 > now {
                break;
            }
            entry.remove().wake();
        }
    }

    /// Wakes every timer: the loop is ending, and no deadline will be served again.
    pub(crate) fn fire_all(&mut self) {
        for (_, waker) in std::mem::take(&mut self.by_deadline) {
            waker.wake();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.by_deadline.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;
    use std::time::Duration;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn a_waker_set_wakes_each_registered_task_once_and_forgets_removed_ones() {
        let mut set = WakerSet::default();
        let (a, wa) = counter();
        let (b, wb) = counter();
        let (ka, kb) = (set.key(), set.key());
        set.register(ka, &wa);
        set.register(ka, &wa); // a second poll does not register twice
        set.register(kb, &wb);
        set.remove(kb);
        set.wake_all();
        set.wake_all();
        assert_eq!(a.0.load(Ordering::SeqCst), 1);
        assert_eq!(b.0.load(Ordering::SeqCst), 0);
        assert!(set.is_empty());
    }

    #[test]
    fn timers_fire_in_deadline_order_and_only_when_due() {
        let mut timers = Timers::default();
        let t0 = Instant::now();
        let (late, wl) = counter();
        let (early, we) = counter();
        let (kl, ke) = (timers.key(), timers.key());
        assert!(timers.register(t0 + Duration::from_secs(2), kl, &wl));
        assert!(
            timers.register(t0 + Duration::from_secs(1), ke, &we),
            "earlier"
        );
        assert!(
            !timers.register(t0 + Duration::from_secs(1), ke, &we),
            "refresh"
        );
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(1)));
        timers.fire(t0);
        assert_eq!(early.0.load(Ordering::SeqCst), 0);
        timers.fire(t0 + Duration::from_secs(1));
        assert_eq!(early.0.load(Ordering::SeqCst), 1);
        assert_eq!(late.0.load(Ordering::SeqCst), 0);
        timers.remove(t0 + Duration::from_secs(2), kl);
        timers.fire_all();
        assert_eq!(
            late.0.load(Ordering::SeqCst),
            0,
            "removed before it was due"
        );
        assert_eq!(timers.len(), 0);
    }
}

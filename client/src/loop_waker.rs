//! [`LoopWaker`]: how user calls, the dialer and timers tell the loop to look at the core.
//!
//! On natsy's own loop thread that is mio's waker (an eventfd in the loop's epoll set).
//! When a tokio task drives the loop (`on_tokio`) it is that task's `Waker` instead: the
//! task is scheduled straight away, on the waking worker where that worker is the
//! caller, rather than after an eventfd write and a turn of the reactor's `epoll_wait`
//! (BENCHMARKS.md).

use std::io;
#[cfg(all(feature = "tokio", unix))]
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(all(feature = "tokio", unix))]
use std::sync::Mutex;
#[cfg(all(feature = "tokio", unix))]
use std::task::{Context, Waker};

/// Wakes whatever drives the loop.
pub(crate) enum LoopWaker {
    /// natsy's own loop thread, asleep in `epoll_wait`.
    Poller(mio::Waker),
    /// The task that drives the loop (`on_tokio`), once it has polled.
    #[cfg(all(feature = "tokio", unix))]
    Task(TaskWake),
}

impl LoopWaker {
    /// Makes the loop run a turn soon. An error means the loop thread is gone.
    pub(crate) fn wake(&self) -> io::Result<()> {
        match self {
            LoopWaker::Poller(poller) => poller.wake(),
            #[cfg(all(feature = "tokio", unix))]
            LoopWaker::Task(task) => {
                task.wake();
                Ok(())
            }
        }
    }

    /// The driving task's side, if a task drives the loop.
    #[cfg(all(feature = "tokio", unix))]
    pub(crate) fn task(&self) -> Option<&TaskWake> {
        match self {
            LoopWaker::Task(task) => Some(task),
            LoopWaker::Poller(_) => None,
        }
    }
}

/// A wake flag and the driving task's waker. The flag keeps a wake that comes while the
/// task is running (not waiting) for its next wait, which then ends at once.
#[cfg(all(feature = "tokio", unix))]
#[derive(Default)]
pub(crate) struct TaskWake {
    woken: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

#[cfg(all(feature = "tokio", unix))]
impl TaskWake {
    fn wake(&self) {
        if self.woken.swap(true, Ordering::AcqRel) {
            return;
        }
        let waker = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Forgets earlier wakes: the turn about to start looks at everything they asked for.
    pub(crate) fn reset(&self) {
        self.woken.store(false, Ordering::Release);
    }

    /// True if woken since the last [`reset`](Self::reset); otherwise `cx` is woken by
    /// the next wake.
    pub(crate) fn poll_woken(&self, cx: &mut Context<'_>) -> bool {
        if self.woken.load(Ordering::Acquire) {
            return true;
        }
        {
            let mut waker = self.waker.lock().unwrap_or_else(|e| e.into_inner());
            crate::wakers::remember(&mut waker, cx.waker());
        }
        // A wake between the load and the store above found no waker to take.
        self.woken.load(Ordering::Acquire)
    }
}

#[cfg(all(test, feature = "tokio", unix))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::Wake;

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_wake_before_the_wait_ends_it_and_one_during_it_wakes_the_task() {
        let task = TaskWake::default();
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);

        task.wake();
        assert!(task.poll_woken(&mut cx), "a wake while running is kept");
        task.reset();
        assert!(!task.poll_woken(&mut cx));
        task.wake();
        task.wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "woken once per wait");
        assert!(task.poll_woken(&mut cx));
    }
}

//! The loop as a task on a tokio runtime instead of a thread of its own (the `tokio`
//! feature, [`ConnectOptions::tokio_runtime`](crate::ConnectOptions::tokio_runtime)).
//!
//! The turns are the thread's ([`EventLoop::run`]); only the wait differs. mio's epoll
//! descriptor is itself pollable: it is readable while one of its sources (the socket)
//! has an event. So the task registers that descriptor with tokio's reactor and waits on
//! it, on the next deadline and on user calls, which wake the task itself
//! ([`LoopWaker`](crate::loop_waker::LoopWaker)). A reply then wakes the
//! requesting task from the worker that read it, with no thread of natsy's in between:
//! the thread switch a reply costs on natsy's own loop thread, and a tokio worker's
//! unpark, are gone (BENCHMARKS.md).

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use mio::Events;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::{EventLoop, Turn};

/// Turns that find work back to back before the task lets the worker's other tasks
/// run: on a current-thread runtime a busy connection must not starve its users.
const TURNS_PER_YIELD: u32 = 16;

/// Ends the loop properly however the task ends: a runtime that shuts down drops its
/// tasks, and the connection must still close and release every waiter (threads
/// blocked on the same connection and tasks on other executors among them).
struct Finisher(Option<EventLoop>);

impl Drop for Finisher {
    fn drop(&mut self) {
        if let Some(mut event_loop) = self.0.take() {
            if !event_loop.finished {
                event_loop.poller_broke();
            }
            event_loop.finish();
        }
    }
}

/// Drives the connection until it closes for good; spawned on the user's runtime.
pub(crate) async fn run(event_loop: EventLoop) {
    let mut finisher = Finisher(Some(event_loop));
    if let Some(event_loop) = finisher.0.as_mut() {
        drive(event_loop).await;
    }
    // The final write may wait up to a second for the socket: not on a worker.
    let _ = tokio::task::spawn_blocking(move || drop(finisher)).await;
}

async fn drive(event_loop: &mut EventLoop) {
    let mut events = Events::with_capacity(64);
    let ready = match register(&event_loop.poll) {
        Ok(ready) => ready,
        Err(_) => return event_loop.poller_broke(),
    };
    let shared = event_loop.shared.clone();
    let Some(woken) = shared.waker.task() else {
        return event_loop.poller_broke();
    };
    let mut busy_turns = 0;
    loop {
        woken.reset();
        let timeout = match event_loop.begin_turn() {
            Turn::Done => return,
            Turn::Again => Some(Duration::ZERO),
            Turn::Wait(timeout) => timeout,
        };
        // Whether the poller may have events, so the look below is worth its
        // `epoll_wait`. A busy turn looks anyway: the reactor's view may be stale.
        let mut polled = true;
        if timeout != Some(Duration::ZERO) {
            // Readiness stays set until cleared below, so an event that came since the
            // last look ends this wait at once; tokio's budget makes a busy connection
            // yield here as well.
            let mut sleep = timeout.map(|t| Box::pin(tokio::time::sleep(t)));
            let mut parked = false;
            let waited = poll_fn(|cx| {
                if let Poll::Ready(guard) = ready.poll_read_ready(cx) {
                    // Cleared before the look below: an event after it is a new edge.
                    return Poll::Ready(guard.map(|mut guard| {
                        guard.clear_ready();
                        true
                    }));
                }
                // A user call, the dialer or a new timer: the next turn looks at the core.
                if woken.poll_woken(cx) {
                    return Poll::Ready(Ok(false));
                }
                let due = match sleep.as_mut() {
                    Some(sleep) => Pin::new(sleep).poll(cx).map(|()| Ok(false)),
                    None => Poll::Pending,
                };
                parked |= due.is_pending();
                due
            })
            .await;
            match waited {
                Ok(ready) => polled = ready,
                // The reactor is gone (the runtime shuts down).
                Err(_) => return event_loop.poller_broke(),
            }
            if parked {
                busy_turns = 0;
            }
        }
        busy_turns += 1;
        if busy_turns >= TURNS_PER_YIELD {
            busy_turns = 0;
            tokio::task::yield_now().await;
        }
        if polled {
            if !look(event_loop, &mut events) {
                return;
            }
        } else {
            events.clear();
        }
        event_loop.end_turn(&events);
        if event_loop.batch.take_woke() && event_loop.read_more {
            hand_off().await;
        }
    }
}

/// Lets the readers a turn woke run while the socket still has more: a task woken from
/// a worker waits in that worker's LIFO slot, which no other worker steals, until the
/// waking task returns `Pending`. Woken by itself, this task goes to the back of the
/// run queue instead, where an idle worker steals it and reads on beside the readers
/// (`yield_now` would wait for the next reactor poll). A subscriber of 4 KiB messages
/// cost 5.0–5.9 µs of CPU per message without this against 3.1–3.7 µs on natsy's own
/// loop thread (BENCHMARKS.md).
async fn hand_off() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}

/// Registers a second handle on mio's epoll instance (a `dup`, which the `AsyncFd`
/// owns) with the runtime's reactor, for readability: some source of ours has an event.
///
/// tokio deprecated this constructor because it cannot check that an arbitrary
/// `AsRawFd` keeps its descriptor open and the same while registered. This one does by
/// construction: the `Registry` is ours alone and closes its descriptor only when it
/// drops, which is when the `AsyncFd` drops, after deregistering it. So natsy stays
/// without `unsafe` (`forbid(unsafe_code)`).
#[allow(deprecated)]
fn register(poll: &mio::Poll) -> std::io::Result<AsyncFd<mio::Registry>> {
    AsyncFd::with_interest(poll.registry().try_clone()?, Interest::READABLE)
}

/// Collects what is ready without waiting. False if the poller broke (then closed).
fn look(event_loop: &mut EventLoop, events: &mut Events) -> bool {
    loop {
        match event_loop.poll.poll(events, Some(Duration::ZERO)) {
            Ok(()) => return true,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => {
                event_loop.poller_broke();
                return false;
            }
        }
    }
}

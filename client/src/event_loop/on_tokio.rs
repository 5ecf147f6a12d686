//! The loop as a task on a tokio runtime instead of a thread of its own (the `tokio`
//! feature, [`ConnectOptions::tokio_runtime`](crate::ConnectOptions::tokio_runtime)).
//!
//! The turns are the thread's ([`EventLoop::run`]); only the wait differs. The socket is
//! registered with the runtime's reactor (the thread registers it with its own poller),
//! and the task waits on its readiness, on the next deadline and on user calls, which
//! wake the task itself ([`LoopWaker`](crate::loop_waker::LoopWaker)). A reply then
//! wakes the requesting task from the worker that read it, with no thread of natsy's in
//! between: the thread switch a reply costs on natsy's own loop thread, and a tokio
//! worker's unpark, are gone (BENCHMARKS.md). The reactor's `epoll_wait` is the only
//! one per wake-up: nothing of natsy's is polled on top of it.

use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::runtime::Handle;

use super::{EventLoop, SocketReady, Turn};
use crate::transport::Transport;

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
        let transport = event_loop.transport.as_ref();
        let waited = if timeout == Some(Duration::ZERO) {
            // A busy turn takes what the reactor has seen so far without waiting.
            poll_fn(|cx| Poll::Ready(take_ready(transport, cx))).await
        } else {
            // Readiness stays set until taken, so an event that came since the last
            // turn ends this wait at once; tokio's budget makes a busy connection yield
            // here as well.
            let mut sleep = timeout.map(|t| Box::pin(tokio::time::sleep(t)));
            let mut parked = false;
            let waited = poll_fn(|cx| {
                match take_ready(transport, cx) {
                    Ok(ready) if !ready.readable && !ready.writable => {}
                    taken => return Poll::Ready(taken),
                }
                // A user call, the dialer or a new timer: the next turn looks at the core.
                if woken.poll_woken(cx) {
                    return Poll::Ready(Ok(SocketReady::default()));
                }
                let due = match sleep.as_mut() {
                    Some(sleep) => Pin::new(sleep)
                        .poll(cx)
                        .map(|()| Ok(SocketReady::default())),
                    None => Poll::Pending,
                };
                parked |= due.is_pending();
                due
            })
            .await;
            if parked {
                busy_turns = 0;
            }
            waited
        };
        let Ok(ready) = waited else {
            // The reactor is gone (the runtime shuts down).
            return event_loop.poller_broke();
        };
        busy_turns += 1;
        if busy_turns >= TURNS_PER_YIELD {
            busy_turns = 0;
            tokio::task::yield_now().await;
        }
        event_loop.end_turn(ready);
        if event_loop.batch.take_woke() && event_loop.read_more {
            hand_off().await;
        }
    }
}

/// Takes the socket's readiness from the reactor, registering the task for the next.
///
/// Taken means cleared before the turn reads or writes: an event after this is a new
/// edge, as with mio's edge-triggered registration on natsy's own loop thread, and the
/// turn goes on until `WouldBlock` (or a short read) just as it does there.
fn take_ready(transport: Option<&Transport>, cx: &mut Context<'_>) -> io::Result<SocketReady> {
    let mut ready = SocketReady::default();
    let Some(fd) = transport.and_then(|t| t.reactor.as_ref()) else {
        return Ok(ready);
    };
    if let Poll::Ready(guard) = fd.poll_read_ready(cx) {
        let mut guard = guard?;
        ready.readable = true;
        ready.closed = guard.ready().is_read_closed();
        guard.clear_ready();
    }
    if let Poll::Ready(guard) = fd.poll_write_ready(cx) {
        // Also a failed connect (write-closed): the write side reads the error.
        guard?.clear_ready();
        ready.writable = true;
    }
    Ok(ready)
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

/// Registers a socket with the runtime's reactor, on a second handle (a `dup`) that the
/// `AsyncFd` owns and that the transport keeps for as long as it keeps the socket, so
/// the socket closes when the transport drops, as on natsy's own loop thread.
///
/// tokio deprecated this constructor because it cannot check that an arbitrary
/// `AsRawFd` keeps its descriptor open and the same while registered. A `TcpStream` does
/// by construction: it owns its descriptor and closes it only when it drops, which is
/// when the `AsyncFd` drops, after deregistering it. So natsy stays without `unsafe`
/// (`forbid(unsafe_code)`).
#[allow(deprecated)]
pub(super) fn register_socket(
    runtime: &Handle,
    stream: &mio::net::TcpStream,
) -> io::Result<AsyncFd<std::net::TcpStream>> {
    let dup = std::net::TcpStream::from(stream.as_fd().try_clone_to_owned()?);
    let _context = runtime.enter();
    AsyncFd::with_interest(dup, Interest::READABLE | Interest::WRITABLE)
}

impl EventLoop {
    /// Drives this loop on `runtime` (see [`run`]): its sockets register with the
    /// runtime's reactor rather than the loop's own poller.
    pub(crate) fn on_runtime(mut self, runtime: Handle) -> Self {
        self.tokio = Some(runtime);
        self
    }
}

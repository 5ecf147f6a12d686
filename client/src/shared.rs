//! The state shared by user threads and the event loop thread.
//!
//! One mutex guards the `proto::Connection` and the routing tables ([`Core`]). User calls
//! lock it briefly to encode an op; the loop locks it to feed input and to write. Waits
//! (flush, first connect) use condition variables on the same mutex; replies and
//! subscription messages have their own small queues so a slow reader never holds it.

use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use natsy_proto::connection::{
    CloseReason, ConnectError as AttemptError, Connection, FlushId, RequestId,
};
use natsy_proto::{Message, ServerAddr, Sid};

use crate::error::{PermissionError, PermissionOperation};
use crate::event::Event;
use crate::sub_queue::{Closed, Pushed, SubQueue};
use crate::transport::DirectWriter;

/// Bytes per socket read (the loop's and a waiting thread's).
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// How the first connect went, for `connect` to return.
#[derive(Debug, Clone)]
pub(crate) enum FirstConnect {
    Pending,
    Connected,
    Failed(Box<(Option<(ServerAddr, AttemptError)>, CloseReason)>),
}

/// Where a flush stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlushState {
    Pending,
    Done,
    Failed,
}

/// What a request's reply slot holds.
#[derive(Debug, Default)]
pub(crate) enum SlotState {
    #[default]
    Waiting,
    Reply(Message),
    /// The server refused the request's publish or its reply inbox.
    Refused(PermissionError),
    Closed,
}

/// One outstanding request's reply slot, filled by the loop, waited on by the requester.
#[derive(Debug, Default)]
pub(crate) struct ReplySlot {
    pub(crate) state: Mutex<SlotState>,
    pub(crate) ready: Condvar,
}

impl ReplySlot {
    pub(crate) fn fill(&self, state: SlotState) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
        self.ready.notify_all();
    }

    /// Takes what arrived, leaving `Waiting`.
    pub(crate) fn take(&self) -> SlotState {
        std::mem::take(&mut *self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Everything behind the one lock.
pub(crate) struct Core {
    pub(crate) conn: Connection,
    pub(crate) subs: HashMap<Sid, Arc<SubQueue>>,
    pub(crate) flushes: HashMap<FlushId, FlushState>,
    /// The reply slot of each request proto's muxer has waiting.
    pub(crate) replies: HashMap<RequestId, Arc<ReplySlot>>,
    /// Subscriptions that end when the server refuses a publish to one of the subjects
    /// listed (`Subscription::end_on_refused_publish`).
    pub(crate) publish_watches: HashMap<Sid, Vec<String>>,
    /// The loop has been woken (or will look at the output anyway): no need to wake it.
    pub(crate) wake_pending: bool,
    pub(crate) first_connect: FirstConnect,
    /// Publishers waiting for the outgoing queue to drain (backpressure).
    pub(crate) publish_waiters: usize,
    pub(crate) last_attempt_error: Option<(ServerAddr, AttemptError)>,
    /// Why the dialer last failed to get credentials (for `connect` to return it typed).
    pub(crate) last_credentials_error: Option<crate::CredentialsError>,
    pub(crate) closed: Option<CloseReason>,
    pub(crate) slow_consumer_drops: u64,
    /// The loop's socket, for user threads about to wait on the server (request, flush, a
    /// subscriber whose queue is empty) to write pending output themselves: one thread
    /// hand-off less on the latency path. Set and cleared by the loop; plain TCP only.
    pub(crate) direct: Option<DirectWriter>,
}

impl Core {
    /// Forgets subscription `sid` (its queue and what it watches); the queue, if any.
    pub(crate) fn remove_sub(&mut self, sid: Sid) -> Option<Arc<SubQueue>> {
        self.publish_watches.remove(&sid);
        self.subs.remove(&sid)
    }

    /// The server refused a publish to a subject: end every subscription watching that
    /// subject (`Subscription::end_on_refused_publish`), unsubscribing it. (Requests to
    /// it were failed by proto's muxer.)
    pub(crate) fn publish_refused(&mut self, e: &PermissionError) {
        if e.operation() != PermissionOperation::Publish {
            return;
        }
        let subject = e.subject();
        let ended: Vec<Sid> = self
            .publish_watches
            .iter()
            .filter(|(_, subjects)| subjects.iter().any(|s| s == subject))
            .map(|(sid, _)| *sid)
            .collect();
        for sid in ended {
            if let Some(q) = self.remove_sub(sid) {
                q.close(Closed::PermissionDenied(e.clone()));
            }
            // Nothing more is wanted: drop the interest on the server too.
            let _ = self.conn.unsubscribe(sid, None);
        }
    }

    /// Writes pending output from the calling thread, if the transport is plain TCP and
    /// the socket takes it. Returns whether nothing is left to write; otherwise (socket
    /// full, an error, TLS, no transport) the loop thread has to do it.
    ///
    /// The lock is held, so this never interleaves with the loop's own writes, and bytes
    /// leave in the connection's order. Errors are left for the loop to find and report.
    pub(crate) fn write_direct(&mut self) -> bool {
        let Core { conn, direct, .. } = self;
        let Some(writer) = direct.as_ref().filter(|w| w.usable()) else {
            return conn.transmit_len() == 0;
        };
        loop {
            let mut slices = [std::io::IoSlice::new(&[]); 64];
            let n = conn.poll_transmit(&mut slices);
            if n == 0 {
                return true;
            }
            match writer.write(&slices[..n]) {
                Ok(0) => return false,
                Ok(written) => conn.advance_transmit(written),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }
}

/// Routes received messages: a reply to its request at once, consecutive messages for
/// one subscription into its queue under one lock. Used by the loop and by a thread
/// reading directly; call [`flush`](Self::flush) before the core lock is released.
pub(crate) struct RouteBatch {
    sid: Sid,
    messages: Vec<Message>,
}

impl RouteBatch {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        RouteBatch {
            sid: 0,
            messages: Vec::with_capacity(capacity),
        }
    }

    /// Routes one message, queueing what is held first when the subscription changes.
    pub(crate) fn route(&mut self, shared: &Shared, core: &mut Core, msg: Message) {
        if msg.sid() != self.sid {
            self.flush(shared, core);
            self.sid = msg.sid();
        }
        self.messages.push(msg);
    }

    /// Queues what is held.
    pub(crate) fn flush(&mut self, shared: &Shared, core: &mut Core) {
        if !self.messages.is_empty() {
            shared.deliver(core, self.sid, self.messages.drain(..));
        }
    }
}

/// What a reader works with, behind `Shared::reader`.
pub(crate) struct ReadState {
    /// Where a socket read lands.
    pub(crate) buf: Vec<u8>,
    /// Routing of what a direct read brought in.
    batch: RouteBatch,
}

impl ReadState {
    pub(crate) fn new() -> Self {
        ReadState {
            buf: vec![0; READ_CHUNK],
            batch: RouteBatch::with_capacity(0),
        }
    }
}

/// The shared half of a client.
pub(crate) struct Shared {
    pub(crate) core: Mutex<Core>,
    /// The read buffer; held across a socket read and the feeding of what it read, so
    /// two readers (the loop, a waiting thread) never feed bytes out of order. Lock
    /// order: `reader` before `core`; a thread holding `core` only ever `try_lock`s it.
    pub(crate) reader: Mutex<ReadState>,
    /// Signalled when a flush completes or fails, on connect and on close.
    pub(crate) changed: Condvar,
    /// Signalled when the outgoing queue drains below the low-water mark while publishers
    /// wait, and on close.
    pub(crate) drained: Condvar,
    pub(crate) waker: mio::Waker,
    pub(crate) events: Option<Sender<Event>>,
}

impl Shared {
    /// Locks the core. A panic while the lock was held cannot leave the connection
    /// half-updated in a way later calls could not cope with (every mutation is a call
    /// into `Connection`, which keeps itself consistent), so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes sure the loop looks at new output soon; wakes it at most once per batch.
    pub(crate) fn wake(&self, core: &mut Core) {
        if !core.wake_pending {
            core.wake_pending = true;
            // A failed wake means the loop is gone, which `closed` reports.
            let _ = self.waker.wake();
        }
    }

    /// Backpressure for every op a user call queues (PUB, SUB, UNSUB, a request): once
    /// proto says the output is full (2 MiB wait for a socket slower than the caller),
    /// waits until the loop has drained it to the low mark (1 MiB) (or the client
    /// closed), as a full write buffer blocks a nats.go publisher, so memory stays
    /// bounded. The op itself is already queued.
    pub(crate) fn wait_for_room<'a>(&self, mut core: MutexGuard<'a, Core>) -> MutexGuard<'a, Core> {
        if !core.conn.output_full() {
            return core;
        }
        core.publish_waiters += 1;
        while !core.conn.output_drained() && core.closed.is_none() {
            core = self
                .drained
                .wait_timeout(core, std::time::Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        core.publish_waiters -= 1;
        core
    }

    /// For a caller about to wait on the server: writes pending output from this thread
    /// when it can, and wakes the loop only for what is left.
    pub(crate) fn send_now(&self, core: &mut Core) {
        if !core.write_direct() {
            self.wake(core);
        } else if core.publish_waiters > 0 && core.conn.output_drained() {
            self.drained.notify_all();
        }
    }

    /// Queues messages for subscription `sid` (one lock on its queue), counting drops and
    /// reporting the first of an episode; discarded if it was unsubscribed locally (what
    /// the server sent before seeing the UNSUB).
    pub(crate) fn deliver(
        &self,
        core: &mut Core,
        sid: Sid,
        messages: impl IntoIterator<Item = Message>,
    ) {
        let Some(q) = core.subs.get(&sid) else {
            return;
        };
        let mut drops = 0u64;
        let mut first_drop = false;
        q.push_all(messages, |p| {
            if let Pushed::Dropped { first } = p {
                drops += 1;
                first_drop |= first;
            }
        });
        core.slow_consumer_drops += drops;
        if first_drop {
            self.emit(Event::SlowConsumer { sid });
        }
    }

    /// For a thread waiting on the server (a reply, a subscription's next message): reads
    /// the socket itself and delivers the messages that arrived, so the reply needs no
    /// wake-up of the loop thread. Returns whether anything was read.
    ///
    /// Only on plain TCP (the [`DirectWriter`]'s descriptor), only if no other thread is
    /// reading (`reader` is taken with `try_lock`), and with the core locked from before
    /// the read until what it read is fed in: the loop cannot switch transports or feed
    /// bytes of its own in between. Only message events are handled here; anything else
    /// the input caused (PONGs, errors, INFO) stays queued, in order, for the loop, which
    /// is woken for it, as it is for an end of stream or an error.
    pub(crate) fn read_direct(&self, core: &mut Core) -> bool {
        let Some(reader) = core.direct.as_ref().filter(|r| r.usable()) else {
            return false;
        };
        let Ok(mut state) = self.reader.try_lock() else {
            return false;
        };
        let n = match reader.read(&mut state.buf) {
            Ok(n) if n > 0 => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                return false;
            }
            // End of stream or an error: the loop reads again and reports it (a reset
            // is reported to the first reader only, so the loop may see it as the end of
            // the stream; either way the connection is lost and reconnects).
            _ => {
                self.force_wake(core);
                return false;
            }
        };
        core.conn.handle_input(
            std::time::Instant::now(),
            state.buf.get(..n).unwrap_or_default(),
        );
        while let Some(msg) = core.conn.poll_message() {
            state.batch.route(self, core, msg);
        }
        state.batch.flush(self, core);
        if core.conn.has_events() || !core.write_direct() {
            self.force_wake(core);
        }
        true
    }

    /// Wakes the loop even if it was woken before: for events, not just output.
    fn force_wake(&self, core: &mut Core) {
        core.wake_pending = true;
        let _ = self.waker.wake();
    }

    /// Sends an event to the application, in order.
    pub(crate) fn emit(&self, event: Event) {
        if let Some(tx) = &self.events {
            // The dispatcher only ends when the client is gone; nothing is listening then.
            let _ = tx.send(event);
        }
    }
}

//! The event loop: one thread per connection that owns the `mio::Poll` and the socket and
//! drives the `proto::Connection` behind the shared lock. It is the only code that does
//! IO: user threads lock the core, mutate it (queue an op) and wake the loop. The one
//! measured exception (BENCHMARKS.md): a requester about to wait for its reply writes its
//! request itself when the loop sleeps with nothing to write, through the same write
//! function, holding the lock (`io::write_now_or_wake`).
//!
//! Each turn: fire due timers, drain the connection's events (dial, TLS, routing messages
//! to subscriptions, waking waiters), write what it has to send, then sleep in `poll`
//! until the socket is ready, a user thread wakes us, or the next timer is due. There is
//! one read path (`on_readable`: a socket read without the lock, straight into room lent
//! by proto's read buffer, then `handle_read` under it) and one write function
//! (`io::write_output`: the bytes are lent by proto under the lock and written without
//! it, which the loop calls from `write_pending` once per turn).
//!
//! The module is split by concern: this file has the loop and the routing of proto's
//! events; `dial` gathers what a dial needs off the lock and opens the socket, `io` is
//! the read and write paths, `tls` the TLS handshakes (TLS-first and upgrade alike) and
//! `close` the final write and the release of every waiter.

mod close;
mod dial;
mod io;
#[cfg(all(feature = "tokio", unix))]
mod on_tokio;
mod tls;

pub(crate) use io::write_now_or_wake;
#[cfg(all(feature = "tokio", unix))]
pub(crate) use on_tokio::run as run_on_tokio;

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use natsy_proto::connection::{
    Auth, CloseReason, Event as ProtoEvent, Lease, NonceSigner, ReadSpace, State,
    SubscriptionClosedReason,
};
use natsy_proto::Message;

use crate::credentials::AuthSource;
use crate::dialer::{DialRequest, Gathered, Resolver};
use crate::error::PermissionError;
use crate::event::Event;
use crate::shared::{Core, FirstConnect, FlushState, RouteBatch, Shared, SlotState};
use crate::tls::ClientConfig;
use crate::transport::Transport;
use crate::SubscriptionEnded;

/// The token of the waker user threads use.
pub(crate) const WAKER: Token = Token(0);
const SOCKET: Token = Token(1);
/// Reads per readiness event before the loop gives writes and timers a turn.
const READS_PER_TURN: usize = 16;
/// How long a close waits for pending writes to reach the socket.
const CLOSE_FLUSH: Duration = Duration::from_secs(1);
/// Slices per vectored write. A payload of 4 KiB or more is its own slice, between the
/// slices of the control lines: 256 slices is 128 such messages, half a MiB, per call.
/// With 64, `natsy-bench pub --size 4096` made four times the `writev` calls and used
/// about 1.5x the CPU per message. Linux takes up to 1024 (`IOV_MAX`).
const WRITE_SLICES: usize = 256;

/// What the wait saw on the socket, from mio's events or tokio's readiness.
#[derive(Clone, Copy, Default)]
struct SocketReady {
    readable: bool,
    writable: bool,
    /// The peer closed or the socket failed; reads go on until they meet it.
    closed: bool,
}

impl SocketReady {
    fn from_events(events: &Events) -> Self {
        let mut ready = SocketReady::default();
        for event in events.iter().filter(|e| e.token() == SOCKET) {
            let closed = event.is_read_closed() || event.is_error();
            ready.writable |= event.is_writable();
            ready.closed |= closed;
            ready.readable |= event.is_readable() || closed;
        }
        ready
    }
}

/// What a turn's first half leaves to the waiter that drives the loop.
enum Turn {
    /// The connection closed for good: [`EventLoop::finish`] is next.
    Done,
    /// Something was started off the lock; go round again before waiting.
    Again,
    /// Wait for readiness (or a user's wake) at most this long (`None`: no deadline),
    /// then hand what came to [`EventLoop::end_turn`].
    Wait(Option<Duration>),
}

pub(crate) struct EventLoop {
    shared: Arc<Shared>,
    poll: Poll,
    /// Always `None` without the `tls` feature.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    tls_config: Option<Arc<ClientConfig>>,
    auth: AuthSource,
    /// Credentials `connect` already read (to fail early on a bad file), used for the
    /// first dial so the file is read once per connect, not twice.
    first_auth: Option<Auth>,
    /// The user's resolver; `None`: the system's (and IP addresses need none).
    resolver: Option<Resolver>,
    /// Counts `Dial`s and closed transports: a dialer result for an older generation
    /// belongs to an attempt proto gave up on (its `connect_timeout` passed).
    dial_generation: u64,
    /// A `Dial` seen under the lock, started once the lock is released.
    dial_request: Option<DialRequest>,
    /// A nonce to sign with the user's signer, seen under the lock, for the attempt of
    /// this generation; started once the lock is released.
    sign_request: Option<(u64, String, NonceSigner)>,
    dialed_tx: mpsc::Sender<Gathered>,
    dialed_rx: mpsc::Receiver<Gathered>,
    transport: Option<Transport>,
    /// Consecutive messages for one subscription, pushed under one lock.
    batch: RouteBatch,
    /// What the connection lent for the write in flight, kept for its allocation.
    lease: Lease,
    /// Room in proto's read buffer where the next socket read lands (the one read
    /// path), taken at the end of the last read's critical section so the read itself
    /// needs no lock; `None` until the first read.
    space: Option<ReadSpace>,
    /// The socket may still have bytes: read again without waiting.
    read_more: bool,
    finished: bool,
    /// Proto closed for good, for this reason: `finish_close` runs when the loop ends.
    closing: Option<CloseReason>,
    /// Offer `permessage-deflate` on WebSocket transports.
    ws_compression: bool,
    /// The runtime whose reactor sockets register with, on the tokio driver; `None`: the
    /// loop's own `poll`.
    #[cfg(all(feature = "tokio", unix))]
    tokio: Option<tokio::runtime::Handle>,
}

impl EventLoop {
    pub(crate) fn new(
        shared: Arc<Shared>,
        poll: Poll,
        tls_config: Option<Arc<ClientConfig>>,
        auth: AuthSource,
        first_auth: Option<Auth>,
        resolver: Option<Resolver>,
        ws_compression: bool,
    ) -> Self {
        let (dialed_tx, dialed_rx) = mpsc::channel();
        EventLoop {
            shared,
            poll,
            tls_config,
            auth,
            first_auth,
            resolver,
            dial_generation: 0,
            dial_request: None,
            sign_request: None,
            dialed_tx,
            dialed_rx,
            transport: None,
            batch: RouteBatch::with_capacity(256),
            lease: Lease::new(),
            space: None,
            read_more: false,
            finished: false,
            closing: None,
            ws_compression,
            #[cfg(all(feature = "tokio", unix))]
            tokio: None,
        }
    }

    /// Drives the connection on the calling thread until it closes for good: the loop
    /// thread's body.
    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(64);
        loop {
            let timeout = match self.begin_turn() {
                Turn::Done => break,
                Turn::Again => continue,
                Turn::Wait(timeout) => timeout,
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                self.poller_broke();
                break;
            }
            self.end_turn(SocketReady::from_events(&events));
        }
        self.finish();
    }

    /// The first half of a turn, under the lock: fires due timers, drains the
    /// connection's events and writes, then says how long the wait for readiness may be.
    fn begin_turn(&mut self) -> Turn {
        if self.finished {
            return Turn::Done;
        }
        let shared = self.shared.clone();
        let timeout = {
            let mut core = shared.lock();
            self.take_gathered(&mut core);
            let now = Instant::now();
            if core.conn.poll_timeout().is_some_and(|t| t <= now) {
                core.conn.handle_timeout(now);
            }
            core.timers.fire(now);
            self.drive(&mut core);
            if !self.finished {
                core = self.write_pending(&shared, core);
            }
            if self.finished {
                return Turn::Done;
            }
            // While the socket is full we write on writability anyway: no wake-ups.
            core.wake_pending = self.transport.as_ref().is_some_and(|t| t.write_blocked);
            // Asleep with nothing to write: a requester may write itself.
            core.direct = match &self.transport {
                Some(t) if !core.wake_pending && core.conn.state() == State::Connected => {
                    t.direct.clone()
                }
                _ => None,
            };
            if self.read_more {
                Some(Duration::ZERO)
            } else {
                let due = match (core.conn.poll_timeout(), core.timers.next()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                due.map(|t| t.saturating_duration_since(now))
            }
        };
        // Readers of what this turn routed, now that the lock is released.
        self.batch.wake_readers();
        if self.start_gathering() {
            return Turn::Again;
        }
        Turn::Wait(timeout)
    }

    /// The second half of a turn: acts on what the wait reported.
    fn end_turn(&mut self, ready: SocketReady) {
        let readable = std::mem::take(&mut self.read_more) || ready.readable;
        if ready.writable {
            self.on_writable();
        }
        if let (true, Some(t)) = (ready.closed, self.transport.as_mut()) {
            t.peer_closed = true;
        }
        if readable {
            self.on_readable();
        }
    }

    /// The poller itself broke: nothing can be driven any more.
    fn poller_broke(&mut self) {
        let shared = self.shared.clone();
        let mut core = shared.lock();
        core.conn.close(Instant::now());
        self.drive(&mut core);
    }

    /// After the last turn: the bounded final write and the release of every waiter.
    fn finish(mut self) {
        self.batch.wake_readers();
        if let Some(reason) = self.closing.take() {
            self.finish_close(reason);
        }
        self.transport = None;
    }

    /// Drains the connection's events and routes what they delivered. What they queue
    /// to send goes out in the turn's write (`begin_turn`, which follows every drive).
    fn drive(&mut self, core: &mut Core) {
        while let Some(event) = core.conn.poll_event() {
            self.on_event(core, event);
        }
        self.flush_batch(core);
    }

    fn flush_batch(&mut self, core: &mut Core) {
        self.batch.flush(&self.shared, core);
    }

    fn route(&mut self, core: &mut Core, msg: Message) {
        self.batch.route(&self.shared, core, msg);
    }

    /// Acts on one proto event. None of them reads the clock: a message is by far the
    /// most frequent, and reading it for each was 6% of a subscriber's CPU in perf.
    fn on_event(&mut self, core: &mut Core, event: ProtoEvent) {
        match event {
            ProtoEvent::Message(msg) => self.route(core, msg),
            ProtoEvent::Dial {
                server,
                tls_name,
                tls_first,
            } => {
                core.direct = None;
                self.drop_transport();
                self.dial_generation += 1;
                self.dial_request = Some(DialRequest {
                    generation: self.dial_generation,
                    server,
                    tls_name,
                    tls_first,
                });
            }
            ProtoEvent::UpgradeTls { tls_name } => self.start_tls(core, &tls_name, false),
            ProtoEvent::SignNonce { nonce } => {
                if let Auth::JwtSigner { signer, .. } = core.conn.auth() {
                    self.sign_request = Some((self.dial_generation, nonce, signer.clone()));
                }
            }
            ProtoEvent::CloseTransport => {
                core.direct = None;
                // After a user close the last queued bytes are written first.
                if core.conn.state() != State::Closed {
                    self.drop_transport();
                }
                // An attempt still being dialed is over: its result is of no use.
                self.dial_generation += 1;
                self.dial_request = None;
                self.sign_request = None;
            }
            ProtoEvent::Connected { server } => {
                core.first_connect = FirstConnect::Connected;
                self.shared.notify_changed(core);
                self.shared.emit(Event::Connected { server });
            }
            ProtoEvent::Reconnected { server } => {
                self.shared.notify_changed(core);
                self.shared.emit(Event::Reconnected { server });
            }
            ProtoEvent::Disconnected { reason } => {
                self.shared.emit(Event::Disconnected { reason });
            }
            ProtoEvent::ConnectAttemptFailed { server, error } => {
                core.last_attempt_error = Some((server.clone(), error.clone()));
                self.shared.notify_changed(core);
                self.shared
                    .emit(Event::ReconnectAttemptFailed { server, error });
            }
            ProtoEvent::Closed { reason } => {
                // Messages that arrived first go to their readers first; the final write
                // and the rest happen once the lock is released (`finish_close`).
                self.flush_batch(core);
                core.direct = None;
                self.closing = Some(reason);
                self.finished = true;
            }
            ProtoEvent::FlushComplete(id) => {
                if let Some(state) = core.flushes.get_mut(&id) {
                    *state = FlushState::Done;
                    self.shared.notify_changed(core);
                }
            }
            ProtoEvent::FlushFailed(id) => {
                if let Some(state) = core.flushes.get_mut(&id) {
                    *state = FlushState::Failed;
                    self.shared.notify_changed(core);
                }
            }
            ProtoEvent::ServerError { error, sid } => {
                // A refused subscription (`sid`) is closed by the SubscriptionClosed that
                // follows; a refused publish fails what waits on it.
                if sid.is_none() {
                    if let Some(refused) = PermissionError::from_server_error(&error) {
                        self.flush_batch(core);
                        core.publish_refused(&refused);
                    }
                }
                self.shared.emit(Event::ServerError { error, sid });
            }
            ProtoEvent::SubscriptionClosed { sid, reason } => {
                // Messages delivered before the close go first.
                self.flush_batch(core);
                let why = match reason {
                    SubscriptionClosedReason::PermissionDenied(e) => {
                        SubscriptionEnded::PermissionDenied(PermissionError::subscription_refused(
                            e,
                        ))
                    }
                    _ => SubscriptionEnded::LimitReached,
                };
                if let Some(q) = core.remove_sub(sid) {
                    q.close(why);
                }
            }
            ProtoEvent::Reply { id, message } => {
                if let Some(slot) = core.replies.remove(&id) {
                    self.batch.fill(slot, SlotState::Reply(message));
                }
            }
            ProtoEvent::RequestFailed { id, error } => {
                if let Some(slot) = core.replies.remove(&id) {
                    let refused = PermissionError::subscription_refused(error);
                    self.batch.fill(slot, SlotState::Refused(refused));
                }
            }
            ProtoEvent::DiscoveredServers(servers) => {
                self.shared.emit(Event::DiscoveredServers(servers));
            }
            ProtoEvent::LameDuckMode => self.shared.emit(Event::LameDuckMode),
            _ => {}
        }
    }
}

//! The event loop: one thread per connection that owns the `mio::Poll` and the socket and
//! drives the `proto::Connection` behind the shared lock. It is the only code that does
//! IO: user threads lock the core, mutate it (queue an op) and wake the loop.
//!
//! Each turn: fire due timers, drain the connection's events (dial, TLS, routing messages
//! to subscriptions, waking waiters), write what it has to send, then sleep in `poll`
//! until the socket is ready, a user thread wakes us, or the next timer is due. There is
//! one read path (`on_readable`: a socket read without the lock, then `handle_input`
//! under it) and one write path (`write_pending`, under the lock).

use std::io::IoSlice;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use natsy_proto::connection::{
    Auth, CloseReason, Event as ProtoEvent, NonceSigner, State, SubscriptionClosedReason,
    TransportError, TransportOp,
};
use natsy_proto::Message;
use rustls::ClientConfig;

use crate::credentials::AuthSource;
use crate::dialer::{self, DialRequest, Dialed, Gathered, Resolver};
use crate::error::PermissionError;
use crate::event::{Discarded, Event};
use crate::shared::{Core, FirstConnect, FlushState, RouteBatch, Shared, SlotState};
use crate::sub_queue::Closed;
use crate::transport::{self, Phase, ReadOutcome, Transport};

/// The token of the waker user threads use.
pub(crate) const WAKER: Token = Token(0);
const SOCKET: Token = Token(1);
/// Bytes per socket read.
const READ_CHUNK: usize = 64 * 1024;
/// Reads per readiness event before the loop gives writes and timers a turn.
const READS_PER_TURN: usize = 16;
/// How long a close waits for pending writes to reach the socket.
const CLOSE_FLUSH: Duration = Duration::from_secs(1);
/// Slices per vectored write. A payload of 4 KiB or more is its own slice, between the
/// slices of the control lines: 256 slices is 128 such messages, half a MiB, per call.
/// With 64, `natsy-bench pub --size 4096` made four times the `writev` calls and used
/// about 1.5x the CPU per message. Linux takes up to 1024 (`IOV_MAX`).
const WRITE_SLICES: usize = 256;

pub(crate) struct EventLoop {
    shared: Arc<Shared>,
    poll: Poll,
    tls_config: Option<Arc<ClientConfig>>,
    auth: AuthSource,
    /// Credentials `connect` already read (to fail early on a bad file), used for the
    /// first dial so the file is read once per connect, not twice.
    first_auth: Option<Auth>,
    resolver: Resolver,
    custom_resolver: bool,
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
    /// Where socket reads land (the one read path), before `handle_input`.
    read_buf: Vec<u8>,
    /// The socket may still have bytes: read again without waiting.
    read_more: bool,
    finished: bool,
    /// Proto closed for good, for this reason: `finish_close` runs when the loop ends.
    closing: Option<CloseReason>,
}

impl EventLoop {
    pub(crate) fn new(
        shared: Arc<Shared>,
        poll: Poll,
        tls_config: Option<Arc<ClientConfig>>,
        auth: AuthSource,
        first_auth: Option<Auth>,
        resolver: Option<Resolver>,
    ) -> Self {
        let (dialed_tx, dialed_rx) = mpsc::channel();
        EventLoop {
            shared,
            poll,
            tls_config,
            auth,
            first_auth,
            custom_resolver: resolver.is_some(),
            resolver: resolver.unwrap_or_else(dialer::system_resolver),
            dial_generation: 0,
            dial_request: None,
            sign_request: None,
            dialed_tx,
            dialed_rx,
            transport: None,
            batch: RouteBatch::with_capacity(256),
            read_buf: vec![0; READ_CHUNK],
            read_more: false,
            finished: false,
            closing: None,
        }
    }

    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(64);
        let shared = self.shared.clone();
        while !self.finished {
            let timeout = {
                let mut core = shared.lock();
                while let Ok(gathered) = self.dialed_rx.try_recv() {
                    match gathered {
                        Gathered::Dial(dialed) => self.finish_dial(&mut core, dialed),
                        Gathered::Signature {
                            generation,
                            signature,
                        } if generation == self.dial_generation => {
                            core.conn.handle_nonce_signature(Instant::now(), signature)
                        }
                        Gathered::Signature { .. } => {}
                    }
                }
                let now = Instant::now();
                if core.conn.poll_timeout().is_some_and(|t| t <= now) {
                    core.conn.handle_timeout(now);
                }
                self.drive(&mut core);
                if self.finished {
                    break;
                }
                // While the socket is full we write on writability anyway: no wake-ups.
                core.wake_pending = self.transport.as_ref().is_some_and(|t| t.write_blocked);
                if self.read_more {
                    Some(Duration::ZERO)
                } else {
                    core.conn
                        .poll_timeout()
                        .map(|t| t.saturating_duration_since(now))
                }
            };
            if let Some((generation, nonce, signer)) = self.sign_request.take() {
                // The signer is user code: never under the lock, never on the loop.
                if !dialer::sign(
                    generation,
                    nonce,
                    signer,
                    &self.dialed_tx,
                    Arc::downgrade(&shared),
                ) {
                    self.transport_failed(TransportError::new(
                        TransportOp::Connect,
                        std::io::ErrorKind::Other,
                        "cannot start a thread for the nonce signer",
                    ));
                }
                continue;
            }
            if let Some(request) = self.dial_request.take() {
                // Not under the lock: reading credentials and resolving may block.
                let quick = dialer::start(
                    request,
                    &self.auth,
                    self.first_auth.take(),
                    &self.resolver,
                    self.custom_resolver,
                    &self.dialed_tx,
                    Arc::downgrade(&shared),
                );
                if let Some(dialed) = quick {
                    let mut core = shared.lock();
                    self.finish_dial(&mut core, dialed);
                    self.drive(&mut core);
                }
                continue;
            }
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                // The poller itself broke: nothing can be driven any more.
                let mut core = shared.lock();
                core.conn.close(Instant::now());
                self.drive(&mut core);
                break;
            }
            let mut readable = std::mem::take(&mut self.read_more);
            for event in events.iter() {
                if event.token() == SOCKET {
                    if event.is_writable() {
                        self.on_writable();
                    }
                    readable |= event.is_readable() || event.is_read_closed() || event.is_error();
                }
            }
            if readable {
                self.on_readable();
            }
        }
        if let Some(reason) = self.closing.take() {
            self.finish_close(reason);
        }
        self.transport = None;
    }

    /// Uses what the dialer gathered for the current attempt: its credentials, then a
    /// socket to the first address that takes a connect.
    fn finish_dial(&mut self, core: &mut Core, dialed: Dialed) {
        if dialed.request.generation != self.dial_generation {
            return;
        }
        let now = Instant::now();
        match dialed.auth {
            Ok(Some(auth)) => core.conn.set_auth(auth),
            Ok(None) => {}
            Err(e) => {
                core.last_credentials_error = Some(e.clone());
                return core.conn.handle_credentials_error(now, e.to_string());
            }
        }
        let stream = dialed
            .addrs
            .map_err(|e| TransportError::io(TransportOp::Resolve, &e))
            .and_then(|addrs| {
                transport::connect(&addrs).map_err(|e| TransportError::io(TransportOp::Connect, &e))
            });
        match stream {
            Ok(mut stream) => {
                let registered = self.poll.registry().register(
                    &mut stream,
                    SOCKET,
                    Interest::READABLE | Interest::WRITABLE,
                );
                match registered {
                    Ok(()) => {
                        let tls_first = dialed.request.tls_first;
                        self.transport = Some(Transport::new(
                            stream,
                            tls_first.then_some(dialed.request.tls_name),
                        ))
                    }
                    Err(e) => core
                        .conn
                        .handle_transport_error(now, TransportError::io(TransportOp::Connect, &e)),
                }
            }
            Err(e) => core.conn.handle_transport_error(now, e),
        }
    }

    /// Reports a transport failure to the connection.
    fn transport_failed(&mut self, error: TransportError) {
        self.drop_transport();
        let shared = self.shared.clone();
        let mut core = shared.lock();
        core.conn.handle_transport_error(Instant::now(), error);
        self.drive(&mut core);
    }

    fn drop_transport(&mut self) {
        if let Some(mut t) = self.transport.take() {
            let _ = self.poll.registry().deregister(&mut t.stream);
        }
        self.read_more = false;
    }

    fn on_writable(&mut self) {
        let Some(t) = self.transport.as_mut() else {
            return;
        };
        t.write_blocked = false;
        match t.phase {
            Phase::Connecting => match t.finish_connect() {
                Ok(true) => {
                    if let Some(name) = t.tls_first.take() {
                        self.begin_tls(&name, true);
                    } else {
                        t.phase = Phase::Open;
                        let shared = self.shared.clone();
                        let mut core = shared.lock();
                        core.conn.handle_transport_connected(Instant::now());
                        self.drive(&mut core);
                    }
                }
                Ok(false) => {}
                Err(e) => self.transport_failed(TransportError::io(TransportOp::Connect, &e)),
            },
            Phase::TlsHandshake { .. } => self.step_handshake(),
            Phase::Open => {
                if let Err(e) = t.flush_tls() {
                    return self.transport_failed(TransportError::io(TransportOp::Write, &e));
                }
                let shared = self.shared.clone();
                let mut core = shared.lock();
                self.write_pending(&mut core);
                self.drive(&mut core);
            }
        }
    }

    fn on_readable(&mut self) {
        for _ in 0..READS_PER_TURN {
            let Some(t) = self.transport.as_mut() else {
                return;
            };
            match t.phase {
                Phase::Connecting => return,
                Phase::TlsHandshake { .. } => {
                    self.step_handshake();
                    if !matches!(self.transport.as_ref().map(|t| &t.phase), Some(Phase::Open)) {
                        return;
                    }
                }
                Phase::Open => {
                    let shared = self.shared.clone();
                    // The socket read happens without the lock; only feeding it takes it.
                    match t.read(&mut self.read_buf) {
                        Ok(ReadOutcome::Data(n)) => {
                            let mut core = shared.lock();
                            if n > 0 {
                                core.conn.handle_input(
                                    Instant::now(),
                                    self.read_buf.get(..n).unwrap_or_default(),
                                );
                            }
                            self.drive(&mut core);
                        }
                        Ok(ReadOutcome::WouldBlock) => return,
                        Ok(ReadOutcome::Eof) => {
                            self.drop_transport();
                            let mut core = shared.lock();
                            core.conn.handle_transport_eof(Instant::now());
                            self.drive(&mut core);
                            return;
                        }
                        Err(e) => {
                            return self.transport_failed(TransportError::io(TransportOp::Read, &e))
                        }
                    }
                }
            }
        }
        // Still data to read: come back after giving writes and timers a turn.
        self.read_more = self.transport.is_some();
    }

    fn begin_tls(&mut self, name: &str, first: bool) {
        let Some(config) = self.tls_config.clone() else {
            return self.transport_failed(TransportError::new(
                TransportOp::Tls,
                std::io::ErrorKind::InvalidInput,
                "TLS requested but no TLS configuration",
            ));
        };
        let Some(t) = self.transport.as_mut() else {
            return;
        };
        if let Err(e) = t.start_tls(config, name, first) {
            return self.transport_failed(TransportError::new(
                TransportOp::Tls,
                std::io::ErrorKind::InvalidInput,
                e.to_string(),
            ));
        }
        self.step_handshake();
    }

    fn step_handshake(&mut self) {
        let Some(t) = self.transport.as_mut() else {
            return;
        };
        let Phase::TlsHandshake { first } = t.phase else {
            return;
        };
        match t.drive_handshake() {
            Ok(true) => {
                t.phase = Phase::Open;
                let shared = self.shared.clone();
                let mut core = shared.lock();
                let now = Instant::now();
                if first {
                    core.conn.handle_transport_connected(now);
                } else {
                    core.conn.handle_tls_established(now);
                }
                self.drive(&mut core);
                // Records that arrived with the last handshake message may hold data.
                self.read_more = true;
            }
            Ok(false) => {}
            Err(e) => self.transport_failed(TransportError::io(TransportOp::Tls, &e)),
        }
    }

    /// Writes what the connection has to send, until done or the socket is full.
    fn write_pending(&mut self, core: &mut Core) {
        let Some(t) = self.transport.as_mut() else {
            return;
        };
        if !matches!(t.phase, Phase::Open) {
            return;
        }
        let mut failed = None;
        while !t.write_blocked {
            let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
            let n = core.conn.poll_transmit(&mut slices);
            if n == 0 {
                break;
            }
            match t.write(&slices[..n]) {
                Ok(0) => {
                    if !t.write_blocked && t.tls_wants_write() {
                        // rustls' buffer is full but the socket took everything: retry.
                        continue;
                    }
                    break;
                }
                Ok(written) => core.conn.advance_transmit(written),
                Err(e) => {
                    failed = Some(TransportError::io(TransportOp::Write, &e));
                    break;
                }
            }
        }
        if core.publish_waiters > 0 && (core.conn.output_drained() || failed.is_some()) {
            self.shared.drained.notify_all();
        }
        if let Some(reason) = failed {
            if let Some(mut t) = self.transport.take() {
                let _ = self.poll.registry().deregister(&mut t.stream);
            }
            core.conn.handle_transport_error(Instant::now(), reason);
        }
    }

    /// Drains the connection's events and writes, until neither produces more.
    fn drive(&mut self, core: &mut Core) {
        loop {
            let mut any = false;
            while let Some(event) = core.conn.poll_event() {
                any = true;
                self.on_event(core, event);
            }
            self.write_pending(core);
            match core.conn.poll_event() {
                Some(event) => self.on_event(core, event),
                None if !any => break,
                None => {}
            }
        }
        self.flush_batch(core);
    }

    fn flush_batch(&mut self, core: &mut Core) {
        self.batch.flush(&self.shared, core);
    }

    fn route(&mut self, core: &mut Core, msg: Message) {
        self.batch.route(&self.shared, core, msg);
    }

    fn on_event(&mut self, core: &mut Core, event: ProtoEvent) {
        // Messages, by far the most frequent event, need no clock: reading it for each
        // one was 6% of a subscriber's CPU in perf.
        let event = match event {
            ProtoEvent::Message(msg) => return self.route(core, msg),
            other => other,
        };
        let now = Instant::now();
        match event {
            ProtoEvent::Message(msg) => self.route(core, msg),
            ProtoEvent::Dial {
                server,
                tls_name,
                tls_first,
            } => {
                self.drop_transport();
                self.dial_generation += 1;
                self.dial_request = Some(DialRequest {
                    generation: self.dial_generation,
                    server,
                    tls_name,
                    tls_first,
                });
            }
            ProtoEvent::UpgradeTls { tls_name } => {
                // begin_tls may report a failure, which needs the lock we hold: do it here.
                let config = match self.tls_config.clone() {
                    Some(config) => config,
                    // The server requires TLS and the user set no TLS option: verify it
                    // against the system's roots, as nats.go does.
                    None => match crate::tls::client_config(&crate::tls::TlsOptions::default()) {
                        Ok(config) => {
                            self.tls_config = Some(config.clone());
                            config
                        }
                        Err(e) => {
                            self.drop_transport();
                            core.conn.handle_transport_error(
                                now,
                                TransportError::new(
                                    TransportOp::Tls,
                                    std::io::ErrorKind::InvalidInput,
                                    format!("the server requires TLS: {e}"),
                                ),
                            );
                            return;
                        }
                    },
                };
                let no_transport = || {
                    TransportError::new(
                        TransportOp::Tls,
                        std::io::ErrorKind::NotConnected,
                        "no transport",
                    )
                };
                let started = match self.transport.as_mut() {
                    Some(t) => t.start_tls(config, &tls_name, false).map_err(|e| {
                        TransportError::new(
                            TransportOp::Tls,
                            std::io::ErrorKind::InvalidInput,
                            e.to_string(),
                        )
                    }),
                    None => Err(no_transport()),
                };
                let stepped = started.and_then(|()| match self.transport.as_mut() {
                    Some(t) => t
                        .drive_handshake()
                        .map_err(|e| TransportError::io(TransportOp::Tls, &e)),
                    None => Err(no_transport()),
                });
                match stepped {
                    Ok(true) => {
                        if let Some(t) = self.transport.as_mut() {
                            t.phase = Phase::Open;
                        }
                        core.conn.handle_tls_established(now);
                        self.read_more = true;
                    }
                    Ok(false) => {}
                    Err(e) => {
                        self.drop_transport();
                        core.conn.handle_transport_error(now, e);
                    }
                }
            }
            ProtoEvent::SignNonce { nonce } => {
                if let Auth::JwtSigner { signer, .. } = core.conn.auth() {
                    self.sign_request = Some((self.dial_generation, nonce, signer.clone()));
                }
            }
            ProtoEvent::CloseTransport => {
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
                self.shared.changed.notify_all();
                self.shared.emit(Event::Connected { server });
            }
            ProtoEvent::Reconnected { server } => {
                self.shared.changed.notify_all();
                self.shared.emit(Event::Reconnected { server });
            }
            ProtoEvent::Disconnected { reason } => {
                self.shared.emit(Event::Disconnected { reason });
            }
            ProtoEvent::ConnectAttemptFailed { server, error } => {
                core.last_attempt_error = Some((server.clone(), error.clone()));
                self.shared.changed.notify_all();
                self.shared
                    .emit(Event::ReconnectAttemptFailed { server, error });
            }
            ProtoEvent::Closed { reason } => {
                // Messages that arrived first go to their readers first; the final write
                // and the rest happen once the lock is released (`finish_close`).
                self.flush_batch(core);
                self.closing = Some(reason);
                self.finished = true;
            }
            ProtoEvent::FlushComplete(id) => {
                if let Some(state) = core.flushes.get_mut(&id) {
                    *state = FlushState::Done;
                    self.shared.changed.notify_all();
                }
            }
            ProtoEvent::FlushFailed(id) => {
                if let Some(state) = core.flushes.get_mut(&id) {
                    *state = FlushState::Failed;
                    self.shared.changed.notify_all();
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
                        Closed::PermissionDenied(PermissionError::subscription_refused(e))
                    }
                    _ => Closed::LimitReached,
                };
                if let Some(q) = core.remove_sub(sid) {
                    q.close(why);
                }
            }
            ProtoEvent::Reply { id, message } => {
                if let Some(slot) = core.replies.remove(&id) {
                    slot.fill(SlotState::Reply(message));
                }
            }
            ProtoEvent::RequestFailed { id, error } => {
                if let Some(slot) = core.replies.remove(&id) {
                    slot.fill(SlotState::Refused(PermissionError::subscription_refused(
                        error,
                    )));
                }
            }
            ProtoEvent::DiscoveredServers(servers) => {
                self.shared.emit(Event::DiscoveredServers(servers));
            }
            ProtoEvent::LameDuckMode => self.shared.emit(Event::LameDuckMode),
            _ => {}
        }
    }

    /// After proto closed for good: gives what is still queued (a user `close` on an
    /// open connection) a bounded chance to reach the socket, waiting for writability
    /// without the lock; reports what could not be written as discarded; then releases
    /// every waiter and emits `Closed`.
    fn finish_close(&mut self, reason: CloseReason) {
        let shared = self.shared.clone();
        let deadline = Instant::now() + CLOSE_FLUSH;
        let mut events = Events::with_capacity(4);
        loop {
            {
                let mut core = shared.lock();
                self.write_pending(&mut core);
                let open = self
                    .transport
                    .as_ref()
                    .is_some_and(|t| matches!(t.phase, Phase::Open));
                if !open || core.conn.transmit_len() == 0 || Instant::now() >= deadline {
                    break;
                }
            }
            let _ = self.poll.poll(&mut events, Some(Duration::from_millis(20)));
            if let Some(t) = self.transport.as_mut() {
                t.write_blocked = false;
            }
        }
        while let Some(t) = self.transport.as_mut() {
            if !t.tls_wants_write() || Instant::now() >= deadline {
                break;
            }
            t.write_blocked = false;
            if t.flush_tls().is_err() {
                break;
            }
            if t.write_blocked {
                let _ = self.poll.poll(&mut events, Some(Duration::from_millis(20)));
            }
        }
        self.drop_transport();

        let mut core = shared.lock();
        core.conn.discard_unwritten();
        if matches!(core.first_connect, FirstConnect::Pending) {
            core.first_connect =
                FirstConnect::Failed(Box::new((core.last_attempt_error.clone(), reason.clone())));
        }
        core.closed = Some(reason.clone());
        self.shared.drained.notify_all();
        for q in core.subs.values() {
            q.close(Closed::ConnectionClosed);
        }
        for state in core.flushes.values_mut() {
            if *state == FlushState::Pending {
                *state = FlushState::Failed;
            }
        }
        for (_, slot) in core.replies.drain() {
            slot.fill(SlotState::Closed);
        }
        let stats = core.conn.stats();
        let discarded = Discarded {
            messages: stats.discarded_msgs,
            bytes: stats.discarded_bytes,
        };
        drop(core);
        self.shared.changed.notify_all();
        self.shared.emit(Event::Closed { reason, discarded });
    }
}

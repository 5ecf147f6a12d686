//! [`Connection`]: the sans-IO NATS connection state machine — handshake, keepalive,
//! flush, subscriptions, reconnect and the reconnect buffer — driven by the caller's
//! sockets and clock.
//!
//! The module is split by job: this file holds the type, its contract and its public
//! methods; [`config`] (options), [`event`] (outputs and errors), `lifecycle` (attempt,
//! handshake-complete, disconnect and close transitions), `input` (server ops by phase),
//! `handshake` (TLS and CONNECT decisions), `subscriptions` (the sid table),
//! `reconnect_buffer`, `pings` (the PING FIFO) and `timers` (the timer table).

pub mod config;
pub mod event;
mod handshake;
mod input;
mod lease;
mod lifecycle;
mod pings;
mod read_buffer;
mod reconnect_buffer;
mod requests;
mod subscriptions;
mod timers;

use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::Instant;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::SeedableRng;

pub use config::{Auth, ConnectionConfig, NonceSigner, OutputMarks};
pub use event::{
    AttemptError, CloseReason, ConnectionClosed, DisconnectReason, Event, FlushId, PublishError,
    RequestError, State, Stats, SubscribeError, SubscriptionClosedReason, TransportError,
    TransportOp,
};
pub use lease::Lease;
pub use requests::RequestId;

use crate::backoff::ReconnectDelay;
use crate::encode::OutQueue;
use crate::error::UrlError;
use crate::headers::HeaderMap;
use crate::info::ServerInfo;
use crate::message::Sid;
use crate::nuid::{new_inbox, Nuid};
use crate::pool::{Attempt, ServerPool};
use crate::server_op::ServerOpParser;
use crate::subject;
use crate::url::ServerAddr;

use handshake::Phase;
use lease::Lent;
use pings::{PingKind, PingQueue};
use read_buffer::ReadBuffer;
pub use read_buffer::ReadSpace;
use reconnect_buffer::ReconnectBuffer;
use requests::Requests;
use subscriptions::Subscriptions;
use timers::{Timer, TimerTable};

/// The server used when [`ConnectionConfig::servers`] is empty.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

/// One NATS client connection, without IO: it never opens a socket, reads a clock, sleeps
/// or spawns. The driver owns the transport and the clock and moves bytes and time in and
/// out through four kinds of methods (after quinn-proto's `Connection`):
///
/// - **Getters** read state: [`state`](Self::state), [`server_info`](Self::server_info),
///   [`max_payload`](Self::max_payload), [`connected_server`](Self::connected_server),
///   [`servers`](Self::servers), [`stats`](Self::stats),
///   [`subscription_count`](Self::subscription_count),
///   [`reconnect_buffer_len`](Self::reconnect_buffer_len),
///   [`transmit_len`](Self::transmit_len), [`close_reason`](Self::close_reason).
/// - **`handle_*`** feed what happened outside:
///   [`handle_transport_connected`](Self::handle_transport_connected),
///   [`handle_tls_established`](Self::handle_tls_established),
///   [`handle_read`](Self::handle_read) (bytes read into [`read_space`](Self::read_space))
///   or [`handle_input`](Self::handle_input) (the same, copied from elsewhere),
///   [`handle_transport_error`](Self::handle_transport_error),
///   [`handle_transport_eof`](Self::handle_transport_eof) and
///   [`handle_timeout`](Self::handle_timeout).
/// - **Mutators** are the user's requests: [`publish`](Self::publish),
///   [`subscribe`](Self::subscribe), [`unsubscribe`](Self::unsubscribe),
///   [`drain_subscription`](Self::drain_subscription),
///   [`flush`](Self::flush), [`close`](Self::close), [`force_reconnect`](Self::force_reconnect),
///   [`set_auth`](Self::set_auth).
/// - **`poll_*`** give the outputs: [`poll_event`](Self::poll_event) (driver instructions
///   such as [`Event::Dial`], and user events, in order),
///   [`poll_transmit`](Self::poll_transmit) with
///   [`advance_transmit`](Self::advance_transmit) (bytes to write), and
///   [`poll_timeout`](Self::poll_timeout) (when to call `handle_timeout` next).
///
/// **The loop invariant:** after [`Connection::new`] and after every `handle_*` call or
/// mutator, drain [`poll_event`](Self::poll_event) until `None` (acting on driver
/// instructions as they come), then write what [`poll_transmit`](Self::poll_transmit)
/// returns (calling [`advance_transmit`](Self::advance_transmit) with what the socket
/// took), then re-arm the wake-up timer from [`poll_timeout`](Self::poll_timeout).
///
/// Driver instructions:
/// - [`Event::Dial`]: open a transport; call `handle_transport_connected` when it is up
///   (after the TLS handshake when `tls_first`), or `handle_transport_error`. There is one
///   transport at a time, and every `Dial` is matched by exactly one
///   [`Event::CloseTransport`], after which no input from that transport may be fed.
/// - [`Event::UpgradeTls`]: run TLS over the current transport, then call
///   `handle_tls_established`. Input is ignored until then.
/// - [`Event::CloseTransport`]: close the transport. After a user [`close`](Self::close),
///   `poll_transmit` may still return the last bytes; write them first, best effort.
///
/// Credentials are read when CONNECT is built, after INFO: a driver that refreshes them per
/// attempt (nats.go's credential callbacks) calls [`set_auth`](Self::set_auth) when it
/// sees [`Event::Dial`]. The transmit queue is not bounded here: a driver applies
/// backpressure by checking [`transmit_len`](Self::transmit_len) before publishing.
///
/// Timeouts (dial plus handshake, reconnect waits, keepalive) all come from
/// `poll_timeout`. All randomness comes from one RNG seeded with
/// [`ConnectionConfig::rng_seed`], so the same seed and inputs replay the same run.
///
/// ```
/// use std::io::IoSlice;
/// use std::time::Instant;
/// use natsy_proto::connection::{Connection, ConnectionConfig, Event};
///
/// let now = Instant::now();
/// let mut conn = Connection::new(ConnectionConfig::default(), now).unwrap();
/// let Some(Event::Dial { server, .. }) = conn.poll_event() else { panic!() };
/// assert_eq!(server.port, 4222);
/// conn.handle_transport_connected(now);
/// conn.handle_input(now, b"INFO {\"server_id\":\"N1\",\"max_payload\":1048576}\r\n");
///
/// let mut slices = [IoSlice::new(&[]); 8];
/// let n = conn.poll_transmit(&mut slices);
/// let written: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
/// assert!(written.starts_with(b"CONNECT {") && written.ends_with(b"PING\r\n"));
/// conn.advance_transmit(written.len());
///
/// conn.handle_input(now, b"PONG\r\n");
/// assert!(matches!(conn.poll_event(), Some(Event::Connected { .. })));
/// assert!(conn.poll_timeout().is_some()); // the keepalive PING
/// ```
#[derive(Debug)]
pub struct Connection {
    config: ConnectionConfig,
    delay: ReconnectDelay,
    /// The user or a `tls://` URL asked for TLS, or a server required it: sticky, no
    /// later attempt may run in plain text.
    want_tls: bool,
    rng: StdRng,
    pool: ServerPool,

    state: State,
    phase: Phase,
    /// The attempt being made or waited for.
    attempt: Option<Attempt>,
    ever_connected: bool,
    /// The current transport is encrypted.
    tls_active: bool,
    /// A forced reconnect is retiring the established transport: its last PING is out,
    /// and new ops wait for the next connection (see [`force_reconnect`](Self::force_reconnect)).
    retiring: bool,
    /// The signer's signature of this transport's nonce, once the driver gave it.
    nonce_signature: Option<Vec<u8>>,

    parser: ServerOpParser,
    read_buf: ReadBuffer,
    out: OutQueue,
    /// Stream positions in `out` where each not-yet-written publish starts and ends; on a
    /// disconnect, those publishes move back to the reconnect buffer instead of being lost.
    pub_frames: VecDeque<(u64, u64)>,
    /// What a driver is writing without holding the connection (`lend_output`).
    lent: Option<Lent>,
    reconnect_buffer: ReconnectBuffer,
    subs: Subscriptions,
    requests: Requests,
    /// Inbox names, from `rng`: one seed replays them too.
    nuid: Nuid,
    pings: PingQueue,
    pings_out: u32,
    /// Keepalive ticks in a row at which bytes were waiting and none had been written
    /// since the tick before, and where the output stream stood at the last tick.
    write_stalls: u32,
    consumed_at_tick: u64,
    /// The output stream position just past the last PONG queued: while it is unwritten
    /// a PING from the server needs no second one (bounds what a PING flood queues).
    pong_end: u64,
    /// Flushes requested while not connected; their PINGs go out after the reconnect.
    pending_flushes: Vec<FlushId>,
    next_flush: u64,
    timers: TimerTable,
    events: VecDeque<Event>,

    server_info: Option<ServerInfo>,
    connected_server: Option<ServerAddr>,
    stats: Stats,
    close_reason: Option<CloseReason>,
}

impl Connection {
    /// Builds the connection and starts the first attempt: the first
    /// [`poll_event`](Self::poll_event) returns [`Event::Dial`].
    ///
    /// Fails only if the server list cannot form a pool.
    pub fn new(config: ConnectionConfig, now: Instant) -> Result<Self, UrlError> {
        let mut rng = StdRng::seed_from_u64(config.rng_seed);
        let mut servers = config.servers.clone();
        if servers.is_empty() {
            servers.push(ServerAddr::parse(DEFAULT_URL)?);
        }
        let want_tls = config.tls_required || config.tls_first || servers.iter().any(|s| s.tls);
        let delay = config
            .delay
            .clone()
            .unwrap_or_else(|| ReconnectDelay::new(want_tls));
        let pool = ServerPool::new(servers, config.pool.clone(), &mut rng)?;
        let nuid = Nuid::new(&mut rng);
        let mut conn = Connection {
            delay,
            want_tls,
            rng,
            pool,
            state: State::Connecting,
            phase: Phase::Idle,
            attempt: None,
            ever_connected: false,
            tls_active: false,
            retiring: false,
            nonce_signature: None,
            parser: ServerOpParser::new(config.parser_limits),
            read_buf: ReadBuffer::default(),
            out: OutQueue::new(),
            pub_frames: VecDeque::new(),
            lent: None,
            reconnect_buffer: ReconnectBuffer::new(config.reconnect_buffer_size),
            subs: Subscriptions::default(),
            requests: Requests::default(),
            nuid,
            pings: PingQueue::default(),
            pings_out: 0,
            write_stalls: 0,
            consumed_at_tick: 0,
            pong_end: 0,
            pending_flushes: Vec::new(),
            next_flush: 1,
            timers: TimerTable::default(),
            events: VecDeque::new(),
            server_info: None,
            connected_server: None,
            stats: Stats::default(),
            close_reason: None,
            config,
        };
        conn.start_next_attempt(now);
        Ok(conn)
    }

    // ----- getters -----

    /// Where the connection is in its life cycle.
    pub fn state(&self) -> State {
        self.state
    }

    /// The last INFO received (kept while reconnecting), if any.
    pub fn server_info(&self) -> Option<&ServerInfo> {
        self.server_info.as_ref()
    }

    /// The server's `max_payload` from the last INFO, if known and non-zero.
    pub fn max_payload(&self) -> Option<usize> {
        self.server_info
            .as_ref()
            .map(|i| i.max_payload)
            .filter(|m| *m > 0)
    }

    /// The server of the established connection; `None` unless [`State::Connected`].
    pub fn connected_server(&self) -> Option<&ServerAddr> {
        self.connected_server.as_ref()
    }

    /// The server pool, in the order servers will be tried.
    pub fn servers(&self) -> Vec<ServerAddr> {
        self.pool.servers()
    }

    /// Message and reconnect counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Live subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.subs.len()
    }

    /// Why the connection closed, once [`State::Closed`] (sticky).
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.close_reason.as_ref()
    }

    /// Bytes of publishes held in the reconnect buffer.
    pub fn reconnect_buffer_len(&self) -> usize {
        self.reconnect_buffer.len()
    }

    /// Accepted publishes not written to any transport yet (the transmit queue and the
    /// reconnect buffer), and the bytes still to write (every queued op, plus the
    /// reconnect buffer). What would be lost if the connection closed now.
    pub fn unsent(&self) -> (usize, usize) {
        (
            self.pub_frames.len() + self.reconnect_buffer.messages(),
            self.out.len() + self.reconnect_buffer.len(),
        )
    }

    // ----- outputs -----

    /// The next event, in order; `None` when there is nothing more for now.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Fills `dst` with the bytes to write next, in order; returns how many slices were
    /// filled (0: nothing to write). Report what the transport took with
    /// [`advance_transmit`](Self::advance_transmit).
    ///
    /// A driver that writes without holding the connection lends the bytes instead
    /// ([`lend_output`](Self::lend_output)); while a lease is out this offers nothing.
    #[must_use]
    pub fn poll_transmit<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        if self.out.is_empty() || self.lent.is_some() {
            return 0;
        }
        self.out.io_slices(dst)
    }

    /// New ops go onto the current transport (not into the reconnect buffer).
    fn writes_to_transport(&self) -> bool {
        self.phase == Phase::Connected && !self.retiring
    }

    /// Gives up on what [`poll_transmit`](Self::poll_transmit) still holds (a driver's
    /// final write after [`close`](Self::close) could not finish): it is cleared, and the
    /// publishes in it are counted in [`Stats::discarded_msgs`] and
    /// [`Stats::discarded_bytes`], so the loss is reported rather than silent.
    ///
    /// Publishes lent to a driver ([`lend_output`](Self::lend_output)) are counted when
    /// the lease comes back, if the transport did not take them.
    pub fn discard_unwritten(&mut self) {
        if self.out.is_empty() {
            self.pub_frames.clear();
            return;
        }
        let lent = self
            .lent
            .as_ref()
            .map_or(0, |l| l.pending(self.out.consumed()));
        let mut discarded = 0;
        for &(start, _) in &self.pub_frames {
            match self.lent.as_mut() {
                Some(l) if l.holds(start) => l.discard_unless_written(start),
                _ => discarded += 1,
            }
        }
        if discarded > 0 {
            self.count_discarded(discarded, self.out.len() - lent);
        }
        self.pub_frames.clear();
        self.clear_out();
    }

    /// Empties the output; lent bytes are settled when their lease comes back.
    fn clear_out(&mut self) {
        if let Some(lent) = self.lent.as_mut() {
            lent.orphan();
        }
        self.out.clear();
    }

    /// Marks `n` bytes from [`poll_transmit`](Self::poll_transmit) as written. Does
    /// nothing while a lease is out ([`lend_output`](Self::lend_output)).
    pub fn advance_transmit(&mut self, n: usize) {
        if self.lent.is_some() {
            return;
        }
        let n = n.min(self.out.len());
        if n > 0 {
            self.out.advance(n);
            // A publish whose first byte was written is on its way: no longer ours to keep.
            let consumed = self.out.consumed();
            // Starts are ascending: find the first one still queued and drop the rest in
            // one go (popping them one by one was 3% of a publisher's CPU).
            let written = self.pub_frames.partition_point(|&(s, _)| s < consumed);
            self.pub_frames.drain(..written);
        }
    }

    /// Bytes waiting to be written (what a driver maps to write interest).
    pub fn transmit_len(&self) -> usize {
        self.out.len()
    }

    /// More than the high output mark waits for the transport: a driver makes the
    /// caller that queued the last op wait (backpressure) until
    /// [`output_drained`](Self::output_drained). Every op counts, PONGs and SUBs too.
    pub fn output_full(&self) -> bool {
        self.out.len() > self.config.output_marks.high
    }

    /// The output is at or below the low mark: callers waiting for room may go on.
    pub fn output_drained(&self) -> bool {
        self.out.len() <= self.config.output_marks.low
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next; `None`: no timer
    /// is armed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    // ----- inputs -----

    /// Runs every timer due at `now`: the handshake deadline, the reconnect wait, the
    /// keepalive PING.
    pub fn handle_timeout(&mut self, now: Instant) {
        for timer in Timer::ALL {
            if !self.timers.take_expired(timer, now) {
                continue;
            }
            match timer {
                Timer::Handshake => {
                    if self.phase.is_handshaking() {
                        self.attempt_failed(now, AttemptError::Timeout);
                    }
                }
                Timer::Reconnect => {
                    if self.phase == Phase::Idle && self.state != State::Closed {
                        self.dial(now);
                    }
                }
                Timer::Ping => self.keepalive_tick(now),
                Timer::Retire => self.retired(now),
            }
        }
    }

    /// The transport asked for by [`Event::Dial`] is up (after the TLS handshake when
    /// `tls_first`). The server speaks first: wait for input.
    pub fn handle_transport_connected(&mut self, now: Instant) {
        let _ = now;
        if self.phase == Phase::Dialing {
            self.phase = Phase::AwaitInfo;
            self.tls_active = self.dial_tls_first();
        }
    }

    /// Whether the current attempt's transport does TLS before anything else: TLS-first,
    /// or a `wss://` server (TLS under the WebSocket upgrade).
    pub(crate) fn dial_tls_first(&self) -> bool {
        self.config.tls_first
            || self
                .attempt
                .as_ref()
                .is_some_and(|a| a.server.websocket && a.server.tls)
    }

    /// The signature asked for by [`Event::SignNonce`]: CONNECT is queued with it.
    /// Ignored unless that signature is awaited.
    pub fn handle_nonce_signature(&mut self, now: Instant, signature: Vec<u8>) {
        if self.phase == Phase::AwaitSignature {
            self.nonce_signature = Some(signature);
            self.send_connect(now);
            // Input that came while we waited (the server speaks after CONNECT, but a
            // PING is allowed) is handled now.
            self.process_input(now);
        }
    }

    /// The credentials the next CONNECT uses (a driver answering [`Event::SignNonce`]
    /// takes the signer from here).
    pub fn auth(&self) -> &Auth {
        &self.config.auth
    }

    /// The TLS handshake asked for by [`Event::UpgradeTls`] completed: CONNECT is queued.
    pub fn handle_tls_established(&mut self, now: Instant) {
        if self.phase == Phase::UpgradingTls {
            self.tls_active = true;
            self.send_connect(now);
        }
    }

    /// Room for the next read from the transport (decrypted, with TLS), in the read
    /// buffer the parser works on: read into it without holding anything of the
    /// connection's, then give it back to [`handle_read`](Self::handle_read). At most
    /// 64 KiB; it ends where a large frame ends, so each read is parsed before what
    /// follows it is read.
    ///
    /// This is the read path without a copy; [`handle_input`](Self::handle_input) is the
    /// same path for bytes that are already somewhere else.
    #[must_use = "the space must be given back to handle_read"]
    pub fn read_space(&mut self) -> ReadSpace {
        ReadSpace(self.read_buf.lend(self.parser.awaiting()))
    }

    /// The first `filled` bytes of `space` (from [`read_space`](Self::read_space)) were
    /// read from the transport: parse and act on them. Ignored, like
    /// [`handle_input`](Self::handle_input), when no handshake or connection is in
    /// progress or while a TLS upgrade runs; give the space back with `filled = 0` when a
    /// read brought nothing.
    pub fn handle_read(&mut self, now: Instant, space: ReadSpace, filled: usize) {
        let accepting = self.accepts_input();
        self.read_buf
            .filled(space.0, if accepting { filled } else { 0 });
        if accepting {
            self.process_input(now);
        }
    }

    /// Bytes read from the transport (decrypted, with TLS), copied into the read buffer
    /// through [`read_space`](Self::read_space) and [`handle_read`](Self::handle_read).
    /// Ignored when no handshake or connection is in progress, or while a TLS upgrade
    /// runs.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        let mut rest = data;
        while !rest.is_empty() && self.accepts_input() {
            let mut space = self.read_space();
            let n = space.len().min(rest.len());
            space[..n].copy_from_slice(&rest[..n]);
            self.handle_read(now, space, n);
            rest = &rest[n..];
        }
    }

    /// Input is parsed in these phases (and after `AwaitSignature`, once signed).
    fn accepts_input(&self) -> bool {
        matches!(
            self.phase,
            Phase::AwaitInfo | Phase::AwaitSignature | Phase::AwaitPong | Phase::Connected
        )
    }

    /// The transport failed (connect refused, reset, TLS failure, ...).
    pub fn handle_transport_error(&mut self, now: Instant, error: TransportError) {
        match self.phase {
            Phase::Connected => self.disconnect(now, DisconnectReason::Transport(error), None),
            p if p.is_handshaking() => self.attempt_failed(now, AttemptError::Transport(error)),
            _ => {}
        }
    }

    /// The driver could not get the credentials for the attempt it was asked to dial
    /// (see [`set_auth`](Self::set_auth)): the attempt fails with
    /// [`AttemptError::Credentials`] and the next one starts.
    pub fn handle_credentials_error(&mut self, now: Instant, reason: String) {
        if self.phase.is_handshaking() {
            self.attempt_failed(now, AttemptError::Credentials(reason));
        }
    }

    /// The server closed the transport.
    pub fn handle_transport_eof(&mut self, now: Instant) {
        match self.phase {
            Phase::Connected => self.disconnect(now, DisconnectReason::Eof, None),
            p if p.is_handshaking() => self.attempt_failed(now, AttemptError::Eof),
            _ => {}
        }
    }

    // ----- mutators -----

    /// Replaces the credentials used by the next handshake (a credentials provider calls
    /// this before every (re)connect).
    pub fn set_auth(&mut self, auth: Auth) {
        self.config.auth = auth;
    }

    /// Publishes `payload` to `subject`. While connected the op is queued for
    /// transmission; otherwise it goes to the reconnect buffer.
    ///
    /// Checked against the server's `max_payload` (headers + payload) once an INFO was
    /// seen; headers are refused when that INFO says the server does not support them
    /// (nats.go `ErrHeadersNotSupported`).
    pub fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&HeaderMap>,
        payload: Bytes,
    ) -> Result<(), PublishError> {
        if self.state == State::Closed {
            return Err(PublishError::Closed);
        }
        if headers.is_some() && self.server_info.as_ref().is_some_and(|i| !i.headers) {
            return Err(PublishError::HeadersNotSupported);
        }
        let len = payload.len() as u64;
        let max_payload = self.max_payload();
        if self.writes_to_transport() {
            let start = self.out.stream_position();
            self.out
                .publish(subject, reply, headers, payload, max_payload)
                .map_err(PublishError::Validation)?;
            self.pub_frames
                .push_back((start, self.out.stream_position()));
        } else {
            self.reconnect_buffer
                .publish(subject, reply, headers, payload, max_payload)?;
        }
        self.stats.out_msgs = self.stats.out_msgs.saturating_add(1);
        self.stats.out_bytes = self.stats.out_bytes.saturating_add(len);
        Ok(())
    }

    /// Subscribes to `subject`, optionally in a queue group; returns the new sid (1, 2, ...).
    /// While disconnected the SUB is sent with the others after the reconnect.
    pub fn subscribe(&mut self, subject: &str, queue: Option<&str>) -> Result<Sid, SubscribeError> {
        if self.state == State::Closed {
            return Err(SubscribeError::Closed);
        }
        subject::validate_subscribe_subject(subject).map_err(SubscribeError::Validation)?;
        if let Some(q) = queue {
            subject::validate_queue(q).map_err(SubscribeError::Validation)?;
        }
        let sid = self
            .subs
            .insert(subject.to_string(), queue.map(str::to_string));
        if self.writes_to_transport() {
            if let Err(e) = self.out.subscribe(subject, queue, sid) {
                self.subs.remove(sid);
                return Err(SubscribeError::Validation(e));
            }
        }
        Ok(sid)
    }

    /// Ends a subscription now (`max: None`), or after `max` total deliveries. When `max`
    /// is already reached the subscription ends at once and
    /// [`Event::SubscriptionClosed`] is raised; otherwise it is raised after the last
    /// message.
    pub fn unsubscribe(&mut self, sid: Sid, max: Option<u64>) -> Result<(), SubscribeError> {
        if self.state == State::Closed {
            return Err(SubscribeError::Closed);
        }
        let connected = self.writes_to_transport();
        match max {
            None => {
                let removed = self
                    .subs
                    .remove(sid)
                    .ok_or(SubscribeError::UnknownSubscription(sid))?;
                // A drained subscription's UNSUB was sent already.
                if connected && !removed.draining {
                    self.out.unsubscribe(sid, None);
                }
            }
            Some(max) => match self.subs.set_max(sid, max) {
                None => return Err(SubscribeError::UnknownSubscription(sid)),
                Some(true) => {
                    if connected {
                        self.out.unsubscribe(sid, None);
                    }
                    self.events.push_back(Event::SubscriptionClosed {
                        sid,
                        reason: SubscriptionClosedReason::AutoUnsubscribed,
                    });
                }
                Some(false) => {
                    if connected {
                        self.out.unsubscribe(sid, Some(max));
                    }
                }
            },
        }
        Ok(())
    }

    /// Starts draining a subscription: sends `UNSUB sid` now but keeps routing the messages
    /// the server sent before it, so none is lost (nats.go `Subscription.Drain`). The
    /// driver then [`flush`](Self::flush)es; once that completes nothing more can arrive
    /// for `sid`, and [`unsubscribe`](Self::unsubscribe)`(sid, None)` removes it (without a
    /// second UNSUB). A draining subscription is not resent after a reconnect. Calling it
    /// twice is harmless.
    pub fn drain_subscription(&mut self, sid: Sid) -> Result<(), SubscribeError> {
        if self.state == State::Closed {
            return Err(SubscribeError::Closed);
        }
        let already = self
            .subs
            .set_draining(sid)
            .ok_or(SubscribeError::UnknownSubscription(sid))?;
        if !already && self.writes_to_transport() {
            self.out.unsubscribe(sid, None);
        }
        Ok(())
    }

    /// A new unique inbox subject, `<inbox prefix>.<nuid>`, from the connection's seeded
    /// RNG.
    pub fn new_inbox(&mut self) -> String {
        new_inbox(&self.config.inbox_prefix, &mut self.nuid, &mut self.rng)
    }

    /// Publishes a request: `payload` to `subject` with a reply subject on the
    /// connection's one muxed inbox (subscribed with the first request). Its reply comes
    /// as [`Event::Reply`] with the returned id, or a refusal as
    /// [`Event::RequestFailed`]; there is no timeout here: the caller keeps its own and
    /// calls [`cancel_request`](Self::cancel_request) when it gives up. On a close the
    /// driver fails what is still waiting ([`Event::Closed`]).
    pub fn request(
        &mut self,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: Bytes,
    ) -> Result<RequestId, RequestError> {
        if self.state == State::Closed {
            return Err(RequestError::Publish(PublishError::Closed));
        }
        if let Some(e) = &self.requests.inbox_refused {
            return Err(RequestError::InboxRefused(e.clone()));
        }
        if self.requests.sid.is_none() {
            let mut prefix = self.new_inbox();
            prefix.push('.');
            let wildcard = format!("{prefix}*");
            self.requests.sid = Some(self.subscribe(&wildcard, None)?);
            self.requests.prefix = prefix;
        }
        let (id, reply) = self.requests.next_reply();
        self.publish(subject, Some(&reply), headers, payload)?;
        self.requests.insert(id, subject);
        Ok(id)
    }

    /// Forgets request `id` (timed out, or its caller went away): a late reply is dropped.
    pub fn cancel_request(&mut self, id: RequestId) {
        self.requests.remove(id);
    }

    /// Requests waiting for their reply.
    pub fn pending_requests(&self) -> usize {
        self.requests.len()
    }

    /// The sid of the request muxer's inbox subscription, once a request made it.
    pub fn request_inbox_sid(&self) -> Option<Sid> {
        self.requests.sid
    }

    /// Drops the current connection and reconnects at once, skipping the first wait, even
    /// when `allow_reconnect` is off (nats.go `ForceReconnect`). While waiting to redial,
    /// dials now; while an attempt runs, or once closed, does nothing.
    ///
    /// An established connection is retired, not cut: a PING goes out behind everything
    /// already queued, and the transport is closed when its PONG arrives (or after
    /// `connect_timeout`), so what was published before the call reaches the server and
    /// the messages the server sends for it arrive. Ops from the call on (publishes,
    /// SUBs, flushes) wait in the reconnect buffer for the next connection, in order.
    pub fn force_reconnect(&mut self, now: Instant) {
        match self.phase {
            Phase::Connected if !self.retiring => {
                self.retiring = true;
                self.timers.stop(Timer::Ping);
                self.out.ping();
                self.pings.push(PingKind::Retire);
                self.timers
                    .set_after(Timer::Retire, now, self.config.connect_timeout);
            }
            Phase::Idle if self.state != State::Closed && self.attempt.is_some() => {
                self.timers.stop(Timer::Reconnect);
                self.dial(now);
            }
            _ => {}
        }
    }

    /// Sends a PING; [`Event::FlushComplete`] follows when its PONG arrives, meaning the
    /// server has processed everything written before. While disconnected the PING goes
    /// out after the reconnect, behind the buffered publishes. If the connection is lost
    /// first, [`Event::FlushFailed`] follows instead. There is no timeout here: the caller
    /// keeps its own, and ignores a later event for a flush it gave up on.
    pub fn flush(&mut self, now: Instant) -> Result<FlushId, ConnectionClosed> {
        let _ = now;
        if self.state == State::Closed {
            return Err(ConnectionClosed);
        }
        let id = FlushId(self.next_flush);
        self.next_flush = self.next_flush.saturating_add(1);
        if self.writes_to_transport() {
            self.out.ping();
            self.pings.push(PingKind::Flush(id));
        } else {
            self.pending_flushes.push(id);
        }
        Ok(id)
    }

    /// Closes for good: interrupts any attempt or wait, fails pending flushes, and raises
    /// [`Event::Closed`] with [`CloseReason::User`]. Bytes already queued stay readable
    /// through `poll_transmit` for a best-effort final write.
    pub fn close(&mut self, now: Instant) {
        match self.phase {
            Phase::Connected => {
                self.disconnect(now, DisconnectReason::UserClose, Some(CloseReason::User))
            }
            _ => self.close_for_good(now, CloseReason::User, false),
        }
    }
}

//! [`Connection`]: the sans-IO NATS connection state machine — handshake, keepalive,
//! flush, subscriptions, reconnect and the reconnect buffer — driven by the caller's
//! sockets and clock.
//!
//! The module is split by job: [`config`] (options), [`event`] (outputs and errors),
//! `handshake` (TLS and CONNECT decisions), `subscriptions` (the sid table),
//! `reconnect_buffer`, `pings` (the PING FIFO) and `timers` (the timer table).

pub mod config;
pub mod event;
mod handshake;
mod pings;
mod reconnect_buffer;
mod subscriptions;
mod timers;

use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::SeedableRng;

pub use config::{Auth, ConnectionConfig, NonceSigner};
pub use event::{
    CloseReason, ConnectError, DisconnectReason, Event, FlushError, FlushId, PublishError, State,
    Stats, SubscribeError, SubscriptionClosedReason,
};

use crate::backoff::ReconnectDelay;
use crate::encode::OutQueue;
use crate::error::{ProtocolError, UrlError};
use crate::headers::HeaderMap;
use crate::info::ServerInfo;
use crate::message::{Message, Sid};
use crate::pool::{Attempt, ServerPool};
use crate::server_error::{ErrorAction, ServerError, ServerErrorKind};
use crate::server_op::{ParserLimits, ServerOp, ServerOpParser, Status};
use crate::subject;
use crate::url::ServerAddr;

use handshake::{ConnectParams, Phase, TlsStep};
use pings::{PingKind, PingQueue};
use reconnect_buffer::ReconnectBuffer;
use subscriptions::{Delivery, Subscriptions};
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
///   [`close_reason`](Self::close_reason).
/// - **`handle_*`** feed what happened outside:
///   [`handle_transport_connected`](Self::handle_transport_connected),
///   [`handle_tls_established`](Self::handle_tls_established),
///   [`handle_input`](Self::handle_input) (bytes read),
///   [`handle_transport_error`](Self::handle_transport_error),
///   [`handle_transport_eof`](Self::handle_transport_eof) and
///   [`handle_timeout`](Self::handle_timeout).
/// - **Mutators** are the user's requests: [`publish`](Self::publish),
///   [`subscribe`](Self::subscribe), [`unsubscribe`](Self::unsubscribe),
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
    /// The user or a `tls://` URL asked for TLS.
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

    parser: ServerOpParser,
    read_buf: BytesMut,
    out: OutQueue,
    reconnect_buffer: ReconnectBuffer,
    subs: Subscriptions,
    pings: PingQueue,
    pings_out: u32,
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
            parser: ServerOpParser::new(config.parser_limits),
            read_buf: BytesMut::new(),
            out: OutQueue::new(),
            reconnect_buffer: ReconnectBuffer::new(config.reconnect_buffer_size),
            subs: Subscriptions::default(),
            pings: PingQueue::default(),
            pings_out: 0,
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

    // ----- outputs -----

    /// The next event, in order; `None` when there is nothing more for now.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Fills `dst` with the bytes to write next, in order; returns how many slices were
    /// filled (0: nothing to write). Report what the transport took with
    /// [`advance_transmit`](Self::advance_transmit).
    pub fn poll_transmit<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        if self.out.is_empty() {
            return 0;
        }
        self.out.io_slices(dst)
    }

    /// Marks `n` bytes from [`poll_transmit`](Self::poll_transmit) as written.
    pub fn advance_transmit(&mut self, n: usize) {
        let n = n.min(self.out.len());
        if n > 0 {
            self.out.advance(n);
        }
    }

    /// Bytes waiting to be written (what a driver maps to write interest).
    pub fn transmit_len(&self) -> usize {
        self.out.len()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next; `None`: no timer
    /// is armed.
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
                        self.attempt_failed(now, ConnectError::Timeout);
                    }
                }
                Timer::Reconnect => {
                    if self.phase == Phase::Idle && self.state != State::Closed {
                        self.dial(now);
                    }
                }
                Timer::Ping => self.keepalive_tick(now),
            }
        }
    }

    /// The transport asked for by [`Event::Dial`] is up (after the TLS handshake when
    /// `tls_first`). The server speaks first: wait for input.
    pub fn handle_transport_connected(&mut self, now: Instant) {
        let _ = now;
        if self.phase == Phase::Dialing {
            self.phase = Phase::AwaitInfo;
            self.tls_active = self.config.tls_first;
        }
    }

    /// The TLS handshake asked for by [`Event::UpgradeTls`] completed: CONNECT is queued.
    pub fn handle_tls_established(&mut self, now: Instant) {
        if self.phase == Phase::UpgradingTls {
            self.tls_active = true;
            self.send_connect(now);
        }
    }

    /// Bytes read from the transport (decrypted, with TLS). Ignored when no handshake or
    /// connection is in progress, or while a TLS upgrade runs.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if !matches!(
            self.phase,
            Phase::AwaitInfo | Phase::AwaitPong | Phase::Connected
        ) {
            return;
        }
        self.read_buf.extend_from_slice(data);
        self.process_input(now);
    }

    /// The transport failed (connect refused, reset, TLS failure, ...).
    pub fn handle_transport_error(&mut self, now: Instant, reason: String) {
        match self.phase {
            Phase::Connected => self.disconnect(now, DisconnectReason::Io(reason), None),
            p if p.is_handshaking() => self.attempt_failed(now, ConnectError::Io(reason)),
            _ => {}
        }
    }

    /// The server closed the transport.
    pub fn handle_transport_eof(&mut self, now: Instant) {
        match self.phase {
            Phase::Connected => self.disconnect(now, DisconnectReason::Eof, None),
            p if p.is_handshaking() => self.attempt_failed(now, ConnectError::Eof),
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
    /// seen.
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
        let len = payload.len() as u64;
        let max_payload = self.max_payload();
        if self.phase == Phase::Connected {
            self.out
                .publish(subject, reply, headers, payload, max_payload)
                .map_err(PublishError::Validation)?;
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
        if self.phase == Phase::Connected {
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
        let connected = self.phase == Phase::Connected;
        match max {
            None => {
                self.subs
                    .remove(sid)
                    .ok_or(SubscribeError::UnknownSubscription(sid))?;
                if connected {
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

    /// Drops the current connection and reconnects at once, skipping the first wait, even
    /// when `allow_reconnect` is off (nats.go `ForceReconnect`). While waiting to redial,
    /// dials now; while an attempt runs, or once closed, does nothing.
    pub fn force_reconnect(&mut self, now: Instant) {
        match self.phase {
            Phase::Connected => self.disconnect(now, DisconnectReason::ForcedReconnect, None),
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
    pub fn flush(&mut self, now: Instant) -> Result<FlushId, FlushError> {
        let _ = now;
        if self.state == State::Closed {
            return Err(FlushError::Closed);
        }
        let id = FlushId(self.next_flush);
        self.next_flush = self.next_flush.saturating_add(1);
        if self.phase == Phase::Connected {
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

    // ----- internals: attempts -----

    /// Asks the pool for the next attempt and dials now or arms the reconnect timer.
    ///
    /// The pool hands out each server once without waiting during the first pass, then
    /// `None`; with `retry_on_failed_connect` that starts a reconnect episode instead of
    /// closing.
    fn start_next_attempt(&mut self, now: Instant) {
        let next = match self.pool.next_attempt(&self.delay, &mut self.rng) {
            None if self.state == State::Connecting && self.config.retry_on_failed_connect => {
                self.state = State::Reconnecting;
                self.pool.start_reconnect();
                self.pool.next_attempt(&self.delay, &mut self.rng)
            }
            next => next,
        };
        let Some(attempt) = next else {
            let reason = if self.state == State::Connecting {
                CloseReason::NoServers
            } else {
                CloseReason::MaxReconnectsExhausted
            };
            self.close_for_good(now, reason, false);
            return;
        };
        let wait = attempt.wait;
        self.attempt = Some(attempt);
        if wait.is_zero() {
            self.dial(now);
        } else {
            self.timers.set_after(Timer::Reconnect, now, wait);
        }
    }

    /// Emits `Dial` for the current attempt and starts the handshake deadline.
    fn dial(&mut self, now: Instant) {
        let Some(attempt) = &self.attempt else { return };
        let event = Event::Dial {
            server: attempt.server.clone(),
            tls_name: attempt.tls_name.clone(),
            tls_first: self.config.tls_first,
        };
        self.reset_transport_state();
        self.phase = Phase::Dialing;
        self.timers
            .set_after(Timer::Handshake, now, self.config.connect_timeout);
        self.events.push_back(event);
    }

    /// Forgets everything tied to one transport.
    fn reset_transport_state(&mut self) {
        self.tls_active = false;
        self.parser.reset();
        self.read_buf.clear();
        if !self.out.is_empty() {
            self.out.clear();
        }
        self.pings_out = 0;
    }

    /// The current attempt failed: close its transport, report, then try the next one
    /// (or close, per the auth-abort rule and the first-pass rule).
    fn attempt_failed(&mut self, now: Instant, error: ConnectError) {
        if self.phase.has_transport() {
            self.events.push_back(Event::CloseTransport);
        }
        self.phase = Phase::Idle;
        self.timers.stop(Timer::Handshake);
        // Only the handshake PING can be outstanding; flushes wait in `pending_flushes`.
        let _ = self.pings.take_flushes();
        self.reset_transport_state();
        if let Some(attempt) = &self.attempt {
            self.events.push_back(Event::ConnectAttemptFailed {
                server: attempt.server.clone(),
                error: error.clone(),
            });
        }
        if let ConnectError::Auth(e) = &error {
            if self.pool.auth_failed(e) {
                self.close_for_good(now, CloseReason::AuthRejected(e.clone()), false);
                return;
            }
        }
        self.start_next_attempt(now);
    }

    /// Loses the established connection: close the transport, report, fail the flushes
    /// sent on it, then reconnect or close (`close` set, or reconnect disabled).
    fn disconnect(&mut self, now: Instant, reason: DisconnectReason, close: Option<CloseReason>) {
        self.events.push_back(Event::CloseTransport);
        self.phase = Phase::Idle;
        self.connected_server = None;
        self.timers.stop(Timer::Ping);
        self.pings_out = 0;
        let user_close = reason == DisconnectReason::UserClose;
        let forced = reason == DisconnectReason::ForcedReconnect;
        self.events.push_back(Event::Disconnected { reason });
        for id in self.pings.take_flushes() {
            self.events.push_back(Event::FlushFailed(id));
        }
        if !user_close {
            // Unwritten bytes are lost across a reconnect (core NATS is at-most-once).
            self.reset_transport_state();
        }
        let close = match close {
            Some(reason) => Some(reason),
            None if !self.config.allow_reconnect && !forced => Some(CloseReason::ReconnectDisabled),
            None => None,
        };
        match close {
            Some(reason) => self.close_for_good(now, reason, user_close),
            None => {
                self.state = State::Reconnecting;
                if forced {
                    self.pool.start_forced_reconnect();
                } else {
                    self.pool.start_reconnect();
                }
                self.start_next_attempt(now);
            }
        }
    }

    /// Enters [`State::Closed`] for good.
    fn close_for_good(&mut self, now: Instant, reason: CloseReason, keep_out: bool) {
        let _ = now;
        if self.state == State::Closed {
            return;
        }
        if self.phase.has_transport() {
            self.events.push_back(Event::CloseTransport);
        }
        self.phase = Phase::Idle;
        self.state = State::Closed;
        self.attempt = None;
        self.connected_server = None;
        self.timers.stop_all();
        self.read_buf.clear();
        self.reconnect_buffer.clear();
        if !keep_out && !self.out.is_empty() {
            self.out.clear();
        }
        let mut failed = self.pings.take_flushes();
        failed.append(&mut self.pending_flushes);
        for id in failed {
            self.events.push_back(Event::FlushFailed(id));
        }
        self.close_reason = Some(reason.clone());
        self.events.push_back(Event::Closed { reason });
    }

    // ----- internals: handshake -----

    /// Queues `CONNECT` and the handshake `PING`.
    fn send_connect(&mut self, now: Instant) {
        let (Some(attempt), Some(info)) = (&self.attempt, &self.server_info) else {
            return;
        };
        let params = ConnectParams {
            name: self.config.name.as_deref(),
            echo: self.config.echo,
            // Like nats.go, a server-required upgrade turns `Secure` on.
            tls_required: self.want_tls || self.tls_active,
        };
        match handshake::connect_info(&params, &self.config.auth, &attempt.server, info) {
            Ok(connect) => {
                self.out.connect(&connect);
                self.out.ping();
                self.pings.push(PingKind::Handshake);
                self.phase = Phase::AwaitPong;
            }
            Err(e) => self.attempt_failed(now, e),
        }
    }

    /// The handshake PONG arrived: resend subscriptions, then the reconnect buffer, then
    /// the PINGs of flushes requested meanwhile; report Connected or Reconnected.
    fn handshake_complete(&mut self, now: Instant) {
        self.timers.stop(Timer::Handshake);
        self.pool.connected();
        self.phase = Phase::Connected;
        self.state = State::Connected;
        self.pings_out = 0;
        self.timers
            .set_after(Timer::Ping, now, self.config.ping_interval);

        let _ = self.subs.resend(&mut self.out);
        self.reconnect_buffer.drain_into(&mut self.out);
        for id in std::mem::take(&mut self.pending_flushes) {
            self.out.ping();
            self.pings.push(PingKind::Flush(id));
        }

        let Some(attempt) = self.attempt.take() else {
            return;
        };
        self.connected_server = Some(attempt.server.clone());
        if self.ever_connected {
            self.stats.reconnects = self.stats.reconnects.saturating_add(1);
            self.events.push_back(Event::Reconnected {
                server: attempt.server,
            });
        } else {
            self.ever_connected = true;
            self.events.push_back(Event::Connected {
                server: attempt.server,
            });
        }
    }

    /// Stores an INFO: payload limit, discovered servers, lame duck mode.
    fn apply_info(&mut self, info: ServerInfo) {
        if info.max_payload > 0 {
            self.parser.set_max_payload(
                info.max_payload
                    .saturating_add(ParserLimits::PAYLOAD_MARGIN),
            );
        }
        let discovered = !info.connect_urls.is_empty()
            && self
                .pool
                .merge_discovered(&info.connect_urls, &mut self.rng);
        let ldm = info.ldm;
        self.server_info = Some(info);
        if self.phase == Phase::Connected {
            self.events.push_back(Event::ServerInfoUpdated);
        }
        if discovered && self.ever_connected {
            self.events
                .push_back(Event::DiscoveredServers(self.pool.servers()));
        }
        if ldm && self.phase == Phase::Connected {
            self.events.push_back(Event::LameDuckMode);
        }
    }

    // ----- internals: input -----

    /// Parses and handles every complete op in the read buffer.
    fn process_input(&mut self, now: Instant) {
        while matches!(
            self.phase,
            Phase::AwaitInfo | Phase::AwaitPong | Phase::Connected
        ) {
            match self.parser.parse(&mut self.read_buf) {
                Ok(Status::Partial) => break,
                Ok(Status::Complete(op)) => self.handle_op(now, op),
                Err(e) => {
                    self.protocol_error(now, e);
                    break;
                }
            }
        }
    }

    fn protocol_error(&mut self, now: Instant, e: ProtocolError) {
        if self.phase == Phase::Connected {
            self.disconnect(now, DisconnectReason::ProtocolError(e), None);
        } else {
            self.attempt_failed(now, ConnectError::Protocol(e));
        }
    }

    fn handle_op(&mut self, now: Instant, op: ServerOp) {
        match self.phase {
            Phase::AwaitInfo => match op {
                ServerOp::Info(info) => self.handshake_info(now, *info),
                _ => self.attempt_failed(now, ConnectError::NoInfo),
            },
            Phase::AwaitPong => match op {
                ServerOp::Pong => {
                    // Only the handshake PING can be outstanding before the first PONG.
                    let answered = self.pings.pong();
                    if answered == Some(PingKind::Handshake) {
                        self.handshake_complete(now);
                    }
                }
                ServerOp::Ping => self.out.pong(),
                ServerOp::Info(info) => self.apply_info(*info),
                ServerOp::Err(e) => {
                    let error = if e.is_auth_error() {
                        ConnectError::Auth(e)
                    } else {
                        ConnectError::Server(e)
                    };
                    self.attempt_failed(now, error);
                }
                _ => {}
            },
            Phase::Connected => self.connected_op(now, op),
            _ => {}
        }
    }

    fn handshake_info(&mut self, now: Instant, info: ServerInfo) {
        let step = handshake::tls_step(self.want_tls, self.tls_active, &info);
        self.apply_info(info);
        match step {
            TlsStep::Proceed => self.send_connect(now),
            TlsStep::Unavailable => {
                self.attempt_failed(now, ConnectError::TlsRequiredByClientButUnavailable)
            }
            TlsStep::Upgrade => {
                let tls_name = self
                    .attempt
                    .as_ref()
                    .map(|a| a.tls_name.clone())
                    .unwrap_or_default();
                self.phase = Phase::UpgradingTls;
                // Plain-text bytes after INFO cannot be part of the encrypted stream.
                self.read_buf.clear();
                self.events.push_back(Event::UpgradeTls { tls_name });
            }
        }
    }

    fn connected_op(&mut self, now: Instant, op: ServerOp) {
        match op {
            ServerOp::Msg(msg) => self.deliver(msg),
            ServerOp::Ping => self.out.pong(),
            ServerOp::Pong => {
                self.pings_out = 0;
                if let Some(PingKind::Flush(id)) = self.pings.pong() {
                    self.events.push_back(Event::FlushComplete(id));
                }
            }
            ServerOp::Info(info) => self.apply_info(*info),
            ServerOp::Err(e) => self.server_error(now, e),
            _ => {}
        }
    }

    fn deliver(&mut self, msg: Message) {
        let sid = msg.sid();
        let delivery = self.subs.deliver(sid);
        if delivery == Delivery::Unknown {
            return;
        }
        self.stats.in_msgs = self.stats.in_msgs.saturating_add(1);
        self.stats.in_bytes = self
            .stats
            .in_bytes
            .saturating_add(msg.payload().len() as u64);
        self.events.push_back(Event::Message(msg));
        if delivery == Delivery::Last {
            self.events.push_back(Event::SubscriptionClosed {
                sid,
                reason: SubscriptionClosedReason::AutoUnsubscribed,
            });
        }
    }

    fn server_error(&mut self, now: Instant, e: ServerError) {
        match e.action() {
            ErrorAction::Report => {
                if let ServerErrorKind::SubscribePermission { subject, queue } = &e.kind {
                    let named = sid_hint(&e.text);
                    if let Some(sid) = self.subs.find_refused(subject, queue.as_deref(), named) {
                        self.subs.remove(sid);
                        self.events.push_back(Event::ServerError {
                            error: e.clone(),
                            sid: Some(sid),
                        });
                        self.events.push_back(Event::SubscriptionClosed {
                            sid,
                            reason: SubscriptionClosedReason::PermissionDenied(e),
                        });
                        return;
                    }
                }
                self.events.push_back(Event::ServerError {
                    error: e,
                    sid: None,
                });
            }
            ErrorAction::Reconnect => {
                let close = (e.is_auth_error() && self.pool.auth_failed(&e))
                    .then(|| CloseReason::AuthRejected(e.clone()));
                self.disconnect(now, DisconnectReason::ServerError(e), close);
            }
            ErrorAction::Close => {
                let close = Some(CloseReason::Fatal(e.clone()));
                self.disconnect(now, DisconnectReason::ServerError(e), close);
            }
        }
    }

    /// A keepalive tick: count the PING as outstanding; too many means stale.
    fn keepalive_tick(&mut self, now: Instant) {
        if self.phase != Phase::Connected {
            return;
        }
        self.pings_out = self.pings_out.saturating_add(1);
        if self.pings_out > self.config.max_pings_out {
            self.disconnect(now, DisconnectReason::StaleConnection, None);
            return;
        }
        self.out.ping();
        self.pings.push(PingKind::Keepalive);
        self.timers
            .set_after(Timer::Ping, now, self.config.ping_interval);
    }
}

/// The sid in a permission violation's ` (sid "N")` suffix (sent after a permission
/// reload), if any.
fn sid_hint(text: &str) -> Option<Sid> {
    let marker = "(sid \"";
    let start = text.find(marker)? + marker.len();
    let rest = text.get(start..)?;
    let end = rest.find('"')?;
    rest.get(..end)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sid_hint_reads_the_suffix() {
        assert_eq!(
            sid_hint(r#"Permissions Violation for Subscription to "a" (sid "12")"#),
            Some(12)
        );
        assert_eq!(
            sid_hint(r#"Permissions Violation for Subscription to "a""#),
            None
        );
        assert_eq!(sid_hint(r#"(sid "x")"#), None);
        assert_eq!(sid_hint(r#"(sid "3"#), None);
    }
}

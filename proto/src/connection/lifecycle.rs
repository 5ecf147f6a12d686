//! The life-cycle transitions of a [`Connection`]: starting and failing attempts,
//! completing the handshake, losing the connection, and closing for good.

use std::time::Instant;

use super::config::Auth;
use super::event::{AttemptError, CloseReason, DisconnectReason, Event, State};
use super::handshake::{self, ConnectParams, Phase};
use super::pings::PingKind;
use super::timers::Timer;
use super::Connection;
use crate::info::ServerInfo;
use crate::server_op::ParserLimits;

impl Connection {
    // ----- internals: attempts -----

    /// Asks the pool for the next attempt and dials now or arms the reconnect timer.
    ///
    /// The pool hands out each server once without waiting during the first pass, then
    /// `None`; with `retry_on_failed_connect` that starts a reconnect episode instead of
    /// closing.
    pub(super) fn start_next_attempt(&mut self, now: Instant) {
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
    pub(super) fn dial(&mut self, now: Instant) {
        let Some(attempt) = &self.attempt else { return };
        let event = Event::Dial {
            server: attempt.server.clone(),
            tls_name: attempt.tls_name.clone(),
            tls_first: self.dial_tls_first(),
        };
        self.reset_transport_state();
        self.phase = Phase::Dialing;
        self.timers
            .set_after(Timer::Handshake, now, self.config.connect_timeout);
        self.events.push_back(event);
    }

    /// Moves every publish still wholly in the transmit queue back to the reconnect
    /// buffer, in order, so that it is sent after the reconnect instead of being dropped.
    /// Each publish's frame is where `publish` recorded it; the queue is not re-parsed.
    pub(super) fn requeue_unwritten_publishes(&mut self) {
        if self.pub_frames.is_empty() {
            return;
        }
        let consumed = self.out.consumed();
        let pending = self.out.pending_bytes();
        let offset = |pos: u64| usize::try_from(pos.saturating_sub(consumed)).ok();
        let mut frames = Vec::with_capacity(self.pub_frames.len());
        for &(start, end) in &self.pub_frames {
            let Some(frame) = offset(start)
                .zip(offset(end))
                .and_then(|(s, e)| pending.get(s..e))
            else {
                continue;
            };
            // Lent to the driver: requeued once it says the transport did not take it.
            match self.lent.as_mut() {
                Some(lent) if lent.holds(start) => lent.requeue_unless_written(start, frame),
                _ => frames.push(frame),
            }
        }
        self.reconnect_buffer.requeue_front(frames);
        self.pub_frames.clear();
    }

    /// Forgets everything tied to one transport.
    pub(super) fn reset_transport_state(&mut self) {
        self.tls_active = false;
        self.retiring = false;
        self.nonce_signature = None;
        self.parser.reset();
        self.read_buf.clear();
        if !self.out.is_empty() {
            self.clear_out();
        }
        self.pings_out = 0;
        self.write_stalls = 0;
        self.consumed_at_tick = 0;
        self.pong_end = 0;
    }

    /// The current attempt failed: close its transport, report, then try the next one
    /// (or close, per the auth-abort rule and the first-pass rule).
    pub(super) fn attempt_failed(&mut self, now: Instant, error: AttemptError) {
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
        if let AttemptError::Auth(e) = &error {
            if self.pool.auth_failed(e) {
                self.close_for_good(now, CloseReason::AuthRejected(e.clone()), false);
                return;
            }
        }
        self.start_next_attempt(now);
    }

    /// Loses the established connection: close the transport, report, fail the flushes
    /// sent on it, then reconnect or close (`close` set, or reconnect disabled).
    pub(super) fn disconnect(
        &mut self,
        now: Instant,
        reason: DisconnectReason,
        close: Option<CloseReason>,
    ) {
        self.events.push_back(Event::CloseTransport);
        self.phase = Phase::Idle;
        self.connected_server = None;
        self.timers.stop(Timer::Ping);
        self.timers.stop(Timer::Retire);
        self.retiring = false;
        self.pings_out = 0;
        let user_close = reason == DisconnectReason::UserClose;
        let forced = reason == DisconnectReason::ForcedReconnect;
        self.events.push_back(Event::Disconnected { reason });
        for id in self.pings.take_flushes() {
            self.events.push_back(Event::FlushFailed(id));
        }
        if !user_close {
            // Publishes the socket never took are kept for the next connection; only a
            // publish cut off mid-write is lost with the transport (it was sent, in part).
            self.requeue_unwritten_publishes();
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

    /// Adds publishes that will never be written to the statistics.
    pub(super) fn count_discarded(&mut self, messages: usize, bytes: usize) {
        self.stats.discarded_msgs = self.stats.discarded_msgs.saturating_add(messages as u64);
        self.stats.discarded_bytes = self.stats.discarded_bytes.saturating_add(bytes as u64);
    }

    /// Enters [`State::Closed`] for good.
    pub(super) fn close_for_good(&mut self, now: Instant, reason: CloseReason, keep_out: bool) {
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
        self.count_discarded(
            self.reconnect_buffer.messages(),
            self.reconnect_buffer.len(),
        );
        self.reconnect_buffer.clear();
        if !keep_out {
            self.discard_unwritten();
        }
        let mut failed = self.pings.take_flushes();
        failed.append(&mut self.pending_flushes);
        for id in failed {
            self.events.push_back(Event::FlushFailed(id));
        }
        // The driver fails every waiter on Closed.
        let _ = self.requests.take_all();
        self.close_reason = Some(reason.clone());
        self.events.push_back(Event::Closed { reason });
    }

    // ----- internals: handshake -----

    /// Queues `CONNECT` and the handshake `PING`.
    pub(super) fn send_connect(&mut self, now: Instant) {
        let (Some(attempt), Some(info)) = (&self.attempt, &self.server_info) else {
            return;
        };
        if let (Auth::JwtSigner { .. }, None) = (&self.config.auth, &self.nonce_signature) {
            match info.nonce.clone() {
                Some(nonce) => {
                    self.phase = Phase::AwaitSignature;
                    self.events.push_back(Event::SignNonce { nonce });
                }
                None => self.attempt_failed(now, AttemptError::NkeyNotSupported),
            }
            return;
        }
        let params = ConnectParams {
            name: self.config.name.as_deref(),
            echo: self.config.echo,
            // Like nats.go, a server-required upgrade turns `Secure` on.
            tls_required: self.want_tls || self.tls_active,
        };
        let signature = self.nonce_signature.as_deref();
        match handshake::connect_info(&params, &self.config.auth, &attempt.server, info, signature)
        {
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
    pub(super) fn handshake_complete(&mut self, now: Instant) {
        self.timers.stop(Timer::Handshake);
        self.pool.connected();
        self.phase = Phase::Connected;
        self.state = State::Connected;
        self.pings_out = 0;
        self.write_stalls = 0;
        self.consumed_at_tick = self.out.consumed();
        // Another server, or this one after a reload, may allow the reply inbox.
        if self.requests.inbox_refused.take().is_some() {
            self.requests.sid = None;
        }
        self.arm_keepalive(now);

        let _ = self.subs.resend(&mut self.out);
        self.reconnect_buffer
            .drain_into(&mut self.out, &mut self.pub_frames);
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
    pub(super) fn apply_info(&mut self, info: ServerInfo) {
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
}

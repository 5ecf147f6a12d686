//! Input handling for a [`Connection`]: parsing server bytes and acting on each op in
//! the current phase, `-ERR` routing, and the keepalive tick.

use std::time::Instant;

use super::event::{AttemptError, CloseReason, DisconnectReason, Event, SubscriptionClosedReason};
use super::handshake::{self, Phase, TlsStep};
use super::pings::PingKind;
use super::subscriptions::Delivery;
use super::timers::Timer;
use super::Connection;
use crate::error::ProtocolError;
use crate::info::ServerInfo;
use crate::message::{Message, Sid};
use crate::server_error::{ErrorAction, ServerError, ServerErrorKind};
use crate::server_op::{ServerOp, Status};

impl Connection {
    // ----- internals: input -----

    /// Parses and handles every complete op in the read buffer.
    pub(super) fn process_input(&mut self, now: Instant) {
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

    /// Bytes that are not NATS: drop the connection or fail the attempt.
    pub(super) fn protocol_error(&mut self, now: Instant, e: ProtocolError) {
        if self.phase == Phase::Connected {
            self.disconnect(now, DisconnectReason::ProtocolError(e), None);
        } else {
            self.attempt_failed(now, AttemptError::Protocol(e));
        }
    }

    /// Acts on one op according to the handshake phase.
    pub(super) fn handle_op(&mut self, now: Instant, op: ServerOp) {
        match self.phase {
            Phase::AwaitInfo => match op {
                ServerOp::Info(info) => self.handshake_info(now, *info),
                _ => self.attempt_failed(now, AttemptError::NoInfo),
            },
            Phase::AwaitPong => match op {
                ServerOp::Pong => {
                    // Only the handshake PING can be outstanding before the first PONG.
                    let answered = self.pings.pong();
                    if answered == Some(PingKind::Handshake) {
                        self.handshake_complete(now);
                    }
                }
                ServerOp::Ping => self.answer_ping(),
                ServerOp::Info(info) => self.apply_info(*info),
                ServerOp::Err(e) => {
                    let error = if e.is_auth_error() {
                        AttemptError::Auth(e)
                    } else {
                        AttemptError::Server(e)
                    };
                    self.attempt_failed(now, error);
                }
                _ => {}
            },
            Phase::Connected => self.connected_op(now, op),
            _ => {}
        }
    }

    /// The first INFO of a transport: store it, then upgrade to TLS or send CONNECT.
    pub(super) fn handshake_info(&mut self, now: Instant, info: ServerInfo) {
        let websocket = self.attempt.as_ref().is_some_and(|a| a.server.websocket);
        let step = if websocket {
            // Over WebSocket, TLS is the URL's (`wss://`, done before the upgrade); the
            // INFO's TLS fields describe the server's NATS port, not this one.
            match (self.tls_active, self.want_tls) {
                (false, true) => TlsStep::Unavailable,
                _ => TlsStep::Proceed,
            }
        } else {
            handshake::tls_step(self.want_tls, self.tls_active, &info)
        };
        // Once any server of this client required TLS, none may be spoken to in plain
        // text again: an impostor's INFO without `tls_required` on a later attempt must
        // not get our CONNECT and credentials (nats.go marks the connection secure).
        self.want_tls |= info.tls_required && !websocket;
        self.apply_info(info);
        match step {
            TlsStep::Proceed => self.send_connect(now),
            TlsStep::Unavailable => {
                self.attempt_failed(now, AttemptError::TlsRequiredByClientButUnavailable)
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

    /// An op on an established connection.
    pub(super) fn connected_op(&mut self, now: Instant, op: ServerOp) {
        match op {
            ServerOp::Msg(msg) => self.deliver(msg),
            ServerOp::Ping => self.answer_ping(),
            ServerOp::Pong => {
                let answered = self.pings.pong();
                if answered.is_some() {
                    // Only an answer to one of ours proves the server reads us.
                    self.pings_out = 0;
                }
                match answered {
                    Some(PingKind::Flush(id)) => self.events.push_back(Event::FlushComplete(id)),
                    Some(PingKind::Retire) => self.retired(now),
                    _ => {}
                }
            }
            ServerOp::Info(info) => self.apply_info(*info),
            ServerOp::Err(e) => self.server_error(now, e),
            _ => {}
        }
    }

    /// Routes a message to its subscription, counting deliveries for auto-unsubscribe,
    /// tagged with the read-buffer allocation it shares ([`Message::shared_buffer`]):
    /// every message comes out of the parser before more input is appended, so it was
    /// cut from the allocation the buffer is in now.
    pub(super) fn deliver(&mut self, mut msg: Message) {
        msg.set_shared_buffer(self.read_buf.shared_buffer());
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
        if Some(sid) == self.requests.sid {
            // A reply nobody waits for any more (timed out, cancelled) is dropped.
            if let Some(id) = self.requests.take_reply(msg.subject()) {
                self.events.push_back(Event::Reply { id, message: msg });
            }
            return;
        }
        self.events.push_back(Event::Message(msg));
        if delivery == Delivery::Last {
            self.events.push_back(Event::SubscriptionClosed {
                sid,
                reason: SubscriptionClosedReason::AutoUnsubscribed,
            });
        }
    }

    /// A `-ERR` on an established connection: report (routed to the refused
    /// subscription), reconnect, or close, per [`ServerError::action`].
    pub(super) fn server_error(&mut self, now: Instant, e: ServerError) {
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
                        if Some(sid) == self.requests.sid {
                            // No reply can reach us: fail what waits, refuse what follows.
                            self.requests.sid = None;
                            self.requests.inbox_refused = Some(e.clone());
                            let waiting = self.requests.take_all();
                            self.fail_requests(waiting, &e);
                        } else {
                            self.events.push_back(Event::SubscriptionClosed {
                                sid,
                                reason: SubscriptionClosedReason::PermissionDenied(e),
                            });
                        }
                        return;
                    }
                }
                // The server refuses every publish to the subject: every request to it
                // fails now, not at its timeout.
                let refused = match &e.kind {
                    ServerErrorKind::PublishPermission { subject } => {
                        self.requests.take_published_to(subject)
                    }
                    ServerErrorKind::PublishReplyPermission { reply } => {
                        self.requests.take_reply(reply).into_iter().collect()
                    }
                    _ => Vec::new(),
                };
                self.fail_requests(refused, &e);
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

    /// Reports each of `ids` as refused with `e`.
    fn fail_requests(&mut self, ids: Vec<super::RequestId>, e: &ServerError) {
        for id in ids {
            self.events.push_back(Event::RequestFailed {
                id,
                error: e.clone(),
            });
        }
    }

    /// The connection a forced reconnect retires answered its last PING (or ran out of
    /// time): drop it and dial the next one.
    pub(super) fn retired(&mut self, now: Instant) {
        if self.phase == Phase::Connected && self.retiring {
            self.disconnect(now, DisconnectReason::ForcedReconnect, None);
        }
    }

    /// Answers a server PING, unless a PONG of ours is still waiting to be written:
    /// one answers every PING before it, so a flood of PINGs from a server that does not
    /// read queues one PONG, not one per PING.
    pub(super) fn answer_ping(&mut self) {
        if self.out.consumed() >= self.pong_end {
            self.out.pong();
            self.pong_end = self.out.stream_position();
        }
    }

    /// A keepalive tick: count the PING as outstanding and check that the socket takes
    /// what we write; too many unanswered PINGs, or as many ticks without write
    /// progress, mean stale.
    pub(super) fn keepalive_tick(&mut self, now: Instant) {
        if self.phase != Phase::Connected {
            return;
        }
        let consumed = self.out.consumed();
        if !self.out.is_empty() && consumed == self.consumed_at_tick {
            self.write_stalls = self.write_stalls.saturating_add(1);
        } else {
            self.write_stalls = 0;
        }
        self.consumed_at_tick = consumed;
        if self.write_stalls > self.config.max_pings_out {
            self.disconnect(now, DisconnectReason::WriteStalled, None);
            return;
        }
        self.pings_out = self.pings_out.saturating_add(1);
        if self.pings_out > self.config.max_pings_out {
            self.disconnect(now, DisconnectReason::StaleConnection, None);
            return;
        }
        self.out.ping();
        self.pings.push(PingKind::Keepalive);
        self.arm_keepalive(now);
    }

    /// Arms the next keepalive tick; a zero `ping_interval` turns keepalive off.
    pub(super) fn arm_keepalive(&mut self, now: Instant) {
        if self.config.ping_interval.is_zero() {
            self.timers.stop(Timer::Ping);
        } else {
            self.timers
                .set_after(Timer::Ping, now, self.config.ping_interval);
        }
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

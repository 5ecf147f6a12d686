//! The one read path and the one write path of the loop, and transport failures.

use std::io::IoSlice;
use std::time::Instant;

use natsy_proto::connection::{TransportError, TransportOp};

use super::{EventLoop, READS_PER_TURN, WRITE_SLICES};
use crate::shared::Core;
use crate::transport::{Phase, ReadOutcome};

impl EventLoop {
    /// Reports a transport failure to the connection.
    pub(super) fn transport_failed(&mut self, error: TransportError) {
        let shared = self.shared.clone();
        let mut core = shared.lock();
        self.fail_transport(&mut core, error);
        self.drive(&mut core);
    }

    /// Drops the transport and reports why, with the lock held.
    pub(super) fn fail_transport(&mut self, core: &mut Core, error: TransportError) {
        self.drop_transport();
        core.conn.handle_transport_error(Instant::now(), error);
    }

    pub(super) fn drop_transport(&mut self) {
        if let Some(mut t) = self.transport.take() {
            let _ = self.poll.registry().deregister(&mut t.stream);
        }
        self.read_more = false;
    }

    pub(super) fn on_writable(&mut self) {
        let Some(t) = self.transport.as_mut() else {
            return;
        };
        t.write_blocked = false;
        match t.phase {
            Phase::Connecting => match t.finish_connect() {
                Ok(true) => {
                    let tls_first = t.tls_first.take();
                    if tls_first.is_none() {
                        t.phase = Phase::Open;
                    }
                    let shared = self.shared.clone();
                    let mut core = shared.lock();
                    match tls_first {
                        Some(name) => self.start_tls(&mut core, &name, true),
                        None => core.conn.handle_transport_connected(Instant::now()),
                    }
                    self.drive(&mut core);
                }
                Ok(false) => {}
                Err(e) => self.transport_failed(TransportError::io(TransportOp::Connect, &e)),
            },
            Phase::TlsHandshake { .. } => {
                let shared = self.shared.clone();
                let mut core = shared.lock();
                self.step_handshake(&mut core);
                self.drive(&mut core);
            }
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

    pub(super) fn on_readable(&mut self) {
        for _ in 0..READS_PER_TURN {
            let Some(t) = self.transport.as_mut() else {
                return;
            };
            match t.phase {
                Phase::Connecting => return,
                Phase::TlsHandshake { .. } => {
                    let shared = self.shared.clone();
                    let mut core = shared.lock();
                    self.step_handshake(&mut core);
                    self.drive(&mut core);
                    drop(core);
                    if !matches!(self.transport.as_ref().map(|t| &t.phase), Some(Phase::Open)) {
                        return;
                    }
                }
                Phase::Open => {
                    let shared = self.shared.clone();
                    // The socket read happens without the lock; only feeding it takes it.
                    // A short plain-TCP read emptied the socket: epoll reports the next
                    // bytes as a new edge, so the read that would only say `WouldBlock`
                    // is skipped (tokio does the same). strace of `req`: one `recvfrom`
                    // fewer per reply received.
                    let plain = t.tls.is_none();
                    match t.read(&mut self.read_buf) {
                        Ok(ReadOutcome::Data(n)) => {
                            let drained = plain && n < self.read_buf.len();
                            let mut core = shared.lock();
                            // Awake: the turn ends with a drive under the lock before the
                            // next `poll`, which writes what user threads queue meanwhile,
                            // so they need not wake us (an eventfd write for them and an
                            // extra `epoll_wait` return for us, per request, in strace).
                            core.wake_pending = true;
                            if n > 0 {
                                core.conn.handle_input(
                                    Instant::now(),
                                    self.read_buf.get(..n).unwrap_or_default(),
                                );
                            }
                            self.drive(&mut core);
                            drop(core);
                            self.batch.wake_readers();
                            if drained {
                                return;
                            }
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

    /// Writes what the connection has to send, until done or the socket is full.
    pub(super) fn write_pending(&mut self, core: &mut Core) {
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
}

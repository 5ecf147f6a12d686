//! The one read path and the one write path of the loop, and transport failures.

use std::io::{self, IoSlice, Write};
use std::net::TcpStream;
use std::sync::MutexGuard;
use std::time::Instant;

use natsy_proto::connection::{Lease, TransportError, TransportOp};

use super::{EventLoop, READS_PER_TURN, SOCKET, WRITE_SLICES};
use crate::shared::{Core, Shared};
use crate::transport::{Phase, ReadOutcome, Transport};

/// The one write function: lends what the connection has to send (owned handles, under
/// the lock) and hands it to `write`, until it is all sent or `write` says to stop, then
/// gives each lease back under the lock. `write` returns the bytes it took and whether
/// to go on. With `release`, the lock is released for the write itself, so publishers
/// go on queueing while the kernel copies up to half a MiB (BENCHMARKS.md); without,
/// it stays held (a requester's own short write). `Ok(true)`: the output is empty.
fn write_output<'a>(
    shared: &'a Shared,
    mut core: MutexGuard<'a, Core>,
    lease: &mut Lease,
    release: bool,
    mut write: impl FnMut(&[IoSlice<'_>]) -> io::Result<(usize, bool)>,
) -> (MutexGuard<'a, Core>, io::Result<bool>) {
    loop {
        if !core.conn.lend_output(lease, WRITE_SLICES) {
            let empty = core.conn.transmit_len() == 0;
            return (core, Ok(empty));
        }
        let result = {
            let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
            let n = lease.io_slices(&mut slices);
            if release {
                drop(core);
                let result = write(&slices[..n]);
                core = shared.lock();
                result
            } else {
                write(&slices[..n])
            }
        };
        let (written, go_on) = match result {
            Ok(done) => done,
            Err(e) => {
                core.conn.handle_written(lease, 0);
                return (core, Err(e));
            }
        };
        core.conn.handle_written(lease, written);
        if !go_on {
            return (core, Ok(false));
        }
    }
}

/// The measured exception to "only the loop does IO" (BENCHMARKS.md): a requester that
/// waits for its reply next writes its request itself, through [`write_output`] with the
/// lock held, when the loop sleeps with nothing to write (`!wake_pending`) on an open
/// plain-TCP connection. That saves the loop's wake-up for the write: one eventfd write,
/// one `epoll_wait` return and one thread switch per request. Anything short of writing
/// everything (a full socket, an error) falls back to waking the loop, which carries on
/// from where this left off and meets the error itself.
pub(crate) fn write_now_or_wake<'a>(
    shared: &'a Shared,
    mut core: MutexGuard<'a, Core>,
) -> MutexGuard<'a, Core> {
    if !core.wake_pending {
        if let Some(stream) = core.direct.take() {
            let mut lease = std::mem::take(&mut core.direct_lease);
            let (mut back, done) = write_output(shared, core, &mut lease, false, |slices| {
                direct_write(&stream, slices)
            });
            back.direct_lease = lease;
            back.direct = Some(stream);
            core = back;
            if matches!(done, Ok(true)) {
                return core;
            }
        }
    }
    shared.wake(&mut core);
    core
}

/// One non-blocking write on the shared socket handle.
fn direct_write(mut stream: &TcpStream, slices: &[IoSlice<'_>]) -> io::Result<(usize, bool)> {
    loop {
        match stream.write_vectored(slices) {
            Ok(n) => return Ok((n, n > 0)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((0, false)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

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
        core.direct = None;
        self.drop_transport();
        core.conn.handle_transport_error(Instant::now(), error);
    }

    /// Registers a new transport's socket with whatever waits for this loop: the runtime's
    /// reactor on the tokio driver, the loop's own poller otherwise.
    pub(super) fn register(&self, t: &mut Transport) -> io::Result<()> {
        #[cfg(all(feature = "tokio", unix))]
        if let Some(runtime) = &self.tokio {
            t.reactor = Some(super::on_tokio::register_socket(runtime, &t.stream)?);
            return Ok(());
        }
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        self.poll
            .registry()
            .register(&mut t.stream, SOCKET, interest)
    }

    /// Moves the socket from the runtime's reactor to the loop's own poller, for the
    /// final write, which runs off the runtime's workers (`spawn_blocking`).
    #[cfg(all(feature = "tokio", unix))]
    pub(super) fn leave_reactor(&mut self) {
        self.tokio = None;
        if let Some(mut t) = self.transport.take() {
            if t.reactor.take().is_some() && self.register(&mut t).is_err() {
                return; // dropped: the final write cannot wait for this socket
            }
            self.transport = Some(t);
        }
    }

    pub(super) fn drop_transport(&mut self) {
        if let Some(t) = self.transport.take() {
            self.deregister(t);
        }
        self.read_more = false;
    }

    /// Takes a dropped transport's socket out of the loop's poller (a registration with
    /// the reactor ends with the transport).
    fn deregister(&self, mut t: Transport) {
        #[cfg(all(feature = "tokio", unix))]
        if t.reactor.is_some() {
            return;
        }
        let _ = self.poll.registry().deregister(&mut t.stream);
    }

    pub(super) fn on_writable(&mut self) {
        let Some(t) = self.transport.as_mut() else {
            return;
        };
        t.write_blocked = false;
        match t.phase {
            Phase::Connecting => match t.finish_connect() {
                Ok(true) => {
                    crate::trace::debug!("TCP connected");
                    let tls_first = t.tls_first.take();
                    if tls_first.is_none() {
                        t.phase = Phase::Open;
                        t.share_for_direct_writes();
                    }
                    let shared = self.shared.clone();
                    let mut core = shared.lock();
                    match tls_first {
                        Some(name) => self.start_tls(&mut core, &name, true),
                        None => self.transport_up(&mut core),
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
            Phase::WsHandshake => {
                let shared = self.shared.clone();
                let mut core = shared.lock();
                self.step_ws_handshake(&mut core);
                self.drive(&mut core);
            }
            Phase::Open => {
                // The queued output follows in the next turn's write (`begin_turn`).
                if let Err(e) = t.flush_tls() {
                    self.transport_failed(TransportError::io(TransportOp::Write, &e));
                }
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
                Phase::WsHandshake => {
                    let shared = self.shared.clone();
                    let mut core = shared.lock();
                    self.step_ws_handshake(&mut core);
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
                    // fewer per reply received. Not once the peer's close was reported:
                    // bytes and FIN queued before `epoll_wait` share one edge, and the
                    // read that returns the bytes does not return the end. Skipping the
                    // next read then leaves the connection on a dead socket until a
                    // write fails (RELIABILITY.md, chaos; tokio keeps its closed bit too).
                    let plain = t.tls.is_none() && t.ws.is_none() && !t.peer_closed;
                    // Straight into proto's read buffer: no copy from a buffer of ours.
                    let mut space = match self.space.take() {
                        Some(space) => space,
                        None => shared.lock().conn.read_space(),
                    };
                    match t.read(&mut space) {
                        Ok(ReadOutcome::Data(n)) => {
                            let drained = plain && n < space.len();
                            let mut core = shared.lock();
                            // Awake: the turn ends with a drive under the lock before the
                            // next `poll`, which writes what user threads queue meanwhile,
                            // so they need not wake us (an eventfd write for them and an
                            // extra `epoll_wait` return for us, per request, in strace).
                            core.wake_pending = true;
                            core.conn.handle_read(Instant::now(), space, n);
                            self.drive(&mut core);
                            self.space = Some(core.conn.read_space());
                            drop(core);
                            self.batch.wake_readers();
                            if drained {
                                return;
                            }
                        }
                        Ok(ReadOutcome::WouldBlock) => {
                            self.space = Some(space);
                            return;
                        }
                        Ok(ReadOutcome::Eof) => {
                            self.drop_transport();
                            let mut core = shared.lock();
                            core.direct = None;
                            let now = Instant::now();
                            core.conn.handle_read(now, space, 0);
                            core.conn.handle_transport_eof(now);
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

    /// Writes what the connection has to send, until done or the socket is full, with the
    /// lock released during each write (see [`write_output`]); a failed write is
    /// reported to the connection and its events driven.
    pub(super) fn write_pending<'a>(
        &mut self,
        shared: &'a Shared,
        mut core: MutexGuard<'a, Core>,
    ) -> MutexGuard<'a, Core> {
        let Some(t) = self.transport.as_mut() else {
            return core;
        };
        if !matches!(t.phase, Phase::Open) {
            return core;
        }
        let mut failed = None;
        if !t.write_blocked {
            // Ops queued during the write need no wake-up: the next lend, under the lock,
            // takes them, and the turn that follows looks at the core again.
            core.wake_pending = true;
            let (back, wrote) = write_output(shared, core, &mut self.lease, true, |slices| {
                let written = t.write(slices)?;
                // rustls' buffer full but the socket took everything: retry.
                let retry = written == 0 && !t.write_blocked && t.tls_wants_write();
                Ok((written, retry || (written > 0 && !t.write_blocked)))
            });
            core = back;
            if let Err(e) = wrote {
                failed = Some(TransportError::io(TransportOp::Write, &e));
            }
        }
        if core.room_wanted() && (core.conn.output_drained() || failed.is_some()) {
            self.shared.notify_drained(&mut core);
        }
        if let Some(reason) = failed {
            self.fail_transport(&mut core, reason);
            self.drive(&mut core);
        }
        core
    }
}

//! The socket: plain TCP or TLS (rustls) over a non-blocking mio `TcpStream`, optionally
//! with WebSocket framing on top (`ws://`, `wss://`).
//!
//! Owns connecting (completion is signalled by writability and a clean `take_error`), the
//! TLS handshake, the WebSocket upgrade, reads drained until `WouldBlock`, and vectored
//! writes that keep partial progress. It knows nothing about NATS.

use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use mio::net::TcpStream;

use crate::tls::ClientConnection;
#[cfg(feature = "tls")]
use crate::tls::{self, ClientConfig, TlsError};
use crate::websocket::{WsLayer, WsRead};

/// Where the socket stands.
pub(crate) enum Phase {
    /// Non-blocking connect in progress.
    Connecting,
    /// TCP is up, TLS handshake running. `first`: TLS-first, so the NATS side has not
    /// been told about the transport yet. Never entered without the `tls` feature.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    TlsHandshake { first: bool },
    /// The WebSocket upgrade (after TCP, or after TLS for `wss://`) is running.
    WsHandshake,
    /// Ready for NATS bytes.
    Open,
}

/// A connected (or connecting) socket.
pub(crate) struct Transport {
    pub(crate) stream: TcpStream,
    /// Always `None` without the `tls` feature (the type is uninhabited then).
    pub(crate) tls: Option<ClientConnection>,
    pub(crate) phase: Phase,
    /// The kernel said `WouldBlock` on the last write; wait for writability.
    pub(crate) write_blocked: bool,
    /// epoll reported the peer's close (`EPOLLRDHUP`, or an error). Reads go on until
    /// they meet it: that edge came with the data before it and will not come again.
    pub(crate) peer_closed: bool,
    /// TLS-first: start the handshake as soon as TCP is up.
    pub(crate) tls_first: Option<String>,
    /// WebSocket framing, for a `ws://` or `wss://` server.
    pub(crate) ws: Option<Box<WsLayer>>,
    /// A second handle on the open plain-TCP socket (a `dup`), lent to requesters
    /// through `Core::direct`; `None` with TLS or WebSocket.
    pub(crate) direct: Option<Arc<std::net::TcpStream>>,
    /// On the tokio driver: the socket's registration with the runtime's reactor, on a
    /// second handle (a `dup`) that lives and dies with this transport. `None` on
    /// natsy's own loop thread, where `stream` is registered with the loop's poller.
    #[cfg(all(feature = "tokio", unix))]
    pub(crate) reactor: Option<tokio::io::unix::AsyncFd<std::net::TcpStream>>,
}

/// What a read produced.
pub(crate) enum ReadOutcome {
    /// Some bytes (maybe none if only TLS records were processed); more may follow.
    Data(usize),
    /// Nothing more now.
    WouldBlock,
    /// The peer closed.
    Eof,
}

/// Starts a non-blocking connect to the first address that takes one (a refusal usually
/// shows later, as an error on the socket). Resolving is the dialer's job.
pub(crate) fn connect(addrs: &[SocketAddr]) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host resolved to no address");
    for addr in addrs {
        match TcpStream::connect(*addr) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

#[cfg(feature = "tls")]
fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}"))
}

impl Transport {
    pub(crate) fn new(stream: TcpStream, tls_first: Option<String>, ws: Option<WsLayer>) -> Self {
        Transport {
            stream,
            tls: None,
            phase: Phase::Connecting,
            write_blocked: false,
            peer_closed: false,
            tls_first,
            ws: ws.map(Box::new),
            direct: None,
            #[cfg(all(feature = "tokio", unix))]
            reactor: None,
        }
    }

    /// Starts the WebSocket upgrade (its request is already queued).
    pub(crate) fn start_ws(&mut self) {
        self.phase = Phase::WsHandshake;
    }

    /// Drives the WebSocket upgrade: writes the request, reads the response. `Ok(true)`
    /// once upgraded.
    pub(crate) fn drive_ws_handshake(&mut self) -> io::Result<bool> {
        self.flush_tls()?;
        loop {
            let Some(ws) = self.ws.as_mut() else {
                return Ok(true);
            };
            if ws.finish_handshake()? {
                return Ok(true);
            }
            if ws.raw_in.len() > natsy_proto::websocket::MAX_RESPONSE_HEAD {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    natsy_proto::websocket::WsError::ResponseTooLarge,
                ));
            }
            match self.read_into_ws()? {
                ReadOutcome::Data(_) => {}
                ReadOutcome::WouldBlock => return Ok(false),
                ReadOutcome::Eof => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed during the websocket upgrade",
                    ))
                }
            }
        }
    }

    /// One raw read (through TLS if any) into the WebSocket layer's input.
    fn read_into_ws(&mut self) -> io::Result<ReadOutcome> {
        let Some(mut ws) = self.ws.take() else {
            return Ok(ReadOutcome::WouldBlock);
        };
        let outcome = self.read_raw(ws.read_room());
        let n = match &outcome {
            Ok(ReadOutcome::Data(n)) => *n,
            _ => 0,
        };
        ws.filled(n);
        self.ws = Some(ws);
        outcome
    }

    /// Makes the second handle requesters may write through (plain TCP only).
    pub(crate) fn share_for_direct_writes(&mut self) {
        use std::os::fd::AsFd;
        if self.ws.is_some() {
            // Bytes to a WebSocket need framing: only the loop writes them.
            return;
        }
        self.direct = self
            .stream
            .as_fd()
            .try_clone_to_owned()
            .ok()
            .map(|fd| Arc::new(std::net::TcpStream::from(fd)));
    }

    /// Checks whether the non-blocking connect finished. `Ok(true)`: connected.
    pub(crate) fn finish_connect(&mut self) -> io::Result<bool> {
        if let Some(e) = self.stream.take_error()? {
            return Err(e);
        }
        match self.stream.peer_addr() {
            Ok(_) => {
                let _ = self.stream.set_nodelay(true);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) if e.raw_os_error() == Some(115) => Ok(false), // EINPROGRESS
            Err(e) => Err(e),
        }
    }

    /// Starts a TLS handshake on the open socket.
    #[cfg(feature = "tls")]
    pub(crate) fn start_tls(
        &mut self,
        config: Arc<ClientConfig>,
        name: &str,
        first: bool,
    ) -> Result<(), TlsError> {
        // From here on only the loop thread may write: the bytes must go through TLS.
        self.direct = None;
        let server_name = tls::server_name(name)?;
        let conn = ClientConnection::new(config, server_name)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        self.tls = Some(conn);
        self.phase = Phase::TlsHandshake { first };
        Ok(())
    }

    /// Without the `tls` feature there is never a handshake to drive.
    #[cfg(not(feature = "tls"))]
    pub(crate) fn drive_handshake(&mut self) -> io::Result<bool> {
        Ok(true)
    }

    /// Drives the TLS handshake. `Ok(true)` once it is complete.
    #[cfg(feature = "tls")]
    pub(crate) fn drive_handshake(&mut self) -> io::Result<bool> {
        let Some(tls) = self.tls.as_mut() else {
            return Ok(true);
        };
        loop {
            while tls.wants_write() {
                match tls.write_tls(&mut self.stream) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if !tls.is_handshaking() {
                return Ok(true);
            }
            if !tls.wants_read() {
                return Ok(false);
            }
            match tls.read_tls(&mut self.stream) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed during the TLS handshake",
                    ))
                }
                Ok(_) => {
                    if let Err(e) = tls.process_new_packets() {
                        // Send the alert, then report.
                        let _ = tls.write_tls(&mut self.stream);
                        return Err(tls_error(e));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads application bytes into `buf`: NATS bytes, out of their WebSocket frames for
    /// a WebSocket transport.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<ReadOutcome> {
        if self.ws.is_none() {
            return self.read_raw(buf);
        }
        loop {
            let decoded = match self.ws.as_mut() {
                Some(ws) => ws.decode(buf)?,
                None => return Ok(ReadOutcome::Eof),
            };
            match decoded {
                WsRead::Data(n) => {
                    // A ping may have queued a pong.
                    self.flush_tls()?;
                    return Ok(ReadOutcome::Data(n));
                }
                WsRead::Closed => {
                    self.flush_tls()?;
                    return Ok(ReadOutcome::Eof);
                }
                WsRead::NeedInput => {
                    self.flush_tls()?;
                    match self.read_into_ws()? {
                        ReadOutcome::Data(_) => {}
                        other => return Ok(other),
                    }
                }
            }
        }
    }

    /// Reads what the socket (or TLS) has into `buf`, without WebSocket decoding.
    fn read_raw(&mut self, buf: &mut [u8]) -> io::Result<ReadOutcome> {
        match self.tls.as_mut() {
            None => loop {
                match self.stream.read(buf) {
                    Ok(0) => return Ok(ReadOutcome::Eof),
                    Ok(n) => return Ok(ReadOutcome::Data(n)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Ok(ReadOutcome::WouldBlock)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            },
            #[cfg(not(feature = "tls"))]
            Some(never) => match *never {},
            #[cfg(feature = "tls")]
            Some(tls) => {
                // Plaintext already decrypted comes first.
                match tls.reader().read(buf) {
                    Ok(0) => return Ok(ReadOutcome::Eof), // close_notify
                    Ok(n) => return Ok(ReadOutcome::Data(n)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        return Ok(ReadOutcome::Eof)
                    }
                    Err(e) => return Err(e),
                }
                loop {
                    match tls.read_tls(&mut self.stream) {
                        Ok(0) => return Ok(ReadOutcome::Eof),
                        Ok(_) => {
                            let state = tls.process_new_packets().map_err(tls_error)?;
                            if state.plaintext_bytes_to_read() > 0 || state.peer_has_closed() {
                                return match tls.reader().read(buf) {
                                    Ok(0) => Ok(ReadOutcome::Eof),
                                    Ok(n) => Ok(ReadOutcome::Data(n)),
                                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                        Ok(ReadOutcome::Data(0))
                                    }
                                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                                        Ok(ReadOutcome::Eof)
                                    }
                                    Err(e) => Err(e),
                                };
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            return Ok(ReadOutcome::WouldBlock)
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    /// Writes as much of `slices` as the socket takes; returns how many application bytes
    /// were accepted. Sets `write_blocked` on `WouldBlock`. A WebSocket transport frames
    /// all of `slices` into one binary frame once its previous frames are out.
    pub(crate) fn write(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        if let Some(ws) = self.ws.as_mut() {
            if ws.has_output() {
                self.flush_tls()?;
                if self.ws.as_ref().is_some_and(|w| w.has_output()) {
                    return Ok(0);
                }
            }
            let parts: Vec<&[u8]> = slices.iter().map(|s| &s[..]).collect();
            let accepted = parts.iter().map(|p| p.len()).sum();
            if let Some(ws) = self.ws.as_mut() {
                ws.frame(natsy_proto::websocket::Opcode::Binary, &parts);
            }
            self.flush_tls()?;
            return Ok(accepted);
        }
        self.write_raw(slices)
    }

    /// Writes to the socket (or TLS), without WebSocket framing.
    fn write_raw(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        match self.tls.as_mut() {
            None => loop {
                match self.stream.write_vectored(slices) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.write_blocked = true;
                        return Ok(0);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            },
            #[cfg(not(feature = "tls"))]
            Some(never) => match *never {},
            #[cfg(feature = "tls")]
            Some(tls) => {
                let accepted = tls.writer().write_vectored(slices)?;
                self.flush_tls_records()?;
                Ok(accepted)
            }
        }
    }

    /// Pushes buffered output to the socket: WebSocket frames (through TLS if any), then
    /// TLS records.
    pub(crate) fn flush_tls(&mut self) -> io::Result<()> {
        while let Some(mut ws) = self.ws.take() {
            if !ws.has_output() {
                self.ws = Some(ws);
                break;
            }
            let result = self.write_raw(&[IoSlice::new(&ws.out[ws.out_at..])]);
            let n = *result.as_ref().unwrap_or(&0);
            ws.advance_output(n);
            self.ws = Some(ws);
            result?;
            if n == 0 || self.write_blocked {
                break;
            }
        }
        self.flush_tls_records()
    }

    /// Without the `tls` feature there are never TLS records.
    #[cfg(not(feature = "tls"))]
    fn flush_tls_records(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Pushes buffered TLS records to the socket.
    #[cfg(feature = "tls")]
    fn flush_tls_records(&mut self) -> io::Result<()> {
        let Some(tls) = self.tls.as_mut() else {
            return Ok(());
        };
        while tls.wants_write() {
            match tls.write_tls(&mut self.stream) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.write_blocked = true;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Buffered output (WebSocket frames, TLS records) is waiting to be written.
    pub(crate) fn tls_wants_write(&self) -> bool {
        #[cfg(feature = "tls")]
        let tls = self.tls.as_ref().is_some_and(|t| t.wants_write());
        #[cfg(not(feature = "tls"))]
        let tls = false;
        tls || self.ws.as_ref().is_some_and(|w| w.has_output())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    /// A transport connected to a loopback listener, and the listener's end.
    fn connected() -> (Transport, std::net::TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let stream = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (peer, _) = listener.accept().expect("accept");
        (Transport::new(stream, None, None), peer)
    }

    /// Reads until something other than `WouldBlock` comes (the socket is non-blocking).
    fn read_some(t: &mut Transport, buf: &mut [u8]) -> ReadOutcome {
        loop {
            match t.read(buf).expect("read") {
                ReadOutcome::WouldBlock => std::thread::sleep(std::time::Duration::from_millis(1)),
                other => return other,
            }
        }
    }

    #[test]
    fn plain_tcp_writes_reads_and_sees_the_end_of_stream() {
        let (mut t, mut peer) = connected();
        t.phase = Phase::Open;
        let mut written = 0;
        while written < 6 {
            written += t
                .write(&[IoSlice::new(&b"PING\r\n"[written..])])
                .expect("write");
        }
        let mut got = [0u8; 6];
        peer.read_exact(&mut got).expect("peer read");
        assert_eq!(&got, b"PING\r\n");
        peer.write_all(b"PONG\r\n").expect("peer write");
        let mut buf = [0u8; 64];
        match read_some(&mut t, &mut buf) {
            ReadOutcome::Data(n) => assert_eq!(&buf[..n], b"PONG\r\n"),
            _ => panic!("expected data"),
        }
        drop(peer);
        assert!(matches!(read_some(&mut t, &mut buf), ReadOutcome::Eof));
    }
}

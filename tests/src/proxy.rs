//! [`FaultProxy`]: a loopback TCP proxy between a client and a real server that injects
//! network faults on command.
//!
//! Every accepted client connection gets its own upstream connection and two pump threads
//! (client → server and server → client). Pumps read with a short timeout so that they
//! see commands promptly; bytes read are queued, then forwarded when due. Commands act on
//! the connections that are open when they are given (a reconnecting client gets a clean
//! connection), except [`FaultProxy::set_refuse`], which acts on future connections.
//!
//! Faults:
//! - [`cut`](FaultProxy::cut): close both sockets of every connection now;
//! - [`cut_mid_frame`](FaultProxy::cut_mid_frame): forward the next `MSG`/`HMSG` (towards
//!   the client) or `PUB`/`HPUB` (towards the server) only up to its first payload byte,
//!   then close;
//! - [`set_delay`](FaultProxy::set_delay): hold every chunk for a while before forwarding;
//! - [`stall`](FaultProxy::stall): keep reading but forward nothing (sockets stay open)
//!   until [`resume`](FaultProxy::resume);
//! - [`drop_direction`](FaultProxy::drop_direction): silently discard one direction;
//! - [`inject_to_client`](FaultProxy::inject_to_client): write arbitrary bytes (garbage, a
//!   truncated frame) to the client between forwarded chunks;
//! - [`inject_and_close`](FaultProxy::inject_and_close) and
//!   [`close_with_err`](FaultProxy::close_with_err): write bytes (a `-ERR`), then close.
//!
//! ```no_run
//! use natsy_test_harness::{FaultProxy, NatsServer};
//! let server = NatsServer::start()?;
//! let proxy = FaultProxy::start(server.addr())?;
//! // connect the client to proxy.url() ...
//! proxy.stall();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// How long a pump blocks in `read` before it looks at commands again.
const TICK: Duration = Duration::from_millis(5);

/// A direction of traffic through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client to the server.
    ToServer,
    /// From the server to the client.
    ToClient,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::ToServer => 0,
            Direction::ToClient => 1,
        }
    }
}

/// The fault settings of one proxied connection.
#[derive(Debug, Default)]
struct Faults {
    stalled: bool,
    dropping: [bool; 2],
    delay: Duration,
    cut_mid_frame: [bool; 2],
}

/// One client connection and its upstream connection.
#[derive(Debug)]
struct Link {
    client: TcpStream,
    server: TcpStream,
    /// Writers, locked per write so injected bytes never interleave a forwarded chunk.
    to_client: Mutex<TcpStream>,
    to_server: Mutex<TcpStream>,
    faults: Mutex<Faults>,
    closed: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Link {
    fn close(&self, state: &ProxyState) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            let _ = self.client.shutdown(Shutdown::Both);
            let _ = self.server.shutdown(Shutdown::Both);
            state.closed.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn writer(&self, dir: Direction) -> &Mutex<TcpStream> {
        match dir {
            Direction::ToServer => &self.to_server,
            Direction::ToClient => &self.to_client,
        }
    }
}

#[derive(Debug, Default)]
struct ProxyState {
    links: Mutex<Vec<Arc<Link>>>,
    stop: AtomicBool,
    refuse: AtomicBool,
    accepted: AtomicUsize,
    closed: AtomicUsize,
    mid_frame_cuts: AtomicUsize,
    dropped_bytes: AtomicUsize,
    /// Bytes written on, per direction (`Direction::index`).
    forwarded: [AtomicUsize; 2],
}

impl ProxyState {
    fn live(&self) -> Vec<Arc<Link>> {
        let mut links = lock(&self.links);
        links.retain(|l| !l.is_closed());
        links.clone()
    }
}

/// A fault-injecting loopback TCP proxy in front of one upstream address. Dropping it
/// stops accepting and closes every connection.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    state: Arc<ProxyState>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Listens on a free 127.0.0.1 port and forwards every connection to `upstream`.
    pub fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ProxyState::default());
        let acceptor = {
            let state = state.clone();
            thread::Builder::new()
                .name("fault-proxy-accept".into())
                .spawn(move || accept_loop(&listener, upstream, &state))?
        };
        Ok(FaultProxy {
            addr,
            upstream,
            state,
            acceptor: Some(acceptor),
        })
    }

    /// The proxy's listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address it forwards to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// `nats://127.0.0.1:<port>` of the proxy.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// Client connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// Connections closed so far (by a fault or by either end).
    pub fn closed(&self) -> usize {
        self.state.closed.load(Ordering::SeqCst)
    }

    /// Connections cut in the middle of a frame so far.
    pub fn mid_frame_cuts(&self) -> usize {
        self.state.mid_frame_cuts.load(Ordering::SeqCst)
    }

    /// Connections open now.
    pub fn live_connections(&self) -> usize {
        self.state.live().len()
    }

    /// When `true`, new client connections are closed as soon as they are accepted (the
    /// server looks down); open ones are untouched.
    pub fn set_refuse(&self, refuse: bool) {
        self.state.refuse.store(refuse, Ordering::SeqCst);
    }

    /// Bytes forwarded in `dir` so far: what went over the wire, for checking an
    /// encoding's size (WebSocket compression).
    pub fn forwarded(&self, dir: Direction) -> usize {
        self.state.forwarded[dir.index()].load(Ordering::SeqCst)
    }

    /// Bytes discarded by [`drop_direction`](Self::drop_direction) so far.
    pub fn dropped_bytes(&self) -> usize {
        self.state.dropped_bytes.load(Ordering::SeqCst)
    }

    fn each(&self, f: impl Fn(&Link)) -> usize {
        let live = self.state.live();
        for link in &live {
            f(link);
        }
        live.len()
    }

    /// Closes both sockets of every open connection now. Returns how many were cut.
    pub fn cut(&self) -> usize {
        self.each(|l| l.close(&self.state))
    }

    /// Arms a cut in the middle of the next frame in `dir` on every open connection: the
    /// next `MSG`/`HMSG` (towards the client) or `PUB`/`HPUB` (towards the server) is
    /// forwarded up to and including its first payload byte, then the connection closes.
    /// [`mid_frame_cuts`](Self::mid_frame_cuts) counts the cuts made.
    pub fn cut_mid_frame(&self, dir: Direction) -> usize {
        self.each(|l| lock(&l.faults).cut_mid_frame[dir.index()] = true)
    }

    /// Holds every chunk read from now on for `delay` before forwarding it (order kept).
    /// `Duration::ZERO` ends the delay.
    pub fn set_delay(&self, delay: Duration) -> usize {
        self.each(|l| lock(&l.faults).delay = delay)
    }

    /// Stops forwarding in both directions while keeping the sockets open (what is read is
    /// held, and forwarded on [`resume`](Self::resume)). A closed end still closes the
    /// connection.
    pub fn stall(&self) -> usize {
        self.each(|l| lock(&l.faults).stalled = true)
    }

    /// Ends [`stall`](Self::stall) and [`drop_direction`](Self::drop_direction).
    pub fn resume(&self) -> usize {
        self.each(|l| {
            let mut f = lock(&l.faults);
            f.stalled = false;
            f.dropping = [false; 2];
        })
    }

    /// Silently discards everything in `dir` (the other direction still flows).
    pub fn drop_direction(&self, dir: Direction) -> usize {
        self.each(|l| lock(&l.faults).dropping[dir.index()] = true)
    }

    /// Writes `bytes` to every open client socket, between two forwarded chunks.
    pub fn inject_to_client(&self, bytes: &[u8]) -> usize {
        self.each(|l| {
            let mut w = lock(&l.to_client);
            if w.write_all(bytes).and_then(|()| w.flush()).is_err() {
                drop(w);
                l.close(&self.state);
            }
        })
    }

    /// Writes `bytes` to every open client socket, then closes the connection.
    pub fn inject_and_close(&self, bytes: &[u8]) -> usize {
        self.each(|l| {
            {
                let mut w = lock(&l.to_client);
                let _ = w.write_all(bytes).and_then(|()| w.flush());
            }
            l.close(&self.state);
        })
    }

    /// Sends `-ERR '<text>'` to every open client, then closes the connection.
    pub fn close_with_err(&self, text: &str) -> usize {
        self.inject_and_close(format!("-ERR '{text}'\r\n").as_bytes())
    }

    /// Waits until `cond(self)` holds, up to `timeout`; returns whether it did.
    pub fn wait_for(&self, timeout: Duration, cond: impl Fn(&FaultProxy) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.cut();
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, upstream: SocketAddr, state: &Arc<ProxyState>) {
    while !state.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                state.accepted.fetch_add(1, Ordering::SeqCst);
                if state.refuse.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    state.closed.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                if open_link(client, upstream, state).is_err() {
                    state.closed.fetch_add(1, Ordering::SeqCst);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                thread::sleep(TICK);
            }
            Err(_) => thread::sleep(TICK),
        }
    }
    let links: Vec<_> = lock(&state.links).drain(..).collect();
    for link in links {
        link.close(state);
    }
}

fn open_link(client: TcpStream, upstream: SocketAddr, state: &Arc<ProxyState>) -> io::Result<()> {
    let server = match TcpStream::connect_timeout(&upstream, Duration::from_secs(2)) {
        Ok(s) => s,
        Err(e) => {
            let _ = client.shutdown(Shutdown::Both);
            return Err(e);
        }
    };
    client.set_nonblocking(false)?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let link = Arc::new(Link {
        to_client: Mutex::new(client.try_clone()?),
        to_server: Mutex::new(server.try_clone()?),
        client,
        server,
        faults: Mutex::new(Faults::default()),
        closed: AtomicBool::new(false),
    });
    let readers = [
        (Direction::ToServer, link.client.try_clone()?),
        (Direction::ToClient, link.server.try_clone()?),
    ];
    lock(&state.links).push(link.clone());
    for (dir, reader) in readers {
        let link = link.clone();
        let state = state.clone();
        thread::Builder::new()
            .name(format!("fault-proxy-{dir:?}"))
            .spawn(move || {
                pump(&link, dir, reader, &state);
            })?;
    }
    Ok(())
}

/// Where to cut a chunk so that a frame is left unfinished: just after the first payload
/// byte of the first frame of the kind `dir` carries (so at least the control line and one
/// payload byte are sent). `None` when the chunk holds no complete control line of such a
/// frame.
fn mid_frame_cut(chunk: &[u8], dir: Direction) -> Option<usize> {
    let verbs: &[&[u8]] = match dir {
        Direction::ToClient => &[b"MSG ", b"HMSG "],
        Direction::ToServer => &[b"PUB ", b"HPUB "],
    };
    let mut line_start = 0;
    while line_start < chunk.len() {
        let rest = &chunk[line_start..];
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        if verbs.iter().any(|v| rest.starts_with(v)) {
            let cut = line_start + line_end + 2 + 1;
            return (cut < chunk.len()).then_some(cut);
        }
        line_start += line_end + 2;
    }
    None
}

fn pump(link: &Link, dir: Direction, mut reader: TcpStream, state: &ProxyState) {
    let _ = reader.set_read_timeout(Some(TICK));
    let mut queue: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let mut buf = vec![0u8; 64 * 1024];
    let finish = |link: &Link| link.close(state);
    loop {
        if link.is_closed() {
            return;
        }
        match reader.read(&mut buf) {
            Ok(0) => {
                finish(link);
                return;
            }
            Ok(n) => {
                let delay = lock(&link.faults).delay;
                queue.push_back((Instant::now() + delay, buf[..n].to_vec()));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => {
                finish(link);
                return;
            }
        }
        let (stalled, dropping, cut_armed) = {
            let f = lock(&link.faults);
            (
                f.stalled,
                f.dropping[dir.index()],
                f.cut_mid_frame[dir.index()],
            )
        };
        if dropping {
            let n: usize = queue.drain(..).map(|(_, c)| c.len()).sum();
            state.dropped_bytes.fetch_add(n, Ordering::SeqCst);
            continue;
        }
        if stalled {
            continue;
        }
        let now = Instant::now();
        while queue.front().is_some_and(|(due, _)| *due <= now) {
            let Some((_, chunk)) = queue.pop_front() else {
                break;
            };
            let cut = if cut_armed {
                mid_frame_cut(&chunk, dir)
            } else {
                None
            };
            let data = cut.map_or(&chunk[..], |at| &chunk[..at]);
            let written = {
                let mut w = lock(link.writer(dir));
                w.write_all(data).and_then(|()| w.flush())
            };
            if written.is_err() {
                finish(link);
                return;
            }
            state.forwarded[dir.index()].fetch_add(data.len(), Ordering::SeqCst);
            if cut.is_some() {
                state.mid_frame_cuts.fetch_add(1, Ordering::SeqCst);
                finish(link);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_after_the_first_payload_byte_of_the_right_frame() {
        let c = b"PING\r\nMSG a 1 5\r\nhello\r\n";
        assert_eq!(mid_frame_cut(c, Direction::ToClient), Some(18));
        assert_eq!(&c[..18], b"PING\r\nMSG a 1 5\r\nh");
        assert_eq!(mid_frame_cut(c, Direction::ToServer), None);
        let p = b"PUB a 3\r\nabc\r\n";
        assert_eq!(mid_frame_cut(p, Direction::ToServer), Some(10));
        // A control line without its payload yet: nothing to cut inside.
        assert_eq!(mid_frame_cut(b"PUB a 3\r\n", Direction::ToServer), None);
        assert_eq!(mid_frame_cut(b"PUB a 3", Direction::ToServer), None);
    }

    #[test]
    fn forwards_both_ways_and_stalls_and_drops_on_command() {
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = FaultProxy::start(upstream.local_addr().unwrap()).unwrap();
        let mut client = TcpStream::connect(proxy.addr()).unwrap();
        let (mut server, _) = upstream.accept().unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut b = [0u8; 16];
        client.write_all(b"ping").unwrap();
        server.read_exact(&mut b[..4]).unwrap();
        assert_eq!(&b[..4], b"ping");
        server.write_all(b"pong").unwrap();
        client.read_exact(&mut b[..4]).unwrap();
        assert_eq!(&b[..4], b"pong");

        assert!(proxy.wait_for(Duration::from_secs(5), |p| p.live_connections() == 1));
        proxy.stall();
        server.write_all(b"held").unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        assert!(client.read(&mut b).is_err(), "stalled bytes leaked");
        proxy.resume();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client.read_exact(&mut b[..4]).unwrap();
        assert_eq!(&b[..4], b"held");

        proxy.drop_direction(Direction::ToClient);
        server.write_all(b"lost").unwrap();
        assert!(proxy.wait_for(Duration::from_secs(5), |p| p.dropped_bytes() == 4));
        client.write_all(b"kept").unwrap();
        server.read_exact(&mut b[..4]).unwrap();
        assert_eq!(&b[..4], b"kept");
        proxy.resume();
        server.write_all(b"back").unwrap();
        client.read_exact(&mut b[..4]).unwrap();
        assert_eq!(&b[..4], b"back", "dropped bytes must not reappear");

        proxy.inject_to_client(b"junk");
        client.read_exact(&mut b[..4]).unwrap();
        assert_eq!(&b[..4], b"junk");

        assert_eq!(proxy.cut(), 1);
        assert_eq!(client.read(&mut b).unwrap_or(0), 0);
        assert!(proxy.wait_for(Duration::from_secs(5), |p| p.closed() == 1));
    }
}

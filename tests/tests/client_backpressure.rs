//! Backpressure: a publisher faster than the server waits in `publish` once 2 MiB are
//! queued for the socket, so the client's memory stays bounded, and resumes when the
//! server reads again, with every message delivered once and in order.
//!
//! A real server always reads, so the stall comes from a scripted fake server: a
//! `TcpListener` in the test that completes the handshake, then does not read the socket
//! until the test opens its gate, and from then on parses everything with
//! `natsy_proto::ClientOpParser`, counting the PUBs and answering PINGs.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use natsy_proto::{ClientOp, ClientOpParser, Status};

/// The documented queue limit of `Client::publish` (`Client::buffered`).
const QUEUE_LIMIT: usize = 2 * 1024 * 1024;
const SUBJECT: &str = "bp";
/// `PUB bp 16\r\n` + 16 payload bytes + `\r\n`.
const FRAME: usize = 11 + 16 + 2;
const WAIT: Duration = Duration::from_secs(20);
/// How long the publisher's count must stand still to call it waiting.
const STILL: Duration = Duration::from_millis(300);

/// What the fake server saw after its gate opened.
#[derive(Default)]
struct Received {
    pubs: u64,
    /// The first PUB whose payload was not the next sequence number, if any.
    out_of_order: Option<(u64, String)>,
}

struct GatedServer {
    port: u16,
    gate: Arc<AtomicBool>,
    received: Arc<Mutex<Received>>,
}

impl GatedServer {
    fn start() -> GatedServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let gate = Arc::new(AtomicBool::new(false));
        let received = Arc::new(Mutex::new(Received::default()));
        let (g, r) = (gate.clone(), received.clone());
        thread::spawn(move || {
            if let Ok((stream, _)) = listener.accept() {
                serve(stream, port, &g, &r);
            }
        });
        GatedServer {
            port,
            gate,
            received,
        }
    }
}

/// Reads ops until the parser has none left; `on_op` sees each.
fn read_ops(
    stream: &mut TcpStream,
    parser: &mut ClientOpParser,
    buf: &mut BytesMut,
    mut on_op: impl FnMut(&mut TcpStream, ClientOp) -> bool,
) {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => return,
        }
        loop {
            match parser.parse(buf) {
                Ok(Status::Complete(op)) => {
                    if !on_op(stream, op) {
                        return;
                    }
                }
                Ok(Status::Partial) => break,
                Err(e) => panic!("fake server: the client sent a bad op: {e}"),
            }
        }
    }
}

fn serve(mut stream: TcpStream, port: u16, gate: &AtomicBool, received: &Mutex<Received>) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let info = format!(
        "INFO {{\"server_id\":\"GATED\",\"server_name\":\"gated\",\"version\":\"2.10.0\",\
         \"proto\":1,\"host\":\"127.0.0.1\",\"port\":{port},\"headers\":true,\
         \"max_payload\":1048576}}\r\n"
    );
    stream.write_all(info.as_bytes()).unwrap();
    let mut parser = ClientOpParser::default();
    let mut buf = BytesMut::new();
    // The handshake: CONNECT, then the PING the client waits on.
    read_ops(&mut stream, &mut parser, &mut buf, |s, op| {
        if op == ClientOp::Ping {
            s.write_all(b"PONG\r\n").unwrap();
            return false;
        }
        true
    });
    while !gate.load(Ordering::Acquire) {
        thread::sleep(Duration::from_millis(5));
    }
    read_ops(&mut stream, &mut parser, &mut buf, |s, op| {
        match op {
            ClientOp::Ping => return s.write_all(b"PONG\r\n").is_ok(),
            ClientOp::Pub { payload, .. } => {
                let mut r = received.lock().unwrap();
                let want = format!("{:016}", r.pubs);
                if r.out_of_order.is_none() && payload != want.as_bytes() {
                    let got = String::from_utf8_lossy(&payload).into_owned();
                    r.out_of_order = Some((r.pubs, got));
                }
                r.pubs += 1;
            }
            _ => {}
        }
        true
    });
}

/// More than the socket buffers of both ends and the queue can hold on any machine this
/// runs on: a publisher past it did not wait.
const UNBOUNDED: u64 = (256 << 20) / FRAME as u64;

/// Waits until the publisher's `count` has not moved for [`STILL`]; returns its value then.
fn wait_until_still(count: &AtomicU64, deadline: Instant) -> u64 {
    let mut last = (count.load(Ordering::Acquire), Instant::now());
    loop {
        thread::sleep(Duration::from_millis(20));
        let now = count.load(Ordering::Acquire);
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() >= STILL {
            return now;
        }
        assert!(
            Instant::now() < deadline && now < UNBOUNDED,
            "the publisher never waited: {now} messages published"
        );
    }
}

#[test]
fn a_publisher_waits_while_the_server_does_not_read_and_nothing_is_lost() {
    let server = GatedServer::start();
    let client = natsy::connect(format!("nats://127.0.0.1:{}", server.port)).unwrap();
    let published = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (client, published, stop) = (client.clone(), published.clone(), stop.clone());
        thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Acquire) {
                client.publish(SUBJECT, format!("{i:016}")).unwrap();
                i += 1;
                published.store(i, Ordering::Release);
            }
        })
    };

    // The kernel's socket buffers fill first, then the client's queue; then `publish`
    // waits and the count stands still. A count that stands still with the queue below
    // the limit is a publisher the scheduler left out on a busy machine: wait on.
    let deadline = Instant::now() + WAIT;
    let (waiting_at, queued) = loop {
        let at = wait_until_still(&published, deadline);
        let queued = client.buffered();
        if queued > QUEUE_LIMIT {
            break (at, queued);
        }
    };
    assert!(
        queued <= QUEUE_LIMIT + FRAME,
        "a waiting publisher with {queued} bytes queued (limit {QUEUE_LIMIT})"
    );
    thread::sleep(STILL);
    assert_eq!(
        published.load(Ordering::Acquire),
        waiting_at,
        "publish returned while the queue was full"
    );

    // The server reads again: the publisher resumes.
    server.gate.store(true, Ordering::Release);
    let deadline = Instant::now() + WAIT;
    while published.load(Ordering::Acquire) < waiting_at + 100_000 {
        assert!(Instant::now() < deadline, "the publisher did not resume");
        thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Release);
    publisher.join().unwrap();
    let total = published.load(Ordering::Acquire);
    client.flush().unwrap();

    // Every message reached the server, once and in order.
    let r = server.received.lock().unwrap();
    assert_eq!(r.out_of_order, None, "a PUB out of order");
    assert_eq!(r.pubs, total, "PUBs the server got, of {total} published");
    assert!(
        client.buffered() < FRAME,
        "{} bytes left",
        client.buffered()
    );
}

/// The async form: `publish(..).await` waits for room without blocking its executor
/// thread; a publish future dropped while it waits has queued its message (it is sent)
/// and leaves no registered wait behind; a task awaiting room resumes when the server
/// reads again.
#[test]
fn an_async_publisher_awaits_room_and_can_be_dropped_while_it_waits() {
    use futures_util::task::noop_waker_ref;
    use std::future::Future;
    use std::task::{Context, Poll};

    let server = GatedServer::start();
    let url = format!("nats://127.0.0.1:{}", server.port);
    let client = futures_executor::block_on(natsy::aio::connect(url.as_str())).unwrap();
    let mut cx = Context::from_waker(noop_waker_ref());
    let deadline = Instant::now() + WAIT;
    let mut sent = 0u64;
    // Publish until a publish has to wait: its future stays pending.
    let waiting = loop {
        let mut fut = Box::pin(client.publish(SUBJECT, format!("{sent:016}")));
        sent += 1;
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(r) => r.unwrap(),
            Poll::Pending => break fut,
        }
        assert!(
            Instant::now() < deadline && sent < UNBOUNDED,
            "publish never had to wait: {sent} published"
        );
    };
    assert!(client.buffered() > QUEUE_LIMIT);
    assert_eq!(client.registered_waits(), 1, "the waiting publish");
    // Still waiting a while later: nobody reads.
    thread::sleep(STILL);
    let mut waiting = waiting;
    assert!(waiting.as_mut().poll(&mut cx).is_pending());
    drop(waiting);
    assert_eq!(client.registered_waits(), 0, "dropped, nothing left behind");

    // A second waiter, on a real executor, resumes once the server reads again.
    let blocked = {
        let client = client.clone();
        let first = sent;
        thread::spawn(move || {
            futures_executor::block_on(async {
                for i in first..first + 50_000 {
                    client.publish(SUBJECT, format!("{i:016}")).await.unwrap();
                }
            })
        })
    };
    thread::sleep(STILL);
    assert!(!blocked.is_finished(), "published 50,000 into a full queue");
    server.gate.store(true, Ordering::Release);
    blocked.join().unwrap();
    sent += 50_000;
    futures_executor::block_on(client.flush()).unwrap();
    // The dropped future's message was queued before it waited: it was sent too.
    let r = server.received.lock().unwrap();
    assert_eq!(r.out_of_order, None, "a PUB out of order");
    assert_eq!(r.pubs, sent, "PUBs the server got, of {sent} published");
}

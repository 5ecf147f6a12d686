//! The test harness: a `Connection` on a virtual clock, the fake server's view of the
//! wire (parsed with `ClientOpParser`), and short forms of ops and events for assertions.

pub(crate) use std::io::IoSlice;
pub(crate) use std::sync::Arc;
pub(crate) use std::time::{Duration, Instant};

pub(crate) use base64::engine::general_purpose::URL_SAFE_NO_PAD;
pub(crate) use base64::Engine as _;
pub(crate) use bytes::{Bytes, BytesMut};
pub(crate) use natsy_proto::connection::{
    AttemptError, Auth, CloseReason, Connection, ConnectionConfig, DisconnectReason, Event,
    FlushId, PublishError, State, SubscriptionClosedReason, TransportError, TransportOp,
};
pub(crate) use natsy_proto::{
    ClientOp, ClientOpParser, ErrorAction, HeaderMap, ParserLimits, Secret, ServerAddr,
    ServerErrorKind, Status, ValidationError,
};
pub(crate) use serde_json::Value;

pub(crate) const INFO: &str = r#"INFO {"server_id":"NSRV","version":"2.15.1","proto":1,"headers":true,"max_payload":1048576}"#;

/// A transport failure as a driver reports it; `refused`-like words are a refused
/// connect, anything else a reset read.
pub(crate) fn transport_error(words: &str) -> TransportError {
    if words.contains("refused") {
        TransportError::new(
            TransportOp::Connect,
            std::io::ErrorKind::ConnectionRefused,
            words,
        )
    } else {
        TransportError::new(
            TransportOp::Read,
            std::io::ErrorKind::ConnectionReset,
            words,
        )
    }
}

pub(crate) fn addr(url: &str) -> ServerAddr {
    ServerAddr::parse(url).unwrap()
}

pub(crate) fn config(urls: &[&str]) -> ConnectionConfig {
    let mut c = ConnectionConfig::new(urls.iter().map(|u| addr(u)).collect());
    c.pool.randomize = false;
    c.rng_seed = 7;
    c
}

/// The connection plus a virtual clock and the fake server's view of the wire.
pub(crate) struct Sim {
    pub(crate) conn: Connection,
    pub(crate) now: Instant,
    start: Instant,
    parser: ClientOpParser,
    wire: BytesMut,
}

impl Sim {
    pub(crate) fn new(config: ConnectionConfig) -> Sim {
        let start = Instant::now();
        Sim {
            conn: Connection::new(config, start).unwrap(),
            now: start,
            start,
            parser: ClientOpParser::new(ParserLimits::default()),
            wire: BytesMut::new(),
        }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Drains every pending event.
    pub(crate) fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.conn.poll_event()).collect()
    }

    /// Drains the transmit queue (in small vectored writes) and parses it as the server.
    pub(crate) fn sent(&mut self) -> Vec<ClientOp> {
        loop {
            let chunk: Vec<u8> = {
                let mut slices = [IoSlice::new(&[]); 4];
                let n = self.conn.poll_transmit(&mut slices);
                slices[..n].iter().flat_map(|s| s.iter().copied()).collect()
            };
            if chunk.is_empty() {
                break;
            }
            self.conn.advance_transmit(chunk.len());
            self.wire.extend_from_slice(&chunk);
        }
        assert_eq!(self.conn.transmit_len(), 0);
        let mut ops = Vec::new();
        while let Status::Complete(op) = self.parser.parse(&mut self.wire).unwrap() {
            ops.push(op);
        }
        assert!(self.wire.is_empty(), "a partial op was transmitted");
        ops
    }

    pub(crate) fn sent_strs(&mut self) -> Vec<String> {
        self.sent().iter().map(op_str).collect()
    }

    pub(crate) fn input(&mut self, bytes: &str) {
        self.conn.handle_input(self.now, bytes.as_bytes());
    }

    /// Moves the clock forward by `d`, firing every timer due on the way.
    pub(crate) fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        while let Some(at) = self.conn.poll_timeout().filter(|at| *at <= target) {
            self.now = self.now.max(at);
            self.conn.handle_timeout(self.now);
        }
        self.now = target;
    }

    /// Expects a Dial now, connects the transport and sends `info`; returns the ops the
    /// connection wrote in response.
    pub(crate) fn accept(&mut self, info: &str) -> Vec<ClientOp> {
        let ev = self.events();
        assert!(
            matches!(ev.last(), Some(Event::Dial { .. })),
            "expected a Dial: {ev:?}"
        );
        self.conn.handle_transport_connected(self.now);
        self.input(&format!("{info}\r\n"));
        self.sent()
    }

    /// A whole handshake with `info`; returns the CONNECT JSON.
    pub(crate) fn handshake(&mut self, info: &str) -> Value {
        let ops = self.accept(info);
        assert_eq!(ops.len(), 2, "{ops:?}");
        assert_eq!(ops[1], ClientOp::Ping);
        let ClientOp::Connect(json) = &ops[0] else {
            panic!("expected CONNECT: {ops:?}")
        };
        let json: Value = serde_json::from_slice(json).unwrap();
        self.input("PONG\r\n");
        let ev = self.events();
        assert!(
            matches!(
                ev.as_slice(),
                [Event::Connected { .. } | Event::Reconnected { .. }, ..]
            ),
            "{ev:?}"
        );
        assert_eq!(self.conn.state(), State::Connected);
        json
    }

    pub(crate) fn connected(config: ConnectionConfig) -> Sim {
        let mut sim = Sim::new(config);
        sim.handshake(INFO);
        sim
    }
}

pub(crate) fn op_str(op: &ClientOp) -> String {
    let s = |b: &Bytes| String::from_utf8(b.to_vec()).unwrap();
    match op {
        ClientOp::Connect(_) => "CONNECT".into(),
        ClientOp::Pub {
            subject,
            reply,
            headers,
            payload,
        } => {
            let mut out = format!("PUB {}", s(subject));
            if let Some(r) = reply {
                out += &format!(" {}", s(r));
            }
            if headers.is_some() {
                out += " +H";
            }
            out + &format!(" {}", s(payload))
        }
        ClientOp::Sub {
            subject,
            queue,
            sid,
        } => match queue {
            Some(q) => format!("SUB {} {} {sid}", s(subject), s(q)),
            None => format!("SUB {} {sid}", s(subject)),
        },
        ClientOp::Unsub { sid, max: Some(m) } => format!("UNSUB {sid} {m}"),
        ClientOp::Unsub { sid, max: None } => format!("UNSUB {sid}"),
        ClientOp::Ping => "PING".into(),
        ClientOp::Pong => "PONG".into(),
        other => format!("{other:?}"),
    }
}

/// Events in a short form for sequence assertions.
pub(crate) fn kinds(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            Event::Dial { server, .. } => format!("Dial {}", server.host),
            Event::UpgradeTls { .. } => "UpgradeTls".into(),
            Event::CloseTransport => "CloseTransport".into(),
            Event::Connected { server } => format!("Connected {}", server.host),
            Event::Reconnected { server } => format!("Reconnected {}", server.host),
            Event::Disconnected { .. } => "Disconnected".into(),
            Event::ConnectAttemptFailed { server, .. } => format!("Failed {}", server.host),
            Event::Closed { .. } => "Closed".into(),
            Event::Message(m) => format!("Msg {} {}", m.sid(), m.subject()),
            Event::FlushComplete(FlushId(id)) => format!("FlushComplete {id}"),
            Event::FlushFailed(FlushId(id)) => format!("FlushFailed {id}"),
            Event::ServerError { sid, .. } => format!("ServerError {sid:?}"),
            Event::SubscriptionClosed { sid, .. } => format!("SubscriptionClosed {sid}"),
            Event::DiscoveredServers(_) => "DiscoveredServers".into(),
            Event::LameDuckMode => "LameDuckMode".into(),
            Event::ServerInfoUpdated => "ServerInfoUpdated".into(),
            other => format!("{other:?}"),
        })
        .collect()
}

pub(crate) fn connect_error(events: &[Event]) -> AttemptError {
    events
        .iter()
        .find_map(|e| match e {
            Event::ConnectAttemptFailed { error, .. } => Some(error.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no ConnectAttemptFailed in {events:?}"))
}

pub(crate) fn close_reason(events: &[Event]) -> CloseReason {
    events
        .iter()
        .find_map(|e| match e {
            Event::Closed { reason } => Some(reason.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Closed in {events:?}"))
}

impl Sim {
    /// Like `accept` when the Dial event was already drained; returns the op count.
    pub(crate) fn accept_after_dial(&mut self, info: &str) -> usize {
        self.conn.handle_transport_connected(self.now);
        self.input(&format!("{info}\r\n"));
        self.sent().len()
    }

    /// After a lost transport: waits out the reconnect delay, redials the one server and
    /// completes the handshake, expecting `Reconnected n1`.
    pub(crate) fn reconnect_after_wait(&mut self) {
        self.advance(Duration::from_secs(3));
        self.events();
        assert_eq!(self.accept_after_dial(INFO), 2, "CONNECT and PING");
        self.input("PONG\r\n");
        assert_eq!(kinds(&self.events()), ["Reconnected n1"]);
    }
}

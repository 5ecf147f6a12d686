//! # natsy-proto: the NATS client protocol, without IO
//!
//! Everything a NATS client needs except sockets, clocks and threads:
//!
//! | module | owns |
//! |---|---|
//! | [`server_op`], [`client_op`] | incremental, zero-copy parsers for server → client and client → server ops |
//! | [`message`] | [`Message`]: one `MSG`/`HMSG`, a view into the read buffer |
//! | [`headers`] | [`HeaderMap`], the `NATS/1.0` status line |
//! | [`encode`], [`subject`] | [`OutQueue`] (coalescing, vectored writes) and argument validation |
//! | [`info`] | `INFO` and `CONNECT` bodies |
//! | [`nkey`], [`creds`], [`secret`] | NKeys, creds files, secrets that never print |
//! | [`nuid`] | NUIDs and inbox subjects |
//! | [`url`], [`pool`], [`backoff`] | server URLs, the server pool and the reconnect delay: pure policy |
//! | [`server_error`] | `-ERR` texts classified by what the client must do |
//! | [`connection`] | [`Connection`]: the whole client connection as a state machine |
//!
//! Time comes in as `now: Instant` arguments and randomness from a seed in the
//! configuration, so a test with a fake clock replays a run exactly. Bad input is a typed
//! error, never a panic; buffers are bounded.
//!
//! ## Driving a [`Connection`]
//!
//! The one rule (as in quinn-proto and str0m): **after every `handle_*` call or mutator,
//! drain [`Connection::poll_event`], write what [`Connection::poll_transmit`] gives, and
//! sleep no longer than [`Connection::poll_timeout`]**. This is a complete driver over
//! blocking `std::net` sockets, with TLS through rustls (the `natsy` crate's mio loop is the
//! full one; a JWT signer's `Event::SignNonce` is left out here). A driver that shares
//! the connection behind a lock with publishing threads writes without holding it:
//! [`Connection::lend_output`] gives owned handles on the bytes to write
//! ([`connection::Lease`]) and [`Connection::handle_written`] takes them back.
//!
//! ```no_run
//! use std::io::{ErrorKind, IoSlice, Read, Write};
//! use std::{net::TcpStream, sync::Arc, time::{Duration, Instant}};
//! use natsy_proto::connection::{TransportError, TransportOp as Op};
//! use natsy_proto::{Connection, ConnectionConfig, Event, ServerAddr};
//! trait Io: Read + Write {}
//! impl<T: Read + Write> Io for T {}
//!
//! let roots = rustls::RootCertStore::empty(); // add your CA, or the system's roots
//! let tls = Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth());
//! let mut conn = Connection::new(ConnectionConfig::new(vec![ServerAddr::parse("nats://127.0.0.1:4222")?]), Instant::now())?;
//! conn.subscribe("greet.*", None)?;
//! conn.publish("greet.joe", None, None, "hello".into())?; // buffered until connected
//! let (mut sock, mut tcp) = (None::<Box<dyn Io>>, None::<TcpStream>);
//! loop {
//!     while let Some(event) = conn.poll_event() {
//!         let now = Instant::now();
//!         match event {
//!             Event::Dial { server, .. } => match TcpStream::connect((server.host.as_str(), server.port)) {
//!                 Ok(s) => { tcp = Some(s.try_clone()?); sock = Some(Box::new(s)); conn.handle_transport_connected(now) }
//!                 Err(e) => conn.handle_transport_error(now, TransportError::io(Op::Connect, &e)),
//!             },
//!             Event::UpgradeTls { tls_name } => if let Some(t) = &tcp { // the handshake runs on the first write
//!                 let session = rustls::ClientConnection::new(tls.clone(), tls_name.try_into()?)?;
//!                 sock = Some(Box::new(rustls::StreamOwned::new(session, t.try_clone()?)));
//!                 conn.handle_tls_established(now);
//!             },
//!             Event::CloseTransport => (sock, tcp) = (None, None),
//!             Event::Message(m) => { println!("{}: {:?}", m.subject(), m.payload()); return Ok(()) }
//!             Event::Closed { reason } => return Err(reason.into()),
//!             _ => {} // connected, reconnected, errors, ...: tell the user
//!         }
//!     }
//!     let wait = conn.poll_timeout().map_or(Duration::from_secs(1), |t| t.saturating_duration_since(Instant::now()));
//!     let (Some(s), Some(t)) = (sock.as_mut(), tcp.as_ref()) else {
//!         std::thread::sleep(wait); // waiting before a reconnect attempt
//!         conn.handle_timeout(Instant::now());
//!         continue;
//!     };
//!     let mut slices = [IoSlice::new(&[]); 16];
//!     let n = conn.poll_transmit(&mut slices);
//!     if n > 0 { let w = s.write_vectored(&slices[..n])?; s.flush()?; conn.advance_transmit(w); continue }
//!     t.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
//!     let mut space = conn.read_space(); // room in the parser's buffer: read in place
//!     let read = s.read(&mut space);
//!     conn.handle_read(Instant::now(), space, *read.as_ref().unwrap_or(&0));
//!     match read {
//!         Ok(0) => conn.handle_transport_eof(Instant::now()),
//!         Ok(_) => {}
//!         Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => conn.handle_timeout(Instant::now()),
//!         Err(e) => conn.handle_transport_error(Instant::now(), TransportError::io(Op::Read, &e)),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `tests/tests/proto_driver.rs` in the repository runs this loop against a real
//! `nats-server`.
//!
//! ## Dependencies
//!
//! `bytes` (zero-copy buffers), `memchr` (line scanning), `ed25519-dalek` (NKey
//! signatures), `base64`, `data-encoding` (base32 for NKeys rather than a hand-written
//! codec), `crc` (the NKey CRC16), `zeroize` (wiping secrets on drop), `rand` (seeded
//! `StdRng` for NUIDs, pool shuffling and jitter), `serde`/`serde_json` (INFO, CONNECT).
//!
//! No parser combinator library. The design card named `nom`, but the grammars parsed
//! off the hot path are line-oriented and small: a creds file is decorated blocks found by
//! marker lines ([`creds`]), a server URL is `[scheme://][userinfo@]host[:port]` split at
//! three delimiters ([`url`]), and a header block is `Name: value` lines after a status
//! line ([`headers`]), whose general path ([`headers::parse_block`]) shares its line
//! splitting and status-line parsing with the hot path's [`headers::parse_status_only`].
//! Written with `str::split_once`, `strip_prefix` and `memchr` they are a few dozen lines
//! each, table-tested and fuzzed; `nom` would not make them shorter, would add a second
//! way to scan lines next to the hot path's, and would be one more dependency to keep
//! within the MSRV. So it is not a dependency.
#![forbid(unsafe_code)]

pub mod backoff;
pub mod client_op;
pub mod connection;
pub mod creds;
pub mod encode;
pub mod error;
mod framing;
pub mod headers;
pub mod info;
mod line;
pub mod message;
mod msg_fast_path;
pub mod nkey;
pub mod nuid;
pub mod pending;
pub mod pool;
pub mod secret;
pub mod server_error;
pub mod server_op;
mod spares;
pub mod subject;
pub mod url;
pub mod websocket;

pub use backoff::ReconnectDelay;
pub use client_op::{ClientOp, ClientOpParser};
pub use connection::{Auth, Connection, ConnectionConfig, Event, State};
pub use creds::Credentials;
pub use encode::OutQueue;
pub use error::{CredsError, HeaderError, NkeyError, ProtocolError, UrlError, ValidationError};
pub use headers::{HeaderBlock, HeaderMap, StatusCode};
pub use info::{ConnectInfo, ServerInfo};
pub use message::{Message, SharedBuffer, Sid};
pub use nkey::{KeyPair, KeyType};
pub use nuid::{new_inbox, Nuid};
pub use pending::{PendingLimits, PendingQueue, Pushed};
pub use pool::{Attempt, PoolOptions, ServerPool};
pub use secret::Secret;
pub use server_error::{ErrorAction, ServerError, ServerErrorKind};
pub use server_op::{ParserLimits, ServerOp, ServerOpParser, Status};
pub use url::ServerAddr;

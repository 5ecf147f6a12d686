//! # natsy: a NATS client with no async runtime
//!
//! A blocking, thread-safe NATS client. Each connection is one small event-loop thread
//! (a `mio::Poll`) that owns the socket and drives the sans-IO protocol core,
//! [`proto`] (`natsy-proto`); every other thread talks to it through a [`Client`].
//!
//! ```no_run
//! use std::time::Duration;
//!
//! let client = natsy::ConnectOptions::new()
//!     .name("example")
//!     .connect("nats://127.0.0.1:4222")?;
//! let mut sub = client.subscribe("greet.*")?;
//! client.publish("greet.joe", "hello")?;
//! let msg = sub.next_timeout(Duration::from_secs(1))?;
//! assert_eq!(msg.payload(), b"hello");
//!
//! let responder = client.subscribe("echo")?;
//! std::thread::spawn(move || {
//!     for req in responder {
//!         let _ = req.respond(req.payload_bytes());
//!     }
//! });
//! assert_eq!(client.request("echo", "ping")?.payload(), b"ping");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## What it promises
//!
//! - **Nothing is dropped silently.** A publish is written to the socket, or held in the
//!   bounded reconnect buffer while disconnected, or refused with a typed
//!   [`PublishError`]. Publishes still queued for a socket that dies are kept and sent after
//!   the reconnect, in order (nats.go discards them). What a dead socket had already taken
//!   may be lost, as with any core NATS client: use [`Client::flush`] to know the server
//!   has it, or JetStream for acknowledged delivery. A publisher faster than the socket
//!   waits once 2 MiB are queued ([`Client::buffered`]), so memory stays bounded. A subscription whose reader falls behind its [`PendingLimits`]
//!   drops messages, counts them ([`Subscription::dropped`]) and reports one
//!   [`Event::SlowConsumer`] per episode.
//! - **Typed errors.** Every failure is an enum you can match; server errors keep the
//!   server's text and their classification. A permission refusal fails the call it
//!   belongs to ([`PermissionError`]: a request, a subscription), within a round trip.
//! - **No runtime.** Nothing needs tokio or any executor; dropping a [`Subscription`] or the
//!   last [`Client`] never blocks on the network.
//! - **Certificates are always verified** (rustls, with the `ring` provider by default).
//!
//! ## Threads and locks
//!
//! Publishing encodes into the connection's outgoing queue under one mutex and wakes the
//! loop only when it is not already due to write, so a burst of publishes costs one
//! wake-up, not one per message (the shape of nats.go's locked buffer and flusher).
//! Received messages are routed to per-subscription queues in batches, one lock and one
//! wake-up per batch. Events go to an optional callback on its own thread, in order,
//! through an unbounded queue.
//!
//! ## Cargo features
//!
//! | feature | default | what it does |
//! |---|---|---|
//! | `tls` | on | TLS with rustls: `tls://` URLs, [`ConnectOptions::require_tls`], roots, client certificates, [`ConnectOptions::tls_client_config`]. Off: a plain-TCP client without rustls; a `tls://` URL or a TLS option fails [`connect`] with [`ConnectError::Tls`]`(`[`TlsError::Disabled`](tls::TlsError::Disabled)`)`, and a server that requires TLS fails the attempt with the same words (a typed [`ConnectError::Attempt`]), never a panic. |
//! | `ring` | on | rustls' crypto provider `ring` (needs only a C compiler). Implies `tls`. |
//! | `aws-lc-rs` | off | rustls' crypto provider `aws-lc-rs` (FIPS-capable; a larger C build). Implies `tls`. |
//! | `tracing` | off | Connection events through the [`tracing`](https://docs.rs/tracing) crate (below). Off, none of its code is compiled. |
//!
//! A provider installed by the application (`rustls::crypto::CryptoProvider::install_default`)
//! is used in preference to either; with `tls` but neither provider feature, one must be
//! installed or a [`ConnectOptions::tls_client_config`] given, else connecting with TLS
//! fails with [`TlsError::NoCryptoProvider`](tls::TlsError::NoCryptoProvider). With both
//! provider features on, `ring` is used. `natsy-proto` has no TLS code at all: the
//! transport is this crate's job. The async API, when it comes, gets its own feature(s)
//! in this table; the blocking client stays runtime-free without them.
//!
//! ## Tracing
//!
//! With the `tracing` feature, each connection's loop thread runs in a `natsy.connection`
//! span (fields `conn`: the connection's number in this process, and `name`: its
//! [`ConnectOptions::name`]). Events, with the `server` they concern (scheme, host and
//! port only): `dialing` (debug), `TCP connected`, `TLS handshake started`, `TLS
//! established` (debug) or `TLS handshake failed` (warn), then every [`Event`] the
//! application gets: `connected` and `reconnected` (info), `connect attempt failed`,
//! `disconnected`, `slow consumer`, `server error`, lame duck mode (warn), discovered
//! servers (debug) and `closed` (info, with what was discarded). No event carries a
//! password, token, NKey seed, JWT or nonce signature; `tests/tests/tracing_secrets.rs`
//! connects with each kind of credential through a real server and checks the recorded
//! output. natsy-jetstream adds the pull consumers' state changes under its own `tracing`
//! feature.
//!
//! ## Dependencies
//!
//! `mio` (the event loop; without its default `log`), `rustls` + `rustls-native-certs`
//! (TLS and the system roots; PEM is parsed with the `rustls-pki-types` that rustls
//! re-exports, rather than by hand), `bytes`, `rand` (seeds for the protocol core),
//! `zeroize` (wiping credential file contents), optional `tracing` (without its
//! `attributes` proc macro).
//!
//! `cargo tree -d` shows two pairs of versions, neither natsy's choice: `getrandom` 0.2
//! (under `ring`, which has not moved on) beside 0.3 (under `rand` 0.9), gone with the
//! `aws-lc-rs` provider alone; and `syn` 2 and 3, build-time proc macros of
//! `curve25519-dalek` and `serde`, nothing of which is linked.
#![forbid(unsafe_code)]

pub use natsy_proto as proto;

#[cfg(feature = "async")]
pub mod aio;
mod client;
mod condvar_sleep;
mod core;
mod credentials;
mod dialer;
mod error;
mod event;
mod event_loop;
mod event_queue;
mod loop_waker;
mod message;
mod options;
mod reply_slot;
mod request;
mod routing;
#[cfg(feature = "service")]
pub mod service;
mod shared;
mod sub_queue;
mod subscription;
pub mod tls;
mod trace;
mod transport;
mod wakers;
mod websocket;

pub use client::{connect, Client, Statistics};
pub use credentials::{CredentialsError, CredentialsProvider, Signer};
pub use dialer::Resolver;
pub use error::{
    CloseError, ConnectError, DrainError, FlushError, NextError, PermissionError,
    PermissionOperation, PublishError, RequestError, SubscribeError,
};
pub use event::{Discarded, Event};
pub use message::Message;
pub use natsy_proto::connection::{Auth, CloseReason, DisconnectReason, State};
pub use natsy_proto::PendingLimits;
pub use natsy_proto::{HeaderMap, ServerAddr, StatusCode};
pub use options::{ConnectOptions, EventCallback, ReconnectDelayFn, ToServerAddrs};
pub use request::ReplyHandle;
pub use sub_queue::SubscriptionEnded;
pub use subscription::Subscription;

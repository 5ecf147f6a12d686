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
//! - **Certificates are always verified** (rustls with the `ring` provider).
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
//! ## Dependencies
//!
//! `mio` (the event loop), `rustls` + `rustls-native-certs` + `rustls-pki-types` (TLS,
//! system roots, PEM parsing rather than hand-written), `bytes`, `rand` (seeds for the
//! protocol core), `zeroize` (wiping credential file contents).
#![forbid(unsafe_code)]

pub use natsy_proto as proto;

#[cfg(feature = "async")]
pub mod aio;
mod client;
mod core;
mod credentials;
mod dialer;
mod error;
mod event;
mod event_loop;
mod event_queue;
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

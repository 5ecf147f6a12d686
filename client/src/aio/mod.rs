//! # natsy for async Rust, on any executor
//!
//! The same connection as the blocking [`natsy::Client`](crate::Client), with every wait
//! awaited instead of blocking a thread. There is no runtime inside: the connection is
//! driven by natsy's own loop thread (one per connection, however many tasks,
//! subscriptions and requests), which wakes tasks through their `Waker` and also serves
//! their timeouts ([`Client::sleep`]). So it works the same on tokio (multi-thread and
//! current-thread), smol, async-std or `futures::executor::block_on`, and the only
//! dependency this adds is `futures-core`, for [`Stream`](futures_core::Stream).
//!
//! Every protocol concept has one implementation shared with the blocking API: the
//! request muxer, reconnect buffer, pending limits and slow-consumer accounting are
//! proto's; the reply slots, subscription queues and backpressure are the blocking
//! client's, with a waker beside each condition variable.
//!
//! On tokio:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use futures_util::StreamExt;
//!
//! let client = natsy::aio::connect("nats://127.0.0.1:4222").await?;
//! let mut sub = client.subscribe("greet.*").await?;
//! client.publish("greet.joe", "hello").await?;
//! let msg = sub.next().await.expect("a message");
//! assert_eq!(msg.payload(), b"hello");
//!
//! let responder = client.subscribe("echo").await?;
//! tokio::spawn(async move {
//!     let mut responder = responder;
//!     while let Some(req) = responder.next().await {
//!         let _ = req.respond_async(req.payload_bytes()).await;
//!     }
//! });
//! assert_eq!(client.request("echo", "ping").await?.payload(), b"ping");
//! # Ok(()) }
//! ```
//!
//! On smol, the same calls inside `smol::block_on`:
//!
//! ```no_run
//! use futures_util::StreamExt;
//!
//! smol::block_on(async {
//!     let client = natsy::aio::connect("nats://127.0.0.1:4222").await?;
//!     let mut sub = client.subscribe("greet.*").await?;
//!     client.publish("greet.ann", "hi").await?;
//!     println!("{:?}", sub.next().await.map(|m| m.payload_bytes()));
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Porting from async-nats
//!
//! | async-nats | natsy::aio |
//! |---|---|
//! | `async_nats::connect(url).await?` | [`natsy::aio::connect(url).await?`](connect) |
//! | `ConnectOptions::new()….connect(url).await?` | `ConnectOptions::new()….`[`connect_async`](crate::ConnectOptions::connect_async)`(url).await?` |
//! | `client.publish(subject, payload).await?` | the same (payload: anything `Into<Bytes>`) |
//! | `client.publish_with_headers(s, headers, p)` | the same |
//! | `client.publish_with_reply(s, reply, p)` | the same |
//! | `client.subscribe(subject).await?` → `Subscriber` | the same; [`Subscriber`] is a `Stream<Item = Message>` |
//! | `client.queue_subscribe(subject, group)` | the same |
//! | `sub.next().await` (`StreamExt`) | the same |
//! | `sub.unsubscribe().await?`, `unsubscribe_after(n)`, `drain()` | the same |
//! | `client.request(subject, payload).await?` | the same; typed [`RequestError`](crate::RequestError) |
//! | `client.send_request(subject, Request)` | [`send_request`](Client::send_request)`(subject, headers, payload).await?` → a [`Response`] future |
//! | `client.flush().await?`, `client.drain().await?` | the same |
//! | `client.new_inbox()` | the same |
//! | `client.statistics()` (atomics) | a [`Statistics`](crate::Statistics) snapshot |
//! | `client.connection_state()`, `server_info()` | the same |
//! | `ConnectOptions::event_callback(async closure)` | [`Client::events`] (a `Stream`), or the blocking callback option |
//! | `tokio::time::timeout(d, fut)` | works; or [`Client::sleep`] for a runtime-free timer |
//! | `message.reply` (a field) | `message.reply()` |
//! | `client.publish(msg.reply.unwrap(), p)` | [`msg.respond_async(p).await`](crate::Message::respond_async) |
//!
//! Where the shapes differ on purpose:
//! - A [`Subscriber`] that ends tells why ([`Subscriber::end_reason`]: unsubscribed,
//!   limit reached, permission denied, connection closed); async-nats's just ends.
//! - A refused request fails at once with `PermissionDenied` naming the subject, where
//!   async-nats waits for its timeout; a dropped request future leaves no reply slot
//!   behind (async-nats #1617).
//! - `publish` reports a refused message (invalid subject, reconnect buffer full, closed)
//!   as its own error, where async-nats's channel accepts it and may drop it later.
//! - Nothing needs tokio: async-nats requires it (nats.rs #1369, #476).
//!
//! The connection is driven by a loop thread of natsy's own unless
//! `ConnectOptions::tokio_runtime` (the `tokio` feature, Unix) hands it to a tokio
//! runtime as a task: then a reply wakes its task from the worker that read it, with no
//! thread switch in between.
//!
//! Everything of the blocking client not listed here (`statistics`, `buffered`,
//! `force_reconnect`, …) is a plain method, and [`Client::blocking`] gives the
//! blocking handle of the same connection.

mod client;
mod events;
mod response;
mod subscriber;
pub(crate) mod wait;

pub use client::{connect, Client};
pub use events::Events;
pub use response::Response;
pub use subscriber::Subscriber;
pub use wait::Sleep;

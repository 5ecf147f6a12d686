//! # JetStream for async Rust, on any executor
//!
//! The async form of this crate over [`natsy::aio::Client`]: [`Context`] (account info,
//! streams, consumers, publish with ack futures, the bounded [`AsyncPublisher`]),
//! [`Stream`] and [`Consumer`] handles, pulls as a future ([`Consumer::fetch`]) or a
//! [`futures_core::Stream`] ([`Consumer::messages`]), and [`JsMessage`] with awaited
//! acks. No runtime and no task of its own: timeouts are the connection loop's
//! [`Sleep`](natsy::aio::Sleep), so it runs on tokio, smol, async-std or
//! `futures::executor::block_on` alike.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use futures_util::StreamExt;
//! use natsy_jetstream::{ConsumerConfig, FetchOptions, StreamConfig};
//!
//! let client = natsy::aio::connect("nats://127.0.0.1:4222").await?;
//! let js = natsy_jetstream::aio::new(client);
//! js.create_stream(&StreamConfig { subjects: vec!["orders.>".into()], ..StreamConfig::new("ORDERS") }).await?;
//! let ack = js.publish("orders.new", "17").await?.await?;
//! println!("stored as {}", ack.sequence);
//!
//! let stream = js.get_stream("ORDERS").await?;
//! let consumer = stream
//!     .create_consumer(ConsumerConfig { durable_name: Some("worker".into()), ..Default::default() })
//!     .await?;
//! for msg in consumer.fetch(FetchOptions { batch: 10, ..Default::default() }).await? {
//!     msg.ack().await?;
//! }
//! let mut messages = consumer.messages().await?;
//! while let Some(msg) = messages.next().await {
//!     msg?.double_ack().await?;
//! }
//! # Ok(()) }
//! ```
//!
//! ## One implementation, two waits
//!
//! Every API call is built once (subject, JSON body, validation) and parsed once, for
//! the blocking and the async context alike; only the send differs (a blocking request
//! or an awaited one). The same holds for publish headers and PubAck parsing, the
//! window's options and count, the ack bodies and the one-terminal-ack rule, and the pull
//! consumer: [`Consumer::fetch`] and [`Messages`] drive the blocking API's sans-IO pull
//! machine and share its continuous-pull state, waiting on a
//! [`Subscriber`](natsy::aio::Subscriber) and a loop-thread timer instead of a blocked
//! thread. Reconnects are noticed as in the blocking [`Messages`](crate::Messages): from
//! the client's reconnect counter, each time the stream is about to wait.
//!
//! ## Cancellation
//!
//! Any future here may be dropped at any await point: an API call forgets its request,
//! a fetch unsubscribes its inbox and drops its timer, a dropped [`Messages`] does the
//! same, a dropped [`PubAckFuture`] forgets its reply slot (an [`AsyncPublisher`]'s keeps
//! the outcome for [`AsyncPublisher::wait_all`] until the publisher goes), and a
//! [`JsMessage::double_ack`] dropped before its confirmation leaves the message not
//! acknowledged. [`natsy::aio::Client::pending_requests`] and
//! [`natsy::aio::Client::registered_waits`] are back to zero afterwards.
//!
//! ## Porting from async-nats
//!
//! | async-nats (`async_nats::jetstream`) | natsy_jetstream::aio |
//! |---|---|
//! | `jetstream::new(client)` | [`natsy_jetstream::aio::new(client)`](new) |
//! | `jetstream::with_domain(client, d)` / `with_prefix` | `new(client).`[`with_domain(d)`](Context::with_domain) / [`with_api_prefix`](Context::with_api_prefix) |
//! | `js.query_account().await?` | [`js.account_info().await?`](Context::account_info) (natsy's blocking name) |
//! | `js.create_stream(config).await?` | [`js.create_stream(&config).await?`](Context::create_stream) |
//! | `js.get_or_create_stream(config)` | [`create_or_update_stream(&config)`](Context::create_or_update_stream): natsy has no get-or-create; it creates, or updates a differing stream |
//! | `js.update_stream(config)` | [`update_stream(&config)`](Context::update_stream) |
//! | `js.get_stream(name).await?` | the same: binds, never creates |
//! | `js.delete_stream(name)` | the same |
//! | `js.stream_names()` / `js.streams()` (Streams) | the same, collected into a `Vec` |
//! | `stream.info().await?` | the same |
//! | `stream.purge().await?` | the same; `purge().filter(..)` → [`purge_with(&PurgeOptions)`](Stream::purge_with) |
//! | `stream.create_consumer(config).await?` | the same, with [`ConsumerConfig`](crate::ConsumerConfig) (one config type for pull and push: `deliver_subject` makes a push consumer) |
//! | `stream.get_consumer(name).await?` | the same |
//! | `stream.delete_consumer(name)` | the same |
//! | `consumer.info().await?`, `consumer.cached_info()` | the same |
//! | `consumer.fetch().max_messages(n).messages().await?` (no wait: what is there now) | [`consumer.fetch_no_wait(n).await?`](Consumer::fetch_no_wait): a `Vec` (natsy's blocking shape), not a stream |
//! | `consumer.batch().max_messages(n).expires(d)…` (waits for the batch) | [`consumer.fetch(FetchOptions { batch: n, expires: Some(d), .. }).await?`](Consumer::fetch): natsy's `fetch` waits, as nats.go's `Fetch` |
//! | push consumer `consumer.messages().await?` | [`consumer.push_messages().await?`](Consumer::push_messages): flow control answered, heartbeats checked, statuses never handed out |
//! | `consumer.pause(until)`, `resume()`, `unpin(group)` | the same ([`pause`](Consumer::pause), [`resume`](Consumer::resume), [`unpin`](Consumer::unpin)); `until` is a `time::OffsetDateTime` |
//! | `stream.consumers()` (ConsumerInfo stream) | [`stream.consumers().await?`](Stream::consumers), collected into a `Vec` |
//! | pull `.group(g).min_pending(n)` | [`FetchOptions::priority`](crate::FetchOptions::priority) / [`ConsumeOptions::priority`](crate::ConsumeOptions::priority) = [`PullPriority`](crate::PullPriority); the pin id is kept by the handle |
//! | `consumer.messages().await?` (a `Stream` of `Result<Message, _>`) | the same: [`Messages`] |
//! | `consumer.stream().max_messages_per_batch(n).messages()` | [`messages_with(ConsumeOptions { batch: n, .. })`](Consumer::messages_with) |
//! | `msg.ack().await?`, `msg.double_ack().await?` | the same |
//! | `msg.ack_with(AckKind::Nak(delay))` | [`nak()`](JsMessage::nak) / [`nak_with_delay(d)`](JsMessage::nak_with_delay) |
//! | `msg.ack_with(AckKind::Progress)` | [`in_progress()`](JsMessage::in_progress) |
//! | `msg.ack_with(AckKind::Term)` | [`term()`](JsMessage::term) / [`term_with_reason(r)`](JsMessage::term_with_reason) |
//! | `msg.info()?` | [`msg.metadata()?`](JsMessage::metadata) |
//! | `js.publish(subject, payload).await?` → `PubAckFuture`, `.await?` → `PubAck` | the same: [`PubAckFuture`] |
//! | `js.send_publish(subject, Publish::build().message_id(id))` | [`publish_with(subject, payload, &PublishOptions::new().msg_id(id))`](Context::publish_with) |
//! | `ContextBuilder::max_ack_inflight(n)` (backpressure) | [`js.async_publisher(AsyncPublishOptions { window: n, when_full })`](Context::async_publisher): the window is a publisher's, with an explicit [`WhenFull`](crate::WhenFull) and [`wait_all`](AsyncPublisher::wait_all) |
//! | errors: `…ErrorKind` per call | one [`Error`](crate::Error) with [`ApiErrorKind`](crate::ApiErrorKind), as the blocking API |
//!
//! Where the shapes differ on purpose: names and option types are the blocking API's,
//! so code moves between threads and tasks unchanged but for `.await`; "no responders"
//! on a publish is [`Error::NoStreamResponse`](crate::Error::NoStreamResponse) (the
//! blocking synchronous publish retries it twice, the ack futures do not, as
//! async-nats); a refused pull fails at once with
//! [`Error::PermissionDenied`](crate::Error::PermissionDenied), not at its expiry.
//! Everything also works from a blocking handle of the same connection:
//! [`Context::blocking`] and [`JsMessage::into_blocking`].

mod consumer_ops;
mod context;
mod direct;
pub mod kv;
mod kv_watch;
mod message;
mod object;
mod object_ordered;
mod object_read;
mod ordered;
mod publish;
mod pull;
mod push;

pub use context::{new, Consumer, Context, Stream};
pub use direct::DirectBatchStream;
pub use message::JsMessage;
pub use object::ObjectStore;
pub use object_read::{ObjectReader, ObjectWatch};
pub use ordered::OrderedConsumer;
pub use publish::{AsyncPublisher, PubAckFuture};
pub use pull::Messages;
pub use push::PushMessages;

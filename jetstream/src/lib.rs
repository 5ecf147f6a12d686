//! # natsy-jetstream: JetStream on the natsy client
//!
//! Streams, durable pull consumers, acks and publish acks, built on the blocking `natsy`
//! client's request/reply. Every API error is typed and carries the server's `code`,
//! `err_code` and description; branch on [`ApiErrorKind`], never on text.
//!
//! ```no_run
//! let client = natsy::connect("nats://127.0.0.1:4222")?;
//! let js = natsy_jetstream::new(client);
//! let info = js.account_info()?;
//! println!("streams: {}", info.streams);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Three explicit modes
//!
//! Streams and consumers are each *created* (fails if one exists with another
//! configuration), *created or updated*, or *bound*: [`Context::get_stream`] and
//! [`Context::get_consumer`] check existence when called and fail then with
//! [`ApiErrorKind::StreamNotFound`] / [`ApiErrorKind::ConsumerNotFound`]; they never
//! create anything, so an application configured to bind needs no create rights:
//!
//! ```no_run
//! use natsy_jetstream::FetchOptions;
//!
//! let js = natsy_jetstream::new(natsy::connect("nats://127.0.0.1:4222")?);
//! let consumer = js.get_consumer("allocation", "processor-ready")?;
//! for msg in consumer.fetch(FetchOptions { batch: 100, ..Default::default() })? {
//!     let meta = msg.metadata()?;
//!     println!("{} (stream seq {}, delivery {})", msg.subject(), meta.stream_sequence, meta.delivered);
//!     msg.ack()?;
//! }
//! println!("lag: {}", consumer.info()?.num_pending);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Continuous consumption is [`Consumer::messages`]: it keeps pull requests flowing,
//! re-pulls after heartbeats go missing, reconnects and leadership changes, and ends with a
//! typed error when the consumer is deleted.
//!
//! [`Consumer::fetch`] waits up to `expires` for its batch (nats.go `Fetch`);
//! [`Consumer::fetch_no_wait`] returns at once with what is there (async-nats `fetch`).
//! Priority groups ([`PullPriority`], ADR-42) work with both and with `messages`.
//!
//! ## Push consumers
//!
//! A consumer with a `deliver_subject` is a push consumer: [`Consumer::push_messages`]
//! subscribes to it (in its `deliver_group`, if any) and yields its messages, answering
//! flow control and checking idle heartbeats on the way; missed heartbeats and sequence
//! gaps come as [`PushError`]s without ending it. Consumers are paused with
//! [`Consumer::pause`] and resumed with [`Consumer::resume`]; [`Context::consumers`]
//! lists them.
//!
//! ## Async
//!
//! [`aio`] (feature `async`, on by default) is the same API for async code over
//! [`natsy::aio::Client`], on any executor: `natsy_jetstream::aio::new(client)`. It
//! shares every request, parser, ack and the pull machine with the blocking API.
//!
//! ## Dependencies
//!
//! `natsy` (the client), `serde`/`serde_json` (the JSON API), `base64` (stored messages'
//! headers and data), `bytes`, `time` (timestamps as `OffsetDateTime`, as async-nats);
//! with `async`, `futures-core` (the `Stream` trait).
#![forbid(unsafe_code)]

mod account;
#[cfg(feature = "async")]
pub mod aio;
mod cluster;
mod consumer;
mod consumer_ops;
mod context;
mod deadline;
mod direct_batch;
mod error;
mod js_message;
pub mod kv;
pub mod object;
mod ordered;
mod ordered_machine;
mod publish;
mod pull;
mod pull_machine;
mod push;
mod push_machine;
mod stored;
mod stream;
mod stream_config;
mod stream_info;
mod stream_source;
mod trace;
mod wire;

pub use account::{AccountInfo, AccountLimits, ApiStats, Tier};
pub use context::{new, Context, DEFAULT_API_PREFIX, DEFAULT_TIMEOUT};
pub use direct_batch::{BatchEnd, DirectBatch, DirectBatchMessages};
pub use error::{ApiError, ApiErrorKind, Error};
pub use publish::{
    AsyncPublishOptions, AsyncPublisher, PubAck, PubAckHandle, PublishOptions, WhenFull,
};
pub use stored::StoredMessage;
pub use stream::{PurgeOptions, Stream};
pub use stream_config::{
    Compression, DiscardPolicy, PersistMode, RetentionPolicy, StorageType, StreamConfig,
};
pub use stream_info::{
    LostData, SourceInfo, StreamAlternate, StreamInfo, StreamInfoOptions, StreamState,
};
pub use stream_source::{
    ConsumerLimits, External, Placement, Republish, SourceConsumer, StreamSource, SubjectTransform,
};
/// The `time` crate, whose [`OffsetDateTime`](time::OffsetDateTime) every timestamp of
/// this API is: re-exported so callers build and read them with the same version.
pub use time;

pub use cluster::{ClusterInfo, PeerInfo};
pub use consumer::{
    AckPolicy, Consumer, ConsumerConfig, ConsumerInfo, DeliverPolicy, PriorityGroupState,
    PriorityPolicy, ReplayPolicy, SequenceInfo,
};
pub use consumer_ops::PauseResponse;
pub use js_message::{AckError, AckMetadata, JsMessage, MetadataError};
pub use ordered::{OrderedConsumer, OrderedMessages};
pub use ordered_machine::{OrderedConfig, OrderedError};
pub use pull::{ConsumeOptions, FetchOptions, Messages, PullError, PullPriority};
pub use push::{PushError, PushMessages};

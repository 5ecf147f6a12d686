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
#![forbid(unsafe_code)]

mod account;
mod consumer;
mod context;
mod error;
mod js_message;
mod publish;
mod pull;
mod stored;
mod stream;
mod stream_config;
mod wire;

pub use account::{AccountInfo, AccountLimits, ApiStats, Tier};
pub use context::{new, Context, DEFAULT_API_PREFIX, DEFAULT_TIMEOUT};
pub use error::{ApiError, ApiErrorKind, Error};
pub use publish::{
    AsyncPublishOptions, AsyncPublisher, PubAck, PubAckHandle, PublishOptions, WhenFull,
};
pub use stored::StoredMessage;
pub use stream::{PurgeOptions, Stream};
pub use stream_config::{
    DiscardPolicy, RetentionPolicy, StorageType, StreamConfig, StreamInfo, StreamState,
};

pub use consumer::{
    rfc3339, AckPolicy, ClusterInfo, Consumer, ConsumerConfig, ConsumerInfo, DeliverPolicy,
    ReplayPolicy, SequenceInfo,
};
pub use js_message::{AckError, AckMetadata, JsMessage, MetadataError};
pub use pull::{ConsumeOptions, FetchOptions, Messages, PullError};

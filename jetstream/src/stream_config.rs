//! A stream's configuration as the server sends it: [`StreamConfig`] with its policies.
//!
//! Every field the server documents (up to nats-server 2.12) is typed. A field a newer
//! server adds is kept in [`StreamConfig::extra`] and sent back unchanged, so reading a
//! config and updating it never resets a setting this version does not know.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::stream_source::{ConsumerLimits, Placement, Republish, StreamSource, SubjectTransform};
use crate::wire;

/// When messages are removed from a stream (`retention`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetentionPolicy {
    /// Kept until a limit (count, bytes, age) removes them. The server default.
    #[default]
    Limits,
    /// Kept while some consumer has not acknowledged them.
    Interest,
    /// Removed once acknowledged by a consumer (work queue).
    #[serde(rename = "workqueue")]
    WorkQueue,
}

/// Where a stream keeps its messages (`storage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageType {
    /// On disk. The server default.
    #[default]
    File,
    /// In memory.
    Memory,
}

/// What happens when a stream is full (`discard`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiscardPolicy {
    /// Old messages are removed to make room. The server default.
    #[default]
    Old,
    /// New messages are refused.
    New,
}

/// How a stream's files are compressed (`compression`, server 2.10+).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Compression {
    /// Not compressed. The server default.
    #[default]
    None,
    /// S2 (Snappy-compatible) compression of file storage blocks.
    S2,
}

/// When a stored message is flushed to disk (`persist_mode`, server 2.12+).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum PersistMode {
    /// Before the publish is acknowledged. The server default.
    #[default]
    Default,
    /// After: the ack may come first, and a hard kill may lose acknowledged writes.
    Async,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn is_unlimited(v: &i64) -> bool {
    *v == -1
}

fn minus_one() -> i64 {
    -1
}

fn one() -> usize {
    1
}

/// A stream's configuration (nats.go `StreamConfig`).
///
/// Build one with [`StreamConfig::new`] and struct update syntax:
///
/// ```
/// use natsy_jetstream::{StreamConfig, StorageType};
/// let config = StreamConfig {
///     subjects: vec!["orders.>".into()],
///     storage: StorageType::Memory,
///     max_msgs: 10_000,
///     ..StreamConfig::new("ORDERS")
/// };
/// assert_eq!(config.name, "ORDERS");
/// ```
///
/// Numeric limits use `-1` for "unlimited", as on the wire; that is the default.
/// Durations are sent as integer nanoseconds; zero means "unset" and is not sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamConfig {
    /// The stream's name: no spaces, `.`, `*` or `>`.
    pub name: String,
    /// A description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Subjects the stream captures (wildcards allowed). Empty means the stream's name.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "wire::null_as_empty"
    )]
    pub subjects: Vec<String>,
    /// Retention policy. Default: limits.
    pub retention: RetentionPolicy,
    /// Maximum consumers; `-1` unlimited (default).
    pub max_consumers: i64,
    /// Maximum messages; `-1` unlimited (default).
    pub max_msgs: i64,
    /// Maximum bytes; `-1` unlimited (default).
    pub max_bytes: i64,
    /// Maximum age of a message; zero (default) is unlimited.
    #[serde(with = "wire::nanos", skip_serializing_if = "wire::is_zero")]
    pub max_age: Duration,
    /// Maximum messages per subject; `-1` unlimited (default).
    #[serde(skip_serializing_if = "is_unlimited", default = "minus_one")]
    pub max_msgs_per_subject: i64,
    /// Maximum size of one message; `-1` unlimited (default).
    #[serde(skip_serializing_if = "is_unlimited", default = "minus_one")]
    pub max_msg_size: i64,
    /// Storage type. Default: file.
    pub storage: StorageType,
    /// Discard policy. Default: old.
    pub discard: DiscardPolicy,
    /// Number of replicas (1 to 5). Default 1.
    #[serde(default = "one")]
    pub num_replicas: usize,
    /// The window within which `Nats-Msg-Id` duplicates are detected; zero (default)
    /// leaves the server's 2 minutes.
    #[serde(with = "wire::nanos", skip_serializing_if = "wire::is_zero")]
    pub duplicate_window: Duration,
    /// Allow direct get (`$JS.API.DIRECT.GET`), served by any replica.
    #[serde(skip_serializing_if = "wire::is_false")]
    pub allow_direct: bool,
    /// Allow `Nats-Rollup` headers to purge a subject or the stream on publish.
    #[serde(skip_serializing_if = "wire::is_false")]
    pub allow_rollup_hdrs: bool,
    /// Refuse deleting messages through the API.
    #[serde(skip_serializing_if = "wire::is_false")]
    pub deny_delete: bool,
    /// Refuse purging through the API.
    #[serde(skip_serializing_if = "wire::is_false")]
    pub deny_purge: bool,
    /// Publishes are not acknowledged.
    #[serde(skip_serializing_if = "wire::is_false")]
    pub no_ack: bool,
    /// Where the replicas are placed (cluster, tags).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// This stream is a read-only copy of another; it then has no `subjects` and no
    /// `sources`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<StreamSource>,
    /// Streams whose messages this one also stores.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "wire::null_as_empty"
    )]
    pub sources: Vec<StreamSource>,
    /// File compression (server 2.10+). Default: none.
    #[serde(skip_serializing_if = "is_default")]
    pub compression: Compression,
    /// The sequence of the first message when the stream is created (0: 1).
    #[serde(skip_serializing_if = "is_default")]
    pub first_seq: u64,
    /// Rewrites the subjects of incoming messages before storing them (server 2.10+).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_transform: Option<SubjectTransform>,
    /// Republishes stored messages to another subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub republish: Option<Republish>,
    /// A mirror answers direct gets for the stream it mirrors.
    #[serde(skip_serializing_if = "wire::is_false")]
    pub mirror_direct: bool,
    /// With discard new, refuse a message when its subject is at
    /// `max_msgs_per_subject` (instead of when the stream is full).
    #[serde(skip_serializing_if = "wire::is_false")]
    pub discard_new_per_subject: bool,
    /// No message can be added, deleted or purged; cannot be undone.
    #[serde(skip_serializing_if = "wire::is_false")]
    pub sealed: bool,
    /// Defaults and limits of the stream's consumers (server 2.10+).
    #[serde(skip_serializing_if = "ConsumerLimits::is_unset")]
    pub consumer_limits: ConsumerLimits,
    /// Honour the per-message TTL header `Nats-TTL` (server 2.11+; see
    /// [`PublishOptions::ttl`](crate::PublishOptions::ttl)). Cannot be turned off.
    #[serde(skip_serializing_if = "wire::is_false")]
    pub allow_msg_ttl: bool,
    /// Leave a delete marker with this TTL when `max_age` removes a subject's last
    /// message (server 2.11+; needs `allow_msg_ttl`); zero: no markers.
    #[serde(with = "wire::nanos", skip_serializing_if = "wire::is_zero")]
    pub subject_delete_marker_ttl: Duration,
    /// The stream holds counters (`Nats-Incr` publishes; server 2.12+).
    #[serde(skip_serializing_if = "wire::is_false")]
    pub allow_msg_counter: bool,
    /// Allow atomic batch publishes (server 2.12+).
    #[serde(skip_serializing_if = "wire::is_false")]
    pub allow_atomic: bool,
    /// Allow scheduled messages (`Nats-Schedule`; server 2.12+).
    #[serde(skip_serializing_if = "wire::is_false")]
    pub allow_msg_schedules: bool,
    /// Allow fast (non-atomic) batch publishes (server 2.12+).
    #[serde(skip_serializing_if = "wire::is_false")]
    pub allow_batched: bool,
    /// When writes are flushed (server 2.12+). Default: before the ack.
    #[serde(skip_serializing_if = "is_default")]
    pub persist_mode: PersistMode,
    /// User metadata (server 2.10+). The server adds its own `_nats.*` keys.
    #[serde(
        skip_serializing_if = "HashMap::is_empty",
        deserialize_with = "wire::null_as_empty_map"
    )]
    pub metadata: HashMap<String, String>,
    /// Fields a newer server sent that this version does not know, sent back unchanged
    /// on update (so an update never resets them). Every documented field has its own
    /// typed field above; this stays empty with the servers this version knows.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig::new("")
    }
}

impl StreamConfig {
    /// A configuration with the server's defaults and name `name`.
    pub fn new(name: &str) -> Self {
        StreamConfig {
            name: name.to_string(),
            description: None,
            subjects: Vec::new(),
            retention: RetentionPolicy::default(),
            max_consumers: -1,
            max_msgs: -1,
            max_bytes: -1,
            max_age: Duration::ZERO,
            max_msgs_per_subject: -1,
            max_msg_size: -1,
            storage: StorageType::default(),
            discard: DiscardPolicy::default(),
            num_replicas: 1,
            duplicate_window: Duration::ZERO,
            allow_direct: false,
            allow_rollup_hdrs: false,
            deny_delete: false,
            deny_purge: false,
            no_ack: false,
            placement: None,
            mirror: None,
            sources: Vec::new(),
            compression: Compression::None,
            first_seq: 0,
            subject_transform: None,
            republish: None,
            mirror_direct: false,
            discard_new_per_subject: false,
            sealed: false,
            consumer_limits: ConsumerLimits::default(),
            allow_msg_ttl: false,
            subject_delete_marker_ttl: Duration::ZERO,
            allow_msg_counter: false,
            allow_atomic: false,
            allow_msg_schedules: false,
            allow_batched: false,
            persist_mode: PersistMode::Default,
            metadata: HashMap::new(),
            extra: Map::new(),
        }
    }
}

#[cfg(test)]
mod tests;

//! Stream configuration and stream info as the server sends them: [`StreamConfig`] with
//! its policies, [`StreamInfo`] and [`StreamState`].
//!
//! Fields the server knows but this crate does not model are kept in `extra` and sent
//! back unchanged, so reading a config and updating it loses nothing.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::cluster::ClusterInfo;
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
    /// Every other field the server sent (mirror, sources, compression, metadata, ...),
    /// sent back unchanged on update.
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
            extra: Map::new(),
        }
    }
}

/// A stream's configuration and state (`STREAM.INFO`, `STREAM.CREATE`, ...).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct StreamInfo {
    /// The configuration, with the server's defaults filled in.
    pub config: StreamConfig,
    /// When the stream was created.
    #[serde(deserialize_with = "wire::time::deserialize")]
    pub created: SystemTime,
    /// Message counts and sequences.
    pub state: StreamState,
    /// Cluster placement: leader and replicas (on a single server, the leader only).
    #[serde(default)]
    pub cluster: Option<ClusterInfo>,
    /// Every other field (mirror, sources, ts, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A stream's messages, sequences and consumers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct StreamState {
    /// Messages stored.
    pub messages: u64,
    /// Bytes stored.
    pub bytes: u64,
    /// Sequence of the first message (the next sequence when empty).
    pub first_seq: u64,
    /// Time of the first message; `None` when the stream is empty.
    #[serde(rename = "first_ts", deserialize_with = "wire::opt_time::deserialize")]
    pub first_time: Option<SystemTime>,
    /// Sequence of the last message (0 when nothing was ever stored).
    pub last_seq: u64,
    /// Time of the last message; `None` when nothing was ever stored.
    #[serde(rename = "last_ts", deserialize_with = "wire::opt_time::deserialize")]
    pub last_time: Option<SystemTime>,
    /// Number of distinct subjects.
    pub num_subjects: u64,
    /// Number of deleted messages between first and last.
    pub num_deleted: u64,
    /// Number of consumers.
    pub consumer_count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A config as nats-server 2.10+ sends it, with fields this crate does not model.
    const SERVER_CONFIG: &str = r#"{"name":"S","subjects":["s.>"],"retention":"workqueue",
        "max_consumers":-1,"max_msgs":100,"max_bytes":-1,"max_age":60000000000,
        "max_msgs_per_subject":-1,"max_msg_size":-1,"discard":"new","storage":"memory",
        "num_replicas":1,"duplicate_window":120000000000,"compression":"none",
        "allow_direct":true,"mirror_direct":false,"sealed":false,"deny_delete":false,
        "deny_purge":false,"allow_rollup_hdrs":false,"allow_msg_ttl":false,
        "consumer_limits":{},"metadata":{"team":"a"}}"#;

    #[test]
    fn server_config_round_trips_without_loss() {
        let c: StreamConfig = serde_json::from_str(SERVER_CONFIG).unwrap();
        assert_eq!(c.name, "S");
        assert_eq!(c.retention, RetentionPolicy::WorkQueue);
        assert_eq!(c.storage, StorageType::Memory);
        assert_eq!(c.discard, DiscardPolicy::New);
        assert_eq!(c.max_msgs, 100);
        assert_eq!(c.max_age, Duration::from_secs(60));
        assert_eq!(c.duplicate_window, Duration::from_secs(120));
        assert!(c.allow_direct);
        assert_eq!(c.extra["compression"], json!("none"));
        assert_eq!(c.extra["metadata"], json!({"team": "a"}));
        let back = serde_json::to_value(&c).unwrap();
        let original: Value = serde_json::from_str(SERVER_CONFIG).unwrap();
        // Every field the server sent comes back with the same value, except the
        // defaults we leave out (false flags, -1 per-subject limits), which the server
        // reads as the same values.
        for (k, v) in original.as_object().unwrap() {
            match back.get(k) {
                Some(b) => assert_eq!(b, v, "{k}"),
                None => assert!(
                    *v == json!(false) || *v == json!(-1),
                    "{k} dropped with non-default value {v}"
                ),
            }
        }
    }

    #[test]
    fn a_new_config_sends_only_what_is_set() {
        let c = StreamConfig {
            subjects: vec!["a".into()],
            ..StreamConfig::new("A")
        };
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"name":"A","subjects":["a"],"retention":"limits","max_consumers":-1,
                "max_msgs":-1,"max_bytes":-1,"storage":"file","discard":"old",
                "num_replicas":1})
        );
        let missing: StreamConfig =
            serde_json::from_str(r#"{"name":"A","subjects":null}"#).unwrap();
        assert_eq!(missing, StreamConfig::new("A"));
    }

    #[test]
    fn info_reads_state_and_zero_times() {
        let info: StreamInfo = serde_json::from_value(json!({
            "config": {"name":"S"},
            "created": "2024-01-02T03:04:05.5Z",
            "state": {"messages":0,"bytes":0,"first_seq":1,
                "first_ts":"0001-01-01T00:00:00Z","last_seq":0,
                "last_ts":"0001-01-01T00:00:00Z","consumer_count":2},
            "cluster": {"leader":"n1"},
            "ts": "2024-01-02T03:04:06Z"
        }))
        .unwrap();
        assert_eq!(info.state.first_seq, 1);
        assert_eq!(info.state.first_time, None);
        assert_eq!(info.state.last_time, None);
        assert_eq!(info.state.consumer_count, 2);
        let cluster = info.cluster.unwrap();
        assert_eq!(cluster.leader.as_deref(), Some("n1"));
        assert!(cluster.replicas.is_empty());
        assert!(!info.extra.contains_key("cluster"));
        assert_eq!(
            info.created,
            std::time::UNIX_EPOCH + Duration::from_millis(1_704_164_645_500)
        );
        let bad = serde_json::from_value::<StreamInfo>(json!({
            "config": {"name":"S"}, "created": "yesterday", "state": {}
        }));
        assert!(bad.is_err());
    }
}

//! Buckets: [`KvConfig`] and the stream configuration it becomes (ADR-8), and creating,
//! updating, binding to and deleting buckets on a [`Context`].

use std::time::Duration;

use super::error::KvError;
use super::wire::{self, MAX_HISTORY};
use super::Store;
use crate::context::Context;
use crate::stream_config::{Compression, DiscardPolicy, StorageType, StreamConfig};
use crate::stream_info::StreamInfo;
use crate::stream_source::{External, StreamSource, SubjectTransform};

/// Republish every change to another subject (ADR-28): the stream's
/// [`Republish`](crate::Republish). nats.go: `nats.RePublish`.
pub use crate::stream_source::Republish;

/// The duplicate window of a bucket without TTL (nats.go: 2 min).
const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Another bucket to mirror or source from. nats.go: `nats.StreamSource`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BucketSource {
    /// The other bucket's name (without `KV_`).
    pub bucket: String,
    /// Its JetStream domain, when it lives in another one.
    pub domain: Option<String>,
}

impl BucketSource {
    /// The bucket `bucket` in this domain.
    pub fn new(bucket: &str) -> Self {
        BucketSource {
            bucket: bucket.to_string(),
            domain: None,
        }
    }
}

/// A bucket's configuration. Defaults: history 1, no TTL, no size limits, file storage,
/// one replica (nats.go `KeyValueConfig`'s defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KvConfig {
    /// The bucket name (`[a-zA-Z0-9_-]+`).
    pub bucket: String,
    /// A description.
    pub description: Option<String>,
    /// Revisions kept per key, 1 to 64 (default 1).
    pub history: i64,
    /// How long a value lives (0: for ever). nats.go: `TTL`.
    pub ttl: Duration,
    /// The largest value in bytes (-1: the server's max payload). nats.go: `MaxValueSize`.
    pub max_value_size: i64,
    /// The bucket's size in bytes (-1: unlimited). nats.go: `MaxBytes`.
    pub max_bytes: i64,
    /// File (default) or memory.
    pub storage: StorageType,
    /// Replicas, 1 to 5 (default 1).
    pub replicas: usize,
    /// Republish changes.
    pub republish: Option<Republish>,
    /// Mirror another bucket (read-only here; puts go to the origin).
    ///
    /// The mirror also answers direct gets for the origin's keys (`mirror_direct`, as
    /// nats.go sets it), so once a mirror exists a get right after a put, on either
    /// bucket, may be answered by a mirror the put has not reached yet.
    pub mirror: Option<BucketSource>,
    /// Source other buckets into this one.
    pub sources: Vec<BucketSource>,
    /// Compress stored values (s2).
    pub compression: bool,
    /// Per-key TTLs and limit markers (nats-server 2.11+): sets `allow_msg_ttl` and
    /// `subject_delete_marker_ttl` to this. nats.go: `LimitMarkerTTL`.
    pub limit_markers: Option<Duration>,
}

impl KvConfig {
    /// The default configuration of bucket `bucket`.
    pub fn new(bucket: &str) -> Self {
        KvConfig {
            bucket: bucket.to_string(),
            description: None,
            history: 1,
            ttl: Duration::ZERO,
            max_value_size: -1,
            max_bytes: -1,
            storage: StorageType::File,
            replicas: 1,
            republish: None,
            mirror: None,
            sources: Vec::new(),
            compression: false,
            limit_markers: None,
        }
    }

    /// The stream this bucket is (ADR-8): `KV_<bucket>` on `$KV.<bucket>.>`, rollups
    /// allowed, deletes denied, direct get, discard new, one message per key per history.
    pub(crate) fn stream_config(&self) -> Result<StreamConfig, KvError> {
        wire::check_bucket(&self.bucket)?;
        if self.history < 1 {
            return Err(KvError::InvalidConfig("history must be at least 1"));
        }
        if self.history > MAX_HISTORY {
            return Err(KvError::HistoryTooLarge);
        }
        if self.replicas == 0 || self.replicas > 5 {
            return Err(KvError::InvalidConfig("replicas must be 1 to 5"));
        }
        let mut s = StreamConfig::new(&wire::stream_name(&self.bucket));
        s.description = self.description.clone();
        s.max_msgs_per_subject = self.history;
        s.max_bytes = self.max_bytes;
        s.max_age = self.ttl;
        s.max_msg_size = self.max_value_size;
        s.storage = self.storage;
        s.num_replicas = self.replicas;
        s.allow_rollup_hdrs = true;
        s.deny_delete = true;
        s.allow_direct = true;
        s.discard = DiscardPolicy::New;
        s.duplicate_window = if self.ttl.is_zero() {
            DEFAULT_DUPLICATE_WINDOW
        } else {
            self.ttl.min(DEFAULT_DUPLICATE_WINDOW)
        };
        s.republish = self.republish.clone();
        if self.compression {
            s.compression = Compression::S2;
        }
        if let Some(ttl) = self.limit_markers {
            if ttl < Duration::from_secs(1) {
                return Err(KvError::InvalidConfig("limit_markers is at least 1 s"));
            }
            s.allow_msg_ttl = true;
            s.subject_delete_marker_ttl = ttl;
        }
        let external = |src: &BucketSource| src.domain.as_deref().map(External::domain);
        if let Some(m) = &self.mirror {
            if !self.sources.is_empty() {
                return Err(KvError::InvalidConfig("a mirror has no sources"));
            }
            wire::check_bucket(&m.bucket)?;
            s.mirror = Some(StreamSource {
                external: external(m),
                ..StreamSource::new(&wire::stream_name(&m.bucket))
            });
            s.mirror_direct = true;
        } else {
            s.subjects = vec![format!("{}>", wire::subject_prefix(&self.bucket))];
            for src in &self.sources {
                wire::check_bucket(&src.bucket)?;
                let mut source = StreamSource {
                    external: external(src),
                    ..StreamSource::new(&wire::stream_name(&src.bucket))
                };
                // Source keys land under this bucket's prefix.
                if src.bucket != self.bucket || src.domain.is_some() {
                    source.subject_transforms = vec![SubjectTransform::new(
                        &format!("{}>", wire::subject_prefix(&src.bucket)),
                        &format!("{}>", wire::subject_prefix(&self.bucket)),
                    )];
                }
                s.sources.push(source);
            }
        }
        Ok(s)
    }
}

/// A bucket's configuration and state, from its stream's info.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketStatus {
    bucket: String,
    info: StreamInfo,
}

impl BucketStatus {
    pub(crate) fn new(bucket: &str, info: StreamInfo) -> Self {
        BucketStatus {
            bucket: bucket.to_string(),
            info,
        }
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Entries stored, markers and history included.
    pub fn values(&self) -> u64 {
        self.info.state.messages
    }

    /// Revisions kept per key.
    pub fn history(&self) -> i64 {
        self.info.config.max_msgs_per_subject
    }

    /// How long values live (0: for ever).
    pub fn ttl(&self) -> Duration {
        self.info.config.max_age
    }

    /// The bytes stored.
    pub fn bytes(&self) -> u64 {
        self.info.state.bytes
    }

    /// Whether per-key TTLs are allowed (`allow_msg_ttl`).
    pub fn allows_key_ttl(&self) -> bool {
        self.info.config.allow_msg_ttl
    }

    /// The underlying stream's info.
    pub fn stream_info(&self) -> &StreamInfo {
        &self.info
    }
}

impl Context {
    /// Creates bucket `config.bucket`. Succeeds if an identical one exists; fails with
    /// [`KvError::BucketExists`] if one exists with another configuration. nats.go:
    /// `CreateKeyValue`.
    pub fn create_key_value(&self, config: &KvConfig) -> Result<Store, KvError> {
        let stream = self.bucket_stream_config(config)?;
        let s = self.create_stream(&stream).map_err(KvError::from)?;
        Store::bind(self, &config.bucket, s.info().map_err(KvError::from)?)
    }

    /// Updates an existing bucket to `config`; [`KvError::BucketNotFound`] if missing.
    pub fn update_key_value(&self, config: &KvConfig) -> Result<Store, KvError> {
        let stream = self.bucket_stream_config(config)?;
        let s = self.update_stream(&stream).map_err(KvError::from)?;
        Store::bind(self, &config.bucket, s.info().map_err(KvError::from)?)
    }

    /// Creates the bucket or updates it to `config`.
    pub fn create_or_update_key_value(&self, config: &KvConfig) -> Result<Store, KvError> {
        let stream = self.bucket_stream_config(config)?;
        let s = self
            .create_or_update_stream(&stream)
            .map_err(KvError::from)?;
        Store::bind(self, &config.bucket, s.info().map_err(KvError::from)?)
    }

    /// Binds to an existing bucket (one `STREAM.INFO`); [`KvError::BucketNotFound`] if
    /// there is none. nats.go: `KeyValue`.
    pub fn key_value(&self, bucket: &str) -> Result<Store, KvError> {
        wire::check_bucket(bucket)?;
        let info = self
            .stream_info(&wire::stream_name(bucket))
            .map_err(KvError::from)?;
        Store::bind(self, bucket, info)
    }

    /// Deletes a bucket and everything in it; [`KvError::BucketNotFound`] if missing.
    pub fn delete_key_value(&self, bucket: &str) -> Result<(), KvError> {
        wire::check_bucket(bucket)?;
        self.delete_stream(&wire::stream_name(bucket))
            .map_err(KvError::from)
    }

    /// The names of every bucket (the streams named `KV_<bucket>`). nats.go:
    /// `KeyValueStoreNames`.
    pub fn key_value_buckets(&self) -> Result<Vec<String>, KvError> {
        let names = self.stream_names().map_err(KvError::from)?;
        Ok(names
            .into_iter()
            .filter_map(|n| n.strip_prefix("KV_").map(str::to_string))
            .collect())
    }

    /// The stream config, after checking that the server can do what it asks.
    pub(crate) fn bucket_stream_config(&self, config: &KvConfig) -> Result<StreamConfig, KvError> {
        let stream = config.stream_config()?;
        if config.limit_markers.is_some() {
            self.check_ttl_support()?;
        }
        Ok(stream)
    }

    /// [`KvError::TtlNotSupported`] unless the server is 2.11 or later.
    pub(crate) fn check_ttl_support(&self) -> Result<(), KvError> {
        let version = self
            .client()
            .server_info()
            .map(|i| i.version)
            .unwrap_or_default();
        if wire::supports_ttl(&version) {
            Ok(())
        } else {
            Err(KvError::TtlNotSupported {
                server_version: version,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_is_the_stream_adr8_describes() {
        let mut c = KvConfig::new("cfg");
        c.history = 5;
        c.ttl = Duration::from_secs(60);
        c.max_value_size = 1024;
        c.replicas = 3;
        c.limit_markers = Some(Duration::from_secs(5));
        let s = c.stream_config().unwrap();
        assert_eq!(s.name, "KV_cfg");
        assert_eq!(s.subjects, vec!["$KV.cfg.>".to_string()]);
        assert_eq!(s.max_msgs_per_subject, 5);
        assert_eq!(s.max_age, Duration::from_secs(60));
        assert_eq!(s.duplicate_window, Duration::from_secs(60));
        assert_eq!(s.max_msg_size, 1024);
        assert_eq!(s.num_replicas, 3);
        assert!(s.allow_rollup_hdrs && s.deny_delete && s.allow_direct);
        assert_eq!(s.discard, DiscardPolicy::New);
        assert!(s.allow_msg_ttl);
        assert_eq!(s.subject_delete_marker_ttl, Duration::from_secs(5));
        assert!(s.extra.is_empty());
        c.history = 65;
        assert_eq!(c.stream_config(), Err(KvError::HistoryTooLarge));
        c.history = 0;
        assert!(matches!(c.stream_config(), Err(KvError::InvalidConfig(_))));
        assert_eq!(
            KvConfig::new("a.b").stream_config(),
            Err(KvError::InvalidBucketName)
        );
    }

    #[test]
    fn mirrors_and_sources() {
        let mut m = KvConfig::new("copy");
        m.mirror = Some(BucketSource::new("orig"));
        let s = m.stream_config().unwrap();
        assert!(s.subjects.is_empty());
        assert_eq!(s.mirror.as_ref().unwrap().name, "KV_orig");
        assert!(s.mirror_direct);
        let mut far = KvConfig::new("copy");
        far.mirror = Some(BucketSource {
            domain: Some("hub".into()),
            ..BucketSource::new("orig")
        });
        let s = far.stream_config().unwrap();
        assert_eq!(
            serde_json::to_value(&s).unwrap()["mirror"],
            serde_json::json!({"name": "KV_orig", "external": {"api": "$JS.hub.API"}})
        );
        let mut agg = KvConfig::new("all");
        agg.sources = vec![BucketSource::new("a")];
        let s = agg.stream_config().unwrap();
        assert_eq!(s.sources[0].name, "KV_a");
        assert_eq!(
            serde_json::to_value(&s).unwrap()["sources"][0]["subject_transforms"],
            serde_json::json!([{"src": "$KV.a.>", "dest": "$KV.all.>"}])
        );
    }
}

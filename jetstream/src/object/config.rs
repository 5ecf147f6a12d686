//! Buckets: [`ObjectStoreConfig`] and the stream it becomes (ADR-20), the bucket's
//! [`ObjectStoreStatus`], and creating, binding to and deleting buckets on a blocking
//! [`Context`].

use std::collections::HashMap;
use std::time::Duration;

use super::error::ObjectError;
use super::info;
use super::ObjectStore;
use crate::context::Context;
use crate::stream_config::{Compression, DiscardPolicy, StorageType, StreamConfig};
use crate::stream_info::StreamInfo;
pub use crate::stream_source::Placement;

/// A bucket's configuration. Defaults: no TTL, no size limit, file storage, one replica,
/// no compression (nats.go `ObjectStoreConfig`'s defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectStoreConfig {
    /// The bucket name (`[a-zA-Z0-9_-]+`).
    pub bucket: String,
    /// A description.
    pub description: Option<String>,
    /// How long objects live (0: for ever). nats.go: `TTL`.
    pub ttl: Duration,
    /// The bucket's size in bytes (-1: unlimited). nats.go: `MaxBytes`.
    pub max_bytes: i64,
    /// File (default) or memory. nats.go: `Storage`.
    pub storage: StorageType,
    /// Replicas, 1 to 5 (default 1). nats.go: `Replicas`.
    pub replicas: usize,
    /// Compress stored chunks (s2). nats.go: `Compression`.
    pub compression: bool,
    /// The bucket's metadata (the stream's `metadata`). nats.go: `Metadata`.
    pub metadata: HashMap<String, String>,
    /// Cluster placement. nats.go: `Placement`.
    pub placement: Option<Placement>,
}

impl ObjectStoreConfig {
    /// The default configuration of bucket `bucket`.
    pub fn new(bucket: &str) -> Self {
        ObjectStoreConfig {
            bucket: bucket.to_string(),
            description: None,
            ttl: Duration::ZERO,
            max_bytes: -1,
            storage: StorageType::File,
            replicas: 1,
            compression: false,
            metadata: HashMap::new(),
            placement: None,
        }
    }

    /// The stream this bucket is (ADR-20): `OBJ_<bucket>` on `$O.<bucket>.C.>` and
    /// `$O.<bucket>.M.>`, rollups allowed (infos roll up), direct get, discard new.
    pub(crate) fn stream_config(&self) -> Result<StreamConfig, ObjectError> {
        info::check_bucket(&self.bucket)?;
        if self.replicas == 0 || self.replicas > 5 {
            return Err(ObjectError::InvalidConfig("replicas must be 1 to 5"));
        }
        let mut s = StreamConfig::new(&info::stream_name(&self.bucket));
        s.description = self.description.clone();
        s.subjects = vec![info::all_chunks(&self.bucket), info::all_meta(&self.bucket)];
        s.max_age = self.ttl;
        s.max_bytes = if self.max_bytes == 0 {
            -1
        } else {
            self.max_bytes
        };
        s.storage = self.storage;
        s.num_replicas = self.replicas;
        s.discard = DiscardPolicy::New;
        s.allow_rollup_hdrs = true;
        s.allow_direct = true;
        if self.compression {
            s.compression = Compression::S2;
        }
        s.metadata = self.metadata.clone();
        s.placement = self.placement.clone();
        Ok(s)
    }
}

/// A bucket's configuration and state, from its stream's info. nats.go:
/// `ObjectStoreStatus`.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectStoreStatus {
    bucket: String,
    info: StreamInfo,
}

impl ObjectStoreStatus {
    pub(crate) fn new(bucket: &str, info: StreamInfo) -> Self {
        ObjectStoreStatus {
            bucket: bucket.to_string(),
            info,
        }
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Its description.
    pub fn description(&self) -> Option<&str> {
        self.info.config.description.as_deref()
    }

    /// How long objects live (0: for ever).
    pub fn ttl(&self) -> Duration {
        self.info.config.max_age
    }

    /// File or memory.
    pub fn storage(&self) -> StorageType {
        self.info.config.storage
    }

    /// Replicas.
    pub fn replicas(&self) -> usize {
        self.info.config.num_replicas
    }

    /// True once sealed: no more writes or deletes.
    pub fn sealed(&self) -> bool {
        self.info.config.sealed
    }

    /// The bytes stored (chunks and infos).
    pub fn size(&self) -> u64 {
        self.info.state.bytes
    }

    /// True when chunks are stored compressed.
    pub fn is_compressed(&self) -> bool {
        self.info.config.compression != Compression::None
    }

    /// The bucket's metadata.
    pub fn metadata(&self) -> HashMap<String, String> {
        self.info.config.metadata.clone()
    }

    /// `"JetStream"`, as nats.go's `BackingStore`.
    pub fn backing_store(&self) -> &'static str {
        "JetStream"
    }

    /// The underlying stream's info.
    pub fn stream_info(&self) -> &StreamInfo {
        &self.info
    }
}

/// The stream config with `sealed: true`, for [`ObjectStore::seal`].
pub(crate) fn sealed(mut config: StreamConfig) -> StreamConfig {
    config.sealed = true;
    config
}

/// The bucket names among stream names.
pub(crate) fn bucket_names(streams: Vec<String>) -> Vec<String> {
    streams
        .into_iter()
        .filter_map(|n| n.strip_prefix("OBJ_").map(str::to_string))
        .collect()
}

impl Context {
    /// Creates bucket `config.bucket`. Succeeds if an identical one exists; fails with
    /// [`ObjectError::BucketExists`] if one exists with another configuration. nats.go:
    /// `CreateObjectStore`.
    ///
    /// ```no_run
    /// use natsy_jetstream::object::ObjectStoreConfig;
    ///
    /// let js = natsy_jetstream::new(natsy::connect("nats://127.0.0.1:4222")?);
    /// let store = js.create_object_store(&ObjectStoreConfig::new("files"))?;
    /// let info = store.put("notes.txt", &mut &b"hello"[..])?;
    /// let mut text = String::new();
    /// std::io::Read::read_to_string(&mut store.get("notes.txt")?, &mut text)?;
    /// assert_eq!((text.as_str(), info.size), ("hello", 5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_object_store(
        &self,
        config: &ObjectStoreConfig,
    ) -> Result<ObjectStore, ObjectError> {
        let s = self.create_stream(&config.stream_config()?)?;
        Ok(ObjectStore::bind(self, &config.bucket, s.name()))
    }

    /// Updates an existing bucket to `config`; [`ObjectError::BucketNotFound`] if missing.
    pub fn update_object_store(
        &self,
        config: &ObjectStoreConfig,
    ) -> Result<ObjectStore, ObjectError> {
        let s = self.update_stream(&config.stream_config()?)?;
        Ok(ObjectStore::bind(self, &config.bucket, s.name()))
    }

    /// Binds to an existing bucket (one `STREAM.INFO`); [`ObjectError::BucketNotFound`]
    /// if there is none. nats.go: `ObjectStore`.
    pub fn object_store(&self, bucket: &str) -> Result<ObjectStore, ObjectError> {
        info::check_bucket(bucket)?;
        let stream = info::stream_name(bucket);
        self.stream_info(&stream)?;
        Ok(ObjectStore::bind(self, bucket, &stream))
    }

    /// Deletes a bucket and every object in it; [`ObjectError::BucketNotFound`] if
    /// missing. nats.go: `DeleteObjectStore`.
    pub fn delete_object_store(&self, bucket: &str) -> Result<(), ObjectError> {
        info::check_bucket(bucket)?;
        Ok(self.delete_stream(&info::stream_name(bucket))?)
    }

    /// The names of every bucket (streams named `OBJ_<bucket>`). nats.go:
    /// `ObjectStoreNames`.
    pub fn object_store_names(&self) -> Result<Vec<String>, ObjectError> {
        Ok(bucket_names(self.stream_names()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_is_the_stream_adr20_describes() {
        let mut c = ObjectStoreConfig::new("files");
        c.ttl = Duration::from_secs(3600);
        c.compression = true;
        c.metadata.insert("team".into(), "a".into());
        c.placement = Some(Placement::cluster("east"));
        let s = c.stream_config().unwrap();
        assert_eq!(s.name, "OBJ_files");
        assert_eq!(s.subjects, ["$O.files.C.>", "$O.files.M.>"]);
        assert!(s.allow_rollup_hdrs && s.allow_direct);
        assert_eq!(s.discard, DiscardPolicy::New);
        assert_eq!(s.max_bytes, -1);
        assert_eq!(s.max_age, Duration::from_secs(3600));
        assert_eq!(s.compression, Compression::S2);
        assert_eq!(s.metadata["team"], "a");
        assert_eq!(s.placement.and_then(|p| p.cluster).as_deref(), Some("east"));
        assert!(matches!(
            ObjectStoreConfig::new("a.b").stream_config(),
            Err(ObjectError::InvalidBucketName)
        ));
        c.replicas = 0;
        assert!(matches!(
            c.stream_config(),
            Err(ObjectError::InvalidConfig(_))
        ));
        assert_eq!(
            bucket_names(vec!["OBJ_a".into(), "KV_b".into()]),
            vec!["a".to_string()]
        );
    }
}

//! [`KvError`]: why a Key-Value call failed, by name.

use std::fmt;

use crate::error::{ApiErrorKind, Error};

/// Why a Key-Value call failed. Branch on the variant; the JetStream error underneath is
/// in [`KvError::JetStream`] (and `source()`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KvError {
    /// The key is empty, starts or ends with `.`, or has a character outside
    /// `[-/_=.a-zA-Z0-9]` (ADR-8). nats.go: `ErrInvalidKey`.
    InvalidKey,
    /// The bucket name is empty or has a character outside `[a-zA-Z0-9_-]`.
    /// nats.go: `ErrInvalidBucketName`.
    InvalidBucketName,
    /// The key has no value: never written, deleted or purged. nats.go: `ErrKeyNotFound`.
    KeyNotFound,
    /// `create` on a key that has a value. nats.go: `ErrKeyExists`.
    KeyExists,
    /// `update` (or a guarded delete) with a revision that is not the key's last.
    WrongLastRevision,
    /// The bucket does not exist. nats.go: `ErrBucketNotFound`.
    BucketNotFound,
    /// A bucket of that name exists with another configuration. nats.go: `ErrBucketExists`.
    BucketExists,
    /// `history` above 64 (ADR-8). nats.go: `ErrHistoryTooLarge`.
    HistoryTooLarge,
    /// A per-key TTL (or limit markers) needs nats-server 2.11 or later; this one is older.
    TtlNotSupported {
        /// The version the server announced in INFO.
        server_version: String,
    },
    /// A per-key TTL on a bucket created without `limit_markers` (no `allow_msg_ttl`).
    TtlNotEnabled,
    /// A value larger than the bucket's `max_value_size`.
    ValueTooLarge,
    /// Another configuration error, named.
    InvalidConfig(&'static str),
    /// Any other JetStream failure (timeouts, permissions, server errors).
    JetStream(Error),
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::InvalidKey => f.write_str("invalid key"),
            KvError::InvalidBucketName => f.write_str("invalid bucket name"),
            KvError::KeyNotFound => f.write_str("key not found"),
            KvError::KeyExists => f.write_str("key exists"),
            KvError::WrongLastRevision => f.write_str("wrong last revision"),
            KvError::BucketNotFound => f.write_str("bucket not found"),
            KvError::BucketExists => f.write_str("bucket exists with another configuration"),
            KvError::HistoryTooLarge => f.write_str("history is limited to 64"),
            KvError::TtlNotSupported { server_version } => write!(
                f,
                "per-key TTLs need nats-server 2.11 or later, the server is {server_version}"
            ),
            KvError::TtlNotEnabled => {
                f.write_str("the bucket does not allow per-key TTLs (create it with limit markers)")
            }
            KvError::ValueTooLarge => f.write_str("value larger than the bucket's max value size"),
            KvError::InvalidConfig(what) => write!(f, "invalid bucket configuration: {what}"),
            KvError::JetStream(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for KvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KvError::JetStream(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Error> for KvError {
    fn from(e: Error) -> Self {
        match e.api_kind() {
            Some(ApiErrorKind::WrongLastSequence) => KvError::WrongLastRevision,
            Some(ApiErrorKind::StreamNotFound) => KvError::BucketNotFound,
            Some(ApiErrorKind::StreamNameExists) => KvError::BucketExists,
            Some(ApiErrorKind::MessageSizeExceeded) => KvError::ValueTooLarge,
            _ => match &e {
                Error::Ordered(crate::OrderedError::StreamNotFound) => KvError::BucketNotFound,
                // 10166: per-message TTL is disabled on the stream.
                Error::Api(a) if a.err_code == 10166 => KvError::TtlNotEnabled,
                _ => KvError::JetStream(e),
            },
        }
    }
}

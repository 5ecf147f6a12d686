//! The parts of a [`StreamConfig`](crate::StreamConfig) that say where messages come
//! from and go to: [`StreamSource`] (a mirror or a source), [`External`],
//! [`SubjectTransform`], [`Republish`], and where the stream lives ([`Placement`]) and
//! what its consumers default to ([`ConsumerLimits`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::wire;

/// Rewrites subjects matching `src` to `dest` (`{{wildcard(1)}}` and the other mapping
/// functions allowed), on a stream's input ([`StreamConfig::subject_transform`]) or on
/// what a source brings in ([`StreamSource::subject_transforms`]). nats.go:
/// `SubjectTransformConfig`.
///
/// [`StreamConfig::subject_transform`]: crate::StreamConfig::subject_transform
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct SubjectTransform {
    /// The subjects to rewrite (wildcards allowed; empty: every subject).
    pub src: String,
    /// What they become.
    pub dest: String,
}

impl SubjectTransform {
    /// Rewrites `src` to `dest`.
    pub fn new(src: &str, dest: &str) -> Self {
        SubjectTransform {
            src: src.to_string(),
            dest: dest.to_string(),
        }
    }
}

/// Republishes every stored message matching `src` to `dest`, after it is stored
/// (ADR-28), with the `Nats-Stream`, `Nats-Subject`, `Nats-Sequence`,
/// `Nats-Time-Stamp` and `Nats-Last-Sequence` headers. nats.go: `RePublish`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Republish {
    /// Source subject filter; empty (not sent) means every subject, `>`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub src: String,
    /// Destination subject (may use `{{wildcard(1)}}`-style mappings).
    pub dest: String,
    /// Republish headers only, with the payload's size in `Nats-Msg-Size`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub headers_only: bool,
}

/// A stream in another account or JetStream domain, reached through an imported API
/// prefix. nats.go: `ExternalStream`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct External {
    /// The other side's API prefix, e.g. `$JS.hub.API` for domain `hub`.
    pub api: String,
    /// The prefix under which its messages are delivered (empty: none).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub deliver: String,
}

impl External {
    /// The JetStream API of domain `domain`: `$JS.<domain>.API`.
    pub fn domain(domain: &str) -> Self {
        External {
            api: format!("$JS.{domain}.API"),
            deliver: String::new(),
        }
    }
}

/// A durable consumer the server uses to source from (server 2.12+).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct SourceConsumer {
    /// The consumer's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Its deliver subject.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub deliver_subject: String,
}

/// Another stream that a stream mirrors ([`StreamConfig::mirror`]) or sources from
/// ([`StreamConfig::sources`]). nats.go: `StreamSource`.
///
/// ```
/// use natsy_jetstream::{StreamSource, SubjectTransform};
/// let source = StreamSource {
///     filter_subject: Some("orders.eu.>".into()),
///     subject_transforms: vec![SubjectTransform::new("orders.eu.>", "eu.>")],
///     ..StreamSource::new("ORDERS")
/// };
/// # let _ = source;
/// ```
///
/// [`StreamConfig::mirror`]: crate::StreamConfig::mirror
/// [`StreamConfig::sources`]: crate::StreamConfig::sources
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamSource {
    /// The other stream's name.
    pub name: String,
    /// Start at this sequence of the other stream (unset: its first message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opt_start_seq: Option<u64>,
    /// Start at the first message stored at or after this time.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub opt_start_time: Option<OffsetDateTime>,
    /// Only its messages on this subject (wildcards allowed). Exclusive with
    /// `subject_transforms`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_subject: Option<String>,
    /// Only its messages matching one of these `src`, rewritten to `dest` (server 2.10+).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "wire::null_as_empty"
    )]
    pub subject_transforms: Vec<SubjectTransform>,
    /// Where it lives, when in another account or domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<External>,
    /// Source through this durable consumer (server 2.12+).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer: Option<SourceConsumer>,
}

impl StreamSource {
    /// All of stream `name`, from its first message.
    pub fn new(name: &str) -> Self {
        StreamSource {
            name: name.to_string(),
            ..Default::default()
        }
    }
}

/// Where a stream's replicas are placed in a cluster or super-cluster. nats.go:
/// `Placement`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Placement {
    /// The cluster to place it in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Only servers with all these tags.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "wire::null_as_empty"
    )]
    pub tags: Vec<String>,
    /// The server that should be the leader, if it can (server 2.11+).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred: Option<String>,
}

impl Placement {
    /// In cluster `cluster`.
    pub fn cluster(cluster: &str) -> Self {
        Placement {
            cluster: Some(cluster.to_string()),
            ..Placement::default()
        }
    }
}

/// Defaults (and limits) for the consumers of a stream (server 2.10+). nats.go:
/// `StreamConsumerLimits`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumerLimits {
    /// Consumers are deleted after this long without activity; zero: unset.
    #[serde(with = "wire::nanos", skip_serializing_if = "wire::is_zero")]
    pub inactive_threshold: Duration,
    /// The largest `max_ack_pending` a consumer may have; zero: unset.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub max_ack_pending: i64,
}

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

impl ConsumerLimits {
    pub(crate) fn is_unset(&self) -> bool {
        *self == ConsumerLimits::default()
    }
}

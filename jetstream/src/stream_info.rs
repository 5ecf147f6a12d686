//! What `STREAM.INFO` reports: [`StreamInfo`] with the stream's [`StreamState`], its
//! cluster placement, and how its mirror and sources are doing ([`SourceInfo`]); and
//! [`StreamInfoOptions`] to ask for per-subject counts and deleted sequences.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::cluster::ClusterInfo;
use crate::context::{parse_response, ApiCall};
use crate::error::{ApiError, Error};
use crate::stream::check_stream_name;
use crate::stream_config::StreamConfig;
use crate::stream_source::{External, SubjectTransform};
use crate::wire;

/// A stream's configuration and state (`STREAM.INFO`, `STREAM.CREATE`, ...). nats.go:
/// `StreamInfo`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct StreamInfo {
    /// The configuration, with the server's defaults filled in.
    pub config: StreamConfig,
    /// When the stream was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// Message counts and sequences.
    pub state: StreamState,
    /// The JetStream domain it lives in, if any.
    #[serde(default)]
    pub domain: Option<String>,
    /// Cluster placement: leader and replicas (on a single server, the leader only).
    #[serde(default)]
    pub cluster: Option<ClusterInfo>,
    /// How the mirror is doing, for a mirror.
    #[serde(default)]
    pub mirror: Option<SourceInfo>,
    /// How each source is doing.
    #[serde(default, deserialize_with = "wire::null_as_empty")]
    pub sources: Vec<SourceInfo>,
    /// Mirrors that can answer direct gets for it, nearest first.
    #[serde(default, deserialize_with = "wire::null_as_empty")]
    pub alternates: Vec<StreamAlternate>,
    /// When the server gathered this info.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ts: Option<OffsetDateTime>,
}

/// A stream's messages, sequences and consumers. nats.go: `StreamState`.
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
    /// Time of the first message; `None` when the stream is empty (the server's Go zero
    /// time `0001-01-01T00:00:00Z`).
    #[serde(rename = "first_ts", deserialize_with = "wire::opt_time::deserialize")]
    pub first_time: Option<OffsetDateTime>,
    /// Sequence of the last message (0 when nothing was ever stored).
    pub last_seq: u64,
    /// Time of the last message; `None` when nothing was ever stored.
    #[serde(rename = "last_ts", deserialize_with = "wire::opt_time::deserialize")]
    pub last_time: Option<OffsetDateTime>,
    /// Number of distinct subjects.
    pub num_subjects: u64,
    /// Messages per subject, for the subjects matching
    /// [`StreamInfoOptions::subjects_filter`]; empty unless asked for.
    #[serde(deserialize_with = "wire::null_as_empty_map")]
    pub subjects: HashMap<String, u64>,
    /// Number of deleted messages between first and last.
    pub num_deleted: u64,
    /// The deleted sequences between first and last; empty unless asked for with
    /// [`StreamInfoOptions::deleted_details`].
    #[serde(deserialize_with = "wire::null_as_empty")]
    pub deleted: Vec<u64>,
    /// Messages the server lost (damaged files), if any.
    pub lost: Option<LostData>,
    /// Number of consumers.
    pub consumer_count: u64,
}

/// Messages a stream lost (`state.lost`). nats.go: `LostStreamData`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct LostData {
    /// Their sequences.
    #[serde(deserialize_with = "wire::null_as_empty")]
    pub msgs: Vec<u64>,
    /// Their bytes.
    pub bytes: u64,
}

/// How a mirror or source is doing (`mirror` and `sources` of stream info). nats.go:
/// `StreamSourceInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct SourceInfo {
    /// The mirrored or sourced stream.
    pub name: String,
    /// Where it lives, when in another account or domain.
    pub external: Option<External>,
    /// How many of its messages are not here yet.
    pub lag: u64,
    /// How long ago the last message from it came; `None` if none ever came.
    #[serde(deserialize_with = "wire::since::deserialize")]
    pub active: Option<Duration>,
    /// Why sourcing from it fails, if it does.
    pub error: Option<ApiError>,
    /// Its filter subject, if any.
    pub filter_subject: Option<String>,
    /// Its subject transforms.
    #[serde(deserialize_with = "wire::null_as_empty")]
    pub subject_transforms: Vec<SubjectTransform>,
}

/// A mirror of a stream that can answer its direct gets. nats.go: `StreamAlternate`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct StreamAlternate {
    /// The mirror's name.
    pub name: String,
    /// Its domain.
    pub domain: Option<String>,
    /// Its cluster.
    pub cluster: String,
}

/// What else [`Stream::info_with`](crate::Stream::info_with) asks the server for.
/// Default: nothing (the plain `STREAM.INFO`).
///
/// ```
/// use natsy_jetstream::StreamInfoOptions;
/// let opts = StreamInfoOptions::new().subjects_filter("orders.>").deleted_details();
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamInfoOptions {
    subjects_filter: Option<String>,
    deleted_details: bool,
}

impl StreamInfoOptions {
    /// Nothing more.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fill [`StreamState::subjects`] with the count of every subject matching `filter`
    /// (`>`: all). nats.go: `WithSubjectFilter`.
    pub fn subjects_filter(mut self, filter: &str) -> Self {
        self.subjects_filter = Some(filter.to_string());
        self
    }

    /// Fill [`StreamState::deleted`]. nats.go: `WithDeletedDetails`.
    pub fn deleted_details(mut self) -> Self {
        self.deleted_details = true;
        self
    }
}

#[derive(Serialize)]
struct InfoRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    subjects_filter: Option<&'a str>,
    #[serde(skip_serializing_if = "wire::is_false")]
    deleted_details: bool,
    #[serde(skip_serializing_if = "is_zero")]
    offset: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// The paging part of an info reply: how many subjects there are in all.
#[derive(Deserialize)]
struct InfoPaging {
    #[serde(default)]
    total: u64,
}

/// One page of `STREAM.INFO` with `options`, its subjects from `offset`: the info and
/// the total number of subjects. Blocking and async.
pub(crate) fn stream_info_page_call(
    name: &str,
    options: &StreamInfoOptions,
    offset: u64,
) -> Result<ApiCall<(StreamInfo, u64)>, Error> {
    check_stream_name(name)?;
    if let Some(f) = &options.subjects_filter {
        crate::stream::check_subject_filter(f)?;
    }
    let request = InfoRequest {
        subjects_filter: options.subjects_filter.as_deref(),
        deleted_details: options.deleted_details,
        offset,
    };
    let call = ApiCall::<StreamInfo>::json(format!("STREAM.INFO.{name}"), Some(&request))?;
    Ok(call.parse_with(|body| {
        let info: StreamInfo = parse_response(body)?;
        let paging: InfoPaging =
            serde_json::from_slice(body).map_err(|e| Error::InvalidResponse(e.to_string()))?;
        Ok((info, paging.total))
    }))
}

/// Merges the pages of a stream info with subjects: the next offset to ask for, if any.
pub(crate) struct InfoPager {
    info: Option<StreamInfo>,
    done: bool,
}

impl InfoPager {
    pub(crate) fn new() -> Self {
        InfoPager {
            info: None,
            done: false,
        }
    }

    /// The subjects offset of the next page, or `None` when every subject is in.
    pub(crate) fn offset(&self) -> Option<u64> {
        if self.done {
            return None;
        }
        Some(
            self.info
                .as_ref()
                .map_or(0, |i| i.state.subjects.len() as u64),
        )
    }

    /// A page arrived. A page that adds no subject ends the listing even if the total
    /// says more: stop, do not spin.
    pub(crate) fn add(&mut self, (page, total): (StreamInfo, u64)) {
        match &mut self.info {
            None => self.info = Some(page),
            Some(info) => {
                let before = info.state.subjects.len();
                info.state.subjects.extend(page.state.subjects);
                if info.state.subjects.len() == before {
                    self.done = true;
                }
            }
        }
        let have = self
            .info
            .as_ref()
            .map_or(0, |i| i.state.subjects.len() as u64);
        if have >= total {
            self.done = true;
        }
    }

    pub(crate) fn finish(self) -> Result<StreamInfo, Error> {
        self.info
            .ok_or_else(|| Error::InvalidResponse("stream info without a page".into()))
    }
}

#[cfg(test)]
mod tests;

//! Consumers: [`ConsumerConfig`], [`ConsumerInfo`], the [`Consumer`] handle, and the
//! create / create-or-update / bind-only calls on [`Context`] (by stream name) and on
//! [`Stream`].
//!
//! The three ways to obtain a consumer are explicit; none creates one behind the caller's
//! back:
//! - [`Context::create_consumer`]: action `create`, fails with
//!   [`ApiErrorKind::ConsumerAlreadyExists`](crate::ApiErrorKind::ConsumerAlreadyExists)
//!   (10148) if a consumer of that name exists with a different configuration;
//! - [`Context::create_or_update_consumer`]: action `""`, creates or updates;
//! - [`Context::get_consumer`]: bind only, `CONSUMER.INFO` at call time, fails with
//!   [`ApiErrorKind::ConsumerNotFound`](crate::ApiErrorKind::ConsumerNotFound) (10014) or
//!   [`ApiErrorKind::StreamNotFound`](crate::ApiErrorKind::StreamNotFound) (10059).

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::cluster::ClusterInfo;
use crate::context::{parse_response, ApiCall, Context};
use crate::error::Error;
use crate::stream::{Pager, Stream};
use crate::wire::nanos;

/// Where in the stream a new consumer starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeliverPolicy {
    /// From the first message (the default; nats.go `DeliverAllPolicy`).
    #[default]
    All,
    /// From the last message.
    Last,
    /// Only messages stored after the consumer was created.
    New,
    /// From [`ConsumerConfig::opt_start_seq`].
    ByStartSequence,
    /// From [`ConsumerConfig::opt_start_time`].
    ByStartTime,
    /// The last message of every subject, then new ones.
    LastPerSubject,
}

/// How messages are acknowledged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AckPolicy {
    /// No acks; delivered means done.
    None,
    /// Acking a message acks every earlier one too.
    All,
    /// Every message is acked on its own (the default for pull consumers, as in nats.go).
    #[default]
    Explicit,
}

/// How fast messages are replayed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReplayPolicy {
    /// As fast as the consumer takes them (the default).
    #[default]
    Instant,
    /// At the pace they were stored.
    Original,
}

/// A consumer's configuration. Only what is set is sent; the server fills in its defaults
/// (ack_wait 30 s, max_ack_pending 1000, max_waiting 512, ...) and reports them in
/// [`ConsumerInfo::config`].
///
/// ```
/// use std::time::Duration;
/// use natsy_jetstream::ConsumerConfig;
/// let config = ConsumerConfig {
///     durable_name: Some("processor".into()),
///     filter_subject: Some("events.ready.*".into()),
///     ack_wait: Some(Duration::from_secs(10)),
///     max_deliver: Some(5),
///     ..Default::default()
/// };
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumerConfig {
    /// The consumer's name (server 2.9+); see also `durable_name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A durable name: the consumer survives without clients. Its name when `name` is unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub durable_name: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where to start (default all).
    pub deliver_policy: DeliverPolicy,
    /// The first stream sequence, with [`DeliverPolicy::ByStartSequence`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opt_start_seq: Option<u64>,
    /// The start time, with [`DeliverPolicy::ByStartTime`] (RFC 3339 on the wire).
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub opt_start_time: Option<OffsetDateTime>,
    /// How messages are acked (default explicit).
    pub ack_policy: AckPolicy,
    /// How long the server waits for an ack before redelivering (server default 30 s).
    #[serde(with = "nanos::option", skip_serializing_if = "Option::is_none")]
    pub ack_wait: Option<Duration>,
    /// How many times a message is delivered at most (-1 or unset: unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_deliver: Option<i64>,
    /// Redelivery delays, one per delivery attempt (the last repeats); overrides ack_wait.
    #[serde(with = "nanos::vec", skip_serializing_if = "Vec::is_empty")]
    pub backoff: Vec<Duration>,
    /// Only messages on this subject (wildcards allowed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_subject: Option<String>,
    /// Only messages on these subjects (server 2.10+); exclusive with `filter_subject`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filter_subjects: Vec<String>,
    /// Replay pace (default instant).
    pub replay_policy: ReplayPolicy,
    /// Rate limit in bits per second (push consumers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_bps: Option<u64>,
    /// Percentage of acks to sample for advisories, e.g. `"100%"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_freq: Option<String>,
    /// Delivered but unacked messages allowed at once (server default 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ack_pending: Option<i64>,
    /// Pull requests waiting at once (server default 512).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_waiting: Option<i64>,
    /// The largest batch a pull request may ask for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_batch: Option<i64>,
    /// The longest `expires` a pull request may ask for.
    #[serde(with = "nanos::option", skip_serializing_if = "Option::is_none")]
    pub max_expires: Option<Duration>,
    /// The largest `max_bytes` a pull request may ask for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<i64>,
    /// Deleted after this long without activity (ephemeral default 5 s).
    #[serde(with = "nanos::option", skip_serializing_if = "Option::is_none")]
    pub inactive_threshold: Option<Duration>,
    /// Deliver headers only, with the payload size in `Nats-Msg-Size`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub headers_only: bool,
    /// Replicas of the consumer's state (0: as the stream).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_replicas: Option<usize>,
    /// Keep the consumer's state in memory.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mem_storage: bool,
    /// User metadata.
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub metadata: HashMap<String, String>,
    /// Push consumers: the subject messages are delivered to; makes this a push consumer
    /// (nats.go `DeliverSubject`). Read with [`Consumer::push_messages`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliver_subject: Option<String>,
    /// Push consumers: the queue group the subscribers join, so each message goes to one
    /// of them (nats.go `DeliverGroup`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliver_group: Option<String>,
    /// Push consumers: the server pauses deliveries until the client answers its flow
    /// control requests (needs `idle_heartbeat`; nats.go `FlowControl`). The push
    /// drivers answer them.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub flow_control: bool,
    /// Push consumers: the server sends a heartbeat after this long without messages
    /// (nats.go `Heartbeat`); silence for twice this is reported as
    /// [`PushError::NoHeartbeat`](crate::PushError::NoHeartbeat).
    #[serde(with = "nanos::option", skip_serializing_if = "Option::is_none")]
    pub idle_heartbeat: Option<Duration>,
    /// Deliver nothing until this time (server 2.11+; nats.go `PauseUntil`); see also
    /// [`Context::pause_consumer`].
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub pause_until: Option<time::OffsetDateTime>,
    /// Priority groups (server 2.11+, ADR-42; nats.go `PriorityGroups`): pulls name one of
    /// these in [`PullPriority::group`](crate::PullPriority::group).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub priority_groups: Vec<String>,
    /// How the priority groups share messages (nats.go `PriorityPolicy`; default none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority_policy: Option<PriorityPolicy>,
    /// With [`PriorityPolicy::PinnedClient`]: a pinned client silent this long loses its
    /// pin (server default 2 min; nats.go `PinnedTTL`).
    #[serde(
        rename = "priority_timeout",
        with = "nanos::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub pinned_ttl: Option<Duration>,
}

/// How the pulls of a consumer's priority groups share its messages (ADR-42).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PriorityPolicy {
    /// No priority groups (the default).
    #[default]
    None,
    /// Pulls with `min_pending` / `min_ack_pending` get messages only while the consumer
    /// has at least that many pending / unacknowledged (nats.go `PriorityPolicyOverflow`).
    Overflow,
    /// One client at a time gets the messages; the others wait until it is unpinned or
    /// silent for `pinned_ttl` (nats.go `PriorityPolicyPinned`).
    PinnedClient,
    /// Pulls with the lowest `priority` (0–9) are served first (server 2.12+; nats.go
    /// `PriorityPolicyPrioritized`).
    Prioritized,
}

/// A priority group's state in [`ConsumerInfo::priority_groups`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PriorityGroupState {
    /// The group.
    pub group: String,
    /// The pin id of the client pinned now, if any.
    pub pinned_client_id: Option<String>,
    /// When it was pinned (`None` while nobody is).
    #[serde(deserialize_with = "go_time")]
    pub pinned_ts: Option<time::OffsetDateTime>,
}

/// An optional RFC 3339 time from the server, whose zero `time.Time` (year 1, sent for
/// "never") reads as `None`.
pub(crate) fn go_time<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<time::OffsetDateTime>, D::Error> {
    let t = time::serde::rfc3339::option::deserialize(d)?;
    Ok(t.filter(|t| t.year() > 1))
}

impl ConsumerConfig {
    /// The consumer's name: `name`, else `durable_name`.
    pub fn consumer_name(&self) -> Option<&str> {
        self.name.as_deref().or(self.durable_name.as_deref())
    }
}

/// A position in the stream and the consumer (`delivered`, `ack_floor`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SequenceInfo {
    /// The consumer sequence.
    pub consumer_seq: u64,
    /// The stream sequence.
    pub stream_seq: u64,
    /// When this last moved, if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_active: Option<OffsetDateTime>,
}

/// A consumer's state as the server reports it: configuration and lag.
///
/// For monitoring: `num_pending` (stream messages not yet delivered), `num_ack_pending`
/// (delivered, not yet acked), `num_redelivered`, `num_waiting` (pull requests waiting).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ConsumerInfo {
    /// The stream.
    pub stream_name: String,
    /// The consumer.
    pub name: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// Its configuration, with the server's defaults filled in.
    pub config: ConsumerConfig,
    /// The last delivered message.
    pub delivered: SequenceInfo,
    /// Everything up to here is acknowledged.
    pub ack_floor: SequenceInfo,
    /// Delivered and not yet acknowledged.
    pub num_ack_pending: u64,
    /// Delivered more than once, not yet acknowledged.
    pub num_redelivered: u64,
    /// Pull requests waiting.
    pub num_waiting: u64,
    /// Stream messages matching the filter that were not delivered yet.
    pub num_pending: u64,
    /// Cluster placement: leader and replicas.
    pub cluster: Option<ClusterInfo>,
    /// A push consumer with an active subscriber.
    pub push_bound: bool,
    /// The server's time of the answer.
    #[serde(with = "time::serde::rfc3339::option")]
    pub ts: Option<OffsetDateTime>,
    /// The consumer is paused ([`ConsumerConfig::pause_until`] is in the future).
    pub paused: bool,
    /// How much longer it stays paused.
    #[serde(with = "nanos::option")]
    pub pause_remaining: Option<Duration>,
    /// The state of its priority groups (pinned clients).
    #[serde(deserialize_with = "crate::wire::null_as_empty")]
    pub priority_groups: Vec<PriorityGroupState>,
}

// By hand only because `OffsetDateTime` has no `Default`: the fields a reply leaves out.
impl Default for ConsumerInfo {
    fn default() -> Self {
        ConsumerInfo {
            stream_name: String::new(),
            name: String::new(),
            created: OffsetDateTime::UNIX_EPOCH,
            config: ConsumerConfig::default(),
            delivered: SequenceInfo::default(),
            ack_floor: SequenceInfo::default(),
            num_ack_pending: 0,
            num_redelivered: 0,
            num_waiting: 0,
            num_pending: 0,
            cluster: None,
            push_bound: false,
            ts: None,
            paused: false,
            pause_remaining: None,
            priority_groups: Vec::new(),
        }
    }
}

#[derive(Serialize)]
struct CreateRequest<'a> {
    stream_name: &'a str,
    config: &'a ConsumerConfig,
    #[serde(skip_serializing_if = "str::is_empty")]
    action: &'a str,
}

#[derive(Deserialize)]
struct DeleteResponse {
    #[serde(default)]
    success: bool,
}

#[derive(Serialize)]
struct NamesRequest {
    offset: usize,
}

#[derive(Deserialize)]
struct NamesResponse {
    #[serde(default)]
    total: usize,
    #[serde(default)]
    consumers: Option<Vec<String>>,
}

/// Checks a stream or consumer name: not empty, no `.`, `*`, `>` or whitespace.
pub(crate) fn check_name(name: &str, what: &'static str) -> Result<(), Error> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c == '.' || c == '*' || c == '>' || c.is_whitespace())
    {
        return Err(Error::InvalidArgument(what));
    }
    Ok(())
}

/// A handle to a consumer that existed when it was obtained, with the info from then.
///
/// Pull messages with [`Consumer::fetch`] or [`Consumer::messages`]; watch its lag with
/// [`Consumer::info`].
#[derive(Debug, Clone)]
pub struct Consumer {
    pub(crate) context: Context,
    pub(crate) stream: String,
    pub(crate) name: String,
    pub(crate) info: ConsumerInfo,
    /// The pin id of priority-group pulls, shared by the handle's clones.
    pub(crate) pin: crate::pull::PinSlot,
}

impl Consumer {
    /// The consumer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stream's name.
    pub fn stream_name(&self) -> &str {
        &self.stream
    }

    /// The context it was obtained from.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The info received when the handle was obtained.
    pub fn cached_info(&self) -> &ConsumerInfo {
        &self.info
    }

    /// Asks the server for the consumer's current state (lag, pending acks, ...).
    /// Fails with `ConsumerNotFound` once it was deleted.
    pub fn info(&self) -> Result<ConsumerInfo, Error> {
        self.context.consumer_info(&self.stream, &self.name)
    }
}

/// `CONSUMER.CREATE` of `config` on `stream` with `action` (`create`, `update` or `""`):
/// checked here, before anything is sent.
pub(crate) fn create_consumer_call(
    stream: &str,
    config: &ConsumerConfig,
    action: &str,
) -> Result<ApiCall<ConsumerInfo>, Error> {
    check_name(stream, "stream name")?;
    if config.filter_subject.is_some() && !config.filter_subjects.is_empty() {
        return Err(Error::InvalidArgument(
            "filter_subject and filter_subjects are exclusive",
        ));
    }
    if let (Some(n), Some(d)) = (&config.name, &config.durable_name) {
        if n != d {
            return Err(Error::InvalidArgument("name and durable_name differ"));
        }
    }
    let endpoint = match config.consumer_name() {
        Some(name) => {
            check_name(name, "consumer name")?;
            // The filter form lets subject permissions see the filter.
            let single = config
                .filter_subject
                .as_deref()
                .or(match config.filter_subjects.as_slice() {
                    [one] => Some(one.as_str()),
                    _ => None,
                })
                .filter(|f| !f.is_empty());
            match single {
                Some(filter) => format!("CONSUMER.CREATE.{stream}.{name}.{filter}"),
                None => format!("CONSUMER.CREATE.{stream}.{name}"),
            }
        }
        None => format!("CONSUMER.CREATE.{stream}"),
    };
    let request = CreateRequest {
        stream_name: stream,
        config,
        action,
    };
    ApiCall::json(endpoint, Some(&request))
}

/// `CONSUMER.INFO` of `name` on `stream`.
pub(crate) fn consumer_info_call(stream: &str, name: &str) -> Result<ApiCall<ConsumerInfo>, Error> {
    check_name(stream, "stream name")?;
    check_name(name, "consumer name")?;
    Ok(ApiCall::empty(format!("CONSUMER.INFO.{stream}.{name}")))
}

/// `CONSUMER.DELETE` of `name` on `stream`.
pub(crate) fn delete_consumer_call(stream: &str, name: &str) -> Result<ApiCall<()>, Error> {
    check_name(stream, "stream name")?;
    check_name(name, "consumer name")?;
    let call = ApiCall::<DeleteResponse>::empty(format!("CONSUMER.DELETE.{stream}.{name}"));
    Ok(call.parse_with(|body| {
        let r: DeleteResponse = parse_response(body)?;
        if r.success {
            Ok(())
        } else {
            Err(Error::InvalidResponse(
                "consumer delete answered without success".into(),
            ))
        }
    }))
}

/// One page of `CONSUMER.NAMES.<stream>` at `offset`: the names and the total.
pub(crate) fn consumer_names_call(
    stream: &str,
    offset: u64,
) -> Result<ApiCall<(Vec<String>, u64)>, Error> {
    check_name(stream, "stream name")?;
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let call = ApiCall::<NamesResponse>::json(
        format!("CONSUMER.NAMES.{stream}"),
        Some(&NamesRequest { offset }),
    )?;
    Ok(call.parse_with(|body| {
        let page: NamesResponse = parse_response(body)?;
        Ok((page.consumers.unwrap_or_default(), page.total as u64))
    }))
}

impl Context {
    fn create_consumer_action(
        &self,
        stream: &str,
        config: &ConsumerConfig,
        action: &str,
    ) -> Result<Consumer, Error> {
        let info = self.call(create_consumer_call(stream, config, action)?)?;
        Ok(Consumer {
            context: self.clone(),
            stream: stream.to_string(),
            name: info.name.clone(),
            info,
            pin: Default::default(),
        })
    }

    /// Creates a consumer on `stream` (action `create`). Succeeds if an identical one
    /// exists; fails with `ConsumerAlreadyExists` (10148) if one of that name exists with
    /// a different configuration. Without a name or durable name it is ephemeral.
    pub fn create_consumer(&self, stream: &str, config: ConsumerConfig) -> Result<Consumer, Error> {
        self.create_consumer_action(stream, &config, "create")
    }

    /// Creates the consumer, or updates it to `config` if it exists (action `""`).
    pub fn create_or_update_consumer(
        &self,
        stream: &str,
        config: ConsumerConfig,
    ) -> Result<Consumer, Error> {
        self.create_consumer_action(stream, &config, "")
    }

    /// Updates an existing consumer (action `update`); fails with `ConsumerDoesNotExist`
    /// (10149) if it is missing.
    pub fn update_consumer(&self, stream: &str, config: ConsumerConfig) -> Result<Consumer, Error> {
        self.create_consumer_action(stream, &config, "update")
    }

    /// Binds to an existing consumer: one `CONSUMER.INFO` request now, nothing created.
    /// Fails with `ConsumerNotFound` (10014) or `StreamNotFound` (10059). Needs only the
    /// permission to publish to `$JS.API.CONSUMER.INFO.<stream>.<consumer>`.
    pub fn get_consumer(&self, stream: &str, name: &str) -> Result<Consumer, Error> {
        let info = self.consumer_info(stream, name)?;
        Ok(Consumer {
            context: self.clone(),
            stream: stream.to_string(),
            name: name.to_string(),
            info,
            pin: Default::default(),
        })
    }

    /// The current info of consumer `name` on `stream`.
    pub fn consumer_info(&self, stream: &str, name: &str) -> Result<ConsumerInfo, Error> {
        self.call(consumer_info_call(stream, name)?)
    }

    /// Deletes consumer `name` on `stream`. Pull requests waiting on it end with
    /// [`PullError::ConsumerDeleted`](crate::PullError::ConsumerDeleted).
    pub fn delete_consumer(&self, stream: &str, name: &str) -> Result<(), Error> {
        self.call(delete_consumer_call(stream, name)?)
    }

    /// The names of every consumer on `stream` (all pages).
    pub fn consumer_names(&self, stream: &str) -> Result<Vec<String>, Error> {
        let mut pager = Pager::new();
        while let Some(offset) = pager.offset() {
            let (names, total) = self.call(consumer_names_call(stream, offset)?)?;
            pager.add(names, total);
        }
        Ok(pager.finish())
    }
}

impl Stream {
    /// [`Context::create_consumer`] on this stream.
    pub fn create_consumer(&self, config: ConsumerConfig) -> Result<Consumer, Error> {
        self.context.create_consumer(&self.name, config)
    }

    /// [`Context::create_or_update_consumer`] on this stream.
    pub fn create_or_update_consumer(&self, config: ConsumerConfig) -> Result<Consumer, Error> {
        self.context.create_or_update_consumer(&self.name, config)
    }

    /// [`Context::update_consumer`] on this stream.
    pub fn update_consumer(&self, config: ConsumerConfig) -> Result<Consumer, Error> {
        self.context.update_consumer(&self.name, config)
    }

    /// [`Context::get_consumer`] on this stream: bind only.
    pub fn get_consumer(&self, name: &str) -> Result<Consumer, Error> {
        self.context.get_consumer(&self.name, name)
    }

    /// [`Context::consumer_info`] on this stream.
    pub fn consumer_info(&self, name: &str) -> Result<ConsumerInfo, Error> {
        self.context.consumer_info(&self.name, name)
    }

    /// [`Context::delete_consumer`] on this stream.
    pub fn delete_consumer(&self, name: &str) -> Result<(), Error> {
        self.context.delete_consumer(&self.name, name)
    }

    /// [`Context::consumer_names`] on this stream.
    pub fn consumer_names(&self) -> Result<Vec<String>, Error> {
        self.context.consumer_names(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_sends_only_what_is_set_with_nanosecond_durations() {
        let config = ConsumerConfig {
            durable_name: Some("d".into()),
            ack_wait: Some(Duration::from_millis(500)),
            backoff: vec![Duration::from_secs(1), Duration::from_millis(2)],
            filter_subjects: vec!["a.*".into(), "b.>".into()],
            deliver_policy: DeliverPolicy::ByStartSequence,
            opt_start_seq: Some(7),
            ..Default::default()
        };
        let v = serde_json::to_value(&config).unwrap();
        assert_eq!(
            v,
            json!({
                "durable_name": "d",
                "deliver_policy": "by_start_sequence",
                "opt_start_seq": 7,
                "ack_policy": "explicit",
                "ack_wait": 500_000_000u64,
                "backoff": [1_000_000_000u64, 2_000_000u64],
                "filter_subjects": ["a.*", "b.>"],
                "replay_policy": "instant",
            })
        );
    }

    #[test]
    fn push_pause_and_priority_fields_use_the_servers_names() {
        let until = time::Date::from_calendar_date(2030, time::Month::March, 4)
            .unwrap()
            .with_hms(5, 6, 7)
            .unwrap()
            .assume_utc();
        let config = ConsumerConfig {
            deliver_subject: Some("deliver.x".into()),
            deliver_group: Some("g".into()),
            flow_control: true,
            idle_heartbeat: Some(Duration::from_secs(2)),
            pause_until: Some(until),
            priority_groups: vec!["jobs".into()],
            priority_policy: Some(PriorityPolicy::PinnedClient),
            pinned_ttl: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        let v = serde_json::to_value(&config).unwrap();
        assert_eq!(v["deliver_subject"], "deliver.x");
        assert_eq!(v["deliver_group"], "g");
        assert_eq!(v["flow_control"], true);
        assert_eq!(v["idle_heartbeat"], 2_000_000_000u64);
        assert_eq!(v["pause_until"], "2030-03-04T05:06:07Z");
        assert_eq!(v["priority_groups"], json!(["jobs"]));
        assert_eq!(v["priority_policy"], "pinned_client");
        assert_eq!(v["priority_timeout"], 60_000_000_000u64);
        let back: ConsumerConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back, config);
        for (policy, text) in [
            (PriorityPolicy::None, "none"),
            (PriorityPolicy::Overflow, "overflow"),
            (PriorityPolicy::Prioritized, "prioritized"),
        ] {
            assert_eq!(serde_json::to_value(policy).unwrap(), text);
        }
        let plain = serde_json::to_value(ConsumerConfig::default()).unwrap();
        for absent in [
            "deliver_subject",
            "flow_control",
            "pause_until",
            "priority_policy",
        ] {
            assert!(plain.get(absent).is_none(), "{absent} sent unset");
        }
    }

    #[test]
    fn info_parses_what_the_server_sends() {
        let info: ConsumerInfo = serde_json::from_value(json!({
            "type": "io.nats.jetstream.api.v1.consumer_info_response",
            "stream_name": "S", "name": "C", "created": "2024-01-01T00:00:00Z",
            "config": {"durable_name": "C", "deliver_policy": "last_per_subject",
                       "ack_policy": "all", "ack_wait": 30_000_000_000u64, "max_deliver": -1,
                       "replay_policy": "original", "max_waiting": 512,
                       "max_ack_pending": 1000, "inactive_threshold": -5, "num_replicas": 0,
                       "some_future_field": true},
            "delivered": {"consumer_seq": 3, "stream_seq": 9, "last_active": "2024-01-01T00:00:01Z"},
            "ack_floor": {"consumer_seq": 2, "stream_seq": 8},
            "num_ack_pending": 1, "num_redelivered": 0, "num_waiting": 2, "num_pending": 10,
            "cluster": {"leader": "n1"},
            "ts": "2024-01-01T00:00:02Z"
        }))
        .unwrap();
        assert_eq!(info.config.deliver_policy, DeliverPolicy::LastPerSubject);
        assert_eq!(info.config.ack_policy, AckPolicy::All);
        assert_eq!(info.config.replay_policy, ReplayPolicy::Original);
        assert_eq!(info.config.ack_wait, Some(Duration::from_secs(30)));
        assert_eq!(info.config.inactive_threshold, Some(Duration::ZERO));
        assert_eq!(info.config.max_deliver, Some(-1));
        assert_eq!(info.delivered.stream_seq, 9);
        assert_eq!(info.created.unix_timestamp(), 1_704_067_200);
        assert_eq!(
            info.delivered.last_active.map(|t| t.unix_timestamp()),
            Some(1_704_067_201)
        );
        assert_eq!(info.ack_floor.last_active, None);
        assert_eq!(info.ts.map(|t| t.unix_timestamp()), Some(1_704_067_202));
        assert_eq!(info.ack_floor.consumer_seq, 2);
        assert_eq!(info.num_pending, 10);
        assert_eq!(info.num_waiting, 2);
        assert_eq!(info.cluster.and_then(|c| c.leader).as_deref(), Some("n1"));
    }

    #[test]
    fn names_are_checked_before_sending() {
        for bad in ["", "a.b", "a*", "a>", "a b", "a\tb"] {
            assert_eq!(
                check_name(bad, "consumer name"),
                Err(Error::InvalidArgument("consumer name"))
            );
        }
        check_name("processor-ready_1", "consumer name").unwrap();
    }

    #[test]
    fn create_calls_are_built_and_checked_once_for_both_apis() {
        let endpoint = |config: &ConsumerConfig| {
            create_consumer_call("S", config, "create")
                .map(|c| c.endpoint)
                .map_err(|e| format!("{e}"))
        };
        assert_eq!(
            endpoint(&ConsumerConfig::default()).unwrap(),
            "CONSUMER.CREATE.S"
        );
        let named = ConsumerConfig {
            durable_name: Some("d".into()),
            ..Default::default()
        };
        assert_eq!(endpoint(&named).unwrap(), "CONSUMER.CREATE.S.d");
        let filtered = ConsumerConfig {
            filter_subjects: vec!["a.>".into()],
            ..named.clone()
        };
        assert_eq!(endpoint(&filtered).unwrap(), "CONSUMER.CREATE.S.d.a.>");
        let both = ConsumerConfig {
            filter_subject: Some("a".into()),
            filter_subjects: vec!["b".into()],
            ..named.clone()
        };
        assert!(endpoint(&both).is_err());
        let differ = ConsumerConfig {
            name: Some("x".into()),
            ..named
        };
        assert!(endpoint(&differ).is_err());
        let body = create_consumer_call("S", &ConsumerConfig::default(), "update")
            .unwrap()
            .body;
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["stream_name"], "S");
        assert_eq!(body["action"], "update");

        let delete = delete_consumer_call("S", "d").unwrap();
        assert_eq!(delete.endpoint, "CONSUMER.DELETE.S.d");
        assert_eq!((delete.parse)(br#"{"success":true}"#), Ok(()));
        assert!(matches!(
            (delete.parse)(br#"{"success":false}"#),
            Err(Error::InvalidResponse(_))
        ));
        let names = consumer_names_call("S", 3).unwrap();
        assert_eq!(&names.body[..], br#"{"offset":3}"#);
        assert_eq!(
            (names.parse)(br#"{"total":5,"consumers":["a"]}"#).unwrap(),
            (vec!["a".to_string()], 5)
        );
        assert!(consumer_info_call("S", "a.b").is_err());
    }
}

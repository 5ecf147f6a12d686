//! Consumer operations beyond create / info / delete: pause and resume
//! (`CONSUMER.PAUSE`), unpinning a priority group's pinned client (`CONSUMER.UNPIN`),
//! and the paged consumer list (`CONSUMER.LIST`). Each call is built and parsed here
//! once, for the blocking [`Context`] and the async one alike.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::consumer::{check_name, Consumer, ConsumerInfo};
use crate::context::{parse_response, ApiCall, Context};
use crate::error::Error;
use crate::stream::{Pager, Stream};
use crate::wire::nanos;

/// The server's answer to a pause or resume ([`Context::pause_consumer`],
/// [`Context::resume_consumer`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PauseResponse {
    /// True while the consumer is paused.
    pub paused: bool,
    /// Until when. The server sends its zero time (year 1) after a resume; that reads as
    /// `None` here.
    #[serde(deserialize_with = "crate::consumer::go_time")]
    pub pause_until: Option<time::OffsetDateTime>,
    /// How much longer it stays paused.
    #[serde(with = "nanos::option")]
    pub pause_remaining: Option<Duration>,
}

#[derive(Serialize)]
struct PauseRequest {
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pause_until: Option<time::OffsetDateTime>,
}

#[derive(Serialize)]
struct UnpinRequest<'a> {
    group: &'a str,
}

#[derive(Serialize)]
struct ListRequest {
    offset: u64,
}

#[derive(Deserialize)]
struct ListResponse {
    #[serde(default)]
    total: u64,
    #[serde(default, deserialize_with = "crate::wire::null_as_empty")]
    consumers: Vec<ConsumerInfo>,
}

/// `CONSUMER.PAUSE` of `name` on `stream` until `until`, or a resume for `None`.
pub(crate) fn pause_call(
    stream: &str,
    name: &str,
    until: Option<time::OffsetDateTime>,
) -> Result<ApiCall<PauseResponse>, Error> {
    check_name(stream, "stream name")?;
    check_name(name, "consumer name")?;
    let call = ApiCall::<PauseResponse>::json(
        format!("CONSUMER.PAUSE.{stream}.{name}"),
        Some(&PauseRequest { pause_until: until }),
    )?;
    Ok(call.parse_with(parse_response::<PauseResponse>))
}

/// `CONSUMER.UNPIN` of priority group `group` of `name` on `stream`.
pub(crate) fn unpin_call(stream: &str, name: &str, group: &str) -> Result<ApiCall<()>, Error> {
    check_name(stream, "stream name")?;
    check_name(name, "consumer name")?;
    if group.is_empty() {
        return Err(Error::InvalidArgument("priority group is empty"));
    }
    let call = ApiCall::<serde_json::Value>::json(
        format!("CONSUMER.UNPIN.{stream}.{name}"),
        Some(&UnpinRequest { group }),
    )?;
    Ok(call.parse_with(|body| parse_response::<serde_json::Value>(body).map(drop)))
}

/// One page of `CONSUMER.LIST.<stream>` at `offset`: the infos and the total.
pub(crate) fn consumer_list_call(
    stream: &str,
    offset: u64,
) -> Result<ApiCall<(Vec<ConsumerInfo>, u64)>, Error> {
    check_name(stream, "stream name")?;
    let call = ApiCall::<ListResponse>::json(
        format!("CONSUMER.LIST.{stream}"),
        Some(&ListRequest { offset }),
    )?;
    Ok(call.parse_with(|body| {
        let page: ListResponse = parse_response(body)?;
        Ok((page.consumers, page.total))
    }))
}

impl Context {
    /// Pauses consumer `name` on `stream` until `until` (server 2.11+; nats.go
    /// `PauseConsumer`): it delivers nothing, to pulls or to its push subscribers, until
    /// then, and [`ConsumerInfo::paused`] is true. A time in the past resumes it.
    ///
    /// ```no_run
    /// # let js = natsy_jetstream::new(natsy::connect("nats://127.0.0.1:4222")?);
    /// let until = time::OffsetDateTime::now_utc() + time::Duration::minutes(5);
    /// let r = js.pause_consumer("orders", "worker", until)?;
    /// assert!(r.paused);
    /// js.resume_consumer("orders", "worker")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pause_consumer(
        &self,
        stream: &str,
        name: &str,
        until: time::OffsetDateTime,
    ) -> Result<PauseResponse, Error> {
        self.call(pause_call(stream, name, Some(until))?)
    }

    /// Resumes a paused consumer now (nats.go `ResumeConsumer`).
    pub fn resume_consumer(&self, stream: &str, name: &str) -> Result<PauseResponse, Error> {
        self.call(pause_call(stream, name, None)?)
    }

    /// Unpins the client pinned in priority group `group` of consumer `name` on
    /// `stream` (server 2.11+, `pinned_client` policy; nats.go `UnpinConsumer`): the next
    /// pull of the group without a pin id gets the pin, and the old client's pulls end
    /// with [`PullError::PinIdMismatch`](crate::PullError::PinIdMismatch).
    pub fn unpin_consumer(&self, stream: &str, name: &str, group: &str) -> Result<(), Error> {
        self.call(unpin_call(stream, name, group)?)
    }

    /// The info of every consumer on `stream` (all pages of `CONSUMER.LIST`, 256 a page;
    /// nats.go `ListConsumers`).
    pub fn consumers(&self, stream: &str) -> Result<Vec<ConsumerInfo>, Error> {
        let mut pager = Pager::new();
        while let Some(offset) = pager.offset() {
            let (infos, total) = self.call(consumer_list_call(stream, offset)?)?;
            pager.add(infos, total);
        }
        Ok(pager.finish())
    }
}

impl Consumer {
    /// [`Context::pause_consumer`] of this consumer.
    pub fn pause(&self, until: time::OffsetDateTime) -> Result<PauseResponse, Error> {
        self.context.pause_consumer(&self.stream, &self.name, until)
    }

    /// [`Context::resume_consumer`] of this consumer.
    pub fn resume(&self) -> Result<PauseResponse, Error> {
        self.context.resume_consumer(&self.stream, &self.name)
    }

    /// [`Context::unpin_consumer`] of this consumer.
    pub fn unpin(&self, group: &str) -> Result<(), Error> {
        self.context.unpin_consumer(&self.stream, &self.name, group)
    }

    /// The pin id this handle (and its clones) holds for priority-group pulls: the
    /// `Nats-Pin-Id` of the last messages it was given while pinned, `None` before that
    /// and after a `423`. It is what [`ConsumerInfo::priority_groups`] shows as
    /// `pinned_client_id` while this handle is the pinned client.
    pub fn pin_id(&self) -> Option<String> {
        self.pin.get()
    }
}

impl Stream {
    /// [`Context::consumers`] on this stream.
    pub fn consumers(&self) -> Result<Vec<ConsumerInfo>, Error> {
        self.context.consumers(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn until() -> time::OffsetDateTime {
        time::Date::from_calendar_date(2030, time::Month::January, 2)
            .unwrap()
            .with_hms(3, 4, 5)
            .unwrap()
            .assume_utc()
    }

    #[test]
    fn pause_sends_the_time_and_resume_sends_nothing() {
        let until = until();
        let call = pause_call("S", "C", Some(until)).unwrap();
        assert_eq!(call.endpoint, "CONSUMER.PAUSE.S.C");
        assert_eq!(&call.body[..], br#"{"pause_until":"2030-01-02T03:04:05Z"}"#);
        let call = pause_call("S", "C", None).unwrap();
        assert_eq!(&call.body[..], b"{}");
        let r = (call.parse)(
            br#"{"type":"io.nats.jetstream.api.v1.consumer_pause_response","paused":false,"pause_until":"0001-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(r, PauseResponse::default());
        let r = (call.parse)(
            br#"{"paused":true,"pause_until":"2030-01-02T03:04:05Z","pause_remaining":5000000000}"#,
        )
        .unwrap();
        assert!(r.paused);
        assert_eq!(r.pause_until, Some(until));
        assert_eq!(r.pause_remaining, Some(Duration::from_secs(5)));
        assert!(pause_call("S", "a.b", None).is_err());
    }

    #[test]
    fn unpin_names_the_group() {
        let call = unpin_call("S", "C", "jobs").unwrap();
        assert_eq!(call.endpoint, "CONSUMER.UNPIN.S.C");
        assert_eq!(&call.body[..], br#"{"group":"jobs"}"#);
        assert_eq!((call.parse)(br#"{"type":"x"}"#), Ok(()));
        let refused = (call.parse)(
            br#"{"error":{"code":400,"err_code":10123,"description":"consumer does not have a priority group"}}"#,
        );
        assert!(matches!(refused, Err(Error::Api(_))));
        assert!(unpin_call("S", "C", "").is_err());
    }

    #[test]
    fn list_pages_parse_infos_and_null() {
        let call = consumer_list_call("S", 256).unwrap();
        assert_eq!(call.endpoint, "CONSUMER.LIST.S");
        assert_eq!(&call.body[..], br#"{"offset":256}"#);
        let body = serde_json::to_vec(&json!({
            "total": 2, "offset": 0, "limit": 256,
            "consumers": [{"stream_name": "S", "name": "a", "config": {"ack_policy": "none"},
                           "paused": true, "pause_remaining": 1000,
                           "priority_groups": [{"group": "g", "pinned_client_id": "p1",
                                                "pinned_ts": "2030-01-02T03:04:05Z"}]}]
        }))
        .unwrap();
        let (infos, total) = (call.parse)(&body).unwrap();
        assert_eq!(total, 2);
        assert_eq!(infos[0].name, "a");
        assert!(infos[0].paused);
        assert_eq!(infos[0].pause_remaining, Some(Duration::from_micros(1)));
        assert_eq!(
            infos[0].priority_groups[0].pinned_client_id.as_deref(),
            Some("p1")
        );
        let unpinned = br#"{"total":1,"consumers":[{"name":"b","config":{},"priority_groups":[{"group":"g","pinned_ts":"0001-01-01T00:00:00Z"}]}]}"#;
        let (infos, _) = (call.parse)(unpinned).unwrap();
        assert_eq!(
            infos[0].priority_groups[0].pinned_ts, None,
            "Go's zero time"
        );
        let (infos, _) = (call.parse)(br#"{"total":0,"consumers":null}"#).unwrap();
        assert!(infos.is_empty());
    }
}

//! Streams: creating, binding, updating, deleting, listing and purging them, and the
//! [`Stream`] handle.
//!
//! Three explicit ways to obtain a [`Stream`]:
//! * [`Context::create_stream`] creates it; it fails with
//!   [`ApiErrorKind::StreamNameExists`](crate::ApiErrorKind::StreamNameExists) if a
//!   stream of that name exists with another configuration (with the same configuration
//!   it succeeds, as the server does);
//! * [`Context::create_or_update_stream`] creates it or updates the existing one;
//! * [`Context::get_stream`] only binds: it checks that the stream exists now and fails
//!   with [`ApiErrorKind::StreamNotFound`](crate::ApiErrorKind::StreamNotFound) otherwise.
//!   It never creates anything.

use serde::{Deserialize, Serialize};

use crate::context::{parse_response, ApiCall, Context};
use crate::error::{ApiErrorKind, Error};
use crate::stream_config::StreamConfig;
use crate::stream_info::{stream_info_page_call, InfoPager, StreamInfo, StreamInfoOptions};
use crate::wire;

/// A handle to a stream that existed when it was obtained (created, updated or bound).
#[derive(Debug, Clone)]
pub struct Stream {
    pub(crate) context: Context,
    pub(crate) name: String,
}

/// Which messages [`Stream::purge_with`] removes. The default purges everything.
///
/// ```
/// use natsy_jetstream::PurgeOptions;
/// // Keep the newest 10 messages of subject `orders.eu`.
/// let opts = PurgeOptions::new().filter("orders.eu").keep(10);
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PurgeOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    filter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep: Option<u64>,
}

impl PurgeOptions {
    /// Purge everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only messages whose subject matches `subject` (wildcards allowed).
    pub fn filter(mut self, subject: &str) -> Self {
        self.filter = Some(subject.to_string());
        self
    }

    /// Only messages with a sequence below `seq` (everything up to, not including, `seq`).
    /// The server refuses this together with [`PurgeOptions::keep`].
    pub fn sequence(mut self, seq: u64) -> Self {
        self.seq = Some(seq);
        self
    }

    /// Keep the newest `n` messages (of the filter's subjects, if one is set).
    pub fn keep(mut self, n: u64) -> Self {
        self.keep = Some(n);
        self
    }
}

#[derive(Deserialize)]
struct SuccessResponse {
    #[serde(default)]
    success: bool,
}

#[derive(Deserialize)]
struct PurgeResponse {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    purged: u64,
}

/// One page of `STREAM.NAMES` or `STREAM.LIST`.
#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub(crate) struct Page<T> {
    #[serde(default)]
    total: u64,
    #[serde(default = "Vec::new", deserialize_with = "wire::null_as_empty")]
    streams: Vec<T>,
}

#[derive(Serialize)]
struct PageRequest<'a> {
    offset: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
}

/// Collects every page: asks for the page at offset 0, then at the count received so far,
/// until `total` items are in or a page comes back empty.
pub(crate) fn collect_pages<T>(
    mut fetch: impl FnMut(u64) -> Result<Page<T>, Error>,
) -> Result<Vec<T>, Error> {
    let mut pager = Pager::new();
    while let Some(offset) = pager.offset() {
        let page = fetch(offset)?;
        pager.add(page.streams, page.total);
    }
    Ok(pager.finish())
}

/// The paging policy of the list APIs, shared by the blocking and async callers: the
/// next offset to ask for (`None`: done), and what each page adds.
pub(crate) struct Pager<T> {
    all: Vec<T>,
    done: bool,
}

impl<T> Pager<T> {
    pub(crate) fn new() -> Self {
        Pager {
            all: Vec::new(),
            done: false,
        }
    }

    /// The offset of the next page to ask for, or `None` when every item is in.
    pub(crate) fn offset(&self) -> Option<u64> {
        (!self.done).then_some(self.all.len() as u64)
    }

    /// A page of `items` out of `total` arrived. An empty page ends the listing even if
    /// the total says more: stop, do not spin.
    pub(crate) fn add(&mut self, items: Vec<T>, total: u64) {
        if items.is_empty() {
            self.done = true;
            return;
        }
        self.all.extend(items);
        self.done = self.all.len() as u64 >= total;
    }

    pub(crate) fn finish(self) -> Vec<T> {
        self.all
    }
}

impl<T> Page<T> {
    /// The items of this page and the listing's total.
    #[cfg(feature = "async")]
    pub(crate) fn into_parts(self) -> (Vec<T>, u64) {
        (self.streams, self.total)
    }
}

/// `STREAM.CREATE` of `config`.
pub(crate) fn create_stream_call(config: &StreamConfig) -> Result<ApiCall<StreamInfo>, Error> {
    check_stream_name(&config.name)?;
    ApiCall::json(format!("STREAM.CREATE.{}", config.name), Some(config))
}

/// `STREAM.UPDATE` of `config`.
pub(crate) fn update_stream_call(config: &StreamConfig) -> Result<ApiCall<StreamInfo>, Error> {
    check_stream_name(&config.name)?;
    ApiCall::json(format!("STREAM.UPDATE.{}", config.name), Some(config))
}

/// `STREAM.INFO` of `name`.
pub(crate) fn stream_info_call(name: &str) -> Result<ApiCall<StreamInfo>, Error> {
    check_stream_name(name)?;
    Ok(ApiCall::empty(format!("STREAM.INFO.{name}")))
}

/// `STREAM.DELETE` of `name`.
pub(crate) fn delete_stream_call(name: &str) -> Result<ApiCall<()>, Error> {
    check_stream_name(name)?;
    Ok(
        ApiCall::<SuccessResponse>::empty(format!("STREAM.DELETE.{name}")).parse_with(|body| {
            let r: SuccessResponse = parse_response(body)?;
            if r.success {
                Ok(())
            } else {
                Err(Error::InvalidResponse(
                    "stream delete answered success: false".into(),
                ))
            }
        }),
    )
}

/// `STREAM.PURGE` of `name` with `options`; the reply is how many were purged.
pub(crate) fn purge_stream_call(name: &str, options: &PurgeOptions) -> Result<ApiCall<u64>, Error> {
    check_stream_name(name)?;
    if let Some(filter) = &options.filter {
        check_subject_filter(filter)?;
    }
    if options.seq.is_some() && options.keep.is_some() {
        return Err(Error::InvalidArgument(
            "purge sequence and keep are exclusive",
        ));
    }
    let call = ApiCall::<PurgeResponse>::json(format!("STREAM.PURGE.{name}"), Some(options))?;
    Ok(call.parse_with(|body| {
        let r: PurgeResponse = parse_response(body)?;
        if r.success {
            Ok(r.purged)
        } else {
            Err(Error::InvalidResponse(
                "stream purge answered success: false".into(),
            ))
        }
    }))
}

#[derive(Serialize)]
struct MsgDeleteRequest {
    seq: u64,
    #[serde(skip_serializing_if = "wire::is_false")]
    no_erase: bool,
}

/// `STREAM.MSG.DELETE` of message `seq` of `name`: marked deleted (`erase == false`,
/// nats.go `DeleteMsg`) or also overwritten with random data (`erase`, nats.go
/// `SecureDeleteMsg`).
pub(crate) fn delete_message_call(name: &str, seq: u64, erase: bool) -> Result<ApiCall<()>, Error> {
    check_stream_name(name)?;
    if seq == 0 {
        return Err(Error::InvalidArgument("message sequence 0 does not exist"));
    }
    let request = MsgDeleteRequest {
        seq,
        no_erase: !erase,
    };
    let call =
        ApiCall::<SuccessResponse>::json(format!("STREAM.MSG.DELETE.{name}"), Some(&request))?;
    Ok(call.parse_with(|body| {
        let r: SuccessResponse = parse_response(body)?;
        if r.success {
            Ok(())
        } else {
            Err(Error::InvalidResponse(
                "message delete answered success: false".into(),
            ))
        }
    }))
}

/// One page of `endpoint` (`STREAM.NAMES` or `STREAM.LIST`) at `offset`.
pub(crate) fn page_call<T: serde::de::DeserializeOwned>(
    endpoint: &str,
    subject: Option<&str>,
    offset: u64,
) -> Result<ApiCall<Page<T>>, Error> {
    ApiCall::json(endpoint.to_string(), Some(&PageRequest { offset, subject }))
}

/// True when a create failed only because the stream exists with another configuration:
/// `create_or_update_stream` updates it then.
pub(crate) fn exists_otherwise(e: &Error) -> bool {
    e.api_kind() == Some(ApiErrorKind::StreamNameExists)
}

/// Checks a stream name: not empty, none of `.`, `*`, `>`, `/`, `\` or whitespace.
pub(crate) fn check_stream_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::InvalidArgument("stream name is empty"));
    }
    if name
        .chars()
        .any(|c| matches!(c, '.' | '*' | '>' | '/' | '\\') || c.is_whitespace())
    {
        return Err(Error::InvalidArgument(
            "stream name contains '.', '*', '>', '/', '\\' or whitespace",
        ));
    }
    Ok(())
}

/// Checks a subject filter: a valid subscribe subject (no whitespace, no empty token,
/// wildcards only as whole tokens).
pub(crate) fn check_subject_filter(subject: &str) -> Result<(), Error> {
    natsy::proto::subject::validate_subscribe_subject(subject)
        .map_err(|_| Error::InvalidArgument("subject filter is not a valid subject"))
}

impl Context {
    /// Creates a stream (`STREAM.CREATE`).
    ///
    /// If a stream of that name exists with the same configuration this succeeds (the
    /// server's idempotent create); with another configuration it fails with
    /// [`ApiErrorKind::StreamNameExists`] (10058). Overlapping subjects fail with
    /// [`ApiErrorKind::SubjectsOverlap`].
    pub fn create_stream(&self, config: &StreamConfig) -> Result<Stream, Error> {
        self.call(create_stream_call(config)?)?;
        Ok(self.stream_handle(&config.name))
    }

    /// Creates the stream, or updates it if it already exists with another configuration.
    pub fn create_or_update_stream(&self, config: &StreamConfig) -> Result<Stream, Error> {
        match self.create_stream(config) {
            Err(e) if exists_otherwise(&e) => self.update_stream(config),
            other => other,
        }
    }

    /// Updates an existing stream (`STREAM.UPDATE`); [`ApiErrorKind::StreamNotFound`] if
    /// it does not exist. Start from [`StreamInfo::config`] to keep fields you do not set.
    pub fn update_stream(&self, config: &StreamConfig) -> Result<Stream, Error> {
        self.call(update_stream_call(config)?)?;
        Ok(self.stream_handle(&config.name))
    }

    /// Binds to an existing stream: checks now that it exists (`STREAM.INFO`) and fails
    /// with [`ApiErrorKind::StreamNotFound`] if not. Never creates a stream.
    pub fn get_stream(&self, name: &str) -> Result<Stream, Error> {
        self.stream_info(name)?;
        Ok(self.stream_handle(name))
    }

    /// The stream's configuration and state (`STREAM.INFO`).
    pub fn stream_info(&self, name: &str) -> Result<StreamInfo, Error> {
        self.call(stream_info_call(name)?)
    }

    /// The stream's configuration and state with what `options` asks for: per-subject
    /// counts ([`StreamState::subjects`](crate::StreamState::subjects)), following every
    /// page the server splits them into, and deleted sequences.
    pub fn stream_info_with(
        &self,
        name: &str,
        options: &StreamInfoOptions,
    ) -> Result<StreamInfo, Error> {
        let mut pager = InfoPager::new();
        while let Some(offset) = pager.offset() {
            pager.add(self.call(stream_info_page_call(name, options, offset)?)?);
        }
        pager.finish()
    }

    /// Deletes a stream and its messages and consumers (`STREAM.DELETE`).
    pub fn delete_stream(&self, name: &str) -> Result<(), Error> {
        self.call(delete_stream_call(name)?)
    }

    /// Names of all streams, following every page of `STREAM.NAMES`.
    pub fn stream_names(&self) -> Result<Vec<String>, Error> {
        self.paged("STREAM.NAMES", None)
    }

    /// Names of the streams that capture `subject` (wildcards allowed).
    pub fn stream_names_by_subject(&self, subject: &str) -> Result<Vec<String>, Error> {
        check_subject_filter(subject)?;
        self.paged("STREAM.NAMES", Some(subject))
    }

    /// Info of all streams, following every page of `STREAM.LIST`.
    pub fn streams(&self) -> Result<Vec<StreamInfo>, Error> {
        self.paged("STREAM.LIST", None)
    }

    /// Info of the streams that capture `subject` (wildcards allowed).
    pub fn streams_by_subject(&self, subject: &str) -> Result<Vec<StreamInfo>, Error> {
        check_subject_filter(subject)?;
        self.paged("STREAM.LIST", Some(subject))
    }

    fn paged<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &str,
        subject: Option<&str>,
    ) -> Result<Vec<T>, Error> {
        collect_pages(|offset| self.call(page_call(endpoint, subject, offset)?))
    }

    fn stream_handle(&self, name: &str) -> Stream {
        Stream {
            context: self.clone(),
            name: name.to_string(),
        }
    }
}

impl Stream {
    /// The stream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The context it was obtained from.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The stream's current configuration and state.
    pub fn info(&self) -> Result<StreamInfo, Error> {
        self.context.stream_info(&self.name)
    }

    /// The stream's configuration and state with per-subject counts or deleted
    /// sequences: see [`Context::stream_info_with`].
    pub fn info_with(&self, options: &StreamInfoOptions) -> Result<StreamInfo, Error> {
        self.context.stream_info_with(&self.name, options)
    }

    /// Deletes message `seq` (`STREAM.MSG.DELETE` with `no_erase`): it is gone from the
    /// stream, its bytes are left on disk until compaction. nats.go: `DeleteMsg`. A
    /// missing sequence is an [`Error::Api`]; a stream with `deny_delete` refuses.
    pub fn delete_message(&self, seq: u64) -> Result<(), Error> {
        self.context
            .call(delete_message_call(&self.name, seq, false)?)
    }

    /// Deletes message `seq` and overwrites its stored bytes (secure erase; slower).
    /// nats.go: `SecureDeleteMsg`.
    pub fn erase_message(&self, seq: u64) -> Result<(), Error> {
        self.context
            .call(delete_message_call(&self.name, seq, true)?)
    }

    /// Removes every message; returns how many were purged.
    pub fn purge(&self) -> Result<u64, Error> {
        self.purge_with(&PurgeOptions::new())
    }

    /// Removes the messages `options` selects; returns how many were purged.
    pub fn purge_with(&self, options: &PurgeOptions) -> Result<u64, Error> {
        self.context.call(purge_stream_call(&self.name, options)?)
    }

    /// Deletes this stream.
    pub fn delete(&self) -> Result<(), Error> {
        self.context.delete_stream(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::parse_response;
    use crate::error::ApiError;

    /// Serves canned pages of `size` names out of `total`, recording the offsets asked.
    fn pages(total: usize, size: usize) -> (Vec<u64>, Result<Vec<String>, Error>) {
        let mut asked = Vec::new();
        let names: Vec<String> = (0..total).map(|i| format!("S{i}")).collect();
        let got = collect_pages(|offset| {
            asked.push(offset);
            let start = usize::try_from(offset).unwrap().min(total);
            let end = (start + size).min(total);
            let body = serde_json::json!({
                "type": "io.nats.jetstream.api.v1.stream_names_response",
                "total": total, "offset": offset, "limit": size,
                "streams": if start == end { serde_json::Value::Null } else { names[start..end].into() },
            });
            parse_response(body.to_string().as_bytes())
        });
        (asked, got)
    }

    #[test]
    fn paging_follows_offsets_until_total() {
        let (asked, got) = pages(2500, 1024);
        assert_eq!(asked, vec![0, 1024, 2048]);
        let got = got.unwrap();
        assert_eq!(got.len(), 2500);
        assert_eq!(got[0], "S0");
        assert_eq!(got[2499], "S2499");

        let (asked, got) = pages(1024, 1024);
        assert_eq!(asked, vec![0]);
        assert_eq!(got.unwrap().len(), 1024);

        let (asked, got) = pages(0, 1024);
        assert_eq!(asked, vec![0]);
        assert!(got.unwrap().is_empty());
    }

    #[test]
    fn paging_stops_on_an_empty_page_and_reports_errors() {
        // The total says more, but the server has nothing more: stop, do not spin.
        let mut calls = 0;
        let got = collect_pages::<String>(|offset| {
            calls += 1;
            let body = if offset == 0 {
                r#"{"total":10,"streams":["a","b"]}"#
            } else {
                r#"{"total":10,"streams":[]}"#
            };
            parse_response(body.as_bytes())
        })
        .unwrap();
        assert_eq!(got, vec!["a", "b"]);
        assert_eq!(calls, 2);

        let err = collect_pages::<String>(|_| {
            parse_response(br#"{"error":{"code":500,"err_code":10000,"description":"x"}}"#)
        })
        .unwrap_err();
        assert!(matches!(err, Error::Api(_)));
    }

    #[test]
    fn stream_names_are_checked_before_sending() {
        for bad in ["", "a.b", "a*", "a>", "a b", "a\tb", "a/b"] {
            assert!(
                matches!(check_stream_name(bad), Err(Error::InvalidArgument(_))),
                "{bad:?}"
            );
        }
        assert!(check_stream_name("ORDERS-1_x").is_ok());
    }

    #[test]
    fn subject_filters_are_checked_before_sending() {
        for bad in ["", "a b", "a..b", "a.>.b", "a\r\nb"] {
            assert!(
                matches!(check_subject_filter(bad), Err(Error::InvalidArgument(_))),
                "{bad:?}"
            );
        }
        assert!(check_subject_filter("orders.*.>").is_ok());
    }

    #[test]
    fn purge_options_send_only_what_is_set() {
        let j = |o: &PurgeOptions| serde_json::to_string(o).unwrap();
        assert_eq!(j(&PurgeOptions::new()), "{}");
        assert_eq!(
            j(&PurgeOptions::new().filter("a.>").keep(3)),
            r#"{"filter":"a.>","keep":3}"#
        );
        assert_eq!(j(&PurgeOptions::new().sequence(9)), r#"{"seq":9}"#);
        let call = purge_stream_call("S", &PurgeOptions::new().filter("a.*").sequence(4)).unwrap();
        assert_eq!(call.endpoint, "STREAM.PURGE.S");
        assert_eq!((call.parse)(br#"{"success":true,"purged":3}"#), Ok(3));
        for (name, opts) in [
            ("a.b", PurgeOptions::new()),
            ("S", PurgeOptions::new().filter("a b")),
            ("S", PurgeOptions::new().sequence(2).keep(1)),
        ] {
            assert!(
                matches!(
                    purge_stream_call(name, &opts),
                    Err(Error::InvalidArgument(_))
                ),
                "{name} {opts:?}"
            );
        }
    }

    #[test]
    fn message_delete_is_marked_or_erased() {
        let call = delete_message_call("S", 7, false).unwrap();
        assert_eq!(call.endpoint, "STREAM.MSG.DELETE.S");
        assert_eq!(&call.body[..], br#"{"seq":7,"no_erase":true}"#);
        assert_eq!((call.parse)(br#"{"success":true}"#), Ok(()));
        assert!(matches!(
            (call.parse)(br#"{"success":false}"#),
            Err(Error::InvalidResponse(_))
        ));
        let err = (call.parse)(
            br#"{"error":{"code":400,"err_code":10057,"description":"no message found"}}"#,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            Error::Api(ApiError {
                err_code: 10057,
                ..
            })
        ));
        let erase = delete_message_call("S", 7, true).unwrap();
        assert_eq!(&erase.body[..], br#"{"seq":7}"#);
        assert!(matches!(
            delete_message_call("S", 0, false),
            Err(Error::InvalidArgument(_))
        ));
        assert!(delete_message_call("a.b", 1, false).is_err());
    }
}

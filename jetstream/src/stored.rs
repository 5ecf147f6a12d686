//! Reading stored messages: [`StoredMessage`] through the API (`STREAM.MSG.GET`) and
//! through direct get (`DIRECT.GET`, streams with `allow_direct`).

use base64::Engine as _;
use bytes::Bytes;
use natsy::proto::headers::{parse_block, HeaderBlock};
use natsy::HeaderMap;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::context::ApiCall;
use crate::error::{ApiError, Error};
use crate::stream::Stream;
use crate::wire;

/// A message read back from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredMessage {
    /// The subject it was published to.
    pub subject: String,
    /// Its stream sequence.
    pub sequence: u64,
    /// Its headers (empty when it had none). Direct get adds the `Nats-Stream`,
    /// `Nats-Sequence`, `Nats-Time-Stamp` and `Nats-Subject` headers.
    pub headers: HeaderMap,
    /// Its payload.
    pub payload: Bytes,
    /// When the stream stored it.
    pub time: OffsetDateTime,
}

#[derive(Serialize)]
struct GetRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_by_subj: Option<&'a str>,
}

#[derive(Deserialize)]
struct GetResponse {
    message: RawStored,
}

#[derive(Deserialize)]
struct RawStored {
    subject: String,
    seq: u64,
    #[serde(default)]
    hdrs: Option<String>,
    #[serde(default)]
    data: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    time: OffsetDateTime,
}

fn decode_b64(text: &str, what: &str) -> Result<Vec<u8>, Error> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| Error::InvalidResponse(format!("{what} is not base64: {e}")))
}

impl RawStored {
    fn decode(self) -> Result<StoredMessage, Error> {
        let headers = match self.hdrs.as_deref() {
            None | Some("") => HeaderMap::new(),
            Some(b64) => {
                let block = decode_b64(b64, "hdrs")?;
                parse_block(&block)
                    .map_err(|e| Error::InvalidResponse(format!("stored headers: {e}")))?
                    .headers
            }
        };
        let payload = match self.data.as_deref() {
            None | Some("") => Bytes::new(),
            Some(b64) => Bytes::from(decode_b64(b64, "data")?),
        };
        Ok(StoredMessage {
            subject: self.subject,
            sequence: self.seq,
            headers,
            payload,
            time: self.time,
        })
    }
}

/// Turns a direct-get reply into a message: a status means not found (404) or a refused
/// request; otherwise the `Nats-*` headers say where the message came from.
pub(crate) fn from_direct_reply(msg: &natsy::proto::Message) -> Result<StoredMessage, Error> {
    direct_message(direct_headers(msg)?, msg)
}

/// The parsed header block of a direct-get reply.
pub(crate) fn direct_headers(msg: &natsy::proto::Message) -> Result<HeaderBlock, Error> {
    let block = msg
        .header_block()
        .ok_or_else(|| Error::InvalidResponse("direct get reply without headers".into()))?;
    parse_block(block).map_err(|e| Error::InvalidResponse(format!("direct get: {e}")))
}

/// The error a direct-get status reply stands for.
pub(crate) fn direct_status_error(code: u16, description: Option<String>) -> Error {
    Error::Api(ApiError {
        code,
        // 404 "Message Not Found" is the API's "no message found".
        err_code: if code == 404 { 10037 } else { 0 },
        description: description.unwrap_or_default(),
    })
}

/// The message of a direct-get reply whose headers are `parsed`.
pub(crate) fn direct_message(
    parsed: HeaderBlock,
    msg: &natsy::proto::Message,
) -> Result<StoredMessage, Error> {
    if let Some(status) = parsed.status {
        return Err(direct_status_error(status.as_u16(), parsed.description));
    }
    let headers = parsed.headers;
    let subject = headers
        .get("Nats-Subject")
        .ok_or_else(|| Error::InvalidResponse("direct get reply lacks Nats-Subject".into()))?
        .to_string();
    let sequence = headers
        .get("Nats-Sequence")
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| Error::InvalidResponse("direct get reply lacks Nats-Sequence".into()))?;
    let time = headers
        .get("Nats-Time-Stamp")
        .and_then(wire::parse_time)
        .ok_or_else(|| Error::InvalidResponse("direct get reply lacks Nats-Time-Stamp".into()))?;
    if headers.get("Nats-Stream").is_none() {
        return Err(Error::InvalidResponse(
            "direct get reply lacks Nats-Stream".into(),
        ));
    }
    Ok(StoredMessage {
        subject,
        sequence,
        headers,
        payload: msg.payload_bytes(),
        time,
    })
}

/// `STREAM.MSG.GET` of the message with sequence `seq` (or, with `last_by_subj`, the
/// newest on that subject) from stream `stream`: blocking and async.
pub(crate) fn msg_get_call(
    stream: &str,
    seq: Option<u64>,
    last_by_subj: Option<&str>,
) -> Result<ApiCall<StoredMessage>, Error> {
    if last_by_subj == Some("") {
        return Err(Error::InvalidArgument("subject is empty"));
    }
    let call = ApiCall::<GetResponse>::json(
        format!("STREAM.MSG.GET.{stream}"),
        Some(&GetRequest { seq, last_by_subj }),
    )?;
    Ok(call.parse_with(|body| {
        let r: GetResponse = crate::context::parse_response(body)?;
        r.message.decode()
    }))
}

/// The endpoint and body of a direct get of `seq`, or of the newest message on
/// `last_subject`, from stream `stream`: blocking and async. The reply is read with
/// [`from_direct_reply`].
pub(crate) fn direct_get_request(
    stream: &str,
    seq: Option<u64>,
    last_subject: Option<&str>,
) -> Result<(String, Bytes), Error> {
    match (seq, last_subject) {
        (_, Some(subject)) => {
            if subject.is_empty() || subject.contains(char::is_whitespace) {
                return Err(Error::InvalidArgument("subject is empty or has whitespace"));
            }
            Ok((format!("DIRECT.GET.{stream}.{subject}"), Bytes::new()))
        }
        (seq, None) => {
            let body = serde_json::to_vec(&GetRequest {
                seq,
                last_by_subj: None,
            })
            .map_err(|e| Error::InvalidResponse(e.to_string()))?;
            Ok((format!("DIRECT.GET.{stream}"), Bytes::from(body)))
        }
    }
}

#[derive(Serialize)]
struct NextRequest<'a> {
    seq: u64,
    next_by_subj: &'a str,
}

/// The endpoint and body of a direct get of the first message on `subject` (wildcards
/// allowed) at or after sequence `from_seq`.
pub(crate) fn direct_get_next_request(
    stream: &str,
    subject: &str,
    from_seq: u64,
) -> Result<(String, Bytes), Error> {
    crate::stream::check_stream_name(stream)?;
    crate::stream::check_subject_filter(subject)?;
    let body = serde_json::to_vec(&NextRequest {
        seq: from_seq,
        next_by_subj: subject,
    })
    .map_err(|e| Error::InvalidResponse(e.to_string()))?;
    Ok((format!("DIRECT.GET.{stream}"), Bytes::from(body)))
}

impl Stream {
    /// The message with sequence `seq` (`STREAM.MSG.GET`); [`ApiErrorKind::NoMessageFound`](crate::ApiErrorKind::NoMessageFound)
    /// if there is none.
    pub fn get_message(&self, seq: u64) -> Result<StoredMessage, Error> {
        self.context
            .call(msg_get_call(&self.name, Some(seq), None)?)
    }

    /// The newest message on `subject` (`STREAM.MSG.GET` with `last_by_subj`);
    /// [`ApiErrorKind::NoMessageFound`](crate::ApiErrorKind::NoMessageFound) if there is none.
    pub fn get_last_message(&self, subject: &str) -> Result<StoredMessage, Error> {
        self.context
            .call(msg_get_call(&self.name, None, Some(subject))?)
    }

    /// The message with sequence `seq`, read with direct get (`DIRECT.GET.<stream>`),
    /// which any replica can answer. The stream needs `allow_direct`; without it nobody
    /// answers and this fails with [`Error::NotEnabled`]. A missing message is
    /// [`ApiErrorKind::NoMessageFound`](crate::ApiErrorKind::NoMessageFound).
    pub fn direct_get(&self, seq: u64) -> Result<StoredMessage, Error> {
        self.direct(direct_get_request(&self.name, Some(seq), None)?)
    }

    /// The newest message on `subject`, read with direct get
    /// (`DIRECT.GET.<stream>.<subject>`); see [`Stream::direct_get`].
    pub fn direct_get_last(&self, subject: &str) -> Result<StoredMessage, Error> {
        self.direct(direct_get_request(&self.name, None, Some(subject))?)
    }

    /// The first message on `subject` (wildcards allowed) at or after sequence
    /// `from_seq`, read with direct get (`next_by_subj`); see [`Stream::direct_get`].
    /// nats.go: `GetMsg(…, NextFor(subject))`; async-nats: `direct_get_next_for_subject`.
    pub fn direct_get_next(&self, subject: &str, from_seq: u64) -> Result<StoredMessage, Error> {
        self.direct(direct_get_next_request(&self.name, subject, from_seq)?)
    }

    fn direct(&self, (endpoint, body): (String, Bytes)) -> Result<StoredMessage, Error> {
        let ctx = &self.context;
        let reply =
            ctx.client()
                .request_timeout(&ctx.api_subject(&endpoint), body, ctx.timeout())?;
        from_direct_reply(&reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::parse_response;
    use crate::ApiErrorKind;

    #[test]
    fn msg_get_decodes_base64_headers_and_data() {
        let hdrs = base64::engine::general_purpose::STANDARD
            .encode("NATS/1.0\r\nNats-Msg-Id: 7\r\nX: a\r\nX: b\r\n\r\n");
        let data = base64::engine::general_purpose::STANDARD.encode("hello");
        let body = format!(
            r#"{{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","message":
            {{"subject":"o.1","seq":3,"hdrs":"{hdrs}","data":"{data}",
            "time":"2024-01-01T00:00:00.000000001Z"}}}}"#
        );
        let r: GetResponse = parse_response(body.as_bytes()).unwrap();
        let m = r.message.decode().unwrap();
        assert_eq!(m.subject, "o.1");
        assert_eq!(m.sequence, 3);
        assert_eq!(m.payload, Bytes::from_static(b"hello"));
        assert_eq!(m.headers.get("Nats-Msg-Id"), Some("7"));
        assert_eq!(m.headers.get_all("X").collect::<Vec<_>>(), vec!["a", "b"]);

        let bare: GetResponse =
            parse_response(br#"{"message":{"subject":"o","seq":1,"time":"2024-01-01T00:00:00Z"}}"#)
                .unwrap();
        let m = bare.message.decode().unwrap();
        assert!(m.payload.is_empty() && m.headers.is_empty());

        let bad: GetResponse = parse_response(
            br#"{"message":{"subject":"o","seq":1,"data":"!!","time":"2024-01-01T00:00:00Z"}}"#,
        )
        .unwrap();
        assert!(matches!(
            bad.message.decode(),
            Err(Error::InvalidResponse(_))
        ));
        let bad: GetResponse = parse_response(
            br#"{"message":{"subject":"o","seq":1,"hdrs":"eA==","time":"2024-01-01T00:00:00Z"}}"#,
        )
        .unwrap();
        assert!(matches!(
            bad.message.decode(),
            Err(Error::InvalidResponse(_))
        ));
    }

    fn raw(headers: &str, payload: &'static [u8]) -> natsy::proto::Message {
        let mut frame = Vec::new();
        frame.extend_from_slice(b"_INBOX.x");
        let hstart = frame.len();
        frame.extend_from_slice(headers.as_bytes());
        let hend = frame.len();
        frame.extend_from_slice(payload);
        let pend = frame.len();
        natsy::proto::Message::from_parts(
            Bytes::from(frame),
            1,
            0..8,
            None,
            if headers.is_empty() {
                None
            } else {
                Some(hstart..hend)
            },
            hend..pend,
        )
    }

    #[test]
    fn direct_get_next_names_the_subject_and_start() {
        let (endpoint, body) = direct_get_next_request("S", "o.*", 4).unwrap();
        assert_eq!(endpoint, "DIRECT.GET.S");
        assert_eq!(&body[..], br#"{"seq":4,"next_by_subj":"o.*"}"#);
        assert!(direct_get_next_request("S", "o b", 1).is_err());
        assert!(direct_get_next_request("a.b", "o", 1).is_err());
    }

    #[test]
    fn direct_get_replies_become_messages_or_typed_errors() {
        let m = from_direct_reply(&raw(
            "NATS/1.0\r\nNats-Stream: S\r\nNats-Subject: o.1\r\nNats-Sequence: 42\r\n\
             Nats-Time-Stamp: 2024-01-01T00:00:00.5Z\r\nApp: x\r\n\r\n",
            b"body",
        ))
        .unwrap();
        assert_eq!(m.subject, "o.1");
        assert_eq!(m.sequence, 42);
        assert_eq!(m.payload, Bytes::from_static(b"body"));
        assert_eq!(m.headers.get("App"), Some("x"));

        let e = from_direct_reply(&raw("NATS/1.0 404 Message Not Found\r\n\r\n", b"")).unwrap_err();
        assert_eq!(e.api_kind(), Some(ApiErrorKind::NoMessageFound));
        let e = from_direct_reply(&raw("NATS/1.0 408 Bad Request\r\n\r\n", b"")).unwrap_err();
        assert!(matches!(e, Error::Api(ApiError { code: 408, .. })));

        for broken in [
            "",
            "NATS/1.0\r\nNats-Stream: S\r\nNats-Sequence: 1\r\n\r\n",
            "NATS/1.0\r\nNats-Stream: S\r\nNats-Subject: a\r\nNats-Sequence: x\r\nNats-Time-Stamp: 2024-01-01T00:00:00Z\r\n\r\n",
            "NATS/1.0\r\nNats-Stream: S\r\nNats-Subject: a\r\nNats-Sequence: 1\r\nNats-Time-Stamp: soon\r\n\r\n",
            "NATS/1.0\r\nNats-Subject: a\r\nNats-Sequence: 1\r\nNats-Time-Stamp: 2024-01-01T00:00:00Z\r\n\r\n",
            "NATS/1.0\r\nNats-Subject",
        ] {
            assert!(
                matches!(from_direct_reply(&raw(broken, b"")), Err(Error::InvalidResponse(_))),
                "{broken:?}"
            );
        }
    }
}

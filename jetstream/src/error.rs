//! JetStream errors: the server's API errors, typed by `err_code`, and local failures.

use std::fmt;

use natsy::{PermissionError, PublishError, RequestError};

/// An error object returned by the JetStream API (`{"error":{"code":..,"err_code":..,
/// "description":..}}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ApiError {
    /// HTTP-like status (400, 404, 503, ...).
    pub code: u16,
    /// The JetStream error code (10059 = stream not found, ...). 0 when the server sent none.
    #[serde(default)]
    pub err_code: u16,
    /// The server's description.
    #[serde(default)]
    pub description: String,
}

/// The common API errors by name; match on this, not on descriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// 10002: resource limits exceeded for the account (e.g. a publish past the
    /// account's `max_file`).
    AccountResourcesExceeded,
    /// 10003: bad request.
    BadRequest,
    /// 10013: consumer name already in use.
    ConsumerNameExists,
    /// 10014: consumer not found.
    ConsumerNotFound,
    /// 10023: insufficient resources.
    InsufficientResources,
    /// 10026: maximum consumers reached.
    MaximumConsumersLimit,
    /// 10027: maximum streams reached.
    MaximumStreamsLimit,
    /// 10028: insufficient memory.
    MemoryResourcesExceeded,
    /// 10037: no message found.
    NoMessageFound,
    /// 10039: JetStream not enabled for the account.
    NotEnabledForAccount,
    /// 10047: insufficient storage.
    StorageResourcesExceeded,
    /// 10054: message size exceeds the maximum allowed.
    MessageSizeExceeded,
    /// 10058: stream name already in use with a different configuration.
    StreamNameExists,
    /// 10059: stream not found.
    StreamNotFound,
    /// 10060: expected stream does not match.
    StreamWrongExpected,
    /// 10065: subjects overlap with an existing stream.
    SubjectsOverlap,
    /// 10070: wrong last message id.
    WrongLastMsgId,
    /// 10071 (or 10164): wrong last sequence.
    WrongLastSequence,
    /// 10076: JetStream not enabled.
    NotEnabled,
    /// 10105: consumer already exists and is active.
    ConsumerExistsActive,
    /// 10148: consumer already exists (with a different configuration).
    ConsumerAlreadyExists,
    /// 10149: consumer does not exist.
    ConsumerDoesNotExist,
    /// Any other code.
    Other,
}

impl ApiError {
    /// The named kind of this error.
    pub fn kind(&self) -> ApiErrorKind {
        use ApiErrorKind::*;
        match self.err_code {
            10002 => AccountResourcesExceeded,
            10003 => BadRequest,
            10013 => ConsumerNameExists,
            10014 => ConsumerNotFound,
            10023 => InsufficientResources,
            10026 => MaximumConsumersLimit,
            10027 => MaximumStreamsLimit,
            10028 => MemoryResourcesExceeded,
            10037 => NoMessageFound,
            10039 => NotEnabledForAccount,
            10047 => StorageResourcesExceeded,
            10054 => MessageSizeExceeded,
            10058 => StreamNameExists,
            10059 => StreamNotFound,
            10060 => StreamWrongExpected,
            10065 => SubjectsOverlap,
            10070 => WrongLastMsgId,
            10071 | 10164 => WrongLastSequence,
            10076 => NotEnabled,
            10105 => ConsumerExistsActive,
            10148 => ConsumerAlreadyExists,
            10149 => ConsumerDoesNotExist,
            _ => Other,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (code {}, err_code {})",
            self.description, self.code, self.err_code
        )
    }
}

impl std::error::Error for ApiError {}

/// Anything a JetStream call can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an API error.
    Api(ApiError),
    /// Nobody answered the API subject (503 no responders): JetStream is not enabled on
    /// the server or for this account (or the domain/prefix is wrong).
    NotEnabled,
    /// The API request failed (timeout, closed client, ...).
    Request(RequestError),
    /// The server refused to let this user publish to the API subject (or to subscribe
    /// to the reply inbox), within a round trip rather than the timeout. The error names
    /// the subject, e.g. `$JS.API.CONSUMER.INFO.<stream>.<consumer>` or the pull subject
    /// `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`. nats.go times out instead.
    PermissionDenied(PermissionError),
    /// A message could not be published.
    Publish(PublishError),
    /// The server's answer did not parse; the text says what was wrong.
    InvalidResponse(String),
    /// An argument was invalid (for example an empty stream name); nothing was sent.
    InvalidArgument(&'static str),
    /// A publish got "no responders" on every attempt (the first and two retries 250 ms
    /// apart): no stream captures the subject (nats.go `ErrNoStreamResponse`).
    NoStreamResponse,
    /// An asynchronous publisher in [`WhenFull::Error`](crate::WhenFull::Error) mode has
    /// its whole window of acks outstanding; nothing was sent.
    WindowFull,
    /// A pull request ended with an error status, or its heartbeats stopped.
    Pull(crate::pull::PullError),
    /// An acknowledgement was refused locally, failed, or was not confirmed.
    Ack(crate::js_message::AckError),
    /// A message's reply subject is not a valid `$JS.ACK` subject.
    Metadata(crate::js_message::MetadataError),
    /// An ordered consumer ended.
    Ordered(crate::ordered_machine::OrderedError),
    /// A push consumer reported a condition (missed heartbeats, a sequence gap) or ended.
    Push(crate::push::PushError),
}

impl Error {
    /// The API error kind, if this is an API error.
    pub fn api_kind(&self) -> Option<ApiErrorKind> {
        match self {
            Error::Api(e) => Some(e.kind()),
            _ => None,
        }
    }

    /// The server's refusal, if the call failed for lack of permission (also one wrapped
    /// in an acknowledgement's request error).
    pub fn permission_error(&self) -> Option<&PermissionError> {
        match self {
            Error::PermissionDenied(e) => Some(e),
            Error::Request(e) | Error::Ack(crate::js_message::AckError::NotConfirmed(e)) => {
                e.permission_error()
            }
            _ => None,
        }
    }

    /// True when the server refused the call for lack of permission.
    pub fn is_permission_error(&self) -> bool {
        self.permission_error().is_some()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api(e) => write!(f, "JetStream API error: {e}"),
            Error::NotEnabled => f.write_str("JetStream is not enabled (no responders)"),
            Error::Request(e) => write!(f, "JetStream request failed: {e}"),
            Error::PermissionDenied(e) => write!(f, "JetStream call refused: {e}"),
            Error::Publish(e) => write!(f, "publish failed: {e}"),
            Error::InvalidResponse(e) => write!(f, "invalid JetStream response: {e}"),
            Error::InvalidArgument(e) => write!(f, "invalid argument: {e}"),
            Error::NoStreamResponse => {
                f.write_str("no stream answered the publish (no responders)")
            }
            Error::WindowFull => f.write_str("too many publish acks outstanding"),
            Error::Pull(e) => write!(f, "pull failed: {e}"),
            Error::Ack(e) => write!(f, "ack failed: {e}"),
            Error::Metadata(e) => write!(f, "invalid JetStream metadata: {e}"),
            Error::Ordered(e) => write!(f, "ordered consumer ended: {e}"),
            Error::Push(e) => write!(f, "push consumer: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Api(e) => Some(e),
            Error::Request(e) => Some(e),
            Error::PermissionDenied(e) => Some(e),
            Error::Publish(e) => Some(e),
            Error::Pull(e) => Some(e),
            Error::Ack(e) => Some(e),
            Error::Metadata(e) => Some(e),
            Error::Ordered(e) => Some(e),
            Error::Push(e) => Some(e),
            _ => None,
        }
    }
}

impl From<RequestError> for Error {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::NoResponders => Error::NotEnabled,
            RequestError::PermissionDenied(e) => Error::PermissionDenied(e),
            e => Error::Request(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_err_code_not_text() {
        let e = ApiError {
            code: 404,
            err_code: 10059,
            description: "whatever".into(),
        };
        assert_eq!(e.kind(), ApiErrorKind::StreamNotFound);
        let e = ApiError {
            code: 400,
            err_code: 10164,
            description: String::new(),
        };
        assert_eq!(e.kind(), ApiErrorKind::WrongLastSequence);
        let e = ApiError {
            code: 500,
            err_code: 1,
            description: "stream not found".into(),
        };
        assert_eq!(e.kind(), ApiErrorKind::Other);
    }

    #[test]
    fn no_responders_means_not_enabled() {
        assert_eq!(Error::from(RequestError::NoResponders), Error::NotEnabled);
        assert_eq!(
            Error::from(RequestError::TimedOut),
            Error::Request(RequestError::TimedOut)
        );
    }
}

//! [`Context`]: the JetStream API entry point — API prefix or domain, timeout, and the
//! request helper every API call goes through.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{ApiError, Error};

/// The default API prefix.
pub const DEFAULT_API_PREFIX: &str = "$JS.API";

/// The default timeout of an API request (nats.go's 5 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A JetStream context on top of a client. Cheap to clone: a clone shares the client and
/// the API prefix (two reference counts, no allocation), so every [`JsMessage`] can carry
/// one.
///
/// [`JsMessage`]: crate::JsMessage
#[derive(Debug, Clone)]
pub struct Context {
    client: natsy::Client,
    prefix: Arc<str>,
    timeout: Duration,
}

/// A JetStream context with the default prefix `$JS.API` and a 5 s request timeout.
pub fn new(client: natsy::Client) -> Context {
    Context {
        client,
        prefix: Arc::from(DEFAULT_API_PREFIX),
        timeout: DEFAULT_TIMEOUT,
    }
}

/// The shape of every API response: either an error object or the payload.
#[derive(serde::Deserialize)]
struct MaybeError {
    #[serde(default)]
    error: Option<ApiError>,
}

impl Context {
    /// Uses the JetStream domain `domain` (`$JS.<domain>.API`).
    pub fn with_domain(mut self, domain: &str) -> Self {
        self.prefix = Arc::from(format!("$JS.{domain}.API"));
        self
    }

    /// Uses an explicit API prefix (for imported JetStream APIs).
    pub fn with_api_prefix(mut self, prefix: &str) -> Self {
        self.prefix = Arc::from(prefix.trim_end_matches('.'));
        self
    }

    /// Sets the timeout of API requests.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The client this context uses.
    pub fn client(&self) -> &natsy::Client {
        &self.client
    }

    /// The API prefix, without a trailing dot.
    pub fn api_prefix(&self) -> &str {
        &self.prefix
    }

    /// The API request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The full subject of API endpoint `endpoint` (e.g. `STREAM.INFO.orders`).
    pub fn api_subject(&self, endpoint: &str) -> String {
        format!("{}.{endpoint}", self.prefix)
    }

    /// Sends a raw API request and returns the raw reply body, mapping "no responders" to
    /// [`Error::NotEnabled`].
    pub fn request_raw(&self, endpoint: &str, body: Bytes) -> Result<Bytes, Error> {
        let reply = self
            .client
            .request_timeout(&self.api_subject(endpoint), body, self.timeout)?;
        Ok(reply.payload_bytes())
    }

    /// Sends an API request with a JSON body (or none) and parses the response, returning
    /// the server's error object as [`Error::Api`].
    pub fn request<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        endpoint: &str,
        body: Option<&Req>,
    ) -> Result<Resp, Error> {
        self.call(ApiCall::json(endpoint.to_string(), body)?)
    }

    /// Sends a built call and parses its reply: the blocking wait of every API call.
    pub(crate) fn call<R>(&self, call: ApiCall<R>) -> Result<R, Error> {
        let reply = self.request_raw(&call.endpoint, call.body)?;
        (call.parse)(&reply)
    }
}

/// One JetStream API call, built and checked but not sent: the endpoint, the JSON body,
/// and how to read the reply. Every API call is built once here and sent by either the
/// blocking [`Context`] or the async [`aio::Context`](crate::aio::Context), so both
/// validate, encode and decode the same way; only the wait differs.
pub(crate) struct ApiCall<R> {
    /// The endpoint after the API prefix, e.g. `STREAM.INFO.orders`.
    pub(crate) endpoint: String,
    pub(crate) body: Bytes,
    pub(crate) parse: fn(&[u8]) -> Result<R, Error>,
}

impl<R: DeserializeOwned> ApiCall<R> {
    /// A call with `body` as JSON (or an empty body), whose reply parses as `R`.
    pub(crate) fn json<Req: Serialize>(
        endpoint: String,
        body: Option<&Req>,
    ) -> Result<Self, Error> {
        let body = match body {
            Some(b) => Bytes::from(
                serde_json::to_vec(b).map_err(|e| Error::InvalidResponse(e.to_string()))?,
            ),
            None => Bytes::new(),
        };
        Ok(ApiCall {
            endpoint,
            body,
            parse: parse_response::<R>,
        })
    }

    /// A call without a body.
    pub(crate) fn empty(endpoint: String) -> Self {
        ApiCall {
            endpoint,
            body: Bytes::new(),
            parse: parse_response::<R>,
        }
    }
}

impl<R> ApiCall<R> {
    /// The same call, reading its reply with `parse` instead.
    pub(crate) fn parse_with<S>(self, parse: fn(&[u8]) -> Result<S, Error>) -> ApiCall<S> {
        ApiCall {
            endpoint: self.endpoint,
            body: self.body,
            parse,
        }
    }
}

/// Parses an API response: the error object if present, else the payload.
pub(crate) fn parse_response<Resp: DeserializeOwned>(body: &[u8]) -> Result<Resp, Error> {
    let maybe: MaybeError =
        serde_json::from_slice(body).map_err(|e| Error::InvalidResponse(e.to_string()))?;
    if let Some(e) = maybe.error {
        return Err(Error::Api(e));
    }
    serde_json::from_slice(body).map_err(|e| Error::InvalidResponse(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Names {
        streams: Vec<String>,
    }

    #[test]
    fn responses_become_values_or_typed_errors() {
        let ok: Names = parse_response(br#"{"type":"x","streams":["a"]}"#).unwrap();
        assert_eq!(
            ok,
            Names {
                streams: vec!["a".into()]
            }
        );
        let err = parse_response::<Names>(
            br#"{"type":"x","error":{"code":404,"err_code":10059,"description":"stream not found"}}"#,
        )
        .unwrap_err();
        assert_eq!(err.api_kind(), Some(crate::ApiErrorKind::StreamNotFound));
        assert!(matches!(
            parse_response::<Names>(b"not json"),
            Err(Error::InvalidResponse(_))
        ));
        assert!(matches!(
            parse_response::<Names>(br#"{"x":1}"#),
            Err(Error::InvalidResponse(_))
        ));
    }
}

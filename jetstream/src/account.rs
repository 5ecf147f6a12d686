//! Account information: what the account uses and may use (`$JS.API.INFO`).

use std::collections::HashMap;

use serde::Deserialize;

use crate::context::{ApiCall, Context};
use crate::error::Error;

/// The account's JetStream usage, limits and API statistics (nats.go `AccountInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AccountInfo {
    /// Memory-storage bytes in use.
    pub memory: u64,
    /// File-storage bytes in use.
    pub storage: u64,
    /// Memory bytes reserved by streams with `max_bytes` set.
    pub reserved_memory: u64,
    /// File bytes reserved by streams with `max_bytes` set.
    pub reserved_storage: u64,
    /// Number of streams.
    pub streams: u64,
    /// Number of consumers.
    pub consumers: u64,
    /// The account's limits.
    pub limits: AccountLimits,
    /// Per-tier usage and limits (`"R1"`, `"R3"`, ...), when tiered limits are in use.
    #[serde(deserialize_with = "null_as_empty_map")]
    pub tiers: HashMap<String, Tier>,
    /// The JetStream domain, if any.
    #[serde(deserialize_with = "empty_as_none")]
    pub domain: Option<String>,
    /// API call statistics.
    pub api: ApiStats,
}

/// Usage and limits of one tier (same shape as the account totals).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Tier {
    /// Memory-storage bytes in use.
    pub memory: u64,
    /// File-storage bytes in use.
    pub storage: u64,
    /// Memory bytes reserved.
    pub reserved_memory: u64,
    /// File bytes reserved.
    pub reserved_storage: u64,
    /// Number of streams.
    pub streams: u64,
    /// Number of consumers.
    pub consumers: u64,
    /// The tier's limits.
    pub limits: AccountLimits,
}

/// Account limits. `None` means unlimited: the server sends `-1` (any negative number
/// reads as `None`); `Some(0)` is what the server sent as `0`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AccountLimits {
    /// Bytes of memory storage (`max_memory`).
    #[serde(deserialize_with = "limit")]
    pub max_memory: Option<u64>,
    /// Bytes of file storage (`max_storage`).
    #[serde(deserialize_with = "limit")]
    pub max_storage: Option<u64>,
    /// Number of streams (`max_streams`).
    #[serde(deserialize_with = "limit")]
    pub max_streams: Option<u64>,
    /// Number of consumers (`max_consumers`).
    #[serde(deserialize_with = "limit")]
    pub max_consumers: Option<u64>,
    /// Largest `max_ack_pending` a consumer may set (`max_ack_pending`).
    #[serde(deserialize_with = "limit")]
    pub max_ack_pending: Option<u64>,
    /// Largest `max_bytes` of one memory stream (`memory_max_stream_bytes`).
    #[serde(deserialize_with = "limit")]
    pub memory_max_stream_bytes: Option<u64>,
    /// Largest `max_bytes` of one file stream (`storage_max_stream_bytes`).
    #[serde(deserialize_with = "limit")]
    pub storage_max_stream_bytes: Option<u64>,
    /// Whether every stream must set `max_bytes` (`max_bytes_required`).
    pub max_bytes_required: bool,
}

/// API call statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ApiStats {
    /// The API level the server supports.
    pub level: u64,
    /// Calls made.
    pub total: u64,
    /// Calls that failed.
    pub errors: u64,
    /// Calls in progress.
    pub inflight: u64,
}

/// A limit: negative (the server's `-1`) is unlimited, `None`.
fn limit<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Option::<i64>::deserialize(d)?;
    Ok(v.and_then(|v| u64::try_from(v).ok()))
}

fn null_as_empty_map<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<HashMap<String, Tier>, D::Error> {
    Ok(Option::<HashMap<String, Tier>>::deserialize(d)?.unwrap_or_default())
}

fn empty_as_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

impl Context {
    /// The account's usage and limits (`$JS.API.INFO`).
    ///
    /// Errors: [`Error::NotEnabled`] when nobody answers (JetStream off on the server),
    /// [`Error::Api`] with [`ApiErrorKind::NotEnabledForAccount`](crate::ApiErrorKind::NotEnabledForAccount)
    /// when the account has no JetStream.
    pub fn account_info(&self) -> Result<AccountInfo, Error> {
        self.call(account_info_call())
    }
}

/// `$JS.API.INFO`, shared by the blocking and async contexts.
pub(crate) fn account_info_call() -> ApiCall<AccountInfo> {
    ApiCall::empty("INFO".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::parse_response;

    #[test]
    fn account_info_parses_limits_tiers_and_unlimited() {
        let body = br#"{"type":"io.nats.jetstream.api.v1.account_info_response",
            "memory":10,"storage":2048,"reserved_memory":0,"reserved_storage":4096,
            "streams":2,"consumers":3,
            "limits":{"max_memory":-1,"max_storage":1048576,"max_streams":10,
                "max_consumers":-1,"max_ack_pending":-1,"memory_max_stream_bytes":-1,
                "storage_max_stream_bytes":-1,"max_bytes_required":true},
            "domain":"hub",
            "api":{"level":1,"total":7,"errors":1,"inflight":0},
            "tiers":{"R1":{"memory":10,"storage":2048,"streams":2,"consumers":3,
                "limits":{"max_memory":5,"max_storage":-1}}},
            "something_new":{"x":1}}"#;
        let info: AccountInfo = parse_response(body).unwrap();
        assert_eq!(info.storage, 2048);
        assert_eq!(info.reserved_storage, 4096);
        assert_eq!(info.streams, 2);
        assert_eq!(info.consumers, 3);
        assert_eq!(info.limits.max_memory, None);
        assert_eq!(info.limits.max_storage, Some(1_048_576));
        assert_eq!(info.limits.max_streams, Some(10));
        assert!(info.limits.max_bytes_required);
        assert_eq!(info.domain.as_deref(), Some("hub"));
        assert_eq!(info.api.total, 7);
        assert_eq!(info.api.errors, 1);
        let r1 = &info.tiers["R1"];
        assert_eq!(r1.limits.max_memory, Some(5));
        assert_eq!(r1.limits.max_storage, None);
        assert_eq!(r1.streams, 2);

        let bare: AccountInfo = parse_response(br#"{"tiers":null,"domain":""}"#).unwrap();
        assert!(bare.tiers.is_empty());
        assert_eq!(bare.domain, None);

        let err = parse_response::<AccountInfo>(
            br#"{"error":{"code":503,"err_code":10039,"description":"jetstream not enabled for account"}}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.api_kind(),
            Some(crate::ApiErrorKind::NotEnabledForAccount)
        );
    }
}

//! The JSON of ADR-32's discovery responses, exactly as the other clients write and read
//! them (`io.nats.micro.v1.*`), and the header names of service errors.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The `type` of a PING response.
pub const PING_RESPONSE: &str = "io.nats.micro.v1.ping_response";
/// The `type` of an INFO response.
pub const INFO_RESPONSE: &str = "io.nats.micro.v1.info_response";
/// The `type` of a STATS response.
pub const STATS_RESPONSE: &str = "io.nats.micro.v1.stats_response";
/// The header carrying a service error's description.
pub const ERROR_HEADER: &str = "Nats-Service-Error";
/// The header carrying a service error's code (always a number).
pub const ERROR_CODE_HEADER: &str = "Nats-Service-Error-Code";

/// A `$SRV.PING` answer: who the service is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingResponse {
    /// [`PING_RESPONSE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The service's name (its kind, shared by every instance).
    pub name: String,
    /// This instance's id.
    pub id: String,
    /// The service's semantic version.
    pub version: String,
    /// The service's metadata.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub metadata: HashMap<String, String>,
}

/// One endpoint in an INFO answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointInfo {
    /// The endpoint's name.
    pub name: String,
    /// The subject it listens on.
    pub subject: String,
    /// Its queue group; empty when it has none.
    #[serde(default)]
    pub queue_group: String,
    /// Its metadata.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub metadata: HashMap<String, String>,
}

/// A `$SRV.INFO` answer: the service and its endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoResponse {
    /// [`INFO_RESPONSE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The service's name.
    pub name: String,
    /// This instance's id.
    pub id: String,
    /// The service's version.
    pub version: String,
    /// The service's metadata.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub metadata: HashMap<String, String>,
    /// The description, empty if none.
    #[serde(default)]
    pub description: String,
    /// Every endpoint, including those added after the start.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub endpoints: Vec<EndpointInfo>,
}

/// One endpoint in a STATS answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointStats {
    /// The endpoint's name.
    pub name: String,
    /// The subject it listens on.
    pub subject: String,
    /// Its queue group; empty when it has none.
    #[serde(default)]
    pub queue_group: String,
    /// Requests taken from the endpoint.
    pub num_requests: u64,
    /// Requests answered with a service error.
    pub num_errors: u64,
    /// The last error as `code:description`; empty if none.
    #[serde(default)]
    pub last_error: String,
    /// Total time from taking a request to answering it, in nanoseconds.
    pub processing_time: u64,
    /// `processing_time / num_requests`, truncated; 0 without requests.
    pub average_processing_time: u64,
    /// The endpoint's custom stats data, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

/// A `$SRV.STATS` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsResponse {
    /// [`STATS_RESPONSE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The service's name.
    pub name: String,
    /// This instance's id.
    pub id: String,
    /// The service's version.
    pub version: String,
    /// The service's metadata.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub metadata: HashMap<String, String>,
    /// Per-endpoint counters.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub endpoints: Vec<EndpointStats>,
    /// When the service started, RFC 3339 in UTC.
    pub started: String,
}

/// `null` (which some clients send for an empty map or list) as the empty value.
fn null_as_empty<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_written_by_nats_go_are_read() {
        // The shapes nats.go's micro package sends (null metadata, no queue group, no data).
        let stats: StatsResponse = serde_json::from_str(
            r#"{"name":"calc","id":"ID1","version":"1.0.0","metadata":null,
                "type":"io.nats.micro.v1.stats_response","started":"2026-12-01T10:00:00.5Z",
                "endpoints":[{"name":"add","subject":"calc.add","queue_group":"q",
                "num_requests":3,"num_errors":1,"last_error":"400:bad input",
                "processing_time":3000,"average_processing_time":1000}]}"#,
        )
        .unwrap();
        assert_eq!(stats.endpoints[0].last_error, "400:bad input");
        assert!(stats.metadata.is_empty());
        let info: InfoResponse = serde_json::from_str(
            r#"{"name":"calc","id":"ID1","version":"1.0.0","type":"io.nats.micro.v1.info_response",
                "description":"","metadata":{"a":"b"},
                "endpoints":[{"name":"add","subject":"calc.add","metadata":null}]}"#,
        )
        .unwrap();
        assert_eq!(info.endpoints[0].queue_group, "");
        assert_eq!(info.metadata["a"], "b");
    }

    #[test]
    fn responses_are_written_with_the_adr_field_names() {
        let ping = PingResponse {
            kind: PING_RESPONSE.into(),
            name: "echo".into(),
            id: "X".into(),
            version: "0.1.0".into(),
            metadata: HashMap::new(),
        };
        let json: serde_json::Value = serde_json::to_value(&ping).unwrap();
        assert_eq!(json["type"], PING_RESPONSE);
        assert_eq!(json["metadata"], serde_json::json!({}));
    }
}

//! The Key-Value wire format (ADR-8), sans-IO: names and subjects, the headers each
//! operation sends, and entries read back from stored or delivered messages. The blocking
//! [`Store`](super::Store) and any async layer share these functions.

use std::time::Duration;

use time::OffsetDateTime;

use natsy::HeaderMap;

use super::error::KvError;
use crate::error::Error;
use crate::stored::StoredMessage;

/// The header naming a delete or purge marker.
pub(crate) const KV_OPERATION: &str = "KV-Operation";
/// The rollup header a purge sends (`sub`: keep only this message on its subject).
pub(crate) const NATS_ROLLUP: &str = "Nats-Rollup";
/// The per-message TTL header (nats-server 2.11+).
pub(crate) const NATS_TTL: &str = "Nats-TTL";
/// Why the server placed a limit marker (2.11+).
pub(crate) const NATS_MARKER_REASON: &str = "Nats-Marker-Reason";
/// The most history a bucket may keep per key (ADR-8).
pub const MAX_HISTORY: i64 = 64;

/// What wrote an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// A value was put.
    Put,
    /// The key was deleted (a `KV-Operation: DEL` marker).
    Delete,
    /// The key was purged (a `KV-Operation: PURGE` marker, rolled up).
    Purge,
}

impl Operation {
    /// Reads `KV-Operation` from headers: no header (or an unknown value) is a put.
    /// A server-placed limit marker (2.11+, `Nats-Marker-Reason`) counts as a purge
    /// (`MaxAge`, `Purge`) or a delete (`Remove`), as in nats.go.
    pub(crate) fn from_headers(headers: Option<&HeaderMap>) -> Operation {
        let Some(h) = headers else {
            return Operation::Put;
        };
        Operation::from_values(h.get(KV_OPERATION), h.get(NATS_MARKER_REASON))
    }

    /// The operation of the `KV-Operation` and `Nats-Marker-Reason` header values.
    fn from_values(operation: Option<&str>, marker_reason: Option<&str>) -> Operation {
        match operation.map(str::trim) {
            Some("DEL") => return Operation::Delete,
            Some("PURGE") => return Operation::Purge,
            _ => {}
        }
        match marker_reason.map(str::trim) {
            Some("MaxAge") | Some("Purge") => Operation::Purge,
            Some("Remove") => Operation::Delete,
            _ => Operation::Put,
        }
    }

    /// The header value of a marker (`None` for a put).
    pub(crate) fn header_value(self) -> Option<&'static str> {
        match self {
            Operation::Put => None,
            Operation::Delete => Some("DEL"),
            Operation::Purge => Some("PURGE"),
        }
    }
}

/// One revision of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The value (empty for delete and purge markers).
    pub value: bytes::Bytes,
    /// The revision: the stream sequence that stored it.
    pub revision: u64,
    /// How many newer entries follow it in a watch (0: the latest when it was read).
    pub delta: u64,
    /// When it was stored.
    pub created: OffsetDateTime,
    /// Put, delete or purge.
    pub operation: Operation,
}

/// Checks a bucket name: `[a-zA-Z0-9_-]+`.
pub(crate) fn check_bucket(bucket: &str) -> Result<(), KvError> {
    if bucket.is_empty()
        || !bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(KvError::InvalidBucketName);
    }
    Ok(())
}

/// Checks a key: `[-/_=.a-zA-Z0-9]+`, not starting or ending with `.` (ADR-8).
pub(crate) fn check_key(key: &str) -> Result<(), KvError> {
    check_key_chars(key, false)
}

/// Checks a key pattern for watching and listing: also `*` and `>` as whole tokens.
pub(crate) fn check_key_pattern(pattern: &str) -> Result<(), KvError> {
    check_key_chars(pattern, true)?;
    if pattern
        .split('.')
        .any(|t| t.len() > 1 && (t.contains('*') || t.contains('>')))
    {
        return Err(KvError::InvalidKey);
    }
    if let Some(i) = pattern.find('>') {
        if i != pattern.len() - 1 {
            return Err(KvError::InvalidKey);
        }
    }
    Ok(())
}

fn check_key_chars(key: &str, wildcards: bool) -> Result<(), KvError> {
    let ok = |b: u8| {
        b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'/' | b'_' | b'=' | b'.')
            || (wildcards && matches!(b, b'*' | b'>'))
    };
    if key.is_empty()
        || key.starts_with('.')
        || key.ends_with('.')
        || key.contains("..")
        || !key.bytes().all(ok)
    {
        return Err(KvError::InvalidKey);
    }
    Ok(())
}

/// `KV_<bucket>`.
pub(crate) fn stream_name(bucket: &str) -> String {
    format!("KV_{bucket}")
}

/// `$KV.<bucket>.`.
pub(crate) fn subject_prefix(bucket: &str) -> String {
    format!("$KV.{bucket}.")
}

/// The headers of a put (`ttl`), delete or purge marker.
pub(crate) fn headers(op: Operation, ttl: Option<Duration>) -> Result<Option<HeaderMap>, KvError> {
    if op == Operation::Put && ttl.is_none() {
        return Ok(None);
    }
    let mut h = HeaderMap::new();
    let bad = |_| KvError::InvalidConfig("header");
    if let Some(v) = op.header_value() {
        h.insert(KV_OPERATION, v).map_err(bad)?;
    }
    if op == Operation::Purge {
        h.insert(NATS_ROLLUP, "sub").map_err(bad)?;
    }
    if let Some(ttl) = ttl {
        h.insert(NATS_TTL, &ttl_header(ttl)?).map_err(bad)?;
    }
    Ok(Some(h))
}

/// `Nats-TTL` in whole seconds (`"90s"`); the server refuses less than a second.
pub(crate) fn ttl_header(ttl: Duration) -> Result<String, KvError> {
    if ttl < Duration::from_secs(1) {
        return Err(KvError::InvalidConfig("a per-key TTL is at least 1 s"));
    }
    Ok(format!("{}s", ttl.as_secs()))
}

/// Whether a server version (`2.11.0`, `2.12.1-RC.1`) has per-message TTLs (2.11+).
pub(crate) fn supports_ttl(version: &str) -> bool {
    let mut parts = version.trim_start_matches('v').split(['.', '-']);
    let major = parts
        .next()
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(0);
    let minor = parts
        .next()
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(0);
    (major, minor) >= (2, 11)
}

/// An entry from a stored message (direct get or `STREAM.MSG.GET`), whose subject must be
/// `<prefix><key>`.
pub(crate) fn entry_from_stored(
    bucket: &str,
    prefix: &str,
    msg: StoredMessage,
) -> Result<Entry, KvError> {
    let key = msg
        .subject
        .strip_prefix(prefix)
        .ok_or(KvError::KeyNotFound)?
        .to_string();
    Ok(Entry {
        bucket: bucket.to_string(),
        key,
        operation: Operation::from_headers(Some(&msg.headers)),
        value: msg.payload,
        revision: msg.sequence,
        delta: 0,
        created: msg.time,
    })
}

/// The value in a direct-get reply for the last message of a key, read in place: `None`
/// when the key was never written (`404`) or its last entry is a delete or purge marker.
/// The hot path of `get`: no header map, no JSON, no copy of the value; any other status
/// is the error [`from_direct_reply`](crate::stored::from_direct_reply) reads from it.
pub(crate) fn value_from_direct(
    msg: &natsy::proto::Message,
) -> Result<Option<bytes::Bytes>, Error> {
    let Some(block) = msg.header_block() else {
        return Err(Error::InvalidResponse(
            "direct get reply without headers".into(),
        ));
    };
    if let Some(status) = msg.status() {
        if status.as_u16() == 404 {
            return Ok(None);
        }
        return Err(match crate::stored::from_direct_reply(msg) {
            Err(e) => e,
            Ok(_) => Error::InvalidResponse(format!("direct get: status {}", status.as_u16())),
        });
    }
    let (mut operation, mut reason, mut stream) = (None, None, false);
    for (name, value) in header_lines(block) {
        if name.eq_ignore_ascii_case(KV_OPERATION) {
            operation = Some(value);
        } else if name.eq_ignore_ascii_case(NATS_MARKER_REASON) {
            reason = Some(value);
        } else if name.eq_ignore_ascii_case("Nats-Stream") {
            stream = true;
        }
    }
    // Every direct-get answer names its stream: without it, this is no such answer.
    if !stream {
        return Err(Error::InvalidResponse(
            "direct get reply lacks Nats-Stream".into(),
        ));
    }
    Ok(match Operation::from_values(operation, reason) {
        Operation::Put => Some(msg.payload_bytes()),
        Operation::Delete | Operation::Purge => None,
    })
}

/// The `name: value` lines of a header block after its version line, borrowed; lines
/// that are not UTF-8 or lack a colon are skipped (this reader looks for a few known
/// names only).
fn header_lines(block: &[u8]) -> impl Iterator<Item = (&str, &str)> {
    block.split(|&b| b == b'\n').skip(1).filter_map(|line| {
        let line = std::str::from_utf8(line).ok()?;
        let (name, value) = line.split_once(':')?;
        Some((name.trim(), value.trim()))
    })
}

/// An entry from a message an ordered consumer delivered.
pub(crate) fn entry_from_delivery(
    bucket: &str,
    prefix: &str,
    msg: &natsy::Message,
    stream_seq: u64,
    pending: u64,
    timestamp_ns: u64,
) -> Entry {
    let key = msg.subject().strip_prefix(prefix).unwrap_or(msg.subject());
    let headers = msg.headers().ok().flatten();
    Entry {
        bucket: bucket.to_string(),
        key: key.to_string(),
        operation: Operation::from_headers(headers.as_ref()),
        value: msg.payload_bytes(),
        revision: stream_seq,
        delta: pending,
        created: crate::wire::from_unix_nanos(timestamp_ns),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_adr8() {
        for good in ["a", "a.b", "A-Z_0=9/x", "config.db.url", "_x"] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in ["", ".a", "a.", "a..b", "a b", "a*", "a>", "ä", "a\r\n"] {
            assert_eq!(check_key(bad), Err(KvError::InvalidKey), "{bad:?}");
        }
        for good in ["a.*", ">", "a.>", "*.b", "a"] {
            assert!(check_key_pattern(good).is_ok(), "{good}");
        }
        for bad in ["a*", "a.>.b", "a.b>", ""] {
            assert_eq!(check_key_pattern(bad), Err(KvError::InvalidKey), "{bad:?}");
        }
        assert!(check_bucket("my-bucket_1").is_ok());
        for bad in ["", "a.b", "a b", "a*", "a>"] {
            assert_eq!(
                check_bucket(bad),
                Err(KvError::InvalidBucketName),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn markers_carry_the_operation_and_purge_rolls_up() {
        assert_eq!(headers(Operation::Put, None).unwrap(), None);
        let del = headers(Operation::Delete, None).unwrap().unwrap();
        assert_eq!(del.get(KV_OPERATION), Some("DEL"));
        assert_eq!(del.get(NATS_ROLLUP), None);
        let purge = headers(Operation::Purge, Some(Duration::from_secs(90)))
            .unwrap()
            .unwrap();
        assert_eq!(purge.get(KV_OPERATION), Some("PURGE"));
        assert_eq!(purge.get(NATS_ROLLUP), Some("sub"));
        assert_eq!(purge.get(NATS_TTL), Some("90s"));
        assert_eq!(Operation::from_headers(Some(&del)), Operation::Delete);
        assert_eq!(Operation::from_headers(None), Operation::Put);
        assert!(ttl_header(Duration::from_millis(10)).is_err());
        let mut marker = HeaderMap::new();
        marker.insert(NATS_MARKER_REASON, "MaxAge").unwrap();
        assert_eq!(Operation::from_headers(Some(&marker)), Operation::Purge);
        marker.insert(NATS_MARKER_REASON, "Remove").unwrap();
        assert_eq!(Operation::from_headers(Some(&marker)), Operation::Delete);
    }

    fn reply(headers: &str, payload: &str) -> natsy::proto::Message {
        let frame = format!("_INBOX.x{headers}{payload}");
        let h = 8..8 + headers.len();
        let p = h.end..frame.len();
        natsy::proto::Message::from_parts(bytes::Bytes::from(frame), 1, 0..8, None, Some(h), p)
    }

    #[test]
    fn a_direct_get_value_is_read_in_place() {
        let put =
            "NATS/1.0\r\nNats-Stream: KV_b\r\nNats-Subject: $KV.b.k\r\nNats-Sequence: 3\r\n\r\n";
        assert_eq!(
            value_from_direct(&reply(put, "v1")).unwrap().as_deref(),
            Some(&b"v1"[..])
        );
        let del = "NATS/1.0\r\nNats-Stream: KV_b\r\nKV-Operation: DEL\r\n\r\n";
        assert_eq!(value_from_direct(&reply(del, "")).unwrap(), None);
        let purge = "NATS/1.0\r\nNats-Stream: KV_b\r\nKV-Operation:PURGE\r\n\r\n";
        assert_eq!(value_from_direct(&reply(purge, "")).unwrap(), None);
        let limit = "NATS/1.0\r\nNats-Stream: KV_b\r\nNats-Marker-Reason: MaxAge\r\n\r\n";
        assert_eq!(value_from_direct(&reply(limit, "")).unwrap(), None);
        let missing = "NATS/1.0 404 Message Not Found\r\n\r\n";
        assert_eq!(value_from_direct(&reply(missing, "")).unwrap(), None);
        let refused = "NATS/1.0 408 Bad Request\r\n\r\n";
        assert!(matches!(
            value_from_direct(&reply(refused, "")),
            Err(Error::Api(a)) if a.code == 408
        ));
        // Not a direct-get answer: no headers, or none naming the stream.
        assert!(value_from_direct(&reply("", "v")).is_err());
        let foreign = "NATS/1.0\r\nX: y\r\n\r\n";
        assert!(value_from_direct(&reply(foreign, "v")).is_err());
    }

    #[test]
    fn ttl_needs_2_11() {
        assert!(supports_ttl("2.11.0"));
        assert!(supports_ttl("2.15.1"));
        assert!(supports_ttl("v2.12.0-RC.1"));
        assert!(supports_ttl("3.0.0"));
        assert!(!supports_ttl("2.10.24"));
        assert!(!supports_ttl("garbage"));
    }
}

//! The object store's wire format (ADR-20), shared by the blocking and async stores:
//! [`ObjectInfo`] as the JSON every client writes to `$O.<bucket>.M.<base64url(name)>`,
//! [`ObjectMeta`] (what a caller describes an object with), links, subjects, names and
//! the `SHA-256=<base64url>` digest.

use std::collections::HashMap;

use base64::Engine as _;
use natsy::HeaderMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use super::error::ObjectError;

/// The chunk size when none is given: 128 KiB (nats.go `objDefaultChunkSize`).
pub const DEFAULT_CHUNK_SIZE: u32 = 128 * 1024;

/// The digest prefix of ADR-20 (`SHA-256=`).
const DIGEST_PREFIX: &str = "SHA-256=";

/// What describes an object: name, description, headers, metadata, chunk size. The
/// argument of [`ObjectStore::put`](super::ObjectStore::put) and
/// [`update_meta`](super::ObjectStore::update_meta); a `&str` or `String` is a name
/// alone. nats.go: `ObjectMeta`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectMeta {
    /// The object's name: any non-empty UTF-8 (it is base64url-encoded into the subject).
    pub name: String,
    /// A description.
    pub description: Option<String>,
    /// Headers stored with the object (nats.go `Headers`).
    pub headers: HeaderMap,
    /// Free-form metadata (nats.go `Metadata`).
    pub metadata: HashMap<String, String>,
    /// The chunk size of a put, in bytes (default [`DEFAULT_CHUNK_SIZE`]); ignored by
    /// `update_meta`. nats.go: `Opts.ChunkSize`.
    pub chunk_size: Option<u32>,
}

impl ObjectMeta {
    /// A description of object `name` with nothing else set.
    pub fn new(name: &str) -> Self {
        ObjectMeta {
            name: name.to_string(),
            ..Default::default()
        }
    }
}

impl From<&str> for ObjectMeta {
    fn from(name: &str) -> Self {
        ObjectMeta::new(name)
    }
}

impl From<String> for ObjectMeta {
    fn from(name: String) -> Self {
        ObjectMeta {
            name,
            ..Default::default()
        }
    }
}

/// Where a link points: a whole bucket (`name` is `None`) or one object in a bucket.
/// nats.go: `ObjectLink`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLink {
    /// The bucket linked to.
    pub bucket: String,
    /// The object linked to; `None` for a link to the whole bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The `options` of an object's info. nats.go: `ObjectMetaOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectOptions {
    /// Set when the object is a link.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "null_as_default"
    )]
    pub link: Option<ObjectLink>,
    /// The chunk size the object was stored with (0: unknown; async-nats writes
    /// `null`).
    #[serde(
        default,
        rename = "max_chunk_size",
        skip_serializing_if = "is_zero",
        deserialize_with = "null_as_default"
    )]
    pub chunk_size: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// What the store knows of an object: its meta, where its chunks are, its size, chunk
/// count, digest and modification time, or that it was deleted. The JSON of the meta
/// message, field for field the one nats.go and async-nats write (`ObjectInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ObjectInfo {
    /// The object's name.
    pub name: String,
    /// Its description.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "null_as_default"
    )]
    pub description: Option<String>,
    /// Its headers.
    #[serde(
        default,
        skip_serializing_if = "HeaderMap::is_empty",
        serialize_with = "headers_out",
        deserialize_with = "headers_in"
    )]
    pub headers: HeaderMap,
    /// Its metadata.
    #[serde(
        default,
        skip_serializing_if = "HashMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub metadata: HashMap<String, String>,
    /// Its options: chunk size, and the target when it is a link.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "null_as_default"
    )]
    pub options: Option<ObjectOptions>,
    /// The bucket it is in.
    pub bucket: String,
    /// The unique id of its chunks: they are on `$O.<bucket>.C.<nuid>`.
    pub nuid: String,
    /// Its size in bytes.
    #[serde(default)]
    pub size: u64,
    /// When it was stored or changed (the Unix epoch when a writer left it out, which
    /// async-nats's `Option` allows).
    #[serde(
        serialize_with = "time::serde::rfc3339::serialize",
        deserialize_with = "mtime_in",
        default = "epoch"
    )]
    pub mtime: OffsetDateTime,
    /// How many chunks it has.
    #[serde(default)]
    pub chunks: u64,
    /// `SHA-256=<base64url of the digest>`; `None` for a link or a deleted object.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "null_as_default"
    )]
    pub digest: Option<String>,
    /// True for the marker a delete leaves.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

impl ObjectInfo {
    /// Where it links to, when it is a link.
    pub fn link(&self) -> Option<&ObjectLink> {
        self.options.as_ref().and_then(|o| o.link.as_ref())
    }

    /// True when it is a link (to an object or a bucket).
    pub fn is_link(&self) -> bool {
        self.link().is_some()
    }

    /// The chunk size it was stored with (the default when unknown).
    pub fn chunk_size(&self) -> u32 {
        match self.options.as_ref().map(|o| o.chunk_size) {
            Some(n) if n > 0 => n,
            _ => DEFAULT_CHUNK_SIZE,
        }
    }

    /// The info as the meta message's payload.
    pub(crate) fn to_json(&self) -> Result<Vec<u8>, ObjectError> {
        serde_json::to_vec(self).map_err(|e| ObjectError::InvalidInfo(e.to_string()))
    }

    /// Reads a meta message's payload.
    pub(crate) fn from_json(payload: &[u8]) -> Result<ObjectInfo, ObjectError> {
        serde_json::from_slice(payload).map_err(|e| ObjectError::InvalidInfo(e.to_string()))
    }
}

fn null_as_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn epoch() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH
}

fn mtime_in<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
    Ok(time::serde::rfc3339::option::deserialize(d)?.unwrap_or(OffsetDateTime::UNIX_EPOCH))
}

/// Headers as Go's `nats.Header` marshals: `{"Name": ["value", ...]}`.
fn headers_out<S: Serializer>(h: &HeaderMap, s: S) -> Result<S::Ok, S::Error> {
    let mut map: Vec<(&str, Vec<&str>)> = Vec::new();
    for (name, value) in h.iter() {
        match map.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => map.push((name, vec![value])),
        }
    }
    s.collect_map(map)
}

fn headers_in<'de, D: Deserializer<'de>>(d: D) -> Result<HeaderMap, D::Error> {
    let map: Option<HashMap<String, Vec<String>>> = Option::deserialize(d)?;
    let mut h = HeaderMap::new();
    for (name, values) in map.unwrap_or_default() {
        for v in values {
            h.append(&name, &v).map_err(serde::de::Error::custom)?;
        }
    }
    Ok(h)
}

/// `OBJ_<bucket>`.
pub(crate) fn stream_name(bucket: &str) -> String {
    format!("OBJ_{bucket}")
}

/// `$O.<bucket>.C.<nuid>`: where an object's chunks are.
pub(crate) fn chunk_subject(bucket: &str, nuid: &str) -> String {
    format!("$O.{bucket}.C.{nuid}")
}

/// `$O.<bucket>.M.<base64url(name)>`: where an object's info is (URL-safe base64 with
/// padding, as nats.go's `base64.URLEncoding`).
pub(crate) fn meta_subject(bucket: &str, name: &str) -> String {
    let encoded = base64::engine::general_purpose::URL_SAFE.encode(name.as_bytes());
    format!("$O.{bucket}.M.{encoded}")
}

/// Every info subject of `bucket`.
pub(crate) fn all_meta(bucket: &str) -> String {
    format!("$O.{bucket}.M.>")
}

/// Every chunk subject of `bucket`.
pub(crate) fn all_chunks(bucket: &str) -> String {
    format!("$O.{bucket}.C.>")
}

/// [`ObjectError::InvalidBucketName`] unless `[a-zA-Z0-9_-]+`.
pub(crate) fn check_bucket(bucket: &str) -> Result<(), ObjectError> {
    let ok = !bucket.is_empty()
        && bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ObjectError::InvalidBucketName)
    }
}

/// [`ObjectError::InvalidName`] for an empty name.
pub(crate) fn check_name(name: &str) -> Result<(), ObjectError> {
    if name.is_empty() {
        Err(ObjectError::InvalidName)
    } else {
        Ok(())
    }
}

/// `SHA-256=<base64url>` of a finished digest.
pub(crate) fn format_digest(sum: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE.encode(sum);
    format!("{DIGEST_PREFIX}{b64}")
}

/// The 32 bytes of a `SHA-256=<base64url>` digest (padded or not; standard base64 is
/// accepted too, which some early clients wrote).
pub(crate) fn parse_digest(digest: &str) -> Result<[u8; 32], ObjectError> {
    let bad = || ObjectError::InvalidDigest(digest.to_string());
    let b64 = digest.strip_prefix(DIGEST_PREFIX).ok_or_else(bad)?;
    let engines = [
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
    ];
    let bytes = engines
        .iter()
        .find_map(|e| e.decode(b64).ok())
        .ok_or_else(bad)?;
    bytes.try_into().map_err(|_| bad())
}

/// The `Nats-Rollup: sub` header every info is published with, so the subject keeps
/// only the newest info.
pub(crate) fn rollup_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    // Constant, valid name and value: this cannot fail.
    let _ = h.insert("Nats-Rollup", "sub");
    h
}

/// The last token of a new inbox: a fresh NUID from the connection's generator.
pub(crate) fn nuid_from_inbox(inbox: &str) -> String {
    inbox.rsplit('.').next().unwrap_or(inbox).to_string()
}

/// Now, in UTC (nats.go stores `time.Now().UTC()`).
pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_names_match_adr20() {
        assert_eq!(stream_name("files"), "OBJ_files");
        assert_eq!(chunk_subject("files", "ABC"), "$O.files.C.ABC");
        // nats.go: base64.URLEncoding (padded).
        assert_eq!(meta_subject("files", "a"), "$O.files.M.YQ==");
        assert_eq!(meta_subject("files", "??>"), "$O.files.M.Pz8-");
        assert!(check_bucket("ok_bucket-1").is_ok());
        assert!(check_bucket("no.dots").is_err());
        assert!(check_bucket("").is_err());
        assert!(check_name("").is_err());
    }

    #[test]
    fn digests_round_trip_and_bad_ones_are_typed() {
        use sha2::Digest as _;
        let sum = sha2::Sha256::digest(b"");
        let text = format_digest(&sum);
        assert_eq!(text, "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=");
        assert_eq!(parse_digest(&text).unwrap()[..], sum[..]);
        assert_eq!(
            parse_digest("SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU").unwrap()[..],
            sum[..]
        );
        assert!(matches!(
            parse_digest("MD5=abc"),
            Err(ObjectError::InvalidDigest(_))
        ));
        assert!(matches!(
            parse_digest("SHA-256=YQ=="),
            Err(ObjectError::InvalidDigest(_))
        ));
    }

    #[test]
    fn info_reads_what_nats_go_writes() {
        let go = br#"{"name":"photo.jpg","description":"d","headers":{"X-A":["1","2"]},
            "options":{"max_chunk_size":131072},"bucket":"b","nuid":"N1","size":5,
            "mtime":"2024-05-06T07:08:09.123456789Z","chunks":1,
            "digest":"SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU="}"#;
        let info = ObjectInfo::from_json(go).unwrap();
        assert_eq!(info.name, "photo.jpg");
        assert_eq!(info.headers.get_all("X-A").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(info.chunk_size(), 131072);
        assert_eq!(info.mtime.nanosecond(), 123456789);
        assert!(!info.deleted && !info.is_link());
        let back = ObjectInfo::from_json(&info.to_json().unwrap()).unwrap();
        assert_eq!(back, info);
        // async-nats writes nulls for absent options.
        let rs = br#"{"name":"x","description":null,"headers":null,"metadata":null,
            "options":{"link":{"bucket":"o","name":"y"},"max_chunk_size":null},"bucket":"b",
            "nuid":"N","size":0,"mtime":null,"chunks":0,"digest":null,"deleted":false}"#;
        let link = ObjectInfo::from_json(rs).unwrap();
        assert_eq!(
            link.link(),
            Some(&ObjectLink {
                bucket: "o".into(),
                name: Some("y".into())
            })
        );
        assert_eq!(link.mtime, OffsetDateTime::UNIX_EPOCH);
        let json = String::from_utf8(link.to_json().unwrap()).unwrap();
        assert!(
            !json.contains("null") && !json.contains("deleted"),
            "{json}"
        );
        assert!(matches!(
            ObjectInfo::from_json(b"{}"),
            Err(ObjectError::InvalidInfo(_))
        ));
    }
}

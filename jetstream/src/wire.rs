//! Wire encodings shared by the stream and account types: durations as integer
//! nanoseconds, RFC 3339 timestamps (Go's zero time as "none" where it means "never"),
//! and `null` lists.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// `Duration` as integer nanoseconds (`#[serde(with = "crate::wire::nanos")]`).
/// Negative values from the server read as zero; durations past `u64` nanoseconds
/// (584 years) are sent as `u64::MAX`.
pub(crate) mod nanos {
    use super::*;

    /// Nanoseconds of `d`, saturating at `u64::MAX`.
    pub(crate) fn of(d: Duration) -> u64 {
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    }

    fn from_i64(n: i64) -> Duration {
        Duration::from_nanos(u64::try_from(n).unwrap_or(0))
    }

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(of(*d))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(from_i64(i64::deserialize(d)?))
    }

    /// `Option<Duration>` (`#[serde(with = "crate::wire::nanos::option")]`).
    pub(crate) mod option {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(
            d: &Option<Duration>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => s.serialize_u64(of(*d)),
                None => s.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<Duration>, D::Error> {
            Ok(Option::<i64>::deserialize(d)?.map(from_i64))
        }
    }

    /// `Vec<Duration>`, `null` reading as empty (`#[serde(with = "crate::wire::nanos::vec")]`).
    pub(crate) mod vec {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(v: &[Duration], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(v.iter().map(|d| of(*d)))
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Vec<Duration>, D::Error> {
            Ok(Option::<Vec<i64>>::deserialize(d)?
                .unwrap_or_default()
                .into_iter()
                .map(from_i64)
                .collect())
        }
    }
}

/// True for a zero duration (used to skip serializing unset durations).
pub(crate) fn is_zero(d: &Duration) -> bool {
    d.is_zero()
}

/// True for `false` (used to skip serializing unset flags).
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

/// A list the server may send as `null` (a Go nil slice): `null` reads as empty.
pub(crate) fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A map the server may send as `null` (a Go nil map): `null` reads as empty.
pub(crate) fn null_as_empty_map<'de, D, K, V>(
    d: D,
) -> Result<std::collections::HashMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Eq + std::hash::Hash,
    V: Deserialize<'de>,
{
    Ok(Option::<std::collections::HashMap<K, V>>::deserialize(d)?.unwrap_or_default())
}

/// Parses an RFC 3339 timestamp (`2024-05-01T10:00:00.123456789Z`, or with an offset).
pub(crate) fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// The time `nanos` nanoseconds after the Unix epoch (JetStream metadata timestamps).
pub(crate) fn from_unix_nanos(nanos: u64) -> OffsetDateTime {
    // u64 nanoseconds end in 2554, well inside the range `time` represents.
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The seconds of Go's zero time, `0001-01-01T00:00:00Z`, which the server sends for
/// "never" (e.g. the first timestamp of an empty stream).
const GO_ZERO_SECS: i64 = -62_135_596_800;

/// An optional timestamp where Go's zero time (or anything before it) means "none", as
/// in `first_ts` of an empty stream.
pub(crate) mod opt_time {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        let t = time::serde::rfc3339::option::deserialize(d)?;
        Ok(t.filter(|t| t.unix_timestamp() > GO_ZERO_SECS))
    }
}

/// A `Duration` the server sends as signed nanoseconds where a negative value means
/// "never" (`active: -1` of a source that was never heard from): `None` then.
pub(crate) mod since {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<i64>::deserialize(d)?
            .and_then(|n| u64::try_from(n).ok())
            .map(Duration::from_nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_timestamps_parse_with_fractions_and_offsets() {
        let secs = |t: &str| parse_time(t).map(|t| (t.unix_timestamp(), t.nanosecond()));
        assert_eq!(secs("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            secs("2024-02-29T12:34:56.123456789Z"),
            Some((1_709_210_096, 123_456_789))
        );
        assert_eq!(
            secs("2024-02-29T13:34:56.5+01:00"),
            Some((1_709_210_096, 500_000_000))
        );
        assert_eq!(secs("0001-01-01T00:00:00Z"), Some((GO_ZERO_SECS, 0)));
        for bad in [
            "",
            "2024-02-29",
            "2024-02-29T12:34:56",
            "2024-13-01T00:00:00Z",
            "2024-02-29T12:34:56.Z",
            "2024-02-29T12:34:56+0100",
            "2024-02-29T12:34:56Zjunk",
            "\u{ff12}024-02-29T12:34:56Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[derive(serde::Deserialize, serde::Serialize, Debug, PartialEq)]
    struct T {
        #[serde(
            default,
            deserialize_with = "opt_time::deserialize",
            serialize_with = "time::serde::rfc3339::option::serialize",
            skip_serializing_if = "Option::is_none"
        )]
        t: Option<OffsetDateTime>,
        #[serde(default, deserialize_with = "since::deserialize", skip_serializing)]
        active: Option<Duration>,
    }

    #[test]
    fn go_zero_time_and_negative_durations_mean_never() {
        let t: T = serde_json::from_str(r#"{"t":"0001-01-01T00:00:00Z","active":-1}"#).unwrap();
        assert_eq!(
            t,
            T {
                t: None,
                active: None
            }
        );
        let t: T = serde_json::from_str(r#"{"t":null}"#).unwrap();
        assert_eq!(t.t, None);
        let t: T = serde_json::from_str(r#"{"t":"2024-01-02T03:04:05.5Z","active":1500}"#).unwrap();
        assert_eq!(t.t.unwrap().unix_timestamp(), 1_704_164_645);
        assert_eq!(t.active, Some(Duration::from_nanos(1500)));
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"t":"2024-01-02T03:04:05.5Z"}"#
        );
        assert!(serde_json::from_str::<T>(r#"{"t":"yesterday"}"#).is_err());
    }

    #[derive(serde::Deserialize, serde::Serialize)]
    struct D {
        #[serde(with = "nanos")]
        d: Duration,
    }

    #[test]
    fn durations_are_nanoseconds() {
        let d: D = serde_json::from_str(r#"{"d":120000000000}"#).unwrap();
        assert_eq!(d.d, Duration::from_secs(120));
        assert_eq!(serde_json::to_string(&d).unwrap(), r#"{"d":120000000000}"#);
        let d: D = serde_json::from_str(r#"{"d":-1}"#).unwrap();
        assert_eq!(d.d, Duration::ZERO);
        let huge = D {
            d: Duration::from_secs(u64::MAX),
        };
        assert_eq!(
            serde_json::to_string(&huge).unwrap(),
            format!(r#"{{"d":{}}}"#, u64::MAX)
        );
    }
}

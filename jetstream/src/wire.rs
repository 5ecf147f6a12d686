//! Wire encodings shared by the stream and account types: durations as integer
//! nanoseconds, RFC 3339 timestamps, and `null` lists.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serializer};

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

/// Days from 1970-01-01 to the civil date `y-m-d` (proleptic Gregorian calendar).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Reads `N` ASCII digits at `at`.
fn digits(s: &[u8], at: usize, n: usize) -> Option<i64> {
    let part = s.get(at..at.checked_add(n)?)?;
    part.iter().try_fold(0i64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
    })
}

/// Formats a time as RFC 3339 in UTC (`2024-01-31T12:00:00.000000001Z`), for
/// [`crate::ConsumerConfig::opt_start_time`].
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Parses an RFC 3339 timestamp (`2024-05-01T10:00:00.123456789Z`, or with a `+hh:mm`
/// offset) into seconds and nanoseconds since the Unix epoch. `None` when malformed.
pub(crate) fn parse_rfc3339(text: &str) -> Option<(i64, u32)> {
    let s = text.as_bytes();
    let year = digits(s, 0, 4)?;
    let month = digits(s, 5, 2)?;
    let day = digits(s, 8, 2)?;
    let hour = digits(s, 11, 2)?;
    let minute = digits(s, 14, 2)?;
    let second = digits(s, 17, 2)?;
    let seps = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| s.get(i) != Some(&c))
        || !matches!(s.get(10), Some(b'T' | b't' | b' '))
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut at = 19;
    let mut nanos: u32 = 0;
    if s.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while s.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        let frac = s.get(start..at)?;
        if frac.is_empty() {
            return None;
        }
        for (i, &b) in frac.iter().take(9).enumerate() {
            nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
        }
    }
    let offset = match s.get(at..)? {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), ..] if s.len() == at + 6 && s.get(at + 3) == Some(&b':') => {
            let secs = digits(s, at + 1, 2)? * 3600 + digits(s, at + 4, 2)? * 60;
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some((secs, nanos))
}

/// Converts seconds and nanoseconds since the epoch into a `SystemTime`, if representable.
pub(crate) fn to_system_time(secs: i64, nanos: u32) -> Option<SystemTime> {
    if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::new(u64::try_from(secs).ok()?, nanos))
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::from_secs(secs.unsigned_abs()))?
            .checked_add(Duration::from_nanos(u64::from(nanos)))
    }
}

/// Parses an RFC 3339 timestamp into a `SystemTime`.
pub(crate) fn parse_time(text: &str) -> Option<SystemTime> {
    parse_rfc3339(text).and_then(|(s, n)| to_system_time(s, n))
}

/// The seconds of Go's zero time, `0001-01-01T00:00:00Z`, which the server sends for
/// "never" (e.g. the first timestamp of an empty stream).
const GO_ZERO_SECS: i64 = -62_135_596_800;

/// A timestamp where Go's zero time (or anything before 1970) means "none".
pub(crate) mod opt_time {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        match parse_rfc3339(&text) {
            Some((secs, _)) if secs <= GO_ZERO_SECS => Ok(None),
            Some((secs, nanos)) => Ok(to_system_time(secs, nanos)),
            None => Err(serde::de::Error::custom(format!(
                "invalid timestamp {text:?}"
            ))),
        }
    }
}

/// A required timestamp.
pub(crate) mod time {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        parse_time(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid timestamp {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_timestamps_parse_with_fractions_and_offsets() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:34:56.123456789Z"),
            Some((1_709_210_096, 123_456_789))
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T13:34:56.5+01:00"),
            Some((1_709_210_096, 500_000_000))
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T11:34:56.0000000001-01:00"),
            Some((1_709_210_096, 0))
        );
        assert_eq!(
            parse_rfc3339("0001-01-01T00:00:00Z"),
            Some((GO_ZERO_SECS, 0))
        );
        for bad in [
            "",
            "2024-02-29",
            "2024-02-29T12:34:56",
            "2024-13-01T00:00:00Z",
            "2024-02-29T12:34:56.Z",
            "2024-02-29T12:34:56+0100",
            "2024-02-29T12:34:56Zjunk",
            "2024-02-29x12:34:56Z",
            "２024-02-29T12:34:56Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(
            parse_time("1970-01-01T00:00:01.25Z"),
            Some(UNIX_EPOCH + Duration::from_millis(1250))
        );
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

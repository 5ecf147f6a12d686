//! NATS headers: [`HeaderMap`], the `NATS/1.0` status line, parsing and encoding.
//!
//! This module owns the header block format of `HPUB`/`HMSG` (digest §3):
//!
//! ```text
//! NATS/1.0[ <3-digit code>[ <description>]]\r\n
//! Name: value\r\n          (zero or more, one line per value)
//! \r\n
//! ```
//!
//! Names keep their case and compare case-sensitively (ADR-4: `foo` and `Foo` are two
//! different headers; nothing is canonicalized HTTP-style). A name may have several
//! values, kept in insertion order and written one line each, never comma-joined.
//!
//! ```
//! use natsy_proto::headers::{parse_block, HeaderMap};
//! use bytes::BytesMut;
//!
//! let mut h = HeaderMap::new();
//! h.insert("Nats-Msg-Id", "order-17").unwrap();
//! h.append("Tag", "a").unwrap();
//! h.append("Tag", "b").unwrap();
//!
//! let mut buf = BytesMut::new();
//! h.encode(&mut buf);
//! assert_eq!(&buf[..], b"NATS/1.0\r\nNats-Msg-Id: order-17\r\nTag: a\r\nTag: b\r\n\r\n");
//! assert_eq!(buf.len(), h.encoded_len());
//!
//! let block = parse_block(&buf).unwrap();
//! assert_eq!(block.status, None);
//! assert_eq!(block.headers, h);
//! assert_eq!(block.headers.get_all("Tag").collect::<Vec<_>>(), ["a", "b"]);
//! ```

use std::fmt;

use bytes::BytesMut;

use crate::error::{HeaderError, ValidationError};

/// The version token every header block starts with.
const VERSION: &[u8] = b"NATS/1.0";

/// A status code from a header block's first line (`NATS/1.0 503`).
///
/// `Display` prints the three digits (`503`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(pub u16);

impl StatusCode {
    /// 100: JetStream idle heartbeat or flow control request.
    pub const IDLE_HEARTBEAT: StatusCode = StatusCode(100);
    /// 400: bad request.
    pub const BAD_REQUEST: StatusCode = StatusCode(400);
    /// 404: no messages / not found.
    pub const NOT_FOUND: StatusCode = StatusCode(404);
    /// 408: request timeout.
    pub const REQUEST_TIMEOUT: StatusCode = StatusCode(408);
    /// 409: conflict (max bytes, max waiting, leadership change, consumer deleted, ...).
    pub const CONFLICT: StatusCode = StatusCode(409);
    /// 503: no responders.
    pub const NO_RESPONDERS: StatusCode = StatusCode(503);

    /// The code as a number.
    ///
    /// ```
    /// assert_eq!(natsy_proto::StatusCode::NO_RESPONDERS.as_u16(), 503);
    /// ```
    pub const fn as_u16(self) -> u16 {
        self.0
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

impl From<StatusCode> for u16 {
    fn from(code: StatusCode) -> u16 {
        code.0
    }
}

/// Header names and values; names case-sensitive, several values per name.
///
/// Every entry is validated when it is added, so a `HeaderMap` always encodes to a valid
/// block: names are ASCII 33..=126 without `:`, values contain no CR or LF.
///
/// Receivers trim leading and trailing spaces and tabs from values (nats.go does too), so
/// the map stores values trimmed: what you put in is what the receiver gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMap {
    entries: Vec<(String, String)>,
}

/// A parsed header block: status line and headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderBlock {
    /// The status code, if the first line has one.
    pub status: Option<StatusCode>,
    /// The status description, if the first line has one.
    pub description: Option<String>,
    /// The headers.
    pub headers: HeaderMap,
}

/// True for a byte allowed in a header name: printable ASCII except `:`.
#[inline]
fn is_name_byte(b: u8) -> bool {
    (33..=126).contains(&b) && b != b':'
}

/// True for the whitespace trimmed around values and the status.
#[inline]
fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `s` without leading and trailing spaces and tabs.
fn trim_blanks(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_blank(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_blank(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// Splits off the first line: the bytes before the next LF (without a CR right before
/// it) and the bytes after the LF. `None` when there is no LF.
fn split_line(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let lf = memchr::memchr(b'\n', buf)?;
    let (line, rest) = buf.split_at(lf);
    let rest = rest.get(1..).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Some((line, rest))
}

/// Parses the text after `NATS/1.0` on the first line: status and description.
fn parse_status_line(
    after_version: &[u8],
) -> Result<(Option<StatusCode>, Option<String>), HeaderError> {
    match after_version.first() {
        None => return Ok((None, None)),
        // `NATS/1.01` or `NATS/1.0x`: not our version token.
        Some(&b) if !is_blank(b) => return Err(HeaderError::MissingVersionLine),
        Some(_) => {}
    }
    let text = trim_blanks(after_version);
    if text.is_empty() {
        return Ok((None, None));
    }
    let (digits, rest) = match text {
        [a, b, c, rest @ ..] => ([*a, *b, *c], rest),
        _ => return Err(HeaderError::InvalidStatus),
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(HeaderError::InvalidStatus);
    }
    if let Some(&b) = rest.first() {
        if !is_blank(b) {
            return Err(HeaderError::InvalidStatus);
        }
    }
    let code = digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    let description = trim_blanks(rest);
    let description = if description.is_empty() {
        None
    } else {
        if description.contains(&b'\r') {
            return Err(HeaderError::InvalidValue);
        }
        let text = std::str::from_utf8(description).map_err(|_| HeaderError::InvalidUtf8)?;
        Some(text.to_owned())
    };
    Ok((Some(StatusCode(code)), description))
}

/// Parses a whole header block (`NATS/1.0...` through the empty line).
///
/// Lines end with CRLF; a bare LF is accepted too, as nats.go does. Header values are
/// trimmed of spaces and tabs. Lines with an empty name (`: x`) are skipped, like nats.go.
/// Bytes after the terminating empty line are ignored.
///
/// Errors, never a panic:
/// * [`HeaderError::MissingVersionLine`]: the block does not start with the `NATS/1.0` token;
/// * [`HeaderError::InvalidStatus`]: text after the version that is not a three-digit code;
/// * [`HeaderError::MissingColon`]: a header line without `:`;
/// * [`HeaderError::InvalidName`]: a name byte outside ASCII 33..=126 (e.g. `Foo : x`);
/// * [`HeaderError::InvalidValue`]: a bare CR inside a value or the description;
/// * [`HeaderError::InvalidUtf8`]: a value or description that is not UTF-8;
/// * [`HeaderError::Unterminated`]: the block ends before its empty line.
///
/// ```
/// use natsy_proto::headers::parse_block;
/// use natsy_proto::StatusCode;
///
/// let b = parse_block(b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 7\r\n\r\n").unwrap();
/// assert_eq!(b.status, Some(StatusCode::IDLE_HEARTBEAT));
/// assert_eq!(b.description.as_deref(), Some("Idle Heartbeat"));
/// assert_eq!(b.headers.get("Nats-Last-Consumer"), Some("7"));
/// ```
pub fn parse_block(block: &[u8]) -> Result<HeaderBlock, HeaderError> {
    let after_version = block
        .strip_prefix(VERSION)
        .ok_or(HeaderError::MissingVersionLine)?;
    let (first, mut rest) = match split_line(after_version) {
        Some(split) => split,
        None => {
            // Report a bad first line before reporting the missing end.
            parse_status_line(after_version)?;
            return Err(HeaderError::Unterminated);
        }
    };
    let (status, description) = parse_status_line(first)?;
    let mut headers = HeaderMap::new();
    loop {
        let (line, next) = split_line(rest).ok_or(HeaderError::Unterminated)?;
        rest = next;
        if line.is_empty() {
            break;
        }
        let mut parts = line.splitn(2, |&b| b == b':');
        let name = parts.next().unwrap_or_default();
        let value = parts.next().ok_or(HeaderError::MissingColon)?;
        if name.is_empty() {
            continue;
        }
        if !name.iter().all(|&b| is_name_byte(b)) {
            return Err(HeaderError::InvalidName);
        }
        let value = trim_blanks(value);
        if value.contains(&b'\r') {
            return Err(HeaderError::InvalidValue);
        }
        let name = std::str::from_utf8(name).map_err(|_| HeaderError::InvalidUtf8)?;
        let value = std::str::from_utf8(value).map_err(|_| HeaderError::InvalidUtf8)?;
        headers.entries.push((name.to_owned(), value.to_owned()));
    }
    Ok(HeaderBlock {
        status,
        description,
        headers,
    })
}

/// Reads only the status code from a header block's first line.
///
/// Looks at the first dozen bytes and allocates nothing, so it is cheap enough to run on
/// every message. Returns `None` when the line has no status or is malformed (use
/// [`parse_block`] to learn why).
///
/// ```
/// use natsy_proto::headers::parse_status_only;
/// use natsy_proto::StatusCode;
///
/// assert_eq!(parse_status_only(b"NATS/1.0 503\r\n\r\n"), Some(StatusCode::NO_RESPONDERS));
/// assert_eq!(parse_status_only(b"NATS/1.0\r\nA: b\r\n\r\n"), None);
/// ```
pub fn parse_status_only(block: &[u8]) -> Option<StatusCode> {
    let mut rest = block.strip_prefix(VERSION)?;
    let mut skipped = false;
    while let [b, tail @ ..] = rest {
        if !is_blank(*b) {
            break;
        }
        rest = tail;
        skipped = true;
    }
    if !skipped {
        return None;
    }
    match rest {
        [a, b, c, end, ..]
            if a.is_ascii_digit()
                && b.is_ascii_digit()
                && c.is_ascii_digit()
                && matches!(end, b' ' | b'\t' | b'\r' | b'\n') =>
        {
            let code = [a, b, c]
                .iter()
                .fold(0u16, |acc, d| acc * 10 + u16::from(**d - b'0'));
            Some(StatusCode(code))
        }
        _ => None,
    }
}

/// Checks a header name: non-empty, ASCII 33..=126, no `:`.
fn validate_name(name: &str) -> Result<(), ValidationError> {
    if !name.is_empty() && name.bytes().all(is_name_byte) {
        Ok(())
    } else {
        Err(ValidationError::InvalidHeaderName)
    }
}

/// Checks a header value: no CR or LF.
fn validate_value(value: &str) -> Result<(), ValidationError> {
    if value.bytes().any(|b| b == b'\r' || b == b'\n') {
        Err(ValidationError::InvalidHeaderValue)
    } else {
        Ok(())
    }
}

impl HeaderMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a value, keeping existing values of the same name (nats.go `Header.Add`).
    ///
    /// Errors: [`ValidationError::InvalidHeaderName`] for an empty name or one with a byte
    /// outside ASCII 33..=126 or a `:`; [`ValidationError::InvalidHeaderValue`] for a value
    /// with CR or LF. The map is unchanged on error.
    ///
    /// The value is stored without leading and trailing spaces and tabs: receivers trim
    /// them (as nats.go does), so storing them would make the map differ from what arrives.
    pub fn append(&mut self, name: &str, value: &str) -> Result<(), ValidationError> {
        validate_name(name)?;
        validate_value(value)?;
        let value = value.trim_matches([' ', '\t']);
        self.entries.push((name.to_owned(), value.to_owned()));
        Ok(())
    }

    /// Replaces every value of `name` with `value` (nats.go `Header.Set`).
    ///
    /// The new value takes the place of the first old one; when there was none it goes
    /// last. Values are trimmed and errors are as for [`HeaderMap::append`]; the map is
    /// unchanged on error.
    pub fn insert(&mut self, name: &str, value: &str) -> Result<(), ValidationError> {
        validate_name(name)?;
        validate_value(value)?;
        let value = value.trim_matches([' ', '\t']);
        match self.entries.iter().position(|(n, _)| n == name) {
            Some(first) => {
                let mut index = 0;
                self.entries.retain(|(n, _)| {
                    let keep = index <= first || n != name;
                    index += 1;
                    keep
                });
                if let Some(entry) = self.entries.get_mut(first) {
                    entry.1 = value.to_owned();
                }
            }
            None => self.entries.push((name.to_owned(), value.to_owned())),
        }
        Ok(())
    }

    /// The first value of `name` (case-sensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (case-sensitive), in insertion order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> GetAll<'a> {
        GetAll {
            inner: self.entries.iter(),
            name,
        }
    }

    /// Removes every value of `name`; returns the first one, if there was any.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let first = self.entries.iter().position(|(n, _)| n == name)?;
        let (_, value) = self.entries.remove(first);
        self.entries.retain(|(n, _)| n != name);
        Some(value)
    }

    /// True when `name` (case-sensitive) has at least one value.
    pub fn contains_key(&self, name: &str) -> bool {
        self.entries.iter().any(|(n, _)| n == name)
    }

    /// Every `(name, value)` pair in insertion order; a name with several values appears
    /// once per value.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: self.entries.iter(),
        }
    }

    /// The number of values (header lines), counting each value of a name.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no headers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The number of bytes [`HeaderMap::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        // `NATS/1.0\r\n` + per value `name: value\r\n` + the closing `\r\n`.
        self.entries
            .iter()
            .fold(VERSION.len() + 4, |acc, (n, v)| acc + n.len() + v.len() + 4)
    }

    /// Writes `NATS/1.0\r\n`, one `Name: value\r\n` per value, and the closing `\r\n`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        dst.extend_from_slice(VERSION);
        dst.extend_from_slice(b"\r\n");
        for (name, value) in &self.entries {
            dst.extend_from_slice(name.as_bytes());
            dst.extend_from_slice(b": ");
            dst.extend_from_slice(value.as_bytes());
            dst.extend_from_slice(b"\r\n");
        }
        dst.extend_from_slice(b"\r\n");
    }
}

/// Iterator over a [`HeaderMap`]'s `(name, value)` pairs; see [`HeaderMap::iter`].
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    inner: std::slice::Iter<'a, (String, String)>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Iterator over the values of one name; see [`HeaderMap::get_all`].
#[derive(Debug, Clone)]
pub struct GetAll<'a> {
    inner: std::slice::Iter<'a, (String, String)>,
    name: &'a str,
}

impl<'a> Iterator for GetAll<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<Self::Item> {
        let name = self.name;
        self.inner.find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

impl<'a> IntoIterator for &'a HeaderMap {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(n, v).unwrap();
        }
        h
    }

    fn encoded(h: &HeaderMap) -> BytesMut {
        let mut buf = BytesMut::new();
        h.encode(&mut buf);
        buf
    }

    #[test]
    fn multiple_values_keep_order_and_encode_one_line_each() {
        let h = map(&[("A", "1"), ("B", "x"), ("A", "2"), ("A", "3")]);
        assert_eq!(h.len(), 4);
        assert_eq!(h.get("A"), Some("1"));
        assert_eq!(h.get_all("A").collect::<Vec<_>>(), ["1", "2", "3"]);
        assert_eq!(h.get_all("missing").count(), 0);
        assert_eq!(
            &encoded(&h)[..],
            b"NATS/1.0\r\nA: 1\r\nB: x\r\nA: 2\r\nA: 3\r\n\r\n"
        );
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("A", "1"), ("B", "x"), ("A", "2"), ("A", "3")]
        );
    }

    #[test]
    fn names_are_case_sensitive() {
        let mut h = map(&[("foo", "lower"), ("Foo", "upper")]);
        assert_eq!(h.get("foo"), Some("lower"));
        assert_eq!(h.get("Foo"), Some("upper"));
        assert_eq!(h.get("FOO"), None);
        assert!(!h.contains_key("fOO"));
        h.insert("foo", "new").unwrap();
        assert_eq!(h.get("Foo"), Some("upper"));
        assert_eq!(h.remove("Foo").as_deref(), Some("upper"));
        assert_eq!(h.get("foo"), Some("new"));
        assert_eq!(h.len(), 1);
        // Parsing keeps case too.
        let b = parse_block(b"NATS/1.0\r\nfoo: 1\r\nFoo: 2\r\n\r\n").unwrap();
        assert_eq!(b.headers.get("foo"), Some("1"));
        assert_eq!(b.headers.get("Foo"), Some("2"));
    }

    #[test]
    fn insert_replaces_in_place_and_remove_drops_all() {
        let mut h = map(&[("A", "1"), ("B", "x"), ("A", "2"), ("C", "y"), ("A", "3")]);
        h.insert("A", "new").unwrap();
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("A", "new"), ("B", "x"), ("C", "y")]
        );
        h.insert("D", "d").unwrap();
        assert_eq!(h.iter().last(), Some(("D", "d")));
        h.append("B", "x2").unwrap();
        assert_eq!(h.remove("B").as_deref(), Some("x"));
        assert!(!h.contains_key("B"));
        assert_eq!(h.remove("B"), None);
        assert_eq!(h.len(), 3);
        assert!(!h.is_empty());
        assert!(HeaderMap::new().is_empty());
    }

    #[test]
    fn invalid_names_and_values_are_refused_and_leave_the_map_unchanged() {
        let mut h = map(&[("Keep", "me")]);
        let before = h.clone();
        for bad in ["", "a:b", "a b", "a\tb", "é", "a\r", "\x7f", ":"] {
            assert_eq!(
                h.append(bad, "v"),
                Err(ValidationError::InvalidHeaderName),
                "{bad:?}"
            );
            assert_eq!(
                h.insert(bad, "v"),
                Err(ValidationError::InvalidHeaderName),
                "{bad:?}"
            );
        }
        for bad in ["a\rb", "a\nb", "\r\n", "x\r"] {
            assert_eq!(
                h.append("N", bad),
                Err(ValidationError::InvalidHeaderValue),
                "{bad:?}"
            );
            assert_eq!(
                h.insert("Keep", bad),
                Err(ValidationError::InvalidHeaderValue)
            );
        }
        assert_eq!(h, before);
        // Every printable ASCII byte but ':' is a valid name; values may be UTF-8 and empty.
        for b in 33u8..=126 {
            let name = (b as char).to_string();
            assert_eq!(h.append(&name, "").is_ok(), b != b':', "{b}");
        }
        h.append("Utf8", "grüße").unwrap();
    }

    #[test]
    fn status_lines_with_and_without_description() {
        let b = parse_block(b"NATS/1.0 503\r\n\r\n").unwrap();
        assert_eq!(
            (b.status, b.description),
            (Some(StatusCode::NO_RESPONDERS), None)
        );
        assert!(b.headers.is_empty());

        let b = parse_block(b"NATS/1.0 404 No Messages\r\n\r\n").unwrap();
        assert_eq!(b.status, Some(StatusCode::NOT_FOUND));
        assert_eq!(b.description.as_deref(), Some("No Messages"));

        let b = parse_block(
            b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 42\r\nNats-Last-Stream: 40\r\n\r\n",
        )
        .unwrap();
        assert_eq!(b.status, Some(StatusCode::IDLE_HEARTBEAT));
        assert_eq!(b.description.as_deref(), Some("Idle Heartbeat"));
        assert_eq!(b.headers.get("Nats-Last-Consumer"), Some("42"));
        assert_eq!(b.headers.get("Nats-Last-Stream"), Some("40"));

        let b = parse_block(b"NATS/1.0 408   Request Timeout  \r\n\r\n").unwrap();
        assert_eq!(b.status, Some(StatusCode::REQUEST_TIMEOUT));
        assert_eq!(b.description.as_deref(), Some("Request Timeout"));

        let b = parse_block(b"NATS/1.0  \r\n\r\n").unwrap();
        assert_eq!((b.status, b.description), (None, None));

        let b = parse_block(b"NATS/1.0 503\r\nNats-Subject: foo\r\n\r\n").unwrap();
        assert_eq!(b.headers.get("Nats-Subject"), Some("foo"));
    }

    #[test]
    fn status_only_reads_the_first_line() {
        let cases: &[(&[u8], Option<u16>)] = &[
            (b"NATS/1.0 503\r\n\r\n", Some(503)),
            (b"NATS/1.0 404 No Messages\r\n\r\n", Some(404)),
            (b"NATS/1.0\t100\tIdle Heartbeat\r\n\r\n", Some(100)),
            (b"NATS/1.0 409\n\n", Some(409)),
            (b"NATS/1.0\r\n\r\n", None),
            (b"NATS/1.0\r\nStatus: 503\r\n\r\n", None),
            (b"NATS/1.0 50\r\n\r\n", None),
            (b"NATS/1.0 5034\r\n\r\n", None),
            (b"NATS/1.0 5x3\r\n\r\n", None),
            (b"NATS/1.0503\r\n\r\n", None),
            (b"NATS/1.0 503", None),
            (b"NATS/2.0 503\r\n\r\n", None),
            (b"", None),
        ];
        for (block, want) in cases {
            assert_eq!(
                parse_status_only(block),
                want.map(StatusCode),
                "{:?}",
                String::from_utf8_lossy(block)
            );
            // Whenever the cheap reader finds a code, the full parser agrees.
            if let (Some(code), Ok(full)) = (parse_status_only(block), parse_block(block)) {
                assert_eq!(full.status, Some(code));
            }
        }
    }

    #[test]
    fn values_are_trimmed_and_empty_names_skipped() {
        let b = parse_block(b"NATS/1.0\r\nA:   spaced out \t\r\nB:\r\n: nameless\r\nC:x:y\r\n\r\n")
            .unwrap();
        assert_eq!(
            b.headers.iter().collect::<Vec<_>>(),
            [("A", "spaced out"), ("B", ""), ("C", "x:y")]
        );
    }

    #[test]
    fn bare_lf_lines_are_accepted() {
        let b = parse_block(b"NATS/1.0 404 No Messages\nA: 1\n\n").unwrap();
        assert_eq!(b.status, Some(StatusCode::NOT_FOUND));
        assert_eq!(b.headers.get("A"), Some("1"));
    }

    #[test]
    fn every_malformed_block_has_a_typed_error() {
        use HeaderError::*;
        let cases: &[(&[u8], HeaderError)] = &[
            (b"", MissingVersionLine),
            (b"NATS/1.", MissingVersionLine),
            (b"HTTP/1.1 200 OK\r\n\r\n", MissingVersionLine),
            (b"nats/1.0\r\n\r\n", MissingVersionLine),
            (b"NATS/1.01\r\n\r\n", MissingVersionLine),
            (b"NATS/1.0503\r\n\r\n", MissingVersionLine),
            (b"NATS/1.0 50\r\n\r\n", InvalidStatus),
            (b"NATS/1.0 5\r\n\r\n", InvalidStatus),
            (b"NATS/1.0 abc\r\n\r\n", InvalidStatus),
            (b"NATS/1.0 5034\r\n\r\n", InvalidStatus),
            (b"NATS/1.0 503x\r\n\r\n", InvalidStatus),
            (b"NATS/1.0 -03\r\n\r\n", InvalidStatus),
            (b"NATS/1.0 503\r\r\n\r\n", InvalidStatus),
            (b"NATS/1.0 404 No\rMessages\r\n\r\n", InvalidValue),
            (b"NATS/1.0 404 \xff\xfe\r\n\r\n", InvalidUtf8),
            (b"NATS/1.0\r\nNoColonHere\r\n\r\n", MissingColon),
            (b"NATS/1.0\r\nA: 1\r\n \r\n\r\n", MissingColon),
            (b"NATS/1.0\r\nFoo : bar\r\n\r\n", InvalidName),
            (b"NATS/1.0\r\n Foo: bar\r\n\r\n", InvalidName),
            (b"NATS/1.0\r\nF\xc3\xa9: bar\r\n\r\n", InvalidName),
            (b"NATS/1.0\r\nA: b\rc\r\n\r\n", InvalidValue),
            (b"NATS/1.0\r\nA: \xff\r\n\r\n", InvalidUtf8),
            (b"NATS/1.0", Unterminated),
            (b"NATS/1.0 503", Unterminated),
            (b"NATS/1.0\r\n", Unterminated),
            (b"NATS/1.0\r\nA: 1\r\n", Unterminated),
            (b"NATS/1.0\r\nA: 1", Unterminated),
            (b"NATS/1.0\r\nA: 1\r\n\r", Unterminated),
            (b"NATS/1.0 50", InvalidStatus),
        ];
        for (block, want) in cases {
            assert_eq!(
                parse_block(block).as_ref().err(),
                Some(want),
                "{:?}",
                String::from_utf8_lossy(block)
            );
        }
    }

    #[test]
    fn round_trip_encode_then_parse() {
        let h = map(&[
            ("Nats-Msg-Id", "abc-123"),
            ("Nats-Expected-Last-Sequence", "9"),
            ("multi", "one"),
            ("multi", "two"),
            ("Empty", ""),
            ("Utf8", "ça va"),
        ]);
        let buf = encoded(&h);
        assert_eq!(buf.len(), h.encoded_len());
        let b = parse_block(&buf).unwrap();
        assert_eq!(b.status, None);
        assert_eq!(b.description, None);
        assert_eq!(b.headers, h);

        let empty = HeaderMap::new();
        assert_eq!(&encoded(&empty)[..], b"NATS/1.0\r\n\r\n");
        assert_eq!(empty.encoded_len(), 12);
        assert_eq!(parse_block(&encoded(&empty)).unwrap().headers, empty);
    }

    #[test]
    fn status_code_display_and_number() {
        assert_eq!(StatusCode::NO_RESPONDERS.to_string(), "503");
        assert_eq!(StatusCode(7).to_string(), "007");
        assert_eq!(StatusCode::CONFLICT.as_u16(), 409);
        assert_eq!(u16::from(StatusCode::BAD_REQUEST), 400);
    }

    fn name_strategy() -> impl Strategy<Value = String> {
        proptest::collection::vec((33u8..=126).prop_filter("no colon", |b| *b != b':'), 1..12)
            .prop_map(|v| String::from_utf8(v).unwrap())
    }

    fn value_strategy() -> impl Strategy<Value = String> {
        // No CR/LF, no leading or trailing whitespace (receivers trim it).
        "[^\r\n]{0,16}".prop_map(|s| s.trim_matches([' ', '\t']).to_owned())
    }

    proptest! {
        #[test]
        fn any_valid_map_round_trips(pairs in proptest::collection::vec((name_strategy(), value_strategy()), 0..8)) {
            let mut h = HeaderMap::new();
            for (n, v) in &pairs {
                h.append(n, v).unwrap();
            }
            let buf = encoded(&h);
            prop_assert_eq!(buf.len(), h.encoded_len());
            let b = parse_block(&buf).unwrap();
            prop_assert_eq!(b.headers, h);
        }

        #[test]
        fn parsing_arbitrary_bytes_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut block = b"NATS/1.0".to_vec();
            block.extend_from_slice(&tail);
            let full = parse_block(&block);
            let cheap = parse_status_only(&block);
            let _ = parse_block(&tail);
            let _ = parse_status_only(&tail);
            if let (Some(code), Ok(full)) = (cheap, full) {
                prop_assert_eq!(full.status, Some(code));
            }
        }
    }
}

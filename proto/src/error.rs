//! Typed errors for everything `natsy-proto` can refuse.
//!
//! Every enum is `#[non_exhaustive]`; `Display` says what went wrong in plain words and
//! never includes a secret (passwords, tokens, seeds).

use std::fmt;

/// The peer sent bytes that are not valid NATS protocol.
///
/// A parser that returned a `ProtocolError` is poisoned: the stream position is lost, so the
/// connection must be dropped. Later calls return the same error (it is sticky).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A control line (the part up to CRLF) grew past the configured limit.
    ControlLineTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// A message announced a payload larger than the allowed maximum.
    PayloadTooLarge {
        /// Announced size in bytes (headers + payload).
        size: u64,
        /// The allowed maximum in bytes.
        limit: usize,
    },
    /// The op name is not one this side of the protocol knows.
    UnknownOp,
    /// An op had the wrong number of arguments or an argument of the wrong form.
    InvalidArguments {
        /// The op, in upper case (`"MSG"`, `"PUB"`, ...).
        op: &'static str,
    },
    /// A size or sid argument was not an unsigned decimal number.
    InvalidNumber {
        /// The op, in upper case.
        op: &'static str,
    },
    /// A payload was not followed by exactly CRLF.
    MissingPayloadTerminator,
    /// A header block size was larger than the total size.
    HeaderSizeExceedsTotal,
    /// A subject or reply was not valid UTF-8.
    InvalidUtf8,
    /// The JSON of an INFO or CONNECT did not parse.
    InvalidJson {
        /// The op, `"INFO"` or `"CONNECT"`.
        op: &'static str,
        /// What the JSON parser said.
        reason: String,
    },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ControlLineTooLong { limit } => {
                write!(f, "control line longer than the limit of {limit} bytes")
            }
            Self::PayloadTooLarge { size, limit } => {
                write!(
                    f,
                    "payload of {size} bytes exceeds the limit of {limit} bytes"
                )
            }
            Self::UnknownOp => f.write_str("unknown protocol operation"),
            Self::InvalidArguments { op } => write!(f, "invalid arguments to {op}"),
            Self::InvalidNumber { op } => write!(f, "invalid number in {op} arguments"),
            Self::MissingPayloadTerminator => f.write_str("payload not followed by CRLF"),
            Self::HeaderSizeExceedsTotal => f.write_str("header size larger than total size"),
            Self::InvalidUtf8 => f.write_str("subject or reply is not valid UTF-8"),
            Self::InvalidJson { op, reason } => write!(f, "invalid {op} JSON: {reason}"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// An argument the caller gave would produce invalid protocol; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValidationError {
    /// A subject was empty.
    EmptySubject,
    /// A subject contained a space, tab, CR or LF.
    SubjectWhitespace,
    /// A subscribe subject had an empty token, or a wildcard that is not a whole token,
    /// or `>` that is not the last token.
    InvalidSubscribeSubject,
    /// A reply subject was empty or contained whitespace.
    InvalidReply,
    /// A queue group name was empty or contained whitespace.
    InvalidQueueName,
    /// A header name was empty, or contained `:`, whitespace, or a byte outside 33..=126.
    InvalidHeaderName,
    /// A header value contained CR or LF.
    InvalidHeaderValue,
    /// Headers plus payload exceed the server's `max_payload`.
    MaxPayloadExceeded {
        /// Headers plus payload, in bytes.
        size: usize,
        /// The server's limit.
        max_payload: usize,
    },
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptySubject => f.write_str("subject is empty"),
            Self::SubjectWhitespace => f.write_str("subject contains whitespace"),
            Self::InvalidSubscribeSubject => {
                f.write_str("subscribe subject has an empty token or a misplaced wildcard")
            }
            Self::InvalidReply => f.write_str("reply subject is empty or contains whitespace"),
            Self::InvalidQueueName => f.write_str("queue name is empty or contains whitespace"),
            Self::InvalidHeaderName => f.write_str("invalid header name"),
            Self::InvalidHeaderValue => f.write_str("header value contains CR or LF"),
            Self::MaxPayloadExceeded { size, max_payload } => write!(
                f,
                "message of {size} bytes exceeds the server's max_payload of {max_payload} bytes"
            ),
        }
    }
}

impl std::error::Error for ValidationError {}

/// A header block received from the server could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// The block does not start with `NATS/1.0`.
    MissingVersionLine,
    /// The status after `NATS/1.0` is not a three-digit code.
    InvalidStatus,
    /// A header line has no `:`.
    MissingColon,
    /// A header name has a byte outside ASCII 33..=126 (for example a space before the `:`).
    InvalidName,
    /// A header value contains a CR that does not end the line.
    InvalidValue,
    /// A header name or value is not valid UTF-8.
    InvalidUtf8,
    /// The block does not end with an empty line.
    Unterminated,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingVersionLine => "header block does not start with NATS/1.0",
            Self::InvalidStatus => "header status is not a three-digit code",
            Self::MissingColon => "header line has no colon",
            Self::InvalidName => "header name has a byte outside printable ASCII",
            Self::InvalidValue => "header value contains a bare CR",
            Self::InvalidUtf8 => "header is not valid UTF-8",
            Self::Unterminated => "header block is not terminated by an empty line",
        })
    }
}

impl std::error::Error for HeaderError {}

/// An NKey seed or public key could not be decoded, or a signature could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NkeyError {
    /// The text is not base32 (RFC 4648 alphabet, no padding).
    InvalidEncoding,
    /// The decoded bytes have the wrong length.
    InvalidLength,
    /// The CRC16 checksum does not match.
    InvalidChecksum,
    /// The first byte does not mark a seed (`S...`).
    NotASeed,
    /// The key type (user, account, operator, ...) is not a known NKey prefix.
    InvalidPrefix,
    /// The seed is not of the type the caller needs (for example a user seed, `SU...`).
    WrongKeyType {
        /// The type that was needed.
        expected: crate::nkey::KeyType,
        /// The type that was found.
        found: crate::nkey::KeyType,
    },
}

impl fmt::Display for NkeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidEncoding => f.write_str("nkey is not valid base32"),
            Self::InvalidLength => f.write_str("nkey has the wrong length"),
            Self::InvalidChecksum => f.write_str("nkey checksum does not match"),
            Self::NotASeed => f.write_str("nkey is not a seed"),
            Self::InvalidPrefix => f.write_str("nkey has an unknown type prefix"),
            Self::WrongKeyType { expected, found } => {
                write!(f, "nkey is a {found:?} key, expected a {expected:?} key")
            }
        }
    }
}

impl std::error::Error for NkeyError {}

/// A creds file (user JWT + seed) could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredsError {
    /// The file is not UTF-8 text.
    NotUtf8,
    /// No user JWT was found.
    MissingJwt,
    /// No NKey seed was found.
    MissingSeed,
    /// The JWT is not three base64url segments separated by dots.
    MalformedJwt,
    /// The seed did not decode.
    InvalidSeed(NkeyError),
}

impl fmt::Display for CredsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotUtf8 => f.write_str("creds file is not UTF-8 text"),
            Self::MissingJwt => f.write_str("creds file has no user JWT"),
            Self::MissingSeed => f.write_str("creds file has no nkey seed"),
            Self::MalformedJwt => f.write_str("creds file JWT is malformed"),
            Self::InvalidSeed(e) => write!(f, "creds file seed is invalid: {e}"),
        }
    }
}

impl std::error::Error for CredsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidSeed(e) => Some(e),
            _ => None,
        }
    }
}

/// A server URL could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// The URL has no host.
    MissingHost,
    /// The host is not a host name, an IPv4 address or a bracketed IPv6 address, or the
    /// URL has a path, query or fragment after it.
    InvalidHost,
    /// The scheme is not `nats` or `tls`.
    UnsupportedScheme(String),
    /// The port is not a number from 1 to 65535.
    InvalidPort,
    /// Percent-encoding in the user info is broken.
    InvalidPercentEncoding,
    /// The URL list was empty.
    Empty,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingHost => f.write_str("server URL has no host"),
            Self::InvalidHost => f.write_str("server URL host is invalid"),
            Self::UnsupportedScheme(s) => write!(f, "unsupported URL scheme {s:?}"),
            Self::InvalidPort => f.write_str("server URL port is invalid"),
            Self::InvalidPercentEncoding => f.write_str("invalid percent-encoding in URL"),
            Self::Empty => f.write_str("no server URL given"),
        }
    }
}

impl std::error::Error for UrlError {}

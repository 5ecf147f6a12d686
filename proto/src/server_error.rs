//! [`ServerError`]: a `-ERR` from the server, classified by what the client must do.

use std::fmt;

/// What a `-ERR` means for the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerErrorKind {
    /// `Authorization Violation`: credentials were refused.
    AuthorizationViolation,
    /// `User/Account Authentication Expired`: reconnect with fresh credentials.
    AuthenticationExpired,
    /// `User Authentication Revoked`.
    AuthenticationRevoked,
    /// `Authentication Timeout`.
    AuthenticationTimeout,
    /// `Stale Connection`: the server gave up on us; reconnect.
    StaleConnection,
    /// `maximum connections exceeded` (server or account): reconnect, keep trying.
    MaxConnectionsExceeded,
    /// `Maximum Payload Violation`.
    MaxPayloadViolation,
    /// `maximum control line exceeded`.
    MaxControlLineExceeded,
    /// `Secure Connection - TLS Required`.
    TlsRequired,
    /// `Unknown Protocol Operation`.
    UnknownProtocolOperation,
    /// `Permissions Violation for Publish to "s"`: the server drops every publish to that
    /// subject from this user.
    PublishPermission {
        /// The subject that was refused.
        subject: String,
    },
    /// `Permissions Violation for Publish with Reply of "r"`: the reply subject is reserved
    /// (`_R_.` service-import replies); the message was dropped.
    PublishReplyPermission {
        /// The reply subject that was refused.
        reply: String,
    },
    /// `Permissions Violation for Subscription to "s"` (optionally `using queue "q"`).
    /// The server has dropped that interest.
    SubscribePermission {
        /// The subject that was refused.
        subject: String,
        /// The queue group, if any.
        queue: Option<String>,
    },
    /// `maximum subscriptions exceeded`.
    MaxSubscriptionsExceeded,
    /// `Invalid Subject` and other errors that do not close the connection.
    InvalidSubject,
    /// Anything else; the server is expected to close the connection.
    Other,
}

/// How the client reacts to a [`ServerError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorAction {
    /// The connection stays up; report the error.
    Report,
    /// The server closes the socket; reconnect as for any transport failure.
    Reconnect,
    /// Close for good: reconnecting would hit the same error.
    Close,
}

/// A classified `-ERR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// The classification.
    pub kind: ServerErrorKind,
    /// The server's text, without `-ERR` and quotes.
    pub text: String,
}

fn quoted_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let start = text.find(marker)? + marker.len();
    let rest = &text[start..];
    let end = rest.find('"')?;
    Some(&rest[..end])
}

impl ServerError {
    /// Classifies the text of a `-ERR` line (with or without the `-ERR` and quotes).
    ///
    /// Matching follows nats.go: strip quotes and whitespace, compare case-insensitively by
    /// prefix.
    ///
    /// ```
    /// use natsy_proto::{ServerError, ServerErrorKind, ErrorAction};
    /// let e = ServerError::parse("'Permissions Violation for Publish to \"secret.x\"'");
    /// assert_eq!(e.kind, ServerErrorKind::PublishPermission { subject: "secret.x".into() });
    /// assert_eq!(e.action(), ErrorAction::Report);
    /// ```
    pub fn parse(raw: &str) -> Self {
        let mut text = raw.trim();
        if let (Some(head), Some(rest)) = (text.get(..4), text.get(4..)) {
            if head.eq_ignore_ascii_case("-ERR") {
                text = rest.trim();
            }
        }
        let text = text.trim_matches('\'').trim().to_string();
        let lower = text.to_ascii_lowercase();
        let kind = if lower.starts_with("authorization violation") {
            ServerErrorKind::AuthorizationViolation
        } else if lower.starts_with("user authentication expired")
            || lower.starts_with("account authentication expired")
        {
            ServerErrorKind::AuthenticationExpired
        } else if lower.starts_with("user authentication revoked") {
            ServerErrorKind::AuthenticationRevoked
        } else if lower.starts_with("authentication timeout") {
            ServerErrorKind::AuthenticationTimeout
        } else if lower.starts_with("stale connection") {
            ServerErrorKind::StaleConnection
        } else if lower.starts_with("maximum connections exceeded")
            || lower.starts_with("maximum account active connections exceeded")
        {
            ServerErrorKind::MaxConnectionsExceeded
        } else if lower.starts_with("maximum payload violation") {
            ServerErrorKind::MaxPayloadViolation
        } else if lower.starts_with("maximum control line exceeded") {
            ServerErrorKind::MaxControlLineExceeded
        } else if lower.starts_with("secure connection - tls required") {
            ServerErrorKind::TlsRequired
        } else if lower.starts_with("unknown protocol operation") {
            ServerErrorKind::UnknownProtocolOperation
        } else if lower.starts_with("permissions violation for publish with reply") {
            ServerErrorKind::PublishReplyPermission {
                reply: quoted_after(&text, "of \"").unwrap_or_default().to_string(),
            }
        } else if lower.starts_with("permissions violation for publish") {
            ServerErrorKind::PublishPermission {
                subject: quoted_after(&text, "to \"").unwrap_or_default().to_string(),
            }
        } else if lower.starts_with("permissions violation for subscription") {
            ServerErrorKind::SubscribePermission {
                subject: quoted_after(&text, "to \"").unwrap_or_default().to_string(),
                queue: quoted_after(&text, "using queue \"").map(str::to_string),
            }
        } else if lower.starts_with("maximum subscriptions exceeded") {
            ServerErrorKind::MaxSubscriptionsExceeded
        } else if lower.starts_with("invalid subject")
            || lower.starts_with("invalid publish subject")
        {
            ServerErrorKind::InvalidSubject
        } else {
            ServerErrorKind::Other
        };
        ServerError { kind, text }
    }

    /// What the client must do about this error.
    pub fn action(&self) -> ErrorAction {
        use ServerErrorKind::*;
        match self.kind {
            PublishPermission { .. }
            | PublishReplyPermission { .. }
            | SubscribePermission { .. }
            | MaxSubscriptionsExceeded
            | InvalidSubject => ErrorAction::Report,
            StaleConnection
            | MaxConnectionsExceeded
            | AuthenticationExpired
            | AuthenticationRevoked
            | AuthorizationViolation => ErrorAction::Reconnect,
            _ => ErrorAction::Close,
        }
    }

    /// True for the errors that mean "your credentials were refused".
    pub fn is_auth_error(&self) -> bool {
        matches!(
            self.kind,
            ServerErrorKind::AuthorizationViolation
                | ServerErrorKind::AuthenticationExpired
                | ServerErrorKind::AuthenticationRevoked
        )
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server error: {}", self.text)
    }
}

impl std::error::Error for ServerError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_server_catalogue() {
        let cases: &[(&str, ErrorAction)] = &[
            ("-ERR 'Authorization Violation'", ErrorAction::Reconnect),
            ("'User Authentication Expired'", ErrorAction::Reconnect),
            ("'Stale Connection'", ErrorAction::Reconnect),
            ("'maximum connections exceeded'", ErrorAction::Reconnect),
            ("'Maximum Payload Violation'", ErrorAction::Close),
            ("'maximum control line exceeded'", ErrorAction::Close),
            ("'Unknown Protocol Operation'", ErrorAction::Close),
            ("'Authentication Timeout'", ErrorAction::Close),
            ("'Secure Connection - TLS Required'", ErrorAction::Close),
            ("'Invalid Subject'", ErrorAction::Report),
            ("'maximum subscriptions exceeded'", ErrorAction::Report),
            ("'something new'", ErrorAction::Close),
        ];
        for (text, action) in cases {
            assert_eq!(ServerError::parse(text).action(), *action, "{text}");
        }
    }

    #[test]
    fn multi_byte_text_never_panics() {
        // Found by the server_ops fuzz target: byte 4 inside a multi-byte character.
        let e = ServerError::parse("'S\u{8c9e}ct 'St");
        assert_eq!(e.kind, ServerErrorKind::Other);
        for text in ["é", "-ER\u{e9}", "\u{1F600}\u{1F600}", "-ERR\u{e9}x"] {
            let _ = ServerError::parse(text);
        }
    }

    #[test]
    fn permission_violations_name_subject_and_queue() {
        let e = ServerError::parse(
            r#"-ERR 'Permissions Violation for Subscription to "a.b" using queue "q1"'"#,
        );
        assert_eq!(
            e.kind,
            ServerErrorKind::SubscribePermission {
                subject: "a.b".into(),
                queue: Some("q1".into())
            }
        );
        let e = ServerError::parse(r#"'Permissions Violation for Publish with Reply of "r.1"'"#);
        assert_eq!(
            e.kind,
            ServerErrorKind::PublishReplyPermission {
                reply: "r.1".into()
            }
        );
        assert_eq!(e.action(), ErrorAction::Report);
        assert_eq!(
            e.text,
            r#"Permissions Violation for Publish with Reply of "r.1""#
        );
    }
}

//! The client's typed errors. Protocol-level errors are `natsy_proto`'s, re-exported.

use std::fmt;

use natsy_proto::connection::{AttemptError, CloseReason};
use natsy_proto::{ServerAddr, ServerError, ServerErrorKind, UrlError};

use crate::credentials::CredentialsError;
use crate::tls::TlsError;

pub use natsy_proto::connection::{PublishError, SubscribeError};

/// `connect` failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ConnectError {
    /// A server URL is invalid.
    InvalidUrl(UrlError),
    /// The TLS options could not be turned into a configuration.
    Tls(TlsError),
    /// Credentials could not be read.
    Credentials(CredentialsError),
    /// The event loop could not be started.
    Io(String),
    /// Every server was tried and refused; this is the last attempt's error (an
    /// authentication failure is `Attempt { error: AttemptError::Auth(..), .. }`).
    Attempt {
        /// The server of the last attempt (boxed, as the error, to keep `ConnectError`
        /// small).
        server: Box<ServerAddr>,
        /// Why it failed.
        error: Box<AttemptError>,
    },
    /// The connection closed before it was established.
    Closed(CloseReason),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl(e) => write!(f, "invalid server URL: {e}"),
            Self::Tls(e) => write!(f, "TLS setup failed: {e}"),
            Self::Credentials(e) => write!(f, "credentials: {e}"),
            Self::Io(e) => write!(f, "cannot start the event loop: {e}"),
            Self::Attempt { server, error } => write!(f, "cannot connect to {server}: {error}"),
            Self::Closed(reason) => write!(f, "connection closed: {reason}"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidUrl(e) => Some(e),
            Self::Tls(e) => Some(e),
            Self::Credentials(e) => Some(e),
            Self::Attempt { error, .. } => Some(&**error),
            Self::Closed(reason) => Some(reason),
            Self::Io(_) => None,
        }
    }
}

impl ConnectError {
    /// True when the last attempt ran out of `connect_timeout` (or its transport timed
    /// out).
    pub fn is_timeout(&self) -> bool {
        match self {
            Self::Attempt { error, .. } => match &**error {
                AttemptError::Timeout => true,
                AttemptError::Transport(t) => t.is_timeout(),
                _ => false,
            },
            _ => false,
        }
    }

    /// True when the server refused our credentials.
    pub fn is_auth_error(&self) -> bool {
        match self {
            Self::Attempt { error, .. } => matches!(**error, AttemptError::Auth(_)),
            Self::Closed(reason) => matches!(reason, CloseReason::AuthRejected(_)),
            _ => false,
        }
    }
}

/// `flush` failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlushError {
    /// The server did not answer in time.
    TimedOut,
    /// The connection was lost before the server answered; what was published may or may
    /// not have arrived.
    Disconnected,
    /// The client is closed.
    Closed,
}

impl FlushError {
    /// True when the server did not answer in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::TimedOut)
    }
}

impl fmt::Display for FlushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TimedOut => "flush timed out",
            Self::Disconnected => "connection lost before the flush was confirmed",
            Self::Closed => "client is closed",
        })
    }
}

impl std::error::Error for FlushError {}

impl From<natsy_proto::connection::ConnectionClosed> for FlushError {
    fn from(_: natsy_proto::connection::ConnectionClosed) -> Self {
        Self::Closed
    }
}

/// [`Client::close`](crate::Client::close) had to discard publishes it had accepted:
/// they were in the reconnect buffer (the client was disconnected) or the final write
/// could not get them out within its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseError {
    /// What was discarded.
    pub discarded: crate::Discarded,
}

impl fmt::Display for CloseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "closed with {} published messages ({} bytes) never sent",
            self.discarded.messages, self.discarded.bytes
        )
    }
}

impl std::error::Error for CloseError {}

/// [`Client::drain`](crate::Client::drain) did not finish cleanly. The client is closed
/// either way.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DrainError {
    /// The drain timeout ran out with work left.
    TimedOut {
        /// Requests still waiting for their reply.
        unanswered_requests: usize,
        /// Whether the server confirmed (PING/PONG) everything published before the
        /// drain; if not, some of it may not have arrived.
        publishes_confirmed: bool,
        /// Publishes the close discarded, never sent.
        discarded: crate::Discarded,
    },
    /// The connection was lost or closed before the drain could confirm what was
    /// published; then the client closed.
    Flush(FlushError),
    /// Everything was answered and confirmed, but the close discarded publishes made
    /// during the drain.
    Close(CloseError),
}

impl DrainError {
    /// True when the drain timeout ran out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::TimedOut { .. })
    }
}

impl fmt::Display for DrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimedOut {
                unanswered_requests,
                publishes_confirmed,
                discarded,
            } => {
                write!(
                    f,
                    "drain timed out with {unanswered_requests} unanswered requests"
                )?;
                if !publishes_confirmed {
                    f.write_str(", publishes not confirmed by the server")?;
                }
                if discarded.messages > 0 {
                    write!(f, ", {} publishes discarded", discarded.messages)?;
                }
                Ok(())
            }
            Self::Flush(_) => f.write_str("drain could not confirm what was published"),
            Self::Close(_) => f.write_str("drain discarded publishes when closing"),
        }
    }
}

/// What the server refused in a [`PermissionError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PermissionOperation {
    /// Publishing to the subject (`Permissions Violation for Publish to "s"`).
    Publish,
    /// Publishing with the subject as reply subject, which is reserved
    /// (`Permissions Violation for Publish with Reply of "r"`).
    PublishReply,
    /// Subscribing to the subject (`Permissions Violation for Subscription to "s"`).
    Subscribe,
}

/// The server refused a publish or a subscription for lack of permission (a
/// `-ERR 'Permissions Violation ...'`); the connection stays up.
///
/// It fails the call it belongs to: a request to the refused subject
/// ([`RequestError::PermissionDenied`]), a request whose reply inbox was refused, a
/// subscription ([`SubscriptionEnded::PermissionDenied`](crate::SubscriptionEnded::PermissionDenied)). nats.go
/// only reports it to the error callback, and the request times out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionError(Box<Refusal>);

/// A [`PermissionError`]'s contents, boxed so that errors carrying one stay small.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    operation: PermissionOperation,
    subject: String,
    queue: Option<String>,
    server_error: ServerError,
}

impl PermissionError {
    /// The permission error a `-ERR` carries, if it is one.
    pub fn from_server_error(e: &ServerError) -> Option<Self> {
        let (operation, subject, queue) = match &e.kind {
            ServerErrorKind::PublishPermission { subject } => {
                (PermissionOperation::Publish, subject, None)
            }
            ServerErrorKind::PublishReplyPermission { reply } => {
                (PermissionOperation::PublishReply, reply, None)
            }
            ServerErrorKind::SubscribePermission { subject, queue } => {
                (PermissionOperation::Subscribe, subject, queue.clone())
            }
            _ => return None,
        };
        Some(PermissionError(Box::new(Refusal {
            operation,
            subject: subject.clone(),
            queue,
            server_error: e.clone(),
        })))
    }

    /// A refusal proto routed to one subscription or request (it is always a
    /// permission violation; the fallback only keeps this total).
    pub(crate) fn subscription_refused(e: ServerError) -> Self {
        Self::from_server_error(&e).unwrap_or_else(|| {
            PermissionError(Box::new(Refusal {
                operation: PermissionOperation::Subscribe,
                subject: String::new(),
                queue: None,
                server_error: e,
            }))
        })
    }

    /// What was refused.
    pub fn operation(&self) -> PermissionOperation {
        self.0.operation
    }

    /// The subject the server named: the publish subject, the reply subject or the
    /// subscription's subject.
    pub fn subject(&self) -> &str {
        &self.0.subject
    }

    /// The queue group of a refused queue subscription.
    pub fn queue(&self) -> Option<&str> {
        self.0.queue.as_deref()
    }

    /// The server's `-ERR`, with its text.
    pub fn server_error(&self) -> &ServerError {
        &self.0.server_error
    }
}

impl fmt::Display for PermissionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = &self.0.subject;
        match self.0.operation {
            PermissionOperation::Publish => {
                write!(f, "permission denied: may not publish to \"{subject}\"")
            }
            PermissionOperation::PublishReply => write!(
                f,
                "permission denied: may not publish with reply subject \"{subject}\""
            ),
            PermissionOperation::Subscribe => {
                write!(f, "permission denied: may not subscribe to \"{subject}\"")?;
                match &self.0.queue {
                    Some(q) => write!(f, " in queue group \"{q}\""),
                    None => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for DrainError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Flush(e) => Some(e),
            Self::Close(e) => Some(e),
            Self::TimedOut { .. } => None,
        }
    }
}

impl std::error::Error for PermissionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0.server_error)
    }
}

/// `request` failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// Nobody subscribes to the subject (the server answered 503 at once).
    NoResponders,
    /// No reply arrived in time.
    TimedOut,
    /// The request could not be published.
    Publish(PublishError),
    /// The reply inbox could not be subscribed.
    Subscribe(SubscribeError),
    /// The server refused the request, within a round trip rather than the timeout:
    /// publishing to its subject (every request waiting on that subject fails), or
    /// subscribing to the reply inbox (every waiting request fails, and later ones at
    /// once, until the next reconnect).
    PermissionDenied(PermissionError),
    /// The client is closed.
    Closed,
}

impl RequestError {
    /// True when no reply came in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::TimedOut)
    }

    /// True when the server refused the request for lack of permission.
    pub fn is_permission_error(&self) -> bool {
        matches!(self, Self::PermissionDenied(_))
    }

    /// The server's refusal, if the request failed for lack of permission.
    pub fn permission_error(&self) -> Option<&PermissionError> {
        match self {
            Self::PermissionDenied(e) => Some(e),
            _ => None,
        }
    }
}

impl RequestError {
    /// What proto's muxer refused, in the client's terms.
    pub(crate) fn from_proto(e: natsy_proto::connection::RequestError) -> Self {
        use natsy_proto::connection::RequestError as Proto;
        match e {
            Proto::Publish(PublishError::Closed) | Proto::Subscribe(SubscribeError::Closed) => {
                Self::Closed
            }
            Proto::Publish(e) => Self::Publish(e),
            Proto::Subscribe(e) => Self::Subscribe(e),
            Proto::InboxRefused(e) => {
                Self::PermissionDenied(PermissionError::subscription_refused(e))
            }
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoResponders => f.write_str("no responders"),
            Self::TimedOut => f.write_str("request timed out"),
            Self::Publish(e) => write!(f, "request not sent: {e}"),
            Self::Subscribe(e) => write!(f, "reply inbox not subscribed: {e}"),
            Self::PermissionDenied(e) => write!(f, "request refused: {e}"),
            Self::Closed => f.write_str("client is closed"),
        }
    }
}

impl std::error::Error for RequestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Publish(e) => Some(e),
            Self::Subscribe(e) => Some(e),
            Self::PermissionDenied(e) => Some(e),
            _ => None,
        }
    }
}

/// `next_timeout` on a subscription got nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NextError {
    /// Nothing arrived in time.
    TimedOut,
    /// The subscription ended; no more messages will come.
    Ended(crate::SubscriptionEnded),
}

impl NextError {
    /// True when no message came in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::TimedOut)
    }
}

impl fmt::Display for NextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimedOut => f.write_str("no message in time"),
            Self::Ended(why) => write!(f, "subscription ended: {why}"),
        }
    }
}

impl std::error::Error for NextError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Ended(crate::SubscriptionEnded::PermissionDenied(e)) => Some(e),
            _ => None,
        }
    }
}

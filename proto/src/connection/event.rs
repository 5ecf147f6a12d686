//! What a [`Connection`](super::Connection) reports: [`Event`]s, the typed reasons inside
//! them, the errors its mutators return, and its [`State`] and [`Stats`].

use std::fmt;

use super::requests::RequestId;
use crate::error::{NkeyError, ProtocolError, ValidationError};
use crate::message::{Message, Sid};
use crate::server_error::ServerError;
use crate::url::ServerAddr;

/// Identifies one [`Connection::flush`](super::Connection::flush) call; reported back in
/// [`Event::FlushComplete`] or [`Event::FlushFailed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlushId(pub u64);

/// The connection's life cycle, as nats.go's `Status` (CONNECTING, CONNECTED, RECONNECTING,
/// CLOSED).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// The first pass over the server pool; never connected yet.
    Connecting,
    /// The handshake finished; ops flow.
    Connected,
    /// The connection was lost (or the first pass failed with
    /// `retry_on_failed_connect`); waiting for or running another attempt.
    Reconnecting,
    /// For good. Every mutator now returns a `Closed` error.
    Closed,
}

/// Counters over the connection's whole life (nats.go `Statistics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages delivered to a live subscription.
    pub in_msgs: u64,
    /// Payload bytes (headers excluded) of those messages.
    pub in_bytes: u64,
    /// Messages accepted by [`Connection::publish`](super::Connection::publish).
    pub out_msgs: u64,
    /// Payload bytes (headers excluded) of those messages.
    pub out_bytes: u64,
    /// Successful reconnects (the first connect is not counted).
    pub reconnects: u64,
    /// Accepted publishes that were never written: dropped with the reconnect buffer
    /// when the connection closed for good, or left unwritten by the driver's final
    /// write ([`Connection::discard_unwritten`](super::Connection::discard_unwritten)).
    pub discarded_msgs: u64,
    /// Wire bytes of what was discarded (the publishes' frames, and on a final write
    /// any other ops queued among them).
    pub discarded_bytes: u64,
}

/// Something the driver must do, or something to tell the user. Poll with
/// [`Connection::poll_event`](super::Connection::poll_event), in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Driver: open a transport (TCP) to `server` now; with `tls_first`, do the TLS
    /// handshake (verifying `tls_name`) before calling
    /// [`handle_transport_connected`](super::Connection::handle_transport_connected).
    /// For a WebSocket server (`server.websocket`), do the upgrade after TCP (and TLS,
    /// for `wss://`) and before that call, and carry every byte in frames
    /// ([`crate::websocket`]).
    /// Every `Dial` is later matched by exactly one [`Event::CloseTransport`].
    Dial {
        /// Where to connect.
        server: ServerAddr,
        /// The name to verify the server certificate against.
        tls_name: String,
        /// Do the TLS handshake right after TCP connect (server `handshake_first`, or a
        /// `wss://` server).
        tls_first: bool,
    },
    /// Driver: run a TLS handshake over the current transport, verifying `tls_name`, then
    /// call [`handle_tls_established`](super::Connection::handle_tls_established).
    UpgradeTls {
        /// The name to verify the server certificate against.
        tls_name: String,
    },
    /// Driver: sign `nonce` (its ASCII bytes) with the signer of the configured
    /// [`Auth::JwtSigner`](super::Auth::JwtSigner) (see
    /// [`Connection::auth`](super::Connection::auth)), then call
    /// [`handle_nonce_signature`](super::Connection::handle_nonce_signature). The signer
    /// is user code (a hardware key, a remote signer): call it where it may take its
    /// time, not under a lock other calls need. `connect_timeout` bounds the wait.
    SignNonce {
        /// The server's nonce from INFO.
        nonce: String,
    },
    /// Driver: close the current transport. Bytes still returned by `poll_transmit` (only
    /// after a user [`close`](super::Connection::close)) may be written first, best effort.
    CloseTransport,
    /// The first handshake completed (nats.go ConnectedCB).
    Connected {
        /// The server we are connected to.
        server: ServerAddr,
    },
    /// A handshake after a disconnect completed; subscriptions were resent and the
    /// reconnect buffer queued (nats.go ReconnectedCB).
    Reconnected {
        /// The server we are connected to.
        server: ServerAddr,
    },
    /// An established connection was lost (nats.go DisconnectedErrCB).
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// One attempt (dial + handshake) failed; the next one is scheduled unless a
    /// [`Event::Closed`] follows (nats.go ReconnectErrCB).
    ConnectAttemptFailed {
        /// The server that was tried.
        server: ServerAddr,
        /// Why it failed.
        error: AttemptError,
    },
    /// The connection is closed for good (nats.go ClosedCB). Nothing follows.
    Closed {
        /// Why.
        reason: CloseReason,
    },
    /// A message for a live subscription.
    Message(Message),
    /// The PONG for this flush arrived: everything written before it reached the server.
    FlushComplete(FlushId),
    /// The flush cannot complete: the connection was lost or closed first.
    FlushFailed(FlushId),
    /// A `-ERR` that leaves the connection up (permission violations, `Invalid Subject`,
    /// `maximum subscriptions exceeded`).
    ServerError {
        /// The error.
        error: ServerError,
        /// The subscription it concerns (subscribe permission violations).
        sid: Option<Sid>,
    },
    /// A subscription ended without [`unsubscribe`](super::Connection::unsubscribe)`(sid,
    /// None)`; no message for `sid` follows.
    SubscriptionClosed {
        /// The subscription.
        sid: Sid,
        /// Why.
        reason: SubscriptionClosedReason,
    },
    /// INFO `connect_urls` added servers never seen before; the whole pool, in order
    /// (nats.go DiscoveredServersCB). Not raised during the first connect.
    DiscoveredServers(Vec<ServerAddr>),
    /// The server entered lame duck mode and will close this connection soon (nats.go
    /// LameDuckModeHandler). Nothing else is done: the normal reconnect handles the close.
    LameDuckMode,
    /// An INFO arrived after the handshake; [`server_info`](super::Connection::server_info)
    /// has the new values.
    ServerInfoUpdated,
    /// The reply to [`request`](super::Connection::request) `id` (possibly a status
    /// message, such as 503 "no responders"). Later replies to it are dropped.
    Reply {
        /// The request.
        id: RequestId,
        /// The reply.
        message: Message,
    },
    /// The server refused request `id`: the publish to its subject (a permission
    /// violation names it; every request to that subject fails), its reply subject, or
    /// the reply inbox subscription (every waiting request fails). No reply will come.
    RequestFailed {
        /// The request.
        id: RequestId,
        /// The server's refusal.
        error: ServerError,
    },
}

/// What the driver's transport was doing when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportOp {
    /// Resolving the server's host name.
    Resolve,
    /// Opening the connection (TCP connect, registering the socket).
    Connect,
    /// The TLS handshake or a TLS record.
    Tls,
    /// Reading.
    Read,
    /// Writing.
    Write,
}

impl fmt::Display for TransportOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Resolve => "resolve",
            Self::Connect => "connect",
            Self::Tls => "TLS",
            Self::Read => "read",
            Self::Write => "write",
        })
    }
}

/// A transport failure as the driver saw it: what it was doing, the typed
/// [`io::ErrorKind`](std::io::ErrorKind), and the driver's words (an `io::Error` itself
/// is neither `Clone` nor `PartialEq`, which events need).
///
/// ```
/// use natsy_proto::connection::{TransportError, TransportOp};
/// let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
/// let t = TransportError::io(TransportOp::Connect, &e);
/// assert_eq!(t.kind(), std::io::ErrorKind::ConnectionRefused);
/// assert!(t.to_string().starts_with("connect: "));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    op: TransportOp,
    kind: std::io::ErrorKind,
    detail: String,
}

impl TransportError {
    /// A failure of `op`, of `kind`, described by `detail`.
    pub fn new(op: TransportOp, kind: std::io::ErrorKind, detail: impl Into<String>) -> Self {
        TransportError {
            op,
            kind,
            detail: detail.into(),
        }
    }

    /// `e`, met while doing `op`.
    pub fn io(op: TransportOp, e: &std::io::Error) -> Self {
        Self::new(op, e.kind(), e.to_string())
    }

    /// What the transport was doing.
    pub fn op(&self) -> TransportOp {
        self.op
    }

    /// The kind of IO error.
    pub fn kind(&self) -> std::io::ErrorKind {
        self.kind
    }

    /// The driver's description.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The transport timed out (`TimedOut` or `WouldBlock` where a driver has a deadline).
    pub fn is_timeout(&self) -> bool {
        self.kind == std::io::ErrorKind::TimedOut
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.op, self.detail)
    }
}

impl std::error::Error for TransportError {}

/// Why an established connection was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The server closed the transport.
    Eof,
    /// The transport failed.
    Transport(TransportError),
    /// `max_pings_out` PINGs went unanswered (nats.go `ErrStaleConnection`).
    StaleConnection,
    /// The socket took none of the bytes waiting for it through more than
    /// `max_pings_out` keepalive intervals: a peer that stopped reading (its PONGs, if
    /// any, prove only that it writes). Also stale; the bound is the same.
    WriteStalled,
    /// The server sent a `-ERR` that ends the connection (`Stale Connection`,
    /// `maximum connections exceeded`, expired credentials, or a fatal error).
    ServerError(ServerError),
    /// The server sent bytes that are not NATS protocol.
    ProtocolError(ProtocolError),
    /// [`close`](super::Connection::close) was called.
    UserClose,
    /// [`force_reconnect`](super::Connection::force_reconnect) was called.
    ForcedReconnect,
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Eof => f.write_str("the server closed the connection"),
            Self::Transport(e) => write!(f, "transport error: {e}"),
            Self::StaleConnection => f.write_str("stale connection: PINGs went unanswered"),
            Self::WriteStalled => {
                f.write_str("stale connection: the server stopped reading what we write")
            }
            Self::ServerError(e) => write!(f, "{e}"),
            Self::ProtocolError(e) => write!(f, "protocol error: {e}"),
            Self::UserClose => f.write_str("closed by the user"),
            Self::ForcedReconnect => f.write_str("reconnect forced by the user"),
        }
    }
}

/// Why one connection attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptError {
    /// Dial plus handshake took longer than `connect_timeout`.
    Timeout,
    /// The server refused the credentials (`Authorization Violation`, expired, revoked).
    Auth(ServerError),
    /// The server sent another `-ERR` during the handshake.
    Server(ServerError),
    /// The server sent bytes that are not NATS protocol.
    Protocol(ProtocolError),
    /// The client wants TLS but the server offers neither `tls_required` nor
    /// `tls_available` (nats.go `ErrSecureConnWanted`).
    TlsRequiredByClientButUnavailable,
    /// The first op from the server was not INFO (nats.go `ErrNoInfoReceived`).
    NoInfo,
    /// NKey or JWT auth is configured but INFO carried no nonce (nats.go
    /// `ErrNkeysNotSupported`).
    NkeyNotSupported,
    /// The transport failed.
    Transport(TransportError),
    /// The transport was closed by the server during the handshake.
    Eof,
    /// The driver could not get credentials for this attempt (a file it could not read,
    /// a provider that failed); the driver's description.
    Credentials(String),
    /// The configured NKey seed does not decode.
    Nkey(NkeyError),
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("connect timed out"),
            Self::Auth(e) => write!(f, "authentication failed: {e}"),
            Self::Server(e) => write!(f, "{e}"),
            Self::Protocol(e) => write!(f, "protocol error during handshake: {e}"),
            Self::TlsRequiredByClientButUnavailable => {
                f.write_str("TLS was requested but the server does not offer it")
            }
            Self::NoInfo => f.write_str("the server did not start with INFO"),
            Self::NkeyNotSupported => {
                f.write_str("nkey or JWT auth configured but the server sent no nonce")
            }
            Self::Transport(e) => write!(f, "transport error: {e}"),
            Self::Eof => f.write_str("the server closed the connection during the handshake"),
            Self::Credentials(e) => write!(f, "no credentials for this attempt: {e}"),
            Self::Nkey(e) => write!(f, "invalid nkey seed: {e}"),
        }
    }
}

impl std::error::Error for AttemptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Auth(e) | Self::Server(e) => Some(e),
            Self::Protocol(e) => Some(e),
            Self::Transport(e) => Some(e),
            Self::Nkey(e) => Some(e),
            _ => None,
        }
    }
}

/// Why the connection closed for good.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// [`close`](super::Connection::close) was called.
    User,
    /// The first pass over the server pool failed everywhere and
    /// `retry_on_failed_connect` is off (nats.go `ErrNoServers`).
    NoServers,
    /// Every server used up `max_reconnects` attempts.
    MaxReconnectsExhausted,
    /// The connection was lost and `allow_reconnect` is off.
    ReconnectDisabled,
    /// A server refused the credentials with the same error as last time (the auth-abort
    /// rule, nats.go `TestExpiredAuthentication`).
    AuthRejected(ServerError),
    /// The server sent a `-ERR` after which reconnecting is pointless.
    Fatal(ServerError),
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User => f.write_str("closed by the user"),
            Self::NoServers => f.write_str("no server could be reached"),
            Self::MaxReconnectsExhausted => f.write_str("reconnect attempts exhausted"),
            Self::ReconnectDisabled => f.write_str("connection lost and reconnect is disabled"),
            Self::AuthRejected(e) => write!(f, "credentials rejected again: {e}"),
            Self::Fatal(e) => write!(f, "fatal {e}"),
        }
    }
}

/// Why a subscription ended on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscriptionClosedReason {
    /// The `max` given to [`unsubscribe`](super::Connection::unsubscribe) was delivered.
    AutoUnsubscribed,
    /// The server refused the subscription (`Permissions Violation for Subscription`).
    PermissionDenied(ServerError),
}

impl fmt::Display for SubscriptionClosedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AutoUnsubscribed => f.write_str("auto-unsubscribe limit reached"),
            Self::PermissionDenied(e) => write!(f, "subscription refused: {e}"),
        }
    }
}

/// Why [`publish`](super::Connection::publish) refused a message. Nothing was queued.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishError {
    /// Subject, reply, headers or size are invalid.
    Validation(ValidationError),
    /// Disconnected and the reconnect buffer holds `reconnect_buffer_size` bytes or more
    /// (nats.go `ErrReconnectBufExceeded`).
    ReconnectBufferFull,
    /// Disconnected and the reconnect buffer is disabled.
    Disconnected,
    /// Headers were given but the server's INFO says it does not support them.
    HeadersNotSupported,
    /// The connection is closed.
    Closed,
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Validation(e) => write!(f, "invalid publish: {e}"),
            Self::ReconnectBufferFull => f.write_str("reconnect buffer full"),
            Self::Disconnected => f.write_str("disconnected and the reconnect buffer is disabled"),
            Self::HeadersNotSupported => f.write_str("the server does not support headers"),
            Self::Closed => f.write_str("connection closed"),
        }
    }
}

impl std::error::Error for PublishError {}

/// Why [`subscribe`](super::Connection::subscribe) or
/// [`unsubscribe`](super::Connection::unsubscribe) was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscribeError {
    /// Subject or queue group are invalid.
    Validation(ValidationError),
    /// No live subscription has this sid (never created, unsubscribed, or closed).
    UnknownSubscription(Sid),
    /// The connection is closed.
    Closed,
}

impl fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Validation(e) => write!(f, "invalid subscription: {e}"),
            Self::UnknownSubscription(sid) => write!(f, "no subscription with sid {sid}"),
            Self::Closed => f.write_str("connection closed"),
        }
    }
}

impl std::error::Error for SubscribeError {}

/// Why [`request`](super::Connection::request) was refused. Exhaustive on purpose: a
/// driver maps each case to its own error, and a new case should not compile silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The request could not be published (closed, invalid, buffer full, ...).
    Publish(PublishError),
    /// The reply inbox could not be subscribed.
    Subscribe(SubscribeError),
    /// The server refused the reply inbox subscription on this connection: no reply
    /// could reach us, so the request is not sent.
    InboxRefused(ServerError),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Publish(_) => f.write_str("the request could not be published"),
            Self::Subscribe(_) => f.write_str("the reply inbox could not be subscribed"),
            Self::InboxRefused(_) => f.write_str("the server refused the reply inbox"),
        }
    }
}

impl std::error::Error for RequestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Publish(e) => Some(e),
            Self::Subscribe(e) => Some(e),
            Self::InboxRefused(e) => Some(e),
        }
    }
}

impl From<PublishError> for RequestError {
    fn from(e: PublishError) -> Self {
        Self::Publish(e)
    }
}

impl From<SubscribeError> for RequestError {
    fn from(e: SubscribeError) -> Self {
        Self::Subscribe(e)
    }
}

/// The connection is closed for good: returned by calls that queue work on it, such as
/// [`flush`](super::Connection::flush). Why it closed is [`CloseReason`], reported by
/// [`Event::Closed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionClosed;

impl fmt::Display for ConnectionClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection closed")
    }
}

impl std::error::Error for ConnectionClosed {}

impl std::error::Error for CloseReason {}

impl std::error::Error for DisconnectReason {}

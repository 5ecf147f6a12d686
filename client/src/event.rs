//! [`Event`]: what the client tells the application about its connection.
//!
//! Events are delivered in order, from one dispatcher thread, through an unbounded queue:
//! a slow callback delays later events but never loses one.

use natsy_proto::connection::{AttemptError, CloseReason, DisconnectReason};
use natsy_proto::{ServerAddr, ServerError, Sid};

/// Publishes the client accepted but had to discard when it closed, never sent
/// (also in [`Statistics`](crate::Statistics) and the error of
/// [`Client::close`](crate::Client::close)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Discarded {
    /// Messages.
    pub messages: u64,
    /// Their wire bytes (with, after a final write, other ops queued among them).
    pub bytes: u64,
}

/// A connection event.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// The first connection was made.
    Connected {
        /// The server.
        server: ServerAddr,
    },
    /// The connection was lost; the client is reconnecting (unless it closes next).
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// A connection was made again; subscriptions were restored and buffered publishes sent.
    Reconnected {
        /// The server.
        server: ServerAddr,
    },
    /// One connect attempt failed; the client tries the next server.
    ReconnectAttemptFailed {
        /// The server that was tried.
        server: ServerAddr,
        /// Why it failed.
        error: AttemptError,
    },
    /// The client is closed for good.
    Closed {
        /// Why.
        reason: CloseReason,
        /// Accepted publishes that were never sent (the reconnect buffer, or what the
        /// final write of a `close` could not get out): nothing is lost silently.
        discarded: Discarded,
    },
    /// The server told us about servers we did not know.
    DiscoveredServers(Vec<ServerAddr>),
    /// The server is in lame duck mode and will close soon; the client will move.
    LameDuckMode,
    /// A subscription's pending limit was reached and messages are being dropped.
    /// Sent once per episode.
    SlowConsumer {
        /// The subscription.
        sid: Sid,
    },
    /// A server error that did not close the connection, such as a permission violation.
    ServerError {
        /// The error; permission violations name the subject.
        error: ServerError,
        /// The subscription it concerns, when the server named one we have.
        sid: Option<Sid>,
    },
}

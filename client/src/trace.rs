//! The one switch for the `tracing` feature: every call site goes through this module.
//!
//! With the feature off, the macros expand to nothing (their arguments are not even
//! compiled), [`Span`] is an empty struct and [`run_in`] calls its closure: no code, no cost. With it
//! on, each connection's loop thread runs inside a `natsy.connection` span whose fields
//! are the connection's number in this process (`conn`) and its `name`; events name the
//! server (`host:port` and scheme, never the user info of a URL). No event carries a
//! password, token, seed, JWT or nonce signature: [`event`] takes the public
//! [`Event`](crate::Event)s, none of which holds one, and the other call sites pass
//! servers, counts and error texts.

#[cfg(feature = "tracing")]
macro_rules! debug {
    ($($arg:tt)*) => { ::tracing::debug!($($arg)*) };
}
#[cfg(not(feature = "tracing"))]
macro_rules! debug {
    ($($arg:tt)*) => {};
}

#[cfg(feature = "tracing")]
macro_rules! warning {
    ($($arg:tt)*) => { ::tracing::warn!($($arg)*) };
}
#[cfg(not(feature = "tracing"))]
macro_rules! warning {
    ($($arg:tt)*) => {};
}

pub(crate) use {debug, warning};

/// The span a connection's loop thread runs in.
#[cfg(feature = "tracing")]
pub(crate) type Span = tracing::Span;
/// Without the `tracing` feature: nothing.
#[cfg(not(feature = "tracing"))]
pub(crate) struct Span;

/// A new connection's span: `natsy.connection{conn, name}`.
#[cfg(feature = "tracing")]
pub(crate) fn connection_span(name: Option<&str>) -> Span {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let conn = NEXT.fetch_add(1, Ordering::Relaxed);
    tracing::info_span!("natsy.connection", conn, name = name.unwrap_or(""))
}

/// Without the `tracing` feature: nothing.
#[cfg(not(feature = "tracing"))]
pub(crate) fn connection_span(_name: Option<&str>) -> Span {
    Span
}

/// Runs `f` inside `span`.
pub(crate) fn run_in(span: Span, f: impl FnOnce()) {
    #[cfg(feature = "tracing")]
    let _entered = span.entered();
    #[cfg(not(feature = "tracing"))]
    let Span = span;
    f()
}

/// Runs `future` inside `span` (the loop as a tokio task).
#[cfg(all(feature = "tokio", unix))]
pub(crate) fn instrument<F: std::future::Future>(
    span: Span,
    future: F,
) -> impl std::future::Future<Output = F::Output> {
    #[cfg(feature = "tracing")]
    return tracing::Instrument::instrument(future, span);
    #[cfg(not(feature = "tracing"))]
    {
        let Span = span;
        future
    }
}

/// Traces a connection event as it is handed to the application: lifecycle at `info`,
/// trouble (disconnects, failed attempts, slow consumers, server errors) at `warn`.
#[cfg(feature = "tracing")]
pub(crate) fn event(event: &crate::Event) {
    use crate::Event;
    match event {
        Event::Connected { server } => tracing::info!(%server, "connected"),
        Event::Reconnected { server } => tracing::info!(%server, "reconnected"),
        Event::Disconnected { reason } => tracing::warn!(%reason, "disconnected"),
        Event::ReconnectAttemptFailed { server, error } => {
            tracing::warn!(%server, %error, "connect attempt failed")
        }
        Event::Closed { reason, discarded } => tracing::info!(
            %reason,
            discarded_messages = discarded.messages,
            discarded_bytes = discarded.bytes,
            "closed"
        ),
        Event::DiscoveredServers(servers) => {
            tracing::debug!(count = servers.len(), "discovered servers")
        }
        Event::LameDuckMode => tracing::warn!("server entered lame duck mode"),
        Event::SlowConsumer { sid } => {
            tracing::warn!(sid = *sid, "slow consumer: dropping messages")
        }
        Event::ServerError { error, sid } => {
            tracing::warn!(%error, sid = *sid, "server error")
        }
    }
}

/// Without the `tracing` feature: nothing.
#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub(crate) fn event(_event: &crate::Event) {}

//! The one switch for the `tracing` feature (as in natsy's `trace` module): with the
//! feature off these macros expand to nothing, so neither the call nor its arguments are
//! compiled. The pull machine's state changes go through them; they name counts and
//! errors, never a payload or a credential.

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

//! # natsy: a NATS client with no async runtime
//!
//! This crate will hold the mio event loop and the blocking, thread-safe `Client`
//! (see the project README for the plan). Today it re-exports the sans-IO protocol core,
//! [`proto`], which is complete and can already be driven from any socket loop.
#![forbid(unsafe_code)]

pub use natsy_proto as proto;

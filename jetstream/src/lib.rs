//! # natsy-jetstream
//!
//! JetStream on top of the `natsy` client. Nothing is implemented here yet: the JetStream
//! layer needs the client's request/reply, which lands first. This crate exists so the
//! workspace layout is fixed; it exports nothing rather than pretending.
#![forbid(unsafe_code)]

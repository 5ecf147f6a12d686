//! The connection state machine. (Being written; see the crate docs.)

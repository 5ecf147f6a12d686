//! Subject, reply and queue-name validation.

use crate::error::ValidationError;

/// A publish subject: non-empty, no space, tab, CR or LF.
pub fn validate_publish_subject(subject: &str) -> Result<(), ValidationError> {
    let _ = subject;
    todo!("encoder helper")
}

/// A subscribe subject: non-empty tokens, `*` and `>` only as whole tokens, `>` last.
pub fn validate_subscribe_subject(subject: &str) -> Result<(), ValidationError> {
    let _ = subject;
    todo!("encoder helper")
}

/// A reply subject: non-empty, no whitespace.
pub fn validate_reply(reply: &str) -> Result<(), ValidationError> {
    let _ = reply;
    todo!("encoder helper")
}

/// A queue group name: non-empty, no whitespace.
pub fn validate_queue(queue: &str) -> Result<(), ValidationError> {
    let _ = queue;
    todo!("encoder helper")
}

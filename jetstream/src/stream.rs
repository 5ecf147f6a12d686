//! Streams: configuration, info, and the [`Stream`] handle.

use crate::context::Context;

/// A handle to a stream that existed when it was obtained (created, updated or bound).
#[derive(Debug, Clone)]
pub struct Stream {
    pub(crate) context: Context,
    pub(crate) name: String,
}

impl Stream {
    /// The stream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The context it was obtained from.
    pub fn context(&self) -> &Context {
        &self.context
    }
}

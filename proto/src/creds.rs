//! Creds files: a user JWT and an NKey seed in decorated blocks.

use crate::error::CredsError;
use crate::secret::Secret;

/// The contents of a creds file. `Debug` never prints the seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user JWT.
    pub jwt: String,
    /// The user's NKey seed (`SU...`).
    pub seed: Secret,
}

impl Credentials {
    /// Parses the text of a creds file.
    pub fn parse(text: &str) -> Result<Self, CredsError> {
        let _ = text;
        todo!("auth helper")
    }
}

//! NUIDs and inbox subjects.

use rand::RngCore;

/// The default inbox prefix.
pub const DEFAULT_INBOX_PREFIX: &str = "_INBOX";

/// A NUID generator: 22 base-62 characters, a random 12-character prefix and a randomly
/// stepped 10-character sequence. Seeded by the caller.
#[derive(Debug, Clone)]
pub struct Nuid {
    _private: (),
}

impl Nuid {
    /// A generator with a prefix and sequence drawn from `rng`.
    pub fn new(rng: &mut dyn RngCore) -> Self {
        let _ = rng;
        todo!("auth helper")
    }

    /// The next NUID.
    pub fn next(&mut self, rng: &mut dyn RngCore) -> String {
        let _ = rng;
        todo!("auth helper")
    }
}

/// `<prefix>.<nuid>`.
pub fn new_inbox(prefix: &str, nuid: &mut Nuid, rng: &mut dyn RngCore) -> String {
    let _ = (prefix, nuid, rng);
    todo!("auth helper")
}

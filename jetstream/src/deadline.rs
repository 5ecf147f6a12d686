//! Deadlines from user timeouts that never overflow the clock.

use std::time::{Duration, Instant};

/// About thirty years: what "for ever" is when a deadline must be an `Instant`.
const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// `at + d`, saturating: a timeout too large for the clock (`Duration::MAX`) means as
/// far ahead as it goes, which is for ever to any caller.
pub(crate) fn after(at: Instant, d: Duration) -> Instant {
    at.checked_add(d)
        .or_else(|| at.checked_add(FAR))
        .unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_timeouts_saturate() {
        let now = Instant::now();
        assert_eq!(
            after(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
        assert!(after(now, Duration::MAX) >= now + FAR);
    }
}

//! The connection's timer table: one optional deadline per [`Timer`]; the next wake-up is
//! the earliest of them.

use std::time::Instant;

/// The connection's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// `connect_timeout`: from Dial to the handshake PONG.
    Handshake,
    /// The wait before the next Dial during reconnect.
    Reconnect,
    /// The next keepalive PING (`ping_interval`).
    Ping,
    /// `connect_timeout`: how long a forced reconnect waits for the old connection's
    /// last PONG before dropping it anyway.
    Retire,
}

impl Timer {
    /// Every timer, in the order expired timers are handled.
    pub(crate) const ALL: [Timer; 4] = [
        Timer::Handshake,
        Timer::Reconnect,
        Timer::Ping,
        Timer::Retire,
    ];

    fn index(self) -> usize {
        match self {
            Timer::Handshake => 0,
            Timer::Reconnect => 1,
            Timer::Ping => 2,
            Timer::Retire => 3,
        }
    }
}

/// Deadlines indexed by [`Timer`].
#[derive(Debug, Clone, Default)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; 4],
}

impl TimerTable {
    /// Arms `timer` to fire at `at`, replacing any earlier deadline.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer.index()] = Some(at);
    }

    /// Arms `timer` to fire `after` from `now`; a deadline past the end of time disarms it.
    pub(crate) fn set_after(&mut self, timer: Timer, now: Instant, after: std::time::Duration) {
        match now.checked_add(after) {
            Some(at) => self.set(timer, at),
            None => self.stop(timer),
        }
    }

    /// Disarms `timer`.
    pub(crate) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    /// Disarms every timer.
    pub(crate) fn stop_all(&mut self) {
        self.deadlines = [None; 4];
    }

    /// The deadline of `timer`, if armed.
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    /// The earliest armed deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// If `timer` is armed and due at `now`, disarms it and returns true.
    pub(crate) fn take_expired(&mut self, timer: Timer, now: Instant) -> bool {
        match self.get(timer) {
            Some(at) if at <= now => {
                self.stop(timer);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn next_is_the_earliest_and_expiry_disarms() {
        let t0 = Instant::now();
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(Timer::Ping, t0 + Duration::from_secs(5));
        t.set(Timer::Handshake, t0 + Duration::from_secs(2));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(2)));
        assert!(!t.take_expired(Timer::Handshake, t0 + Duration::from_secs(1)));
        assert!(t.take_expired(Timer::Handshake, t0 + Duration::from_secs(2)));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(5)));
        t.stop_all();
        assert_eq!(t.next(), None);
    }
}

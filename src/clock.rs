//! Time, given rather than read: the gate, authn and jwks ask the clock they were built with, so a test (or
//! `explain --at`) can judge any instant. `SystemClock` is the real one.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch (token `exp`/`nbf`/`iat` are judged against this).
    fn unix(&self) -> u64;
    /// A monotonic instant (key-set ages and rate limits are measured with this).
    fn instant(&self) -> Instant;
}

/// The system's clocks.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn unix(&self) -> u64 {
        unix_now()
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// Seconds since the Unix epoch, from the system clock (0 before 1970).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A clock that stands still until moved: tests and `explain --at`.
#[derive(Debug)]
pub struct ManualClock {
    unix_base: u64,
    instant_base: Instant,
    /// Milliseconds moved since creation (may be negative: a wall clock can step back).
    offset_ms: AtomicI64,
}

impl ManualClock {
    /// A clock reading `unix` seconds now.
    pub fn at(unix: u64) -> Self {
        Self {
            unix_base: unix,
            instant_base: Instant::now(),
            offset_ms: AtomicI64::new(0),
        }
    }

    /// Move the clock forward.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let _ = self
            .offset_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
                Some(o.saturating_add(ms))
            });
    }

    fn offset(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }
}

impl Clock for ManualClock {
    fn unix(&self) -> u64 {
        let secs = self.offset().div_euclid(1000);
        self.unix_base.saturating_add_signed(secs)
    }

    fn instant(&self) -> Instant {
        let off = self.offset();
        let d = Duration::from_millis(off.unsigned_abs());
        if off >= 0 {
            self.instant_base
                .checked_add(d)
                .unwrap_or(self.instant_base)
        } else {
            self.instant_base
                .checked_sub(d)
                .unwrap_or(self.instant_base)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let c = ManualClock::at(1_000);
        let t0 = c.instant();
        assert_eq!(c.unix(), 1_000);
        c.advance(Duration::from_millis(2_500));
        assert_eq!(c.unix(), 1_002);
        assert_eq!(c.instant() - t0, Duration::from_millis(2_500));
    }

    #[test]
    fn the_system_clock_is_after_2020() {
        assert!(SystemClock.unix() > 1_577_836_800);
    }
}

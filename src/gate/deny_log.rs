//! Bounds the denial log lines per second: a flood of bad tokens must not turn into a flood of log lines (the
//! metrics count every denial). Lines past the limit are counted and reported as `suppressed` by the next line
//! written.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(super) struct DenyLogLimit {
    second: AtomicU64,
    written: AtomicU64,
    suppressed: AtomicU64,
}

impl DenyLogLimit {
    /// `Some(lines suppressed since the last written one)` when this denial may be logged.
    pub(super) fn admit(&self, per_sec: u32, now_secs: u64) -> Option<u64> {
        if per_sec == 0 {
            return Some(0);
        }
        let second = self.second.load(Ordering::Relaxed);
        if second != now_secs
            && self
                .second
                .compare_exchange(second, now_secs, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.written.store(0, Ordering::Relaxed);
        }
        if self.written.fetch_add(1, Ordering::Relaxed) < u64::from(per_sec) {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DenyLogLimit;

    #[test]
    fn denial_lines_are_limited_per_second_and_the_rest_reported() {
        let limit = DenyLogLimit::default();
        let first: Vec<_> = (0..5).map(|_| limit.admit(3, 100)).collect();
        assert_eq!(first, [Some(0), Some(0), Some(0), None, None]);
        // The next second: the first line written reports the two suppressed ones.
        assert_eq!(limit.admit(3, 101), Some(2));
        assert_eq!(limit.admit(3, 101), Some(0));
    }

    #[test]
    fn zero_means_no_limit() {
        let limit = DenyLogLimit::default();
        assert!((0..1000).all(|_| limit.admit(0, 7) == Some(0)));
    }
}

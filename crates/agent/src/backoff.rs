//! The wait before the next try after failures in a row: the base interval doubled per
//! failure up to a cap, then a random part taken off (up to half), so that a fleet that lost
//! its link does not come back all at once. Checks of the repository and status writes both
//! back off this way.

use std::time::Duration;

/// The wait before the next try after `failures` failed ones in a row, from `poll` (the wait
/// while all is well) and up to `cap`.
pub fn next_delay(poll: Duration, cap: Duration, failures: u32) -> Duration {
    let doubled = poll.saturating_mul(2u32.saturating_pow(failures.min(20)));
    let delay = doubled.min(cap.max(poll));
    if failures == 0 {
        return delay;
    }
    delay.mul_f64(1.0 - fastrand::f64() * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let poll = Duration::from_secs(10);
        let cap = Duration::from_secs(300);
        assert_eq!(next_delay(poll, cap, 0), poll);
        for failures in 1..30 {
            let delay = next_delay(poll, cap, failures);
            let full = poll
                .saturating_mul(2u32.saturating_pow(failures.min(20)))
                .min(cap);
            assert!(delay <= full && delay >= full / 2, "{failures}: {delay:?}");
        }
    }
}

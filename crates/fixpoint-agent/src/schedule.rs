//! When to check in next: after a success, at the server's `nextCheckIn`
//! (bounded); after failures, an exponential back-off with jitter, or the
//! server's `Retry-After`. Pure functions: time and randomness are arguments.

use std::time::Duration;

use jiff::Timestamp;

/// Never sooner than this after a check-in, whatever the server says (a clock
/// skew or a past `nextCheckIn` must not make a busy loop).
pub const MIN_SLEEP: Duration = Duration::from_secs(1);
/// Never later than this: a server that asks for next year is wrong, and an
/// agent that checks in daily still reports.
pub const MAX_SLEEP: Duration = Duration::from_secs(24 * 60 * 60);
/// The first retry after a failure.
pub const BACKOFF_START: Duration = Duration::from_secs(30);
/// Retries never wait longer than this.
pub const BACKOFF_CAP: Duration = Duration::from_secs(60 * 60);

/// How long to sleep from `now` until `next_check_in`, in [`MIN_SLEEP`, `MAX_SLEEP`].
pub fn sleep_until(now: Timestamp, next_check_in: Timestamp) -> Duration {
    let span = next_check_in.duration_since(now);
    let wanted = Duration::try_from(span).unwrap_or(Duration::ZERO);
    wanted.clamp(MIN_SLEEP, MAX_SLEEP)
}

/// The wait after `failures` failures in a row (1 for the first): 30 s
/// doubling up to 1 h, then less up to a quarter by `jitter` in `[0, 1)`, so
/// a fleet that lost its server does not come back in one wave.
pub fn backoff(failures: u32, jitter: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    let base = BACKOFF_START
        .saturating_mul(1 << doublings)
        .min(BACKOFF_CAP);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    base.mul_f64(1.0 - 0.25 * jitter).max(MIN_SLEEP)
}

/// The wait after a failure: the server's `Retry-After` when it sent one
/// (bounded by [`MIN_SLEEP`] and [`BACKOFF_CAP`]), else [`backoff`].
pub fn retry_delay(failures: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
    match retry_after {
        Some(after) => after.clamp(MIN_SLEEP, BACKOFF_CAP),
        None => backoff(failures, jitter),
    }
}

/// A number in `[0, 1)` from the process's random hasher keys: jitter needs
/// no cryptographic randomness, only that agents differ.
pub fn random_unit() -> f64 {
    use std::hash::{BuildHasher, RandomState};
    let bits = RandomState::new().hash_one(std::time::SystemTime::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn the_agent_sleeps_until_the_servers_next_check_in() {
        assert_eq!(
            sleep_until(at("2026-11-25T12:00:00Z"), at("2026-11-25T13:35:12Z")),
            Duration::from_secs(95 * 60 + 12)
        );
    }

    #[test]
    fn a_next_check_in_in_the_past_waits_the_minimum() {
        assert_eq!(
            sleep_until(at("2026-11-25T12:00:00Z"), at("2026-11-25T11:00:00Z")),
            MIN_SLEEP
        );
        assert_eq!(
            sleep_until(at("2026-11-25T12:00:00Z"), at("2026-11-25T12:00:00Z")),
            MIN_SLEEP
        );
    }

    #[test]
    fn a_next_check_in_far_away_waits_at_most_a_day() {
        assert_eq!(
            sleep_until(at("2026-11-25T12:00:00Z"), at("2027-11-25T12:00:00Z")),
            MAX_SLEEP
        );
    }

    #[test]
    fn backoff_doubles_from_30_seconds_to_an_hour() {
        let waits: Vec<u64> = (1..=9).map(|n| backoff(n, 0.0).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff(u32::MAX, 0.0), BACKOFF_CAP);
        assert_eq!(backoff(0, 0.0), BACKOFF_START);
    }

    #[test]
    fn jitter_shortens_the_wait_by_at_most_a_quarter() {
        assert_eq!(backoff(1, 0.5), Duration::from_millis(26_250));
        assert!(backoff(8, 0.999) > BACKOFF_CAP.mul_f64(0.75));
        assert_eq!(backoff(1, f64::NAN), BACKOFF_START);
        assert_eq!(backoff(1, 7.0), Duration::from_millis(22_500));
    }

    #[test]
    fn retry_after_wins_over_backoff_within_bounds() {
        assert_eq!(
            retry_delay(5, Some(Duration::from_secs(7)), 0.0),
            Duration::from_secs(7)
        );
        assert_eq!(retry_delay(1, Some(Duration::ZERO), 0.0), MIN_SLEEP);
        assert_eq!(
            retry_delay(1, Some(Duration::from_secs(86_400)), 0.0),
            BACKOFF_CAP
        );
        assert_eq!(retry_delay(2, None, 0.0), Duration::from_secs(60));
    }

    #[test]
    fn random_units_lie_in_the_unit_interval() {
        for _ in 0..100 {
            let u = random_unit();
            assert!((0.0..1.0).contains(&u), "{u}");
        }
    }
}

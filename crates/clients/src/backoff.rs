//! Backoff between attempts: exponential with seeded jitter (backon), overridden by the
//! server's `Retry-After` (capped), which may be delta-seconds or an HTTP-date.

use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBuilder};

use scenario::Retry;

/// The delays before each retry of one logical call.
pub fn delays(retry: &Retry, seed: u64) -> impl Iterator<Item = Duration> + Send {
    #[allow(clippy::cast_possible_truncation)]
    let factor = retry.multiplier.0 as f32;
    let mut builder = ExponentialBuilder::new()
        .with_min_delay(retry.initial_backoff.0)
        .with_max_delay(retry.max_backoff.0)
        .with_factor(factor)
        .with_max_times(
            usize::try_from(retry.max_attempts.saturating_sub(1)).unwrap_or(usize::MAX),
        );
    if retry.jitter {
        // backon adds U[0, 1) × the delay: the wait lies in [delay, 2 × delay).
        builder = builder.with_jitter().with_jitter_seed(seed);
    }
    // backon multiplies in f32; whole microseconds keep the delays clean and comparable.
    builder
        .build()
        .map(|d| Duration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX)))
}

/// Parses a `Retry-After` header: delta-seconds or an HTTP-date (relative to `now`).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use scenario::{Dur, Rate};

    #[test]
    fn exponential_without_jitter_is_capped_and_counted() {
        let r = Retry {
            max_attempts: 5,
            initial_backoff: Dur::millis(100),
            max_backoff: Dur::millis(500),
            multiplier: Rate(2.0),
            jitter: false,
            ..Retry::default()
        };
        let d: Vec<Duration> = delays(&r, 1).collect();
        assert_eq!(d, [100, 200, 400, 500].map(Duration::from_millis));
    }

    #[test]
    fn jitter_is_seeded() {
        let r = Retry {
            jitter: true,
            ..Retry::default()
        };
        let a: Vec<Duration> = delays(&r, 7).collect();
        let b: Vec<Duration> = delays(&r, 7).collect();
        let c: Vec<Duration> = delays(&r, 8).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a[0] >= r.initial_backoff.0 && a[0] < r.initial_backoff.0 * 2);
        assert_eq!(a[0].subsec_nanos() % 1000, 0);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 1.5 ", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}

//! The one retry policy: which outcomes are retried, and how long to wait before the next attempt.
//! `http` (single requests) and `batch` (per-item statuses) both ask it, so they behave the same.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// When a failed attempt is retried and how long to wait first (see [`RetryPolicy::next_delay`]).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// First backoff ceiling; doubles per attempt (full jitter picks uniformly below it).
    pub base_delay: Duration,
    /// Upper bound of the exponential ceiling.
    pub max_delay: Duration,
    /// Wait after a 429 or 503/504 that carries no usable `Retry-After`.
    pub default_retry_after: Duration,
    /// Upper bound on any server-requested wait, so a wild header cannot stall a run for hours.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            default_retry_after: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

/// Why an attempt failed, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure<'a> {
    /// An HTTP status with its `Retry-After` header value, if any.
    Status(u16, Option<&'a str>),
    /// Connection refused/reset, timeout, or a body cut short or undecodable.
    Transport,
}

impl RetryPolicy {
    /// How long to wait before attempt `attempt + 1`, or `None` to give up.
    /// `attempt` counts from 1 (the attempt that just failed).
    pub fn next_delay(
        &self,
        attempt: u32,
        failure: Failure<'_>,
        now: SystemTime,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        match failure {
            Failure::Status(status, retry_after) if Self::is_throttle(status) => Some(
                retry_after
                    .and_then(|v| parse_retry_after(v, now))
                    .unwrap_or(self.default_retry_after)
                    .min(self.max_retry_after),
            ),
            Failure::Status(status, _) if (500..600).contains(&status) => {
                Some(self.backoff(attempt))
            }
            Failure::Status(..) => None,
            Failure::Transport => Some(self.backoff(attempt)),
        }
    }

    /// 429 and the 503/504 that Graph pairs with `Retry-After`.
    pub fn is_throttle(status: u16) -> bool {
        matches!(status, 429 | 503 | 504)
    }

    /// Whether a status is ever retried (regardless of attempts left).
    pub fn is_retryable_status(status: u16) -> bool {
        status == 429 || (500..600).contains(&status)
    }

    /// Exponential backoff with full jitter: uniform in `[0, min(max, base * 2^(attempt-1))]`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self.backoff_ceiling(attempt);
        let nanos = ceiling.as_nanos().min(u64::MAX as u128) as u64;
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }

    fn backoff_ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(20);
        self.base_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3). A date in the past means now.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    // Some servers send fractional seconds; accept them rather than fall back to the default.
    // Too large for a Duration (`1e20`, twenty nines) reads as "very long": the caller clamps it.
    if let Ok(seconds) = value.parse::<f64>() {
        if seconds.is_finite() && seconds >= 0.0 {
            return Some(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX));
        }
        return None;
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            default_retry_after: Duration::from_secs(7),
            max_retry_after: Duration::from_secs(60),
        }
    }

    #[test]
    fn retry_after_seconds_http_date_and_garbage() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(12));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(12))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(12));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        // Beyond u64 and beyond Duration: no panic, "very long" (clamped by the policy).
        assert_eq!(
            parse_retry_after("99999999999999999999", now),
            Some(Duration::MAX)
        );
        assert_eq!(parse_retry_after("1e20", now), Some(Duration::MAX));
        assert_eq!(parse_retry_after("NaN", now), None);
        assert_eq!(parse_retry_after("inf", now), None);
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now).map(|d| d > Duration::ZERO),
            Some(true)
        );
        assert_eq!(parse_retry_after("-4", now), None);
    }

    #[test]
    fn throttles_honour_retry_after_with_default_and_cap() {
        let p = policy();
        let now = SystemTime::now();
        let wait = |status, header| p.next_delay(1, Failure::Status(status, header), now);
        assert_eq!(wait(429, Some("2")), Some(Duration::from_secs(2)));
        assert_eq!(wait(429, None), Some(Duration::from_secs(7)));
        assert_eq!(wait(429, Some("nonsense")), Some(Duration::from_secs(7)));
        assert_eq!(wait(503, Some("1")), Some(Duration::from_secs(1)));
        assert_eq!(wait(504, None), Some(Duration::from_secs(7)));
        assert_eq!(wait(429, Some("86400")), Some(Duration::from_secs(60)));
        assert_eq!(wait(429, Some("1e20")), Some(Duration::from_secs(60)));
        assert_eq!(
            wait(503, Some("99999999999999999999")),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            wait(429, Some("\u{0}garbage")),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn client_errors_are_not_retried_and_attempts_are_bounded() {
        let p = policy();
        let now = SystemTime::now();
        for status in [400, 401, 403, 404, 410] {
            assert_eq!(p.next_delay(1, Failure::Status(status, None), now), None);
        }
        assert!(p.next_delay(5, Failure::Transport, now).is_some());
        assert_eq!(p.next_delay(6, Failure::Transport, now), None);
        assert_eq!(p.next_delay(6, Failure::Status(429, Some("1")), now), None);
    }

    #[test]
    fn backoff_is_full_jitter_under_an_exponential_ceiling() {
        let p = policy();
        assert_eq!(p.backoff_ceiling(1), Duration::from_millis(100));
        assert_eq!(p.backoff_ceiling(3), Duration::from_millis(400));
        assert_eq!(p.backoff_ceiling(10), Duration::from_secs(2));
        let samples: Vec<_> = (0..200).map(|_| p.backoff(3)).collect();
        assert!(samples.iter().all(|d| *d <= Duration::from_millis(400)));
        // Full jitter spreads the waits: not all equal, some in the lower half.
        assert!(samples.iter().any(|d| *d < Duration::from_millis(200)));
        assert!(samples.iter().any(|d| *d > Duration::from_millis(200)));
        let bad_gateway = p.next_delay(2, Failure::Status(502, None), SystemTime::now());
        assert!(bad_gateway.unwrap() <= Duration::from_millis(200));
    }
}

//! Identity throttling as Graph does it: a token bucket of resource units per app and tenant,
//! refilled over a 10-second window. Each directory read costs what its declaration says
//! (`mock.resource_units`: `users` 2, members 3), one less with `$select`; every answer carries
//! `x-ms-resource-unit` and `x-ms-throttle-scope`, and `x-ms-throttle-limit-percentage` once the
//! app has used more than 80% of its units; an empty bucket answers 429 with `Retry-After`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Graph's scope header names the bucket: per tenant and app, for reads.
pub(crate) const SCOPE: &str = "Tenant_Application/ReadOnly";

/// The share of the bucket used from which Graph starts to report it.
const REPORTED_FROM: f64 = 0.8;

pub(crate) struct ResourceBudget {
    capacity: f64,
    window: Duration,
    bucket: Mutex<Bucket>,
}

struct Bucket {
    available: f64,
    at: Instant,
    /// The first charge: the run's spend is measured from there, not from the mock's start.
    first: Option<Instant>,
    /// The counts; [`ResourceBudget::spend`] adds the bucket's size and window.
    spend: IdentitySpend,
}

/// What a run spent of the identity budget, as the mock counted it.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct IdentitySpend {
    /// The bucket's size: resource units per window.
    pub capacity: u32,
    /// The window it refills over, in seconds.
    pub window_s: f64,
    /// Units paid by answered requests.
    pub units: u64,
    /// Requests the budget paid for.
    pub paid: u64,
    /// Requests refused with 429 because the bucket could not pay.
    pub refused: u64,
    /// Seconds from the first charge to the last.
    pub span_s: f64,
}

impl IdentitySpend {
    /// Units the budget offered from the first charge to the last: the full bucket it started
    /// with plus what refilled meanwhile.
    pub fn offered(&self) -> f64 {
        f64::from(self.capacity) * (1.0 + self.span_s / self.window_s.max(1e-9))
    }

    /// The share of [`IdentitySpend::offered`] the run used (1.0: every unit).
    pub fn used(&self) -> f64 {
        self.units as f64 / self.offered().max(1.0)
    }
}

/// What one request's charge came to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Charge {
    /// Units the request cost.
    pub units: u32,
    /// The share of the bucket in use after it (1.0 and more: empty).
    pub used: f64,
    /// Seconds until the bucket holds the units again, when it could not pay.
    pub retry_after: Option<u64>,
}

impl Charge {
    /// The throttling headers of the answer.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("x-ms-resource-unit", self.units.to_string()),
            ("x-ms-throttle-scope", SCOPE.to_string()),
        ];
        if self.used > REPORTED_FROM {
            headers.push((
                "x-ms-throttle-limit-percentage",
                format!("{:.2}", self.used),
            ));
        }
        headers
    }
}

impl ResourceBudget {
    /// `units` per `window` (Graph: 3,500 per 10 s for a tenant under 50 users).
    pub fn new(units: u32, window: Duration) -> Self {
        let capacity = f64::from(units.max(1));
        Self {
            capacity,
            window: window.max(Duration::from_millis(1)),
            bucket: Mutex::new(Bucket {
                available: capacity,
                at: Instant::now(),
                first: None,
                spend: IdentitySpend::default(),
            }),
        }
    }

    /// What was spent so far.
    pub fn spend(&self) -> IdentitySpend {
        let bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        IdentitySpend {
            capacity: self.capacity as u32,
            window_s: self.window.as_secs_f64(),
            ..bucket.spend
        }
    }

    /// Takes `units` from the bucket, or says when it will hold them.
    pub fn charge(&self, units: u32) -> Charge {
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let first = *bucket.first.get_or_insert(now);
        bucket.spend.span_s = now.duration_since(first).as_secs_f64();
        let refill = now.duration_since(bucket.at).as_secs_f64() / self.window.as_secs_f64();
        bucket.available = (bucket.available + refill * self.capacity).min(self.capacity);
        bucket.at = now;
        let cost = f64::from(units);
        if bucket.available >= cost {
            bucket.available -= cost;
            bucket.spend.units += u64::from(units);
            bucket.spend.paid += 1;
            let used = 1.0 - bucket.available / self.capacity;
            return Charge {
                units,
                used,
                retry_after: None,
            };
        }
        bucket.spend.refused += 1;
        let missing = cost - bucket.available;
        let wait = missing / self.capacity * self.window.as_secs_f64();
        Charge {
            units,
            used: 1.0 + missing / self.capacity,
            retry_after: Some(wait.ceil().max(1.0) as u64),
        }
    }
}

/// What a request to a declared stream costs: its units, one less with `$select` (at least 1);
/// `None` for streams outside the budget.
pub(crate) fn cost(declared: Option<u32>, selects: bool) -> Option<u32> {
    declared.map(|units| units.saturating_sub(u32::from(selects)).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_bucket_says_when_it_holds_the_units_again() {
        let budget = ResourceBudget::new(10, Duration::from_secs(10));
        for _ in 0..5 {
            assert_eq!(budget.charge(2).retry_after, None);
        }
        let over = budget.charge(2);
        assert_eq!(over.retry_after, Some(2), "2 units refill in 2 s");
        assert!(over.used > 1.0);
        let names: Vec<_> = over.headers().into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"x-ms-throttle-limit-percentage"));
        let spend = budget.spend();
        assert_eq!((spend.units, spend.paid, spend.refused), (10, 5, 1));
        assert!(
            spend.used() > 0.99,
            "the whole bucket, in no time: {spend:?}"
        );
        assert_eq!(cost(Some(2), true), Some(1));
        assert_eq!(cost(Some(1), true), Some(1));
        assert_eq!(cost(None, true), None);
    }

    #[test]
    fn the_bucket_refills_over_the_window() {
        let budget = ResourceBudget::new(100, Duration::from_millis(100));
        assert_eq!(budget.charge(100).retry_after, None);
        std::thread::sleep(Duration::from_millis(60));
        let half = budget.charge(50);
        assert_eq!(half.retry_after, None, "60 ms refill 60 units");
        let fresh = ResourceBudget::new(100, Duration::from_secs(10)).charge(10);
        assert!(
            !fresh
                .headers()
                .iter()
                .any(|(n, _)| *n == "x-ms-throttle-limit-percentage")
        );
    }
}

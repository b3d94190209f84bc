//! Random faults with a per-URL streak bound, and Outlook's per-mailbox concurrency limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http::StatusCode;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::Faults;
use crate::ids::{combine, hash_str};
use crate::response::{GraphResponse, RequestIds, Transport};

/// Outlook allows this many concurrent requests per app per mailbox.
pub(crate) const MAILBOX_CONCURRENCY: u32 = 4;

/// How early tokio's timer is asked to wake a latency wait: more than its overshoot.
const COARSE_MARGIN: Duration = Duration::from_millis(2);

/// Waits until `deadline`, never before it and close after it: the configured latency, not
/// more. tokio's timer fires on the millisecond tick after a deadline; measured on the 2-core
/// benchmark machine, 20 ms waits took 21.1 ms on average (max 21.6), so every answer came
/// ~6% later than the latency a benchmark's lower bound counts. The last stretch is slept on a
/// blocking thread instead, whose `nanosleep` is precise to tens of microseconds.
pub(crate) async fn wait_until(deadline: std::time::Instant) {
    if let Some(coarse) = deadline.checked_sub(COARSE_MARGIN)
        && coarse > std::time::Instant::now()
    {
        tokio::time::sleep_until(coarse.into()).await;
    }
    let rest = deadline.saturating_duration_since(std::time::Instant::now());
    if !rest.is_zero() {
        // A failed join (the runtime shutting down) only ends the wait early.
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
    }
}

/// A random fault drawn for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RandomFault {
    Throttle(RetryAfter),
    Unavailable(StatusCode, RetryAfter),
    Drop,
    Truncate,
}

/// The three ways Graph sends Retry-After.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryAfter {
    Seconds,
    HttpDate,
    Absent,
}

pub(crate) struct FaultEngine {
    pub faults: Faults,
    rng: Mutex<StdRng>,
    /// Faults in a row per URL; reset by a clean answer.
    streaks: Mutex<HashMap<String, u32>>,
    mailboxes: Arc<Mutex<HashMap<String, u32>>>,
    /// The identity budget, when the faults ask for one.
    pub budget: Option<crate::budget::ResourceBudget>,
}

impl FaultEngine {
    pub fn new(faults: Faults, seed: u64) -> Self {
        Self {
            rng: Mutex::new(StdRng::seed_from_u64(combine(&[seed, hash_str("faults")]))),
            streaks: Mutex::new(HashMap::new()),
            mailboxes: Arc::new(Mutex::new(HashMap::new())),
            budget: faults
                .identity_budget
                .map(|units| crate::budget::ResourceBudget::new(units, faults.identity_window)),
            faults,
        }
    }

    /// Draws a fault for `url`, never more than [`Faults::MAX_IN_A_ROW`] in a row for one URL.
    /// `transport` allows drops and truncations (not inside `$batch`).
    pub fn draw(&self, url: &str, transport: bool) -> Option<RandomFault> {
        if !self.faults.any_random() {
            return None;
        }
        let mut streaks = self.streaks.lock().unwrap_or_else(|e| e.into_inner());
        let streak = streaks.get(url).copied().unwrap_or(0);
        let fault = if streak >= Faults::MAX_IN_A_ROW {
            None
        } else {
            self.pick(transport)
        };
        match fault {
            Some(_) => {
                streaks.insert(url.to_string(), streak + 1);
            }
            None => {
                streaks.remove(url);
            }
        }
        fault
    }

    fn pick(&self, transport: bool) -> Option<RandomFault> {
        let f = &self.faults;
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let draw: f64 = rng.random();
        let retry_after = match rng.random_range(0..3) {
            0 => RetryAfter::Seconds,
            1 => RetryAfter::HttpDate,
            _ => RetryAfter::Absent,
        };
        let mut edge = f.throttle_rate;
        if draw < edge {
            return Some(RandomFault::Throttle(retry_after));
        }
        edge += f.unavailable_rate;
        if draw < edge {
            let status = if rng.random_bool(0.5) {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::GATEWAY_TIMEOUT
            };
            return Some(RandomFault::Unavailable(status, retry_after));
        }
        edge += f.drop_rate;
        if draw < edge {
            return transport.then_some(RandomFault::Drop);
        }
        edge += f.truncate_rate;
        (draw < edge && transport).then_some(RandomFault::Truncate)
    }

    /// Takes one of the mailbox's 4 slots, or `None` when all are in use.
    pub fn enter_mailbox(&self, mailbox: &str) -> Option<MailboxSlot> {
        let mut in_flight = self.mailboxes.lock().unwrap_or_else(|e| e.into_inner());
        let count = in_flight.entry(mailbox.to_string()).or_default();
        if *count >= MAILBOX_CONCURRENCY {
            return None;
        }
        *count += 1;
        Some(MailboxSlot {
            mailboxes: Arc::clone(&self.mailboxes),
            mailbox: mailbox.to_string(),
        })
    }

    /// The answer for a drawn fault; `answer` is the real response, needed for truncation.
    pub fn apply(
        &self,
        fault: RandomFault,
        answer: GraphResponse,
        ids: &RequestIds,
    ) -> GraphResponse {
        match fault {
            RandomFault::Throttle(retry_after) => {
                let mut response = GraphResponse::error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequests",
                    "Too many requests.",
                    ids,
                );
                self.set_retry_after(&mut response, retry_after);
                response
            }
            RandomFault::Unavailable(status, retry_after) => {
                let (code, message) = if status == StatusCode::SERVICE_UNAVAILABLE {
                    (
                        "ServiceUnavailable",
                        "The service is temporarily unavailable.",
                    )
                } else {
                    (
                        "GatewayTimeout",
                        "The gateway did not receive a timely response.",
                    )
                };
                let mut response = GraphResponse::error(status, code, message, ids);
                self.set_retry_after(&mut response, retry_after);
                response
            }
            RandomFault::Drop => GraphResponse {
                transport: Transport::Drop,
                ..answer
            },
            RandomFault::Truncate => GraphResponse {
                transport: Transport::Truncate,
                ..answer
            },
        }
    }

    fn set_retry_after(&self, response: &mut GraphResponse, retry_after: RetryAfter) {
        let secs = self.faults.retry_after_secs;
        match retry_after {
            RetryAfter::Seconds => response.header("retry-after", &secs.to_string()),
            RetryAfter::HttpDate => {
                // Whole seconds only: round up so the date is never earlier than the wait meant.
                let at = SystemTime::now() + Duration::from_secs(secs + 1);
                response.header("retry-after", &httpdate::fmt_http_date(at));
            }
            RetryAfter::Absent => {}
        }
    }
}

/// Holds a mailbox slot until dropped.
pub(crate) struct MailboxSlot {
    mailboxes: Arc<Mutex<HashMap<String, u32>>>,
    mailbox: String,
}

impl Drop for MailboxSlot {
    fn drop(&mut self) {
        let mut in_flight = self.mailboxes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = in_flight.get_mut(&self.mailbox) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                in_flight.remove(&self.mailbox);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_more_than_the_bound_in_a_row() {
        let engine = FaultEngine::new(Faults::default().throttle_rate(1.0), 1);
        let outcomes: Vec<bool> = (0..20)
            .map(|_| engine.draw("/users", true).is_some())
            .collect();
        for window in outcomes.windows(Faults::MAX_IN_A_ROW as usize + 1) {
            assert!(window.iter().any(|faulted| !faulted), "{outcomes:?}");
        }
        assert_eq!(outcomes.iter().filter(|f| **f).count(), 15);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn latency_waits_never_end_before_their_deadline() {
        let waits = (0..16u64).map(|i| async move {
            // Deadlines on and off the millisecond, inside and beyond the coarse margin.
            let deadline = std::time::Instant::now() + Duration::from_micros(300 + 700 * i);
            wait_until(deadline).await;
            std::time::Instant::now() >= deadline
        });
        let on_time = futures::future::join_all(waits).await;
        assert!(on_time.iter().all(|&ok| ok), "{on_time:?}");
    }

    #[test]
    fn mailbox_slots_are_released() {
        let engine = FaultEngine::new(Faults::default(), 1);
        let slots: Vec<_> = (0..4).map(|_| engine.enter_mailbox("u").unwrap()).collect();
        assert!(engine.enter_mailbox("u").is_none());
        assert!(engine.enter_mailbox("v").is_some());
        drop(slots);
        assert!(engine.enter_mailbox("u").is_some());
    }
}

//! Concurrency limits: a global cap on requests in flight, and Outlook's 4 per mailbox.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Outlook allows 4 concurrent requests per app per mailbox.
pub const OUTLOOK_MAILBOX_LIMIT: usize = 4;

/// A run's concurrency limits: requests in flight in all, and per mailbox.
pub struct Limits {
    global: Arc<Semaphore>,
    /// The global semaphore's size: a request never asks for more (it would wait forever).
    capacity: usize,
    per_mailbox: usize,
    mailboxes: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// Permits held for one attempt; released on drop.
pub struct Permits {
    _held: Vec<OwnedSemaphorePermit>,
}

impl Limits {
    /// `global` requests in flight in all, `per_mailbox` per mailbox (each at least 1).
    pub fn new(global: usize, per_mailbox: usize) -> Self {
        Self {
            global: Arc::new(Semaphore::new(global.max(1))),
            capacity: global.max(1),
            per_mailbox: per_mailbox.max(1),
            mailboxes: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for one per request to each mailbox (a `$batch` may hold several items for one
    /// mailbox), then for `requests` global permits: the global limit counts Graph requests, so a
    /// `$batch` of n items takes n. Mailboxes are taken in sorted order, each with one atomic
    /// `acquire_many`, and the global permits last (also atomically), so two batches over the same
    /// mailboxes cannot deadlock each other.
    pub async fn acquire(&self, mailboxes: &[String], requests: usize) -> Permits {
        let mut sorted: Vec<&String> = mailboxes.iter().collect();
        sorted.sort();
        let mut held = Vec::with_capacity(sorted.len() + 1);
        for group in sorted.chunk_by(|a, b| a == b) {
            let wanted = group.len().min(self.per_mailbox) as u32;
            let semaphore = self.mailbox(group[0]);
            held.push(
                semaphore
                    .acquire_many_owned(wanted)
                    .await
                    .expect("semaphore never closed"),
            );
        }
        let requests = requests.clamp(1, self.capacity) as u32;
        held.push(
            self.global
                .clone()
                .acquire_many_owned(requests)
                .await
                .expect("semaphore never closed"),
        );
        Permits { _held: held }
    }

    fn mailbox(&self, mailbox: &str) -> Arc<Semaphore> {
        let mut map = self.mailboxes.lock().expect("mailbox lock");
        // Forget idle mailboxes so the map stays small over 20k users.
        if map.len() > 4096 {
            let full = self.per_mailbox;
            map.retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() < full);
        }
        map.entry(mailbox.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_mailbox)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn mailbox_permits_cap_concurrency_per_mailbox() {
        let limits = Limits::new(100, 2);
        let a = vec!["user-a".to_string()];
        let first = limits.acquire(&a, 1).await;
        let _second = limits.acquire(&a, 1).await;
        let third = tokio::time::timeout(Duration::from_millis(50), limits.acquire(&a, 1)).await;
        assert!(third.is_err(), "a third request to one mailbox must wait");
        let b = vec!["user-b".to_string()];
        let other = tokio::time::timeout(Duration::from_millis(50), limits.acquire(&b, 1));
        assert!(other.await.is_ok(), "other mailboxes are not blocked");
        drop(first);
        let third = tokio::time::timeout(Duration::from_millis(50), limits.acquire(&a, 1)).await;
        assert!(third.is_ok());
    }

    #[tokio::test]
    async fn a_batch_takes_one_permit_per_item_of_a_mailbox() {
        let limits = Limits::new(100, 4);
        let batch = vec!["u".to_string(), "u".to_string(), "u".to_string()];
        let _held = limits.acquire(&batch, 3).await;
        let one = vec!["u".to_string()];
        let two = vec!["u".to_string(), "u".to_string()];
        let fits = tokio::time::timeout(Duration::from_millis(50), limits.acquire(&one, 1));
        assert!(fits.await.is_ok());
        let over = tokio::time::timeout(Duration::from_millis(50), limits.acquire(&two, 2));
        assert!(over.await.is_err(), "3 + 2 exceeds 4 per mailbox");
    }

    #[tokio::test]
    async fn global_limit_caps_all_requests() {
        let limits = Limits::new(1, 4);
        let _one = limits.acquire(&[], 1).await;
        let two = tokio::time::timeout(Duration::from_millis(50), limits.acquire(&[], 1)).await;
        assert!(two.is_err());
    }

    #[tokio::test]
    async fn a_batch_takes_one_global_permit_per_item_capped_at_the_limit() {
        let limits = Limits::new(8, 4);
        let batch = limits.acquire(&[], 6).await;
        let fits = tokio::time::timeout(Duration::from_millis(50), limits.acquire(&[], 2));
        let two = fits.await.expect("6 + 2 fit in 8");
        let over = tokio::time::timeout(Duration::from_millis(50), limits.acquire(&[], 1));
        assert!(over.await.is_err(), "8 requests in flight: the 9th waits");
        drop((batch, two));
        // More items than the limit take the whole limit rather than waiting forever.
        let all = tokio::time::timeout(Duration::from_millis(50), limits.acquire(&[], 20));
        assert!(all.await.is_ok());
    }
}

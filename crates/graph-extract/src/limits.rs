//! Concurrency limits: a global cap on requests in flight, and Outlook's 4 per mailbox.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Outlook allows 4 concurrent requests per app per mailbox.
pub const OUTLOOK_MAILBOX_LIMIT: usize = 4;

pub struct Limits {
    global: Arc<Semaphore>,
    per_mailbox: usize,
    mailboxes: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// Permits held for one attempt; released on drop.
pub struct Permits {
    _held: Vec<OwnedSemaphorePermit>,
}

impl Limits {
    pub fn new(global: usize, per_mailbox: usize) -> Self {
        Self {
            global: Arc::new(Semaphore::new(global.max(1))),
            per_mailbox: per_mailbox.max(1),
            mailboxes: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for a global permit and one per request to each mailbox (a `$batch` may hold several
    /// items for one mailbox). Mailboxes are taken in sorted order, each with one atomic
    /// `acquire_many`, so two batches over the same mailboxes cannot deadlock each other.
    pub async fn acquire(&self, mailboxes: &[String]) -> Permits {
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
        held.push(
            self.global
                .clone()
                .acquire_owned()
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
        let first = limits.acquire(&a).await;
        let _second = limits.acquire(&a).await;
        let third = tokio::time::timeout(Duration::from_millis(50), limits.acquire(&a)).await;
        assert!(third.is_err(), "a third request to one mailbox must wait");
        let b = vec!["user-b".to_string()];
        let other = tokio::time::timeout(Duration::from_millis(50), limits.acquire(&b));
        assert!(other.await.is_ok(), "other mailboxes are not blocked");
        drop(first);
        let third = tokio::time::timeout(Duration::from_millis(50), limits.acquire(&a)).await;
        assert!(third.is_ok());
    }

    #[tokio::test]
    async fn a_batch_takes_one_permit_per_item_of_a_mailbox() {
        let limits = Limits::new(100, 4);
        let batch = vec!["u".to_string(), "u".to_string(), "u".to_string()];
        let _held = limits.acquire(&batch).await;
        let one = vec!["u".to_string()];
        let two = vec!["u".to_string(), "u".to_string()];
        let fits = tokio::time::timeout(Duration::from_millis(50), limits.acquire(&one));
        assert!(fits.await.is_ok());
        let over = tokio::time::timeout(Duration::from_millis(50), limits.acquire(&two));
        assert!(over.await.is_err(), "3 + 2 exceeds 4 per mailbox");
    }

    #[tokio::test]
    async fn global_limit_caps_all_requests() {
        let limits = Limits::new(1, 4);
        let _one = limits.acquire(&[]).await;
        let two = tokio::time::timeout(Duration::from_millis(50), limits.acquire(&[])).await;
        assert!(two.is_err());
    }
}

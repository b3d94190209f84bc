//! Caching, early refresh and single flight, shared by every provider.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;

use super::error::AuthError;
use super::{AccessToken, TokenProvider};
use crate::retry::{Failure, RetryPolicy};

/// Refresh this long before expiry at most...
const MAX_MARGIN: Duration = Duration::from_secs(300);
/// ...and at most this share of the token's lifetime, so short-lived tokens stay usable.
const MARGIN_SHARE: u32 = 10;

/// One way of fetching a fresh token from its identity endpoint.
pub(crate) trait TokenSource: Send + Sync {
    fn fetch(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>>;
}

struct Cached {
    token: AccessToken,
    refresh_at: SystemTime,
}

/// Wraps a [`TokenSource`]: serves the cached token until `refresh_at`, then exactly one caller
/// fetches while the others wait for its result.
pub(crate) struct CachedProvider<S> {
    source: S,
    method: &'static str,
    cached: Mutex<Option<Cached>>,
    fetching: tokio::sync::Mutex<()>,
    /// Transient failures (unreachable, 5xx, 429) are retried as Graph requests are.
    policy: RetryPolicy,
}

impl<S: TokenSource> CachedProvider<S> {
    pub fn new(source: S, method: &'static str) -> Self {
        Self {
            source,
            method,
            cached: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
            policy: RetryPolicy::default(),
        }
    }

    /// One fetch, retried under the policy while the failure is transient; a refusal (AADSTS,
    /// a 4xx) is final at once.
    async fn fetch(&self) -> Result<AccessToken, AuthError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let err = match self.source.fetch().await {
                Ok(token) => return Ok(token),
                Err(err) => err,
            };
            let failure = match (err.is_permanent(), err.status()) {
                (true, _) => None,
                (false, Some(status)) => Some(Failure::Status(status, None)),
                (false, None) => Some(Failure::Transport),
            };
            match failure.and_then(|f| self.policy.next_delay(attempt, f, SystemTime::now())) {
                Some(delay) => {
                    tracing::warn!(method = self.method, attempt, error = %err,
                        "token request failed; retrying in {:.1}s", delay.as_secs_f64());
                    tokio::time::sleep(delay).await;
                }
                None => {
                    tracing::warn!(method = self.method, attempt, error = %err, "token request failed");
                    return Err(err);
                }
            }
        }
    }

    fn fresh(&self) -> Option<AccessToken> {
        let cached = self.cached.lock().expect("token cache poisoned");
        cached
            .as_ref()
            .filter(|c| SystemTime::now() < c.refresh_at)
            .map(|c| c.token.clone())
    }

    async fn token_or_fetch(&self) -> Result<AccessToken, AuthError> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let _flight = self.fetching.lock().await;
        // Whoever held the flight before us may have just fetched.
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let fetched_at = SystemTime::now();
        let token = self.fetch().await?;
        let lifetime = token
            .expires_at
            .duration_since(fetched_at)
            .unwrap_or_default();
        let margin = (lifetime / MARGIN_SHARE).min(MAX_MARGIN);
        tracing::debug!(
            method = self.method,
            lifetime_s = lifetime.as_secs(),
            "fetched a new token"
        );
        *self.cached.lock().expect("token cache poisoned") = Some(Cached {
            token: token.clone(),
            refresh_at: token.expires_at - margin,
        });
        Ok(token)
    }
}

impl<S: TokenSource> TokenProvider for CachedProvider<S> {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>> {
        Box::pin(self.token_or_fetch())
    }

    fn invalidate(&self, rejected: &AccessToken) {
        let mut cached = self.cached.lock().expect("token cache poisoned");
        // Only drop the token Graph refused: a newer one fetched meanwhile stays.
        if cached
            .as_ref()
            .is_some_and(|c| c.token.secret == rejected.secret)
        {
            tracing::debug!(method = self.method, "token invalidated after a 401");
            *cached = None;
        }
    }

    fn method(&self) -> &'static str {
        self.method
    }
}

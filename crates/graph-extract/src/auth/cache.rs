//! Caching, early refresh and single flight, shared by every provider.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;

use super::error::AuthError;
use super::{AccessToken, TokenProvider};

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
}

impl<S: TokenSource> CachedProvider<S> {
    pub fn new(source: S, method: &'static str) -> Self {
        Self {
            source,
            method,
            cached: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
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
        let token = self.source.fetch().await.inspect_err(|err| {
            tracing::warn!(method = self.method, error = %err, "token request failed");
        })?;
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

//! Token providers: one trait, one implementation per auth method.
//!
//! The HTTP client asks for a token before each request and calls `invalidate` once after a 401,
//! so a provider caches tokens, refreshes them before expiry, and fetches anew after invalidation.

use futures::future::BoxFuture;

/// A bearer token for Graph. `Debug` never shows the secret.
#[derive(Clone)]
pub struct AccessToken {
    pub secret: String,
    pub expires_at: std::time::SystemTime,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

pub trait TokenProvider: Send + Sync {
    /// A valid token, from cache while it has more than a safety margin left.
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>>;
    /// Graph rejected `rejected` with 401: the next `token()` must fetch a new one.
    fn invalidate(&self, rejected: &AccessToken);
    /// Short name of the method for logs (`client_secret`, `certificate`, ...).
    fn method(&self) -> &'static str;
}

/// Placeholder until the auth module lands; replaced by the typed token errors.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Other(String),
}

//! Token providers: one trait, one implementation per auth method.
//!
//! The HTTP client asks for a token before each request and calls `invalidate` once after a 401,
//! so a provider caches tokens, refreshes them before expiry, and fetches anew after invalidation.
//! Build one with [`provider`]; the method comes from [`AuthSettings`] (see [`AuthSettings::method`]).

mod cache;
mod certificate;
mod client_secret;
mod delegated;
pub(crate) mod entra;
mod error;
pub(crate) mod managed_identity;
mod settings;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;

pub use delegated::{Pkce, authorize_url, code_from_redirect, login};
pub use error::{AuthError, EntraRefusal};
pub use settings::{AuthContext, AuthSettings, Method};

use cache::CachedProvider;

/// A bearer token for Graph. `Debug` never shows the secret.
#[derive(Clone)]
pub struct AccessToken {
    /// The bearer token itself; never logged.
    pub secret: String,
    /// When it expires, as the token endpoint said (capped at 24 hours from the answer).
    pub expires_at: SystemTime,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Longest lifetime believed from a token answer: Entra's are 1 to 24 hours, and a wild
/// `expires_in`/`expires_on` must neither overflow the clock nor keep a dead token cached.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Whole token request, connect to last byte.
const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// When a token answered at `now` with `expires_in` seconds expires.
fn expires_after(now: SystemTime, seconds: u64) -> SystemTime {
    now + Duration::from_secs(seconds).min(MAX_TOKEN_LIFETIME)
}

/// When a token answered at `now` with `expires_on` (Unix seconds) expires.
fn expires_on(now: SystemTime, unix: u64) -> SystemTime {
    let latest = now + MAX_TOKEN_LIFETIME;
    SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(unix))
        .map_or(latest, |at| at.min(latest))
}

/// A token endpoint's answer: status and body, the body capped and the whole exchange timed.
async fn token_answer(
    request: reqwest::RequestBuilder,
    endpoint: &str,
) -> Result<(u16, bytes::Bytes), AuthError> {
    let response = request
        .timeout(TOKEN_REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|err| AuthError::transport(endpoint, err))?;
    let status = response.status().as_u16();
    let body = crate::body::read_capped(response, crate::body::MAX_TOKEN_BYTES)
        .await
        .map_err(|err| match err {
            crate::body::BodyError::Transport(err) => AuthError::transport(endpoint, err),
            too_large => AuthError::UnexpectedResponse {
                endpoint: endpoint.to_owned(),
                status,
                reason: too_large.to_string(),
            },
        })?;
    Ok((status, body))
}

/// Hands out bearer tokens for Graph; one implementation per auth method (see [`provider`]).
pub trait TokenProvider: Send + Sync {
    /// A valid token, from cache while it has more than a safety margin left.
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>>;
    /// Graph rejected `rejected` with 401: the next `token()` must fetch a new one.
    fn invalidate(&self, rejected: &AccessToken);
    /// Short name of the method for logs (`client_secret`, `certificate`, ...).
    fn method(&self) -> &'static str;
}

/// The provider for the one method `settings` configure. Precedence: none; exactly one method
/// must be configured (a client secret beside a refresh token authenticates the delegated app
/// and is not a second method). Files (certificate, key, token cache) are read here, so a bad
/// path fails before the run starts. Call [`AuthSettings::with_env_defaults`] first to let the
/// environment fill in.
pub fn provider(
    settings: &AuthSettings,
    ctx: AuthContext,
) -> Result<Arc<dyn TokenProvider>, AuthError> {
    let method = settings.method()?;
    let name = method.name();
    let provider: Arc<dyn TokenProvider> = match method {
        Method::ClientSecret => {
            let secret = settings.client_secret.clone().unwrap_or_default();
            if secret.is_empty() {
                return Err(AuthError::Config("client_secret is empty".into()));
            }
            Arc::new(CachedProvider::new(
                client_secret::ClientSecret {
                    context: ctx,
                    secret,
                },
                name,
            ))
        }
        Method::Certificate => {
            let cert = settings
                .certificate_path
                .as_deref()
                .or(settings.private_key_path.as_deref())
                .expect("method() saw a certificate or key path");
            let key = settings.private_key_path.as_deref().unwrap_or(cert);
            Arc::new(CachedProvider::new(
                certificate::Certificate::load(ctx, cert, key)?,
                name,
            ))
        }
        Method::RefreshToken => {
            let source = delegated::RefreshToken::load(
                ctx,
                settings.client_secret.clone(),
                settings.refresh_token.clone(),
                settings.token_cache_path.clone(),
            )?;
            Arc::new(CachedProvider::new(source, name))
        }
        Method::ManagedIdentity => {
            let endpoint = settings
                .identity_endpoint
                .as_deref()
                .map(url::Url::parse)
                .transpose()
                .map_err(|err| {
                    AuthError::Config(format!("identity_endpoint is not a URL: {err}"))
                })?;
            // The identity endpoint is link-local (IMDS) or local (App Service): a proxy from
            // HTTPS_PROXY must never see its answers, which are bearer tokens.
            let direct = crate::http::HttpSettings {
                use_proxy: false,
                ..Default::default()
            };
            let http = crate::http::build_http_client(&direct)
                .map_err(|err| AuthError::Config(format!("building the identity client: {err}")))?;
            let source = managed_identity::ManagedIdentity::new(
                http,
                endpoint,
                settings.identity_header.clone(),
                settings.managed_identity_client_id.clone(),
                &ctx.scope,
            );
            Arc::new(CachedProvider::new(source, name))
        }
        Method::WorkloadIdentity => {
            let token_file = settings
                .federated_token_file
                .clone()
                .expect("method() saw the file");
            Arc::new(CachedProvider::new(
                certificate::Federated {
                    context: ctx,
                    token_file,
                },
                name,
            ))
        }
    };
    tracing::debug!(method = name, "authentication method chosen");
    Ok(provider)
}

#[cfg(test)]
mod lifetime_tests {
    use super::*;

    #[test]
    fn wild_lifetimes_are_clamped_not_overflowed() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(expires_after(now, 3599), now + Duration::from_secs(3599));
        assert_eq!(expires_after(now, u64::MAX), now + MAX_TOKEN_LIFETIME);
        assert_eq!(
            expires_on(now, 1_700_003_600),
            now + Duration::from_secs(3600)
        );
        assert_eq!(expires_on(now, u64::MAX), now + MAX_TOKEN_LIFETIME);
        // Already expired: cached for no time at all.
        assert!(expires_on(now, 5) < now);
    }
}

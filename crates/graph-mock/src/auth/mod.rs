//! The mock's Microsoft identity platform: Entra's token and authorize endpoints, managed identity
//! endpoints, and bearer validation for every Graph route.
//!
//! The server mounts [`TokenService::routes`] at its root and calls [`TokenService::check_bearer`] on
//! each Graph request, mapping a [`BearerError`] to 401 `InvalidAuthenticationToken`.

mod assertion;
mod authorize;
mod config;
mod entra_error;
mod managed_identity;
mod store;
mod token_endpoint;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use http::HeaderMap;

pub use assertion::certificate_thumbprint;
pub use config::{
    AuthConfig, DelegatedUser, FEDERATED_AUDIENCE, FederatedCredential, ManagedIdentity,
    TEST_APP_CERT_PEM, TEST_APP_KEY_PEM, TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_ISSUER_KEY_PEM,
    TEST_ISSUER_PUBLIC_PEM, TEST_REDIRECT_URI, TEST_TENANT_DOMAIN, TEST_TENANT_ID,
};
pub use entra_error::EntraError;
pub use store::{Grant, Principal};

use store::{Lookup, Store};

/// Why a bearer token was refused. Display is Graph's message for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    /// No `Authorization` header, or an empty token.
    #[error("Access token is empty.")]
    Missing,
    /// Not `Bearer <token>`, or the token is not three dot-separated parts.
    #[error("IDX14100: JWT is not well formed, there are no dots (.).")]
    Malformed,
    /// A token the mock issued that has expired.
    #[error("Lifetime validation failed, the token is expired.")]
    Expired,
    /// A token the mock never issued (Graph calls it a bad signature).
    #[error("IDX10511: Signature validation failed.")]
    Unknown,
}

/// Issues and checks tokens. Cheap to clone; clones share one store.
#[derive(Clone)]
pub struct TokenService {
    inner: Arc<Inner>,
}

struct Inner {
    config: AuthConfig,
    store: Mutex<Store>,
}

impl TokenService {
    /// A service that accepts what `config` describes, with nothing issued yet.
    pub fn new(config: AuthConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                store: Mutex::new(Store::default()),
            }),
        }
    }

    /// The tenant, app and lifetimes this service accepts.
    pub fn config(&self) -> &AuthConfig {
        &self.inner.config
    }

    /// The identity endpoints, to be merged into the server's router at its root:
    /// `POST /{tenant}/oauth2/v2.0/token`, `GET /{tenant}/oauth2/v2.0/authorize`,
    /// `GET /metadata/identity/oauth2/token` (IMDS) and `GET /msi/token` (App Service).
    pub fn routes(&self) -> Router {
        Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token_endpoint::token))
            .route("/{tenant}/oauth2/v2.0/authorize", get(authorize::authorize))
            .route(
                "/metadata/identity/oauth2/token",
                get(managed_identity::imds),
            )
            .route("/msi/token", get(managed_identity::app_service))
            .with_state(self.clone())
    }

    /// Accepts only a live token this service issued, sent as `Authorization: Bearer <token>`.
    pub fn check_bearer(&self, headers: &HeaderMap) -> Result<Principal, BearerError> {
        let value = headers
            .get(http::header::AUTHORIZATION)
            .map(|v| v.to_str().map_err(|_| BearerError::Malformed))
            .transpose()?
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(BearerError::Missing)?;
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(BearerError::Malformed);
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(BearerError::Missing);
        }
        if token.split('.').count() != 3 {
            return Err(BearerError::Malformed);
        }
        match self
            .inner
            .store
            .lock()
            .expect("token store poisoned")
            .lookup(token)
        {
            Lookup::Live(principal) => Ok(principal),
            Lookup::Expired => Err(BearerError::Expired),
            Lookup::Unknown => Err(BearerError::Unknown),
        }
    }

    /// Makes every access token issued so far expired (codes and refresh tokens stay valid).
    pub fn expire_all(&self) {
        self.inner
            .store
            .lock()
            .expect("token store poisoned")
            .expire_access_tokens();
    }

    /// Makes every outstanding authorization code and refresh token expired (AADSTS70008/700082).
    pub fn expire_codes_and_refresh_tokens(&self) {
        self.inner
            .store
            .lock()
            .expect("token store poisoned")
            .expire_grants();
    }

    /// Access tokens issued so far through `grant`.
    pub fn tokens_issued(&self, grant: Grant) -> u64 {
        let store = self.inner.store.lock().expect("token store poisoned");
        store.issued.get(&grant).copied().unwrap_or(0)
    }

    /// Access tokens issued so far, all grants together.
    pub fn total_tokens_issued(&self) -> u64 {
        let store = self.inner.store.lock().expect("token store poisoned");
        store.issued.values().sum()
    }

    /// A federated token as the configured test issuer would mint it (what GitHub Actions or AKS
    /// write to `AZURE_FEDERATED_TOKEN_FILE`), valid for `lifetime`.
    pub fn federated_token(&self, lifetime: Duration) -> String {
        let federated = &self.inner.config.federated;
        sign_federated_token(federated, &federated.subject, lifetime)
    }
}

/// Signs a federated token for `subject` with the issuer's test key.
pub fn sign_federated_token(
    federated: &FederatedCredential,
    subject: &str,
    lifetime: Duration,
) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = serde_json::json!({
        "iss": federated.issuer,
        "sub": subject,
        "aud": federated.audience,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime.as_secs(),
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(federated.issuer_private_key_pem.as_bytes())
        .expect("the test issuer key is a valid RSA PEM");
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .expect("signing with the test issuer key")
}

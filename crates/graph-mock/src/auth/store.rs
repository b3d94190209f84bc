//! Everything the mock has issued: access tokens, authorization codes and refresh tokens, each with
//! its expiry, so that only live ones are accepted.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

/// Who a valid bearer token was issued to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The app (or managed identity) the token was issued to.
    pub client_id: String,
    /// The signed-in user for delegated tokens; `None` for app-only tokens.
    pub user_id: Option<String>,
    /// How it was obtained.
    pub grant: Grant,
}

/// The grant an access token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grant {
    /// Client credentials with the app's secret.
    ClientSecret,
    /// Client credentials with an assertion signed by the app's certificate.
    Certificate,
    /// Client credentials with a federated token (workload identity).
    Federated,
    /// Delegated: an authorization code from `/authorize`, redeemed.
    AuthorizationCode,
    /// Delegated: a refresh token, redeemed (it works once).
    RefreshToken,
    /// The IMDS or App Service managed identity endpoint.
    ManagedIdentity,
}

pub(crate) struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    /// PKCE: `BASE64URL(SHA256(verifier))` from the authorize request.
    pub code_challenge: String,
    pub expires_at: Instant,
    pub redeemed: bool,
}

pub(crate) struct RefreshGrant {
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub expires_at: Instant,
}

#[derive(Default)]
pub(crate) struct Store {
    access: HashMap<String, (Principal, Instant)>,
    pub codes: HashMap<String, CodeGrant>,
    pub refresh: HashMap<String, RefreshGrant>,
    pub issued: HashMap<Grant, u64>,
}

/// Where a bearer token stands.
pub(crate) enum Lookup {
    Live(Principal),
    Expired,
    Unknown,
}

impl Store {
    /// Records a new access token for `principal`, live for `ttl`.
    pub fn issue_access(&mut self, principal: Principal, ttl: Duration) -> String {
        let now = Instant::now();
        // Keep memory bounded over long benchmark runs.
        if self.access.len() > 10_000 {
            self.access.retain(|_, (_, expires)| *expires > now);
        }
        let token = jwt_like_token(&principal);
        *self.issued.entry(principal.grant).or_default() += 1;
        self.access.insert(token.clone(), (principal, now + ttl));
        token
    }

    pub fn lookup(&self, token: &str) -> Lookup {
        match self.access.get(token) {
            Some((principal, expires)) if *expires > Instant::now() => {
                Lookup::Live(principal.clone())
            }
            Some(_) => Lookup::Expired,
            None => Lookup::Unknown,
        }
    }

    pub fn expire_access_tokens(&mut self) {
        let past = Instant::now() - Duration::from_millis(1);
        for (_, expires) in self.access.values_mut() {
            *expires = past;
        }
    }

    pub fn expire_grants(&mut self) {
        let past = Instant::now() - Duration::from_millis(1);
        self.codes
            .values_mut()
            .for_each(|code| code.expires_at = past);
        self.refresh
            .values_mut()
            .for_each(|grant| grant.expires_at = past);
    }
}

/// A random URL-safe string of `bytes` random bytes.
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Looks like an Entra JWT (three dot-separated base64url parts, readable claims) but its signature
/// part is random: the mock validates tokens by lookup, never by signature.
fn jwt_like_token(principal: &Principal) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"RS256","kid":"graph-mock"}"#);
    let claims = serde_json::json!({
        "aud": "https://graph.microsoft.com",
        "appid": principal.client_id,
        "oid": principal.user_id,
        "iat": chrono::Utc::now().timestamp(),
        "uti": random_token(16),
    });
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{claims}.{}", random_token(64))
}

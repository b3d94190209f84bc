//! Delegated access: `login` (authorize URL, then redeem the code) and the refresh-token provider,
//! which persists each rotated refresh token atomically to the token cache (mode 0600).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::AccessToken;
use super::cache::TokenSource;
use super::error::AuthError;
use super::settings::AuthContext;

/// The token cache file's content. `Debug` is not derived: it holds a refresh token.
#[derive(Serialize, Deserialize)]
struct TokenCache {
    refresh_token: String,
}

/// The scope for delegated requests: the configured one plus `offline_access`, so that Entra
/// returns a (rotated) refresh token each time.
fn delegated_scope(scope: &str) -> String {
    if scope.split(' ').any(|s| s == "offline_access") {
        scope.to_owned()
    } else {
        format!("{scope} offline_access")
    }
}

/// Proof Key for Code Exchange (RFC 7636, S256): the authorize URL carries the hash of a secret
/// that only this process knows, and redeeming the code needs the secret itself, so a code
/// intercepted on its way back (a redirect seen by another local program) is worth nothing.
/// `Debug` is not derived: the verifier is a secret until the code is redeemed.
pub struct Pkce {
    verifier: String,
}

impl Pkce {
    /// A fresh verifier: 32 random bytes, base64url (43 characters, RFC 7636's minimum).
    pub fn new() -> Self {
        use base64::Engine;
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self {
            verifier: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        }
    }

    /// The verifier itself, sent when the code is redeemed (never in the authorize URL).
    pub fn verifier(&self) -> &str {
        &self.verifier
    }

    /// `BASE64URL(SHA256(verifier))`, sent with `code_challenge_method=S256`.
    pub fn challenge(&self) -> String {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(self.verifier.as_bytes()))
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

/// The URL to open in a browser to sign in: authorization-code flow with `offline_access` and
/// PKCE (S256).
pub fn authorize_url(ctx: &AuthContext, redirect_uri: &str, state: &str, pkce: &Pkce) -> url::Url {
    let mut url = ctx.authority_host.clone();
    url.set_path(&format!("{}/oauth2/v2.0/authorize", ctx.tenant_id));
    url.query_pairs_mut()
        .append_pair("client_id", &ctx.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_mode", "query")
        .append_pair("scope", &delegated_scope(&ctx.scope))
        .append_pair("state", state)
        .append_pair("code_challenge", &pkce.challenge())
        .append_pair("code_challenge_method", "S256");
    url
}

/// Takes what the user pasted after signing in, either the bare code or the whole redirect URL
/// (checking its `state`), and returns the code.
pub fn code_from_redirect(pasted: &str, expected_state: &str) -> Result<String, AuthError> {
    let pasted = pasted.trim();
    let Ok(url) = url::Url::parse(pasted) else {
        return Ok(pasted.to_owned());
    };
    let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    if let Some(error) = pairs.get("error") {
        let description = pairs
            .get("error_description")
            .map(String::as_str)
            .unwrap_or_default();
        let first = description.lines().next().unwrap_or_default();
        return Err(AuthError::Login(format!("{error}: {first}")));
    }
    if pairs.get("state").map(String::as_str) != Some(expected_state) {
        return Err(AuthError::Login(
            "the redirect's state does not match this login".into(),
        ));
    }
    pairs
        .get("code")
        .cloned()
        .ok_or_else(|| AuthError::Login("the redirect carries no code".into()))
}

/// Redeems `code` with the verifier of the `pkce` its authorize URL was made with, and stores the
/// refresh token in `token_cache`. Returns the first access token.
pub async fn login(
    ctx: &AuthContext,
    client_secret: Option<&str>,
    code: &str,
    pkce: &Pkce,
    redirect_uri: &str,
    token_cache: &Path,
) -> Result<AccessToken, AuthError> {
    let scope = delegated_scope(&ctx.scope);
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("client_id", ctx.client_id.as_str()),
        ("code", code),
        ("code_verifier", pkce.verifier()),
        ("redirect_uri", redirect_uri),
        ("scope", scope.as_str()),
    ];
    if let Some(secret) = client_secret {
        form.push(("client_secret", secret));
    }
    let response = ctx.request_token(&form).await?;
    let refresh_token = response.refresh_token.ok_or_else(|| {
        AuthError::Login("Entra returned no refresh token (is offline_access allowed?)".into())
    })?;
    write_cache(token_cache, &refresh_token)?;
    Ok(response.access)
}

/// Writes the cache to a temporary file beside it (mode 0600) and renames it over the old one, so
/// a crash never leaves a half-written or world-readable refresh token.
fn write_cache(path: &Path, refresh_token: &str) -> Result<(), AuthError> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fail = |reason: std::io::Error| AuthError::file("token cache", path, reason);
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(fail)?;
    }
    let body = serde_json::to_vec(&TokenCache {
        refresh_token: refresh_token.to_owned(),
    })
    .expect("token cache serializes");
    file.write_all(&body).map_err(fail)?;
    file.as_file().sync_all().map_err(fail)?;
    file.persist(path).map_err(|err| fail(err.error))?;
    // The rename is only durable once the directory is: without this a crash can bring back the
    // old file, whose refresh token Entra has already retired.
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(fail)?;
    Ok(())
}

fn read_cache(path: &Path) -> Result<Option<String>, AuthError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice::<TokenCache>(&bytes)
            .map(|cache| Some(cache.refresh_token))
            .map_err(|_| AuthError::file("token cache", path, "not a token cache file")),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(AuthError::file("token cache", path, err)),
    }
}

pub(crate) struct RefreshToken {
    context: AuthContext,
    client_secret: Option<String>,
    current: Mutex<String>,
    token_cache: Option<PathBuf>,
}

impl RefreshToken {
    /// The cache, when it exists, holds the newest refresh token and wins over the config's.
    pub fn load(
        context: AuthContext,
        client_secret: Option<String>,
        configured: Option<String>,
        token_cache: Option<PathBuf>,
    ) -> Result<Self, AuthError> {
        let cached = match &token_cache {
            Some(path) => read_cache(path)?,
            None => None,
        };
        let current = cached.or(configured).ok_or_else(|| {
            AuthError::Config(
                "no refresh token: run `msgraph-sync login` first, or set refresh_token".into(),
            )
        })?;
        Ok(Self {
            context,
            client_secret,
            current: Mutex::new(current),
            token_cache,
        })
    }
}

impl TokenSource for RefreshToken {
    fn fetch(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            let ctx = &self.context;
            let refresh_token = self.current.lock().expect("refresh token poisoned").clone();
            let scope = delegated_scope(&ctx.scope);
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("client_id", ctx.client_id.as_str()),
                ("refresh_token", refresh_token.as_str()),
                ("scope", scope.as_str()),
            ];
            if let Some(secret) = &self.client_secret {
                form.push(("client_secret", secret));
            }
            let response = ctx.request_token(&form).await?;
            if let Some(rotated) = response.refresh_token {
                // The old refresh token is dead now: keep the new one in memory whatever happens
                // to the cache, so this run goes on (later refreshes use it) instead of failing.
                *self.current.lock().expect("refresh token poisoned") = rotated.clone();
                if let Some(path) = &self.token_cache
                    && let Err(e) = write_cache(path, &rotated)
                {
                    tracing::warn!(
                        "{e}; the rotated refresh token is kept for this run only — fix the \
                         cache file's directory, or run `msgraph-sync login` again after this run"
                    );
                }
            }
            Ok(response.access)
        })
    }
}

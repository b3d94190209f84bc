//! `POST /{tenant}/oauth2/v2.0/token`: client_credentials (secret, certificate assertion, federated
//! assertion), authorization_code and rotating refresh_token grants.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use serde_json::json;

use super::TokenService;
use super::assertion;
use super::entra_error::EntraError;
use super::store::{Grant, Principal, RefreshGrant, random_token};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

type Params = HashMap<String, String>;

pub(crate) async fn token(
    State(service): State<TokenService>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    form: Result<Form<Params>, FormRejection>,
) -> Response {
    let params = match form {
        Ok(Form(params)) => params,
        Err(_) => return EntraError::missing_parameter("grant_type").into_response(),
    };
    match service.grant(&tenant, &headers, &params) {
        Ok(body) => {
            let mut response = Json(body).into_response();
            response.headers_mut().insert(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-store, no-cache"),
            );
            response
        }
        Err(err) => {
            tracing::debug!(code = err.code, "mock token endpoint refused a request");
            err.into_response()
        }
    }
}

fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, EntraError> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|value| !value.is_empty())
        .ok_or_else(|| EntraError::missing_parameter(name))
}

impl TokenService {
    fn grant(
        &self,
        tenant: &str,
        headers: &HeaderMap,
        params: &Params,
    ) -> Result<serde_json::Value, EntraError> {
        let config = &self.inner.config;
        if !config.is_tenant(tenant) {
            return Err(EntraError::tenant_not_found(tenant));
        }
        let grant_type = required(params, "grant_type")?;
        let client_id = required(params, "client_id")?;
        if client_id != config.client_id {
            return Err(EntraError::app_not_found(client_id, &config.tenant_id));
        }
        let token_urls = token_urls(headers, tenant, &config.tenant_id);
        match grant_type {
            "client_credentials" => {
                let scope = required(params, "scope")?;
                if !scope.split(' ').all(|s| s.ends_with("/.default")) {
                    return Err(EntraError::bad_default_scope(scope));
                }
                let grant = self
                    .authenticate_client(params, client_id, &token_urls)?
                    .ok_or_else(EntraError::missing_secret)?;
                let principal = Principal {
                    client_id: client_id.to_owned(),
                    user_id: None,
                    grant,
                };
                Ok(self.access_response(principal, None, None))
            }
            "authorization_code" => {
                let code = required(params, "code")?;
                let redirect_uri = required(params, "redirect_uri")?;
                self.authenticate_client(params, client_id, &token_urls)?;
                let verifier = required(params, "code_verifier")?;
                let scope = self.redeem_code(code, client_id, redirect_uri, verifier)?;
                let user_id = self.inner.config.user.user_id.clone();
                Ok(self.delegated_response(client_id, &user_id, &scope, Grant::AuthorizationCode))
            }
            "refresh_token" => {
                let refresh_token = required(params, "refresh_token")?;
                self.authenticate_client(params, client_id, &token_urls)?;
                let previous = self.take_refresh_token(refresh_token, client_id)?;
                let scope = params
                    .get("scope")
                    .filter(|s| !s.is_empty())
                    .cloned()
                    .unwrap_or(previous.scope);
                Ok(self.delegated_response(
                    client_id,
                    &previous.user_id,
                    &scope,
                    Grant::RefreshToken,
                ))
            }
            other => Err(EntraError::unsupported_grant(other)),
        }
    }

    /// Checks the client credential if one was sent; `Ok(None)` when none was (public client).
    fn authenticate_client(
        &self,
        params: &Params,
        client_id: &str,
        token_urls: &[String],
    ) -> Result<Option<Grant>, EntraError> {
        if let Some(assertion) = params.get("client_assertion") {
            if params.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
                return Err(EntraError::missing_parameter("client_assertion_type"));
            }
            return assertion::verify(&self.inner.config, client_id, assertion, token_urls)
                .map(Some);
        }
        match params.get("client_secret") {
            Some(secret) if *secret == self.inner.config.client_secret => {
                Ok(Some(Grant::ClientSecret))
            }
            Some(_) => Err(EntraError::invalid_secret(client_id)),
            None => Ok(None),
        }
    }

    fn redeem_code(
        &self,
        code: &str,
        client_id: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<String, EntraError> {
        let mut store = self.inner.store.lock().expect("token store poisoned");
        let grant = store
            .codes
            .get_mut(code)
            .ok_or_else(EntraError::invalid_grant)?;
        if grant.client_id != client_id {
            return Err(EntraError::invalid_grant());
        }
        if grant.redeemed {
            return Err(EntraError::code_redeemed());
        }
        if grant.expires_at <= std::time::Instant::now() {
            return Err(EntraError::code_expired());
        }
        if grant.redirect_uri != redirect_uri {
            return Err(EntraError::redirect_mismatch(client_id));
        }
        if pkce_challenge(code_verifier) != grant.code_challenge {
            return Err(EntraError::pkce_mismatch());
        }
        grant.redeemed = true;
        Ok(grant.scope.clone())
    }

    /// Removes and returns a live refresh token: rotation means each one works exactly once.
    fn take_refresh_token(&self, token: &str, client_id: &str) -> Result<RefreshGrant, EntraError> {
        let mut store = self.inner.store.lock().expect("token store poisoned");
        let grant = store
            .refresh
            .remove(token)
            .ok_or_else(EntraError::invalid_grant)?;
        if grant.client_id != client_id {
            return Err(EntraError::invalid_grant());
        }
        if grant.expires_at <= std::time::Instant::now() {
            return Err(EntraError::refresh_token_expired());
        }
        Ok(grant)
    }

    fn delegated_response(
        &self,
        client_id: &str,
        user_id: &str,
        scope: &str,
        grant: Grant,
    ) -> serde_json::Value {
        let config = &self.inner.config;
        let principal = Principal {
            client_id: client_id.to_owned(),
            user_id: Some(user_id.to_owned()),
            grant,
        };
        let offline = scope.split(' ').any(|s| s == "offline_access");
        let refresh_token = offline.then(|| {
            let token = format!("1.AX{}", random_token(96));
            let mut store = self.inner.store.lock().expect("token store poisoned");
            store.refresh.insert(
                token.clone(),
                RefreshGrant {
                    client_id: client_id.to_owned(),
                    user_id: user_id.to_owned(),
                    scope: scope.to_owned(),
                    expires_at: std::time::Instant::now() + config.refresh_token_ttl,
                },
            );
            token
        });
        // Entra lists the granted resource scopes, not the OIDC/offline ones.
        let granted: Vec<&str> = scope
            .split(' ')
            .filter(|s| !matches!(*s, "offline_access" | "openid" | "profile" | "email" | ""))
            .collect();
        self.access_response(principal, Some(granted.join(" ")), refresh_token)
    }

    fn access_response(
        &self,
        principal: Principal,
        scope: Option<String>,
        refresh_token: Option<String>,
    ) -> serde_json::Value {
        let ttl = self.inner.config.token_ttl;
        let access_token = self
            .inner
            .store
            .lock()
            .expect("token store poisoned")
            .issue_access(principal, ttl);
        let mut body = json!({
            "token_type": "Bearer",
            "expires_in": ttl.as_secs(),
            "ext_expires_in": ttl.as_secs(),
            "access_token": access_token,
        });
        if let Some(scope) = scope {
            body["scope"] = json!(scope);
        }
        if let Some(refresh_token) = refresh_token {
            body["refresh_token"] = json!(refresh_token);
        }
        body
    }
}

/// The URLs an assertion's `aud` may name: this endpoint as reached (via `Host`), and the public
/// cloud's, for the tenant as written in the path and by id.
fn token_urls(headers: &HeaderMap, tenant: &str, tenant_id: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for tenant in [tenant, tenant_id] {
        if let Some(host) = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
        {
            urls.push(format!("http://{host}/{tenant}/oauth2/v2.0/token"));
        }
        urls.push(format!(
            "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
        ));
    }
    urls
}

/// RFC 7636's S256 transform of a verifier.
fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

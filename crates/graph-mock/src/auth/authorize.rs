//! `GET /{tenant}/oauth2/v2.0/authorize`: the browser step of the authorization-code flow, without
//! a browser. The configured delegated user is taken as signed in and consenting, so the answer is
//! straight away a 302 to the redirect URI with `code` and `state`.

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::TokenService;
use super::entra_error::EntraError;
use super::store::{CodeGrant, random_token};

pub(crate) async fn authorize(
    State(service): State<TokenService>,
    Path(tenant): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match service.issue_code(&tenant, &params) {
        Ok(location) => Redirect::to(&location).into_response(),
        Err(err) => err.into_response(),
    }
}

impl TokenService {
    fn issue_code(
        &self,
        tenant: &str,
        params: &HashMap<String, String>,
    ) -> Result<String, EntraError> {
        let config = &self.inner.config;
        if !config.is_tenant(tenant) {
            return Err(EntraError::tenant_not_found(tenant));
        }
        let param = |name: &str| {
            params
                .get(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| EntraError::missing_parameter(name))
        };
        let client_id = param("client_id")?;
        if *client_id != config.client_id {
            return Err(EntraError::app_not_found(client_id, &config.tenant_id));
        }
        if param("response_type")? != "code" {
            return Err(EntraError::missing_parameter("response_type=code"));
        }
        let redirect_uri = param("redirect_uri")?;
        if *redirect_uri != config.redirect_uri {
            return Err(EntraError::redirect_mismatch(client_id));
        }
        let scope = param("scope")?;
        // Entra requires PKCE of public clients and SPAs; the mock requires it of everyone, so a
        // login without it fails its tests. Only S256: `plain` protects nothing.
        let code_challenge = params
            .get("code_challenge")
            .filter(|v| !v.is_empty())
            .ok_or_else(EntraError::pkce_required)?;
        if params.get("code_challenge_method").map(String::as_str) != Some("S256") {
            return Err(EntraError::missing_parameter("code_challenge_method=S256"));
        }
        // RFC 7636: a S256 challenge is 43 base64url characters.
        if code_challenge.len() != 43 {
            return Err(EntraError::bad_code_challenge());
        }
        let code = format!("1.AQ{}", random_token(64));
        self.inner
            .store
            .lock()
            .expect("token store poisoned")
            .codes
            .insert(
                code.clone(),
                CodeGrant {
                    client_id: client_id.clone(),
                    redirect_uri: redirect_uri.clone(),
                    scope: scope.clone(),
                    code_challenge: code_challenge.clone(),
                    expires_at: Instant::now() + config.code_ttl,
                    redeemed: false,
                },
            );
        let mut location =
            url::Url::parse(redirect_uri).map_err(|_| EntraError::redirect_mismatch(client_id))?;
        location.query_pairs_mut().append_pair("code", &code);
        if let Some(state) = params.get("state") {
            location.query_pairs_mut().append_pair("state", state);
        }
        location
            .query_pairs_mut()
            .append_pair("session_state", &uuid::Uuid::new_v4().to_string());
        Ok(location.into())
    }
}

//! Managed identity endpoints: Azure IMDS (`GET /metadata/identity/oauth2/token`, header
//! `Metadata: true`) and the App Service / Functions form (`GET /msi/token`, header
//! `X-IDENTITY-HEADER`). Both answer with numbers as strings, as the real services do.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::json;

use super::TokenService;
use super::store::{Grant, Principal};

fn refusal(status: StatusCode, description: &str) -> Response {
    (
        status,
        Json(json!({"error": "invalid_request", "error_description": description})),
    )
        .into_response()
}

pub(crate) async fn imds(
    State(service): State<TokenService>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if headers.get("metadata").and_then(|v| v.to_str().ok()) != Some("true") {
        return refusal(
            StatusCode::BAD_REQUEST,
            "Required metadata header not specified",
        );
    }
    service.managed_identity_token(&params)
}

pub(crate) async fn app_service(
    State(service): State<TokenService>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let expected = &service.inner.config.managed_identity.identity_header;
    if headers
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok())
        != Some(expected.as_str())
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"statusCode": 401, "message": "Unauthorized request"})),
        )
            .into_response();
    }
    service.managed_identity_token(&params)
}

impl TokenService {
    fn managed_identity_token(&self, params: &HashMap<String, String>) -> Response {
        let identity = &self.inner.config.managed_identity;
        if params.get("api-version").is_none_or(|v| v.is_empty()) {
            return refusal(
                StatusCode::BAD_REQUEST,
                "Required query variable 'api-version' is missing",
            );
        }
        let Some(resource) = params.get("resource").filter(|v| !v.is_empty()) else {
            return refusal(
                StatusCode::BAD_REQUEST,
                "Required query variable 'resource' is missing",
            );
        };
        if let Some(client_id) = params.get("client_id")
            && *client_id != identity.client_id
        {
            return refusal(StatusCode::BAD_REQUEST, "Identity not found");
        }
        let ttl = self.inner.config.token_ttl;
        let principal = Principal {
            client_id: identity.client_id.clone(),
            user_id: None,
            grant: Grant::ManagedIdentity,
        };
        let access_token = self
            .inner
            .store
            .lock()
            .expect("token store poisoned")
            .issue_access(principal, ttl);
        let now = chrono::Utc::now().timestamp();
        Json(json!({
            "access_token": access_token,
            "client_id": identity.client_id,
            "expires_in": ttl.as_secs().to_string(),
            "expires_on": (now + ttl.as_secs() as i64).to_string(),
            "ext_expires_in": ttl.as_secs().to_string(),
            "not_before": now.to_string(),
            "resource": resource,
            "token_type": "Bearer",
        }))
        .into_response()
    }
}

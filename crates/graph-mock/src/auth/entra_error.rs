//! Token errors exactly in Entra's shape: `error`, `error_description` (`AADSTSnnnn: ...` then
//! Trace ID / Correlation ID / Timestamp on lines of their own), `error_codes`, `timestamp`,
//! `trace_id`, `correlation_id`, `error_uri`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

/// One AADSTS failure the mock can answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraError {
    /// HTTP status of the answer (400 or 401).
    pub status: StatusCode,
    /// OAuth error: `invalid_client`, `unauthorized_client`, `invalid_request`, `invalid_grant`, ...
    pub error: &'static str,
    /// The number after `AADSTS`.
    pub code: u32,
    /// The sentence after `AADSTSnnnn: `.
    pub message: String,
}

impl EntraError {
    fn new(status: StatusCode, error: &'static str, code: u32, message: String) -> Self {
        Self {
            status,
            error,
            code,
            message,
        }
    }

    /// AADSTS7000215 (401 `invalid_client`): the client secret is wrong.
    pub fn invalid_secret(client_id: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the \
                 client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        )
    }

    /// AADSTS700016 (400): no app `client_id` in the directory `tenant`.
    pub fn app_not_found(client_id: &str, tenant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. \
                 This can happen if the application has not been installed by the administrator of the \
                 tenant or consented to by any user in the tenant. You may have sent your authentication \
                 request to the wrong tenant."
            ),
        )
    }

    /// AADSTS90002 (400): no tenant `tenant`.
    pub fn tenant_not_found(tenant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are \
                 signing into the correct cloud. Check with your subscription administrator, this may \
                 happen if there are no active subscriptions for the tenant."
            ),
        )
    }

    /// AADSTS700027 (401): the client assertion's signature does not verify.
    pub fn bad_assertion_signature() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700027,
            "Client assertion failed signature validation.".into(),
        )
    }

    /// AADSTS700027 (401): the assertion's certificate is not registered on the app.
    pub fn unknown_certificate() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700027,
            "The certificate with identifier used to sign the client assertion is not registered on \
             application."
                .into(),
        )
    }

    /// AADSTS700024 (401): the client assertion is expired or not yet valid.
    pub fn assertion_time_range() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700024,
            "Client assertion is not within its valid time range.".into(),
        )
    }

    /// AADSTS50027 (401): the client assertion is no valid JWT; `detail` says why.
    pub fn malformed_assertion(detail: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            50027,
            format!("JWT token is invalid or malformed. {detail}"),
        )
    }

    /// AADSTS70021 (400): no federated credential matches the presented token.
    pub fn no_federated_match() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            70021,
            "No matching federated identity record found for presented assertion.".into(),
        )
    }

    /// AADSTS900144 (400): the request lacks the parameter `name`.
    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    /// AADSTS70003 (400 `unsupported_grant_type`): the `grant_type` is not supported.
    pub fn unsupported_grant(grant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        )
    }

    /// AADSTS1002012 (400 `invalid_scope`): a client-credentials scope without `/.default`.
    pub fn bad_default_scope(scope: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a \
                 scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        )
    }

    /// AADSTS70008 (400 `invalid_grant`): the authorization code has expired.
    pub fn code_expired() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a \
             new interactive authorization request for this user and resource."
                .into(),
        )
    }

    /// AADSTS54005 (400 `invalid_grant`): the authorization code was already redeemed.
    pub fn code_redeemed() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use \
             an existing refresh token."
                .into(),
        )
    }

    /// AADSTS700082 (400 `invalid_grant`): the refresh token has expired.
    pub fn refresh_token_expired() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            700082,
            "The refresh token has expired due to inactivity. The token was issued on a date and was \
             inactive for 90.00:00:00."
                .into(),
        )
    }

    /// AADSTS9002325 (400): `/authorize` got no `code_challenge`.
    pub fn pkce_required() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            9002325,
            "Proof Key for Code Exchange is required for cross-origin authorization code \
             redemption."
                .into(),
        )
    }

    /// AADSTS501491 (400): the `code_challenge` is not 43 characters long.
    pub fn bad_code_challenge() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            501491,
            "Invalid size of Code_Challenge parameter.".into(),
        )
    }

    /// AADSTS50148 (400 `invalid_grant`): the `code_verifier` does not match the challenge.
    pub fn pkce_mismatch() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50148,
            "The code_verifier does not match the code_challenge supplied in the authorization \
             request for PKCE."
                .into(),
        )
    }

    /// AADSTS70000 (400 `invalid_grant`): a code or refresh token unknown, used, or another app's.
    pub fn invalid_grant() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            70000,
            "Provided grant is invalid or malformed.".into(),
        )
    }

    /// AADSTS50011 (400): the redirect URI is not the one registered for the app.
    pub fn redirect_mismatch(client_id: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50011,
            format!(
                "The redirect URI specified in the request does not match the redirect URIs configured \
                 for the application '{client_id}'."
            ),
        )
    }

    /// AADSTS7000218 (401 `invalid_client`): neither `client_secret` nor `client_assertion` sent.
    pub fn missing_secret() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or \
             'client_secret'."
                .into(),
        )
    }

    /// The JSON body, with fresh trace and correlation ids.
    pub fn body(&self) -> serde_json::Value {
        let now = chrono::Utc::now();
        let timestamp = now.format("%Y-%m-%d %H:%M:%SZ").to_string();
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = uuid::Uuid::new_v4().to_string();
        // Entra separates the trailer lines with CRLF.
        let description = format!(
            "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {}",
            self.code,
            self.message,
            now.format("%Y-%m-%d %H:%M:%S%.fZ"),
        );
        json!({
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        })
    }
}

impl IntoResponse for EntraError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        // Entra never lets token responses be cached.
        response.headers_mut().insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store, no-cache"),
        );
        response
    }
}

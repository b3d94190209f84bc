//! The form posts to Entra's token endpoint, and reading its answers.

use std::time::SystemTime;

use serde::Deserialize;

use super::AccessToken;
use super::error::{AuthError, EntraRefusal};
use super::settings::AuthContext;

/// A successful token response. `Debug` is not derived: it holds tokens.
pub(crate) struct TokenResponse {
    pub access: AccessToken,
    pub refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct RawSuccess {
    access_token: String,
    #[serde(deserialize_with = "number_or_string")]
    expires_in: u64,
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct RawError {
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u64>,
    trace_id: Option<String>,
    correlation_id: Option<String>,
}

/// Entra and the managed identity endpoints write lifetimes as numbers or as strings.
pub(crate) fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(u64),
        Text(String),
    }
    match Either::deserialize(d)? {
        Either::Number(n) => Ok(n),
        Either::Text(s) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}

impl AuthContext {
    /// `{authority_host}/{tenant}/oauth2/v2.0/token`: also the `aud` of client assertions.
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority_host.as_str().trim_end_matches('/'),
            self.tenant_id
        )
    }

    /// Posts `form` (which carries the credential) to the token endpoint.
    pub(crate) async fn request_token(
        &self,
        form: &[(&str, &str)],
    ) -> Result<TokenResponse, AuthError> {
        let endpoint = self.token_url();
        let (status, body) =
            super::token_answer(self.http.post(&endpoint).form(form), &endpoint).await?;
        read_token_answer(&endpoint, status, &body, SystemTime::now())
    }
}

/// The token endpoint's answer: the tokens, or Entra's refusal (AADSTS code, description).
pub(crate) fn read_token_answer(
    endpoint: &str,
    status: u16,
    body: &[u8],
    now: SystemTime,
) -> Result<TokenResponse, AuthError> {
    if !(200..300).contains(&status) {
        return Err(parse_refusal(endpoint, status, body));
    }
    let raw: RawSuccess =
        serde_json::from_slice(body).map_err(|err| AuthError::UnexpectedResponse {
            endpoint: endpoint.to_owned(),
            status,
            reason: crate::config::redacted_json_error(&err),
        })?;
    Ok(TokenResponse {
        access: AccessToken {
            secret: raw.access_token,
            expires_at: super::expires_after(now, raw.expires_in),
        },
        refresh_token: raw.refresh_token,
    })
}

pub(crate) fn parse_refusal(endpoint: &str, status: u16, body: &[u8]) -> AuthError {
    let Ok(raw) = serde_json::from_slice::<RawError>(body) else {
        return AuthError::UnexpectedResponse {
            endpoint: endpoint.to_owned(),
            status,
            reason: "not an OAuth error response".to_owned(),
        };
    };
    // The trailer (Trace ID, Correlation ID, Timestamp) follows on lines of its own.
    let description = raw
        .error_description
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let code = match raw.error_codes.first() {
        Some(n) => format!("AADSTS{n}"),
        None => description
            .split(':')
            .next()
            .filter(|prefix| prefix.starts_with("AADSTS"))
            .unwrap_or_default()
            .to_owned(),
    };
    AuthError::Entra(Box::new(EntraRefusal {
        status,
        error: raw.error,
        code,
        description,
        trace_id: raw.trace_id,
        correlation_id: raw.correlation_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_keeps_code_first_line_and_trace_id() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure ...\r\nTrace ID: t-1\r\nCorrelation ID: c-1\r\nTimestamp: 2026-01-01 00:00:00Z","error_codes":[7000215],"timestamp":"2026-01-01 00:00:00Z","trace_id":"t-1","correlation_id":"c-1"}"#;
        let err = parse_refusal("http://x/token", 401, body);
        assert_eq!(err.aadsts_code(), Some("AADSTS7000215"));
        assert_eq!(err.status(), Some(401));
        assert_eq!(
            err.to_string(),
            "authentication failed: AADSTS7000215: Invalid client secret provided. Ensure ... [trace id t-1]"
        );
        assert!(!err.to_string().contains('\n'));
    }

    #[test]
    fn non_json_refusal_is_unexpected() {
        let err = parse_refusal("http://x/token", 502, b"<html>bad gateway</html>");
        assert!(matches!(
            err,
            AuthError::UnexpectedResponse { status: 502, .. }
        ));
        assert!(!err.is_permanent());
    }
}

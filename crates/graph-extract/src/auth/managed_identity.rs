//! Azure managed identity: IMDS (`Metadata: true`) or, when an identity header is configured, the
//! App Service / Functions protocol (`X-IDENTITY-HEADER`).

use std::time::SystemTime;

use futures::future::BoxFuture;
use serde::Deserialize;

use super::AccessToken;
use super::cache::TokenSource;
use super::entra::number_or_string;
use super::error::AuthError;

const IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

pub(crate) struct ManagedIdentity {
    pub http: reqwest::Client,
    pub endpoint: url::Url,
    /// App Service's header value; `None` means IMDS.
    pub identity_header: Option<String>,
    pub client_id: Option<String>,
    /// `https://graph.microsoft.com` (the scope without `/.default`).
    pub resource: String,
}

#[derive(Deserialize)]
struct Answer {
    access_token: String,
    #[serde(default, deserialize_with = "optional_number")]
    expires_in: Option<u64>,
    #[serde(default, deserialize_with = "optional_number")]
    expires_on: Option<u64>,
}

fn optional_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    number_or_string(d).map(Some)
}

#[derive(Deserialize)]
struct Refusal {
    error: Option<String>,
    error_description: Option<String>,
    message: Option<String>,
}

impl ManagedIdentity {
    pub fn new(
        http: reqwest::Client,
        endpoint: Option<url::Url>,
        identity_header: Option<String>,
        client_id: Option<String>,
        scope: &str,
    ) -> Self {
        let endpoint =
            endpoint.unwrap_or_else(|| url::Url::parse(IMDS_ENDPOINT).expect("valid IMDS URL"));
        let resource = scope.trim_end_matches("/.default").to_owned();
        Self {
            http,
            endpoint,
            identity_header,
            client_id,
            resource,
        }
    }
}

impl TokenSource for ManagedIdentity {
    fn fetch(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            let endpoint = self.endpoint.as_str();
            let api_version = if self.identity_header.is_some() {
                "2019-08-01"
            } else {
                "2018-02-01"
            };
            let mut query = vec![
                ("api-version", api_version),
                ("resource", self.resource.as_str()),
            ];
            if let Some(client_id) = &self.client_id {
                query.push(("client_id", client_id));
            }
            let request = self.http.get(self.endpoint.clone()).query(&query);
            let request = match &self.identity_header {
                Some(header) => request.header("X-IDENTITY-HEADER", header),
                None => request.header("Metadata", "true"),
            };
            let (status, body) = super::token_answer(request, endpoint).await?;
            read_identity_answer(endpoint, status, &body, SystemTime::now())
        })
    }
}

/// The identity endpoint's answer: the token with its expiry, or the refusal's first line.
pub(crate) fn read_identity_answer(
    endpoint: &str,
    status: u16,
    body: &[u8],
    now: SystemTime,
) -> Result<AccessToken, AuthError> {
    if !(200..300).contains(&status) {
        let message = serde_json::from_slice::<Refusal>(body)
            .ok()
            .and_then(|r| {
                let text = r.error_description.or(r.message)?;
                Some(match r.error {
                    Some(error) => format!("{error}: {text}"),
                    None => text,
                })
            })
            .unwrap_or_else(|| "no error description".to_owned());
        let message = message.lines().next().unwrap_or_default().to_owned();
        return Err(AuthError::ManagedIdentity { status, message });
    }
    let answer: Answer =
        serde_json::from_slice(body).map_err(|err| AuthError::UnexpectedResponse {
            endpoint: endpoint.to_owned(),
            status,
            reason: crate::config::redacted_json_error(&err),
        })?;
    let expires_at = match (answer.expires_in, answer.expires_on) {
        (Some(seconds), _) => super::expires_after(now, seconds),
        (None, Some(unix)) => super::expires_on(now, unix),
        (None, None) => {
            return Err(AuthError::UnexpectedResponse {
                endpoint: endpoint.to_owned(),
                status,
                reason: "no expires_in or expires_on".to_owned(),
            });
        }
    };
    Ok(AccessToken {
        secret: answer.access_token,
        expires_at,
    })
}

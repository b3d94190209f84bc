//! Typed errors: Graph's error envelope, request failures after retries, and run failures.

use serde::Deserialize;

use crate::auth::AuthError;
use crate::config::ConfigError;
use crate::plan::PlanError;
use crate::stats::RunStats;

/// A Graph error response: `{"error":{"code","message","innerError":{"request-id",...}}}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Graph answered {status} {code}: {message} (request-id {})", request_id.as_deref().unwrap_or("none"))]
pub struct GraphError {
    /// HTTP status of the answer.
    pub status: u16,
    /// Graph's error code (`Authorization_RequestDenied`, ...), or `Http<status>` if no envelope.
    pub code: String,
    /// Graph's message; if no envelope, the body's first 200 bytes.
    pub message: String,
    /// From the envelope's `innerError`, else the `request-id` header; `None` when neither has one.
    pub request_id: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    error: EnvelopeError,
}

#[derive(Deserialize)]
struct EnvelopeError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default, rename = "innerError")]
    inner_error: Option<InnerError>,
}

#[derive(Deserialize)]
struct InnerError {
    #[serde(default, rename = "request-id")]
    request_id: Option<String>,
}

impl GraphError {
    /// Parses Graph's envelope; a body that is not one still yields an error with the status.
    /// `header_request_id` (the `request-id` response header) is used when the body has none.
    pub fn from_response(status: u16, body: &[u8], header_request_id: Option<&str>) -> Self {
        match serde_json::from_slice::<Envelope>(body) {
            Ok(Envelope { error }) => GraphError {
                status,
                code: error.code,
                message: error.message,
                request_id: error
                    .inner_error
                    .and_then(|i| i.request_id)
                    .or_else(|| header_request_id.map(str::to_string)),
            },
            Err(_) => GraphError {
                status,
                code: format!("Http{status}"),
                // A short prefix only: bodies can be large HTML pages from proxies.
                message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
                request_id: header_request_id.map(str::to_string),
            },
        }
    }
}

/// A request that failed for good (after the retry policy gave up, or on a non-retryable status).
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Graph refused with a status that is not retried (neither 429 nor 5xx).
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// Retries ran out on a throttled, failing or dropped request.
    #[error("{what} failed after {attempts} attempts: {reason}")]
    Exhausted {
        /// The URL (a report download's without its signed query), or `$batch item <url>`.
        what: String,
        /// Attempts made, the first included.
        attempts: u32,
        /// Why the last attempt failed.
        reason: String,
    },
    /// The token provider could not get a token.
    #[error("token: {0}")]
    Auth(Box<AuthError>),
    /// The answer broke the protocol: an unreadable page, a body over the cap, a link off Graph.
    #[error("{what}: {reason}")]
    Protocol {
        /// What was being read: a URL, "page of `stream`", "$batch response", ...
        what: String,
        /// What was wrong with the answer.
        reason: String,
    },
}

impl RequestError {
    /// Graph's error, when the request ended on one.
    pub fn graph(&self) -> Option<&GraphError> {
        match self {
            RequestError::Graph(e) => Some(e),
            _ => None,
        }
    }
}

// Boxed: Entra's refusal details make AuthError large, and it is the rare path.
impl From<AuthError> for RequestError {
    fn from(e: AuthError) -> Self {
        RequestError::Auth(Box::new(e))
    }
}

impl From<AuthError> for ExtractError {
    fn from(e: AuthError) -> Self {
        ExtractError::Auth(Box::new(e))
    }
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The selection names a stream the catalog does not declare.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The HTTP client could not be built (reqwest's reason).
    #[error("building the HTTP client: {0}")]
    Client(String),
    /// The token provider could not be built, or could not get a token.
    #[error("token provider: {0}")]
    Auth(Box<AuthError>),
    /// The page receiver was dropped, so the run was cancelled.
    #[error("the page receiver was dropped; run cancelled")]
    ReceiverClosed,
    /// The next state could not be written to the temporary directory (`TMPDIR`).
    #[error(
        "writing the run's incremental state to the temporary directory ({dir}) failed: {0}; \
         free space there or point TMPDIR at a writable disk",
        dir = std::env::temp_dir().display()
    )]
    StateFile(#[source] std::io::Error),
    /// Some streams failed; the others were read completely. The summary tells which.
    #[error("{}", .0.failure_summary())]
    StreamsFailed(Box<RunStats>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_graph_envelope_with_request_id() {
        let body = br#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges",
            "innerError":{"date":"2024-01-01T00:00:00","request-id":"r-1","client-request-id":"c-1"}}}"#;
        let e = GraphError::from_response(403, body, Some("hdr"));
        assert_eq!(e.code, "Authorization_RequestDenied");
        assert_eq!(e.request_id.as_deref(), Some("r-1"));
        assert!(e.to_string().contains("403 Authorization_RequestDenied"));
    }

    #[test]
    fn non_envelope_body_keeps_status_and_header_request_id() {
        let e = GraphError::from_response(502, b"<html>bad gateway</html>", Some("hdr-9"));
        assert_eq!(e.code, "Http502");
        assert_eq!(e.request_id.as_deref(), Some("hdr-9"));
    }
}

//! Typed token errors. Display is one line and never holds a secret, an assertion or a token:
//! only Entra's code and the first line of its description, which name ids, never credentials.

use std::path::PathBuf;

/// What Entra said when it refused a token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraRefusal {
    /// HTTP status of the token response (400 or 401 in practice).
    pub status: u16,
    /// OAuth error: `invalid_client`, `unauthorized_client`, `invalid_grant`, ...
    pub error: String,
    /// `AADSTS7000215`, ...; empty when Entra sent none.
    pub code: String,
    /// The description's first line (without the Trace ID / Correlation ID / Timestamp trailer).
    pub description: String,
    /// Entra's `trace_id`, for a support request; `None` when it sent none.
    pub trace_id: Option<String>,
    /// Entra's `correlation_id`; `None` when it sent none.
    pub correlation_id: Option<String>,
}

impl std::fmt::Display for EntraRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The description already starts with the code when Entra wrote one.
        if self.description.is_empty() {
            write!(f, "{} (HTTP {})", self.error, self.status)?;
        } else {
            write!(f, "{}", self.description)?;
        }
        if let Some(trace_id) = &self.trace_id {
            write!(f, " [trace id {trace_id}]")?;
        }
        Ok(())
    }
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Entra's token endpoint refused the request (wrong secret, unknown app or tenant, ...).
    #[error("authentication failed: {0}")]
    Entra(Box<EntraRefusal>),
    /// The managed identity endpoint refused the request.
    #[error("authentication failed: managed identity endpoint answered HTTP {status}: {message}")]
    ManagedIdentity {
        /// HTTP status of the answer.
        status: u16,
        /// The refusal's first line (`error: description`, or `message`).
        message: String,
    },
    /// The identity endpoint could not be reached or its answer not read.
    #[error("authentication failed: {endpoint} unreachable: {reason}")]
    Transport {
        /// The token or identity endpoint's URL.
        endpoint: String,
        /// `timed out`, `connection failed`, or reqwest's error without the URL.
        reason: String,
    },
    /// A 2xx answer that is not a token response.
    #[error("authentication failed: unexpected answer from {endpoint} (HTTP {status}): {reason}")]
    UnexpectedResponse {
        /// The token or identity endpoint's URL.
        endpoint: String,
        /// HTTP status of the answer.
        status: u16,
        /// What was wrong with the answer.
        reason: String,
    },
    /// No method configured, two conflicting ones, or a field missing.
    #[error("authentication config: {0}")]
    Config(String),
    /// A key, certificate, token file or token cache could not be read or written.
    #[error("authentication config: cannot use {what} {}: {reason}", path.display())]
    File {
        /// Which file: `certificate`, `private key`, `federated token file`, `token cache`.
        what: &'static str,
        /// The file's path.
        path: PathBuf,
        /// Why it could not be used.
        reason: String,
    },
    /// The login step got a redirect without a code (or with an error).
    #[error("login failed: {0}")]
    Login(String),
}

impl AuthError {
    /// Entra's `AADSTSnnnn` code, when the token endpoint refused.
    pub fn aadsts_code(&self) -> Option<&str> {
        match self {
            AuthError::Entra(refusal) if !refusal.code.is_empty() => Some(&refusal.code),
            _ => None,
        }
    }

    /// HTTP status of the refusal, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            AuthError::Entra(refusal) => Some(refusal.status),
            AuthError::ManagedIdentity { status, .. }
            | AuthError::UnexpectedResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether retrying cannot help: bad credentials or configuration, not a network blip.
    pub fn is_permanent(&self) -> bool {
        match self {
            AuthError::Transport { .. } => false,
            AuthError::Entra(refusal) => refusal.status < 500 && refusal.status != 429,
            AuthError::ManagedIdentity { status, .. }
            | AuthError::UnexpectedResponse { status, .. } => *status < 500 && *status != 429,
            _ => true,
        }
    }

    pub(crate) fn transport(endpoint: &str, err: reqwest::Error) -> Self {
        // reqwest's Display may repeat the URL; the query of an identity URL holds no secret, but
        // keep only the error chain's kind to stay on one short line.
        let reason = if err.is_timeout() {
            "timed out".to_owned()
        } else if err.is_connect() {
            "connection failed".to_owned()
        } else {
            err.without_url().to_string()
        };
        AuthError::Transport {
            endpoint: endpoint.to_owned(),
            reason,
        }
    }

    pub(crate) fn file(what: &'static str, path: &std::path::Path, reason: impl ToString) -> Self {
        AuthError::File {
            what,
            path: path.to_owned(),
            reason: reason.to_string(),
        }
    }
}

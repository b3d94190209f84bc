//! The auth part of the config file, the environment variables that may stand in for it, and the
//! choice of one method.

use std::path::PathBuf;

use serde::Deserialize;

use super::error::AuthError;

/// Auth fields of the config file, all optional. Secrets may instead come from the environment
/// (see [`AuthSettings::with_env_defaults`]). `Debug` redacts every secret.
#[derive(Clone, Default, Deserialize)]
pub struct AuthSettings {
    /// App secret (client credentials; also authenticates the app in the delegated flow).
    pub client_secret: Option<String>,
    /// PEM certificate registered on the app; may also hold the private key.
    pub certificate_path: Option<PathBuf>,
    /// PEM private key (PKCS#8 or PKCS#1); defaults to `certificate_path` (one PEM with both).
    pub private_key_path: Option<PathBuf>,
    /// Delegated: a refresh token from `login`; the rotated one goes to `token_cache_path`.
    pub refresh_token: Option<String>,
    /// Delegated: file (mode 0600) holding the latest refresh token; read first, rewritten on rotation.
    pub token_cache_path: Option<PathBuf>,
    /// Use the Azure managed identity of the machine (IMDS, or App Service when `identity_header` is set).
    #[serde(default)]
    pub use_managed_identity: bool,
    /// Client id of a user-assigned managed identity; none for the system-assigned one.
    pub managed_identity_client_id: Option<String>,
    /// Workload identity federation: file with the federated token (GitHub Actions, AKS), read on
    /// every fetch because the platform rotates it.
    pub federated_token_file: Option<PathBuf>,
    /// Override of the managed identity endpoint (tests; App Service's `IDENTITY_ENDPOINT`).
    pub identity_endpoint: Option<String>,
    /// App Service's `IDENTITY_HEADER`; when set, the App Service protocol is used.
    pub identity_header: Option<String>,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |present: bool| if present { Some("<redacted>") } else { None };
        f.debug_struct("AuthSettings")
            .field("client_secret", &redact(self.client_secret.is_some()))
            .field("certificate_path", &self.certificate_path)
            .field("private_key_path", &self.private_key_path)
            .field("refresh_token", &redact(self.refresh_token.is_some()))
            .field("token_cache_path", &self.token_cache_path)
            .field("use_managed_identity", &self.use_managed_identity)
            .field(
                "managed_identity_client_id",
                &self.managed_identity_client_id,
            )
            .field("federated_token_file", &self.federated_token_file)
            .field("identity_endpoint", &self.identity_endpoint)
            .field("identity_header", &redact(self.identity_header.is_some()))
            .finish()
    }
}

/// Where and as whom to authenticate.
#[derive(Clone)]
pub struct AuthContext {
    /// The Entra tenant to sign in to.
    pub tenant_id: String,
    /// The app registration's client id.
    pub client_id: String,
    /// e.g. `https://graph.microsoft.com/.default`.
    pub scope: String,
    /// e.g. `https://login.microsoftonline.com` (or a national cloud, or the mock).
    pub authority_host: url::Url,
    /// The client token requests go through (one from [`crate::build_http_client`]).
    pub http: reqwest::Client,
}

impl std::fmt::Debug for AuthContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthContext")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("authority_host", &self.authority_host.as_str())
            .finish_non_exhaustive()
    }
}

/// The method [`super::provider`] picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The app's client secret (`client_secret`).
    ClientSecret,
    /// A certificate registered on the app (`certificate_path`, `private_key_path`).
    Certificate,
    /// Delegated: a refresh token from `login` (`refresh_token`, `token_cache_path`).
    RefreshToken,
    /// The machine's Azure managed identity (`use_managed_identity`).
    ManagedIdentity,
    /// A federated token from the platform (`federated_token_file`).
    WorkloadIdentity,
}

impl Method {
    /// The method's name in logs and messages (`client_secret`, `certificate`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Method::ClientSecret => "client_secret",
            Method::Certificate => "certificate",
            Method::RefreshToken => "refresh_token",
            Method::ManagedIdentity => "managed_identity",
            Method::WorkloadIdentity => "workload_identity",
        }
    }
}

impl AuthSettings {
    /// Fills what the file left out from the process environment; see [`Self::with_env_from`].
    pub fn with_env_defaults(self) -> Self {
        self.with_env_from(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Fills from `lookup` (an environment). Secrets and paths apply only when the file chose no
    /// method, so a stray `AZURE_CLIENT_SECRET` never conflicts with a configured certificate:
    /// `MSGRAPH_CLIENT_SECRET` (then `AZURE_CLIENT_SECRET`), `AZURE_CLIENT_CERTIFICATE_PATH`,
    /// `MSGRAPH_REFRESH_TOKEN`, `AZURE_FEDERATED_TOKEN_FILE`. The managed identity endpoint
    /// (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`) always fills in when not set in the file.
    pub fn with_env_from(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        if self.identity_endpoint.is_none() {
            self.identity_endpoint = lookup("IDENTITY_ENDPOINT");
        }
        if self.identity_header.is_none() {
            self.identity_header = lookup("IDENTITY_HEADER");
        }
        if !self.configured_methods().is_empty() {
            return self;
        }
        self.client_secret =
            lookup("MSGRAPH_CLIENT_SECRET").or_else(|| lookup("AZURE_CLIENT_SECRET"));
        self.certificate_path = lookup("AZURE_CLIENT_CERTIFICATE_PATH").map(PathBuf::from);
        self.refresh_token = lookup("MSGRAPH_REFRESH_TOKEN");
        self.federated_token_file = lookup("AZURE_FEDERATED_TOKEN_FILE").map(PathBuf::from);
        // In a federated environment (AKS, GitHub) an extra client secret variable is usually a
        // leftover; the secretless method wins instead of failing the run.
        if self.federated_token_file.is_some() && self.certificate_path.is_none() {
            self.client_secret = None;
        }
        self
    }

    /// Every method these settings ask for. The delegated flow may carry a client secret (a
    /// confidential app), so a secret next to a refresh token is not a second method.
    pub fn configured_methods(&self) -> Vec<Method> {
        let delegated = self.refresh_token.is_some() || self.token_cache_path.is_some();
        let mut methods = Vec::new();
        if self.client_secret.is_some() && !delegated {
            methods.push(Method::ClientSecret);
        }
        if self.certificate_path.is_some() || self.private_key_path.is_some() {
            methods.push(Method::Certificate);
        }
        if delegated {
            methods.push(Method::RefreshToken);
        }
        if self.use_managed_identity {
            methods.push(Method::ManagedIdentity);
        }
        if self.federated_token_file.is_some() {
            methods.push(Method::WorkloadIdentity);
        }
        methods
    }

    /// Exactly one method, or a config error that says what to fix.
    pub fn method(&self) -> Result<Method, AuthError> {
        match self.configured_methods().as_slice() {
            [one] => Ok(*one),
            [] => Err(AuthError::Config(
                "no authentication method configured: set one of client_secret (or \
                 MSGRAPH_CLIENT_SECRET), certificate_path + private_key_path, refresh_token / \
                 token_cache_path (after `login`), use_managed_identity, or federated_token_file \
                 (or AZURE_FEDERATED_TOKEN_FILE)"
                    .into(),
            )),
            many => Err(AuthError::Config(format!(
                "conflicting authentication methods configured: {}; keep exactly one",
                many.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn none_and_conflicts_are_config_errors() {
        let err = AuthSettings::default().method().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("authentication config: no authentication method")
        );
        let both = AuthSettings {
            client_secret: Some("s".into()),
            use_managed_identity: true,
            ..Default::default()
        };
        let err = both.method().unwrap_err().to_string();
        assert!(err.contains("client_secret, managed_identity"), "{err}");
        assert!(!err.contains("\"s\""));
    }

    #[test]
    fn secret_with_refresh_token_is_delegated() {
        let s = AuthSettings {
            client_secret: Some("s".into()),
            refresh_token: Some("r".into()),
            ..Default::default()
        };
        assert_eq!(s.method().unwrap(), Method::RefreshToken);
    }

    #[test]
    fn env_fills_only_when_the_file_chose_nothing() {
        let vars = [
            ("AZURE_CLIENT_SECRET", "from-env"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/t"),
        ];
        let s = AuthSettings::default().with_env_from(env(&vars));
        assert_eq!(s.method().unwrap(), Method::WorkloadIdentity);

        let vars = [("MSGRAPH_CLIENT_SECRET", "m"), ("AZURE_CLIENT_SECRET", "a")];
        let s = AuthSettings::default().with_env_from(env(&vars));
        assert_eq!(s.client_secret.as_deref(), Some("m"));

        let file = AuthSettings {
            use_managed_identity: true,
            ..Default::default()
        };
        let vars = [("AZURE_CLIENT_SECRET", "a"), ("IDENTITY_HEADER", "h")];
        let s = file.with_env_from(env(&vars));
        assert_eq!(s.method().unwrap(), Method::ManagedIdentity);
        assert_eq!(s.identity_header.as_deref(), Some("h"));
    }

    #[test]
    fn debug_redacts() {
        let s = AuthSettings {
            client_secret: Some("TOP-SECRET".into()),
            refresh_token: Some("REFRESH-SECRET".into()),
            ..Default::default()
        };
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("TOP-SECRET") && !debug.contains("REFRESH-SECRET"),
            "{debug}"
        );
    }
}

//! What the fake directory knows: one tenant, one app registration (secret + certificate), one
//! delegated user, one federated credential and one managed identity.

use std::time::Duration;

/// The test tenant every default mock serves.
pub const TEST_TENANT_ID: &str = "00000000-0000-4000-8000-00000000a11e";
/// The tenant's verified domain; the token endpoint accepts it in place of the id, as Entra does.
pub const TEST_TENANT_DOMAIN: &str = "contoso-test.onmicrosoft.com";
/// The test app registration's client id.
pub const TEST_CLIENT_ID: &str = "00000000-0000-4000-8000-0000000c11e7";
/// The test app's client secret. Distinctive so tests can grep logs for it.
pub const TEST_CLIENT_SECRET: &str = "mock~NEVER-LOG-THIS-SECRET~7Qz";
/// Redirect URI registered for the delegated (authorization-code) flow.
pub const TEST_REDIRECT_URI: &str = "http://localhost:8400/callback";
/// Test-only certificate registered for the app (tests/fixtures/auth/app-cert.pem).
pub const TEST_APP_CERT_PEM: &str = include_str!("../../../../tests/fixtures/auth/app-cert.pem");
/// Test-only private key of that certificate (tests/fixtures/auth/app-key.pem). Protects nothing.
pub const TEST_APP_KEY_PEM: &str = include_str!("../../../../tests/fixtures/auth/app-key.pem");
/// Test-only key of the OIDC issuer that signs federated tokens (tests/fixtures/auth/issuer-key.pem).
pub const TEST_ISSUER_KEY_PEM: &str =
    include_str!("../../../../tests/fixtures/auth/issuer-key.pem");
/// Its public half, which the mock trusts for the federated credential.
pub const TEST_ISSUER_PUBLIC_PEM: &str =
    include_str!("../../../../tests/fixtures/auth/issuer-pub.pem");
/// Audience Entra expects in a federated token.
pub const FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";

/// A user who signs in through `/authorize` without a browser (consent is implied).
#[derive(Debug, Clone)]
pub struct DelegatedUser {
    /// Object id of the user; delegated tokens carry it as `oid`.
    pub user_id: String,
    /// The user's sign-in name.
    pub user_principal_name: String,
}

/// A federated identity credential on the app: tokens from `issuer` with subject `subject`
/// (signed by `issuer_public_key_pem`) may be exchanged for app tokens.
#[derive(Debug, Clone)]
pub struct FederatedCredential {
    /// The `iss` a federated token must carry (default: GitHub Actions').
    pub issuer: String,
    /// The `sub` a federated token must carry.
    pub subject: String,
    /// The `aud` a federated token must carry (default [`FEDERATED_AUDIENCE`]).
    pub audience: String,
    /// PEM public key a federated token's signature must verify with.
    pub issuer_public_key_pem: String,
    /// Private key the mock uses in [`crate::auth::TokenService::federated_token`] (test-only).
    pub issuer_private_key_pem: String,
}

/// The managed identity the IMDS / App Service endpoints hand tokens to.
#[derive(Clone)]
pub struct ManagedIdentity {
    /// The identity's client id; a request naming another gets "Identity not found".
    pub client_id: String,
    /// Value the App Service form (`/msi/token`) expects in `X-IDENTITY-HEADER`.
    pub identity_header: String,
}

impl std::fmt::Debug for ManagedIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedIdentity")
            .field("client_id", &self.client_id)
            .field("identity_header", &"<redacted>")
            .finish()
    }
}

/// Tenant, app and lifetimes the mock's identity endpoints accept.
#[derive(Clone)]
pub struct AuthConfig {
    /// Tenant id the identity endpoints accept in their path (default [`TEST_TENANT_ID`]).
    pub tenant_id: String,
    /// Verified domain accepted in place of `tenant_id` (default [`TEST_TENANT_DOMAIN`]).
    pub tenant_domain: String,
    /// The app registration's client id (default [`TEST_CLIENT_ID`]).
    pub client_id: String,
    /// The app's one valid client secret (default [`TEST_CLIENT_SECRET`]).
    pub client_secret: String,
    /// PEM certificate registered on the app; assertions must be signed by its key.
    pub certificate_pem: String,
    /// The delegated flow's registered redirect URI; any other gets AADSTS50011.
    pub redirect_uri: String,
    /// Who signs in through `/authorize`.
    pub user: DelegatedUser,
    /// The app's federated identity credential (workload identity).
    pub federated: FederatedCredential,
    /// The identity the IMDS and App Service endpoints hand tokens to.
    pub managed_identity: ManagedIdentity,
    /// Access token lifetime; set to a couple of seconds to make tokens expire mid-run.
    pub token_ttl: Duration,
    /// Refresh token lifetime (default 90 days); an expired one gets AADSTS700082.
    pub refresh_token_ttl: Duration,
    /// Authorization code lifetime (default 10 minutes); an expired one gets AADSTS70008.
    pub code_ttl: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            tenant_id: TEST_TENANT_ID.into(),
            tenant_domain: TEST_TENANT_DOMAIN.into(),
            client_id: TEST_CLIENT_ID.into(),
            client_secret: TEST_CLIENT_SECRET.into(),
            certificate_pem: TEST_APP_CERT_PEM.into(),
            redirect_uri: TEST_REDIRECT_URI.into(),
            user: DelegatedUser {
                user_id: "00000000-0000-4000-8000-00000000d31e".into(),
                user_principal_name: "delegated.admin@contoso-test.onmicrosoft.com".into(),
            },
            federated: FederatedCredential {
                issuer: "https://token.actions.githubusercontent.com".into(),
                subject: "repo:msgraph-sync/msgraph-sync:ref:refs/heads/main".into(),
                audience: FEDERATED_AUDIENCE.into(),
                issuer_public_key_pem: TEST_ISSUER_PUBLIC_PEM.into(),
                issuer_private_key_pem: TEST_ISSUER_KEY_PEM.into(),
            },
            managed_identity: ManagedIdentity {
                client_id: "00000000-0000-4000-8000-0000000e5100".into(),
                identity_header: "mock-identity-header-NEVER-LOG".into(),
            },
            token_ttl: Duration::from_secs(3600),
            refresh_token_ttl: Duration::from_secs(90 * 24 * 3600),
            code_ttl: Duration::from_secs(600),
        }
    }
}

impl AuthConfig {
    /// Same defaults with a short access-token lifetime (tests of expiry mid-run).
    pub fn with_token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// Whether `tenant` (id or verified domain, any case) names this tenant.
    pub(crate) fn is_tenant(&self, tenant: &str) -> bool {
        tenant.eq_ignore_ascii_case(&self.tenant_id)
            || tenant.eq_ignore_ascii_case(&self.tenant_domain)
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("user", &self.user)
            .field("federated_subject", &self.federated.subject)
            .field("managed_identity", &self.managed_identity)
            .field("token_ttl", &self.token_ttl)
            .finish_non_exhaustive()
    }
}

//! Client credentials with a certificate: an RS256 `client_assertion` carrying the certificate's
//! SHA-256 thumbprint in `x5t#S256`, signed by its private key, fresh for every request.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::future::BoxFuture;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sha2::{Digest, Sha256};

use super::AccessToken;
use super::cache::TokenSource;
use super::error::AuthError;
use super::settings::AuthContext;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Entra accepts assertions valid for up to 10 minutes; a short one limits replay.
const ASSERTION_LIFETIME_SECS: u64 = 600;

pub(crate) struct Certificate {
    context: AuthContext,
    key: EncodingKey,
    thumbprint: String,
}

fn read_pem(what: &'static str, path: &Path) -> Result<Vec<pem::Pem>, AuthError> {
    let text = std::fs::read(path).map_err(|err| AuthError::file(what, path, err))?;
    pem::parse_many(text).map_err(|_| AuthError::file(what, path, "not a PEM file"))
}

impl Certificate {
    /// Loads the certificate and key now, so a bad file fails at startup rather than mid-run.
    pub fn load(
        context: AuthContext,
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<Self, AuthError> {
        let cert = read_pem("certificate", cert_path)?
            .into_iter()
            .find(|block| block.tag() == "CERTIFICATE")
            .ok_or_else(|| AuthError::file("certificate", cert_path, "no CERTIFICATE block"))?;
        let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(cert.contents()));
        let key_block = read_pem("private key", key_path)?
            .into_iter()
            .find(|block| matches!(block.tag(), "PRIVATE KEY" | "RSA PRIVATE KEY"))
            .ok_or_else(|| {
                AuthError::file(
                    "private key",
                    key_path,
                    "no unencrypted RSA PRIVATE KEY block",
                )
            })?;
        let key = EncodingKey::from_rsa_pem(pem::encode(&key_block).as_bytes())
            .map_err(|_| AuthError::file("private key", key_path, "not an RSA private key"))?;
        Ok(Self {
            context,
            key,
            thumbprint,
        })
    }

    fn assertion(&self) -> Result<String, AuthError> {
        let ctx = &self.context;
        let now = jsonwebtoken::get_current_timestamp();
        let mut header = Header::new(Algorithm::RS256);
        header.x5t_s256 = Some(self.thumbprint.clone());
        let claims = serde_json::json!({
            "aud": ctx.token_url(),
            "iss": ctx.client_id,
            "sub": ctx.client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now,
            "nbf": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|err| AuthError::Config(format!("cannot sign the client assertion: {err}")))
    }
}

impl TokenSource for Certificate {
    fn fetch(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            let assertion = self.assertion()?;
            let ctx = &self.context;
            let form = [
                ("grant_type", "client_credentials"),
                ("client_id", ctx.client_id.as_str()),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", assertion.as_str()),
                ("scope", ctx.scope.as_str()),
            ];
            Ok(ctx.request_token(&form).await?.access)
        })
    }
}

/// Workload identity federation: the platform's federated token is the client assertion. The
/// file is read on every fetch because the platform replaces it before it expires.
pub(crate) struct Federated {
    pub context: AuthContext,
    pub token_file: std::path::PathBuf,
}

impl TokenSource for Federated {
    fn fetch(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            let assertion = tokio::fs::read_to_string(&self.token_file)
                .await
                .map_err(|err| AuthError::file("federated token file", &self.token_file, err))?;
            let assertion = assertion.trim();
            if assertion.is_empty() {
                return Err(AuthError::file(
                    "federated token file",
                    &self.token_file,
                    "empty",
                ));
            }
            let ctx = &self.context;
            let form = [
                ("grant_type", "client_credentials"),
                ("client_id", ctx.client_id.as_str()),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", assertion),
                ("scope", ctx.scope.as_str()),
            ];
            Ok(ctx.request_token(&form).await?.access)
        })
    }
}

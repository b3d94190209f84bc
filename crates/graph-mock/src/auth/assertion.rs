//! Verifies `client_assertion` JWTs: certificate credentials (signed by the app's registered
//! certificate, `iss` = `sub` = client id, `aud` = the token URL, `x5t#S256` = cert thumbprint) and
//! federated tokens (signed by the trusted issuer, `iss`/`sub`/`aud` matching the federated credential).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::config::AuthConfig;
use super::entra_error::EntraError;
use super::store::Grant;

/// Entra tolerates a few minutes of clock skew on assertions.
const CLOCK_SKEW_SECS: u64 = 300;

#[derive(Deserialize)]
struct UnverifiedClaims {
    iss: Option<String>,
}

#[derive(Deserialize)]
struct Claims {}

/// base64url(SHA-256(DER)) of the first certificate in `pem_text`: the `x5t#S256` value.
pub fn certificate_thumbprint(pem_text: &str) -> Option<String> {
    let cert = pem::parse_many(pem_text)
        .ok()?
        .into_iter()
        .find(|block| block.tag() == "CERTIFICATE")?;
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(cert.contents())))
}

/// Checks `assertion` for `client_id`, presented at `token_urls` (any one may be the `aud`).
/// Returns which credential it proved.
pub(crate) fn verify(
    config: &AuthConfig,
    client_id: &str,
    assertion: &str,
    token_urls: &[String],
) -> Result<Grant, EntraError> {
    let unverified: UnverifiedClaims = jsonwebtoken::dangerous::insecure_decode_claims(assertion)
        .map_err(|_| {
        EntraError::malformed_assertion("The client assertion could not be parsed.")
    })?;
    // An assertion the app signed itself names the app as issuer; anything else must be a
    // federated token from an external issuer.
    if unverified.iss.as_deref() == Some(client_id) {
        verify_certificate(config, client_id, assertion, token_urls)?;
        Ok(Grant::Certificate)
    } else {
        verify_federated(config, assertion)?;
        Ok(Grant::Federated)
    }
}

fn verify_certificate(
    config: &AuthConfig,
    client_id: &str,
    assertion: &str,
    token_urls: &[String],
) -> Result<(), EntraError> {
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| EntraError::malformed_assertion("The client assertion header is invalid."))?;
    if header.alg != Algorithm::RS256 && header.alg != Algorithm::PS256 {
        return Err(EntraError::malformed_assertion(
            "Unsupported signing algorithm.",
        ));
    }
    let registered = certificate_thumbprint(&config.certificate_pem);
    if header.x5t_s256.is_none() || header.x5t_s256 != registered {
        return Err(EntraError::unknown_certificate());
    }
    let key = DecodingKey::from_rsa_pem(config.certificate_pem.as_bytes())
        .map_err(|_| EntraError::unknown_certificate())?;
    let mut validation = Validation::new(header.alg);
    validation.leeway = CLOCK_SKEW_SECS;
    validation.validate_nbf = true;
    validation.set_audience(token_urls);
    validation.set_issuer(&[client_id]);
    validation.sub = Some(client_id.to_owned());
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    jsonwebtoken::decode::<Claims>(assertion, &key, &validation)
        .map(|_| ())
        .map_err(|err| match err.kind() {
            ErrorKind::InvalidSignature => EntraError::bad_assertion_signature(),
            ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => {
                EntraError::assertion_time_range()
            }
            ErrorKind::InvalidAudience => EntraError::malformed_assertion(
                "The audience of the client assertion is not the token endpoint.",
            ),
            ErrorKind::InvalidIssuer | ErrorKind::InvalidSubject => {
                EntraError::malformed_assertion(
                    "The issuer and subject of the client assertion must be the client id.",
                )
            }
            _ => EntraError::malformed_assertion("The client assertion is invalid."),
        })
}

fn verify_federated(config: &AuthConfig, assertion: &str) -> Result<(), EntraError> {
    let federated = &config.federated;
    let key = DecodingKey::from_rsa_pem(federated.issuer_public_key_pem.as_bytes())
        .map_err(|_| EntraError::no_federated_match())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = CLOCK_SKEW_SECS;
    validation.validate_nbf = true;
    validation.set_audience(&[&federated.audience]);
    validation.set_issuer(&[&federated.issuer]);
    validation.sub = Some(federated.subject.clone());
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    jsonwebtoken::decode::<Claims>(assertion, &key, &validation)
        .map(|_| ())
        .map_err(|err| match err.kind() {
            ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => {
                EntraError::assertion_time_range()
            }
            _ => EntraError::no_federated_match(),
        })
}

//! The mock's identity endpoints over real HTTP on 127.0.0.1: every grant and every AADSTS error.

use std::time::Duration;

use graph_mock::auth::{
    AuthConfig, BearerError, Grant, TEST_APP_CERT_PEM, TEST_APP_KEY_PEM, TEST_CLIENT_ID,
    TEST_CLIENT_SECRET, TEST_REDIRECT_URI, TEST_TENANT_DOMAIN, TEST_TENANT_ID, TokenService,
    certificate_thumbprint, sign_federated_token,
};
use http::{HeaderMap, HeaderValue};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const OTHER_CERT_PEM: &str = include_str!("../../../tests/fixtures/auth/other-cert.pem");
const OTHER_KEY_PEM: &str = include_str!("../../../tests/fixtures/auth/other-key.pem");
const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct Endpoint {
    service: TokenService,
    base: String,
    http: reqwest::Client,
    _server: tokio::task::JoinHandle<()>,
}

async fn serve(config: AuthConfig) -> Endpoint {
    let service = TokenService::new(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = service.routes();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Endpoint {
        service,
        base,
        http,
        _server: server,
    }
}

impl Endpoint {
    fn token_url(&self) -> String {
        format!("{}/{TEST_TENANT_ID}/oauth2/v2.0/token", self.base)
    }

    async fn post_token(&self, tenant: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let url = format!("{}/{tenant}/oauth2/v2.0/token", self.base);
        let response = self.http.post(url).form(form).send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        self.post_token(TEST_TENANT_ID, form).await
    }

    /// Runs `/authorize` (with RFC 7636's example PKCE challenge) and returns the code from the
    /// redirect.
    async fn authorize(&self, scope: &str) -> String {
        let response = self
            .http
            .get(format!(
                "{}/{TEST_TENANT_ID}/oauth2/v2.0/authorize",
                self.base
            ))
            .query(&[
                ("client_id", TEST_CLIENT_ID),
                ("response_type", "code"),
                ("redirect_uri", TEST_REDIRECT_URI),
                ("scope", scope),
                ("state", "xyz"),
                ("code_challenge", PKCE_CHALLENGE),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await
            .unwrap();
        assert!(response.status().is_redirection(), "{}", response.status());
        let location = response.headers()["location"].to_str().unwrap();
        let location = url::Url::parse(location).unwrap();
        assert!(location.as_str().starts_with(TEST_REDIRECT_URI));
        let pairs: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
        assert_eq!(pairs["state"], "xyz");
        pairs["code"].clone()
    }
}

/// RFC 7636 appendix B: a verifier and its S256 challenge.
const PKCE_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const PKCE_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    headers
}

fn secret_form(secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", TEST_CLIENT_ID.into()),
        ("client_secret", secret.into()),
        ("scope", GRAPH_SCOPE.into()),
    ]
}

fn as_refs<'a>(form: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Asserts Entra's error shape and returns the description's first line.
fn assert_entra_error(
    status: u16,
    body: &Value,
    want_status: u16,
    error: &str,
    code: u32,
) -> String {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"], json!([code]));
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    let trace_id = body["trace_id"].as_str().unwrap();
    let correlation_id = body["correlation_id"].as_str().unwrap();
    assert!(description.contains(&format!("\r\nTrace ID: {trace_id}\r\n")));
    assert!(description.contains(&format!("Correlation ID: {correlation_id}\r\nTimestamp: ")));
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        body["error_uri"],
        format!("https://login.microsoftonline.com/error?code={code}")
    );
    assert!(!body.to_string().contains(TEST_CLIENT_SECRET));
    description.lines().next().unwrap().to_owned()
}

fn assertion(key_pem: &str, cert_pem: &str, aud: &str, lifetime_secs: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut header = Header::new(Algorithm::RS256);
    header.x5t_s256 = certificate_thumbprint(cert_pem);
    let claims = json!({
        "aud": aud, "iss": TEST_CLIENT_ID, "sub": TEST_CLIENT_ID,
        "jti": uuid::Uuid::new_v4().to_string(), "nbf": now - 10, "iat": now - 10,
        "exp": now + lifetime_secs,
    });
    let key = EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

async fn assertion_grant(endpoint: &Endpoint, assertion: &str) -> (u16, Value) {
    endpoint
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", TEST_CLIENT_ID),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
            ("scope", GRAPH_SCOPE),
        ])
        .await
}

#[tokio::test]
async fn client_secret_grant_issues_a_token_the_service_accepts() {
    let endpoint = serve(AuthConfig::default()).await;
    let (status, body) = endpoint
        .token(&as_refs(&secret_form(TEST_CLIENT_SECRET)))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["ext_expires_in"], 3600);
    assert!(body.get("refresh_token").is_none());
    let token = body["access_token"].as_str().unwrap();
    let principal = endpoint.service.check_bearer(&bearer(token)).unwrap();
    assert_eq!(principal.client_id, TEST_CLIENT_ID);
    assert_eq!(principal.user_id, None);
    assert_eq!(principal.grant, Grant::ClientSecret);
    assert_eq!(endpoint.service.tokens_issued(Grant::ClientSecret), 1);
}

#[tokio::test]
async fn tenant_domain_is_accepted_in_place_of_the_id() {
    let endpoint = serve(AuthConfig::default()).await;
    let form = secret_form(TEST_CLIENT_SECRET);
    let (status, body) = endpoint
        .post_token(TEST_TENANT_DOMAIN, &as_refs(&form))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn wrong_secret_is_aadsts7000215() {
    let endpoint = serve(AuthConfig::default()).await;
    let (status, body) = endpoint.token(&as_refs(&secret_form("wrong-secret"))).await;
    let first = assert_entra_error(status, &body, 401, "invalid_client", 7000215);
    assert!(
        first.starts_with("AADSTS7000215: Invalid client secret provided."),
        "{first}"
    );
}

#[tokio::test]
async fn unknown_app_is_aadsts700016_and_unknown_tenant_is_aadsts90002() {
    let endpoint = serve(AuthConfig::default()).await;
    let mut form = secret_form(TEST_CLIENT_SECRET);
    form[1].1 = "11111111-2222-3333-4444-555555555555".into();
    let (status, body) = endpoint.token(&as_refs(&form)).await;
    let first = assert_entra_error(status, &body, 400, "unauthorized_client", 700016);
    assert!(first.contains("Application with identifier '11111111-2222-3333-4444-555555555555'"));

    let form = secret_form(TEST_CLIENT_SECRET);
    let (status, body) = endpoint
        .post_token("no-such-tenant.example", &as_refs(&form))
        .await;
    let first = assert_entra_error(status, &body, 400, "invalid_request", 90002);
    assert!(first.contains("Tenant 'no-such-tenant.example' not found"));
}

#[tokio::test]
async fn request_errors_missing_grant_unsupported_grant_and_non_default_scope() {
    let endpoint = serve(AuthConfig::default()).await;
    let (status, body) = endpoint.token(&[("client_id", TEST_CLIENT_ID)]).await;
    assert_entra_error(status, &body, 400, "invalid_request", 900144);

    let (status, body) = endpoint
        .token(&[("grant_type", "password"), ("client_id", TEST_CLIENT_ID)])
        .await;
    assert_entra_error(status, &body, 400, "unsupported_grant_type", 70003);

    let mut form = secret_form(TEST_CLIENT_SECRET);
    form[3].1 = "User.Read".into();
    let (status, body) = endpoint.token(&as_refs(&form)).await;
    assert_entra_error(status, &body, 400, "invalid_scope", 1002012);

    let (status, body) = endpoint
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", TEST_CLIENT_ID),
            ("scope", GRAPH_SCOPE),
        ])
        .await;
    assert_entra_error(status, &body, 401, "invalid_client", 7000218);
}

#[tokio::test]
async fn certificate_assertion_grant_and_its_failures() {
    let endpoint = serve(AuthConfig::default()).await;
    let aud = endpoint.token_url();

    let good = assertion(TEST_APP_KEY_PEM, TEST_APP_CERT_PEM, &aud, 600);
    let (status, body) = assertion_grant(&endpoint, &good).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let principal = endpoint.service.check_bearer(&bearer(token)).unwrap();
    assert_eq!(principal.grant, Grant::Certificate);

    // The public cloud's token URL is accepted as audience too.
    let public_aud =
        format!("https://login.microsoftonline.com/{TEST_TENANT_ID}/oauth2/v2.0/token");
    let (status, _) = assertion_grant(
        &endpoint,
        &assertion(TEST_APP_KEY_PEM, TEST_APP_CERT_PEM, &public_aud, 600),
    )
    .await;
    assert_eq!(status, 200);

    // Registered thumbprint, but signed by another key.
    let forged = assertion(OTHER_KEY_PEM, TEST_APP_CERT_PEM, &aud, 600);
    let (status, body) = assertion_grant(&endpoint, &forged).await;
    let first = assert_entra_error(status, &body, 401, "invalid_client", 700027);
    assert!(first.contains("signature validation"), "{first}");

    // A certificate the app does not have.
    let unregistered = assertion(OTHER_KEY_PEM, OTHER_CERT_PEM, &aud, 600);
    let (status, body) = assertion_grant(&endpoint, &unregistered).await;
    let first = assert_entra_error(status, &body, 401, "invalid_client", 700027);
    assert!(first.contains("not registered"), "{first}");

    let expired = assertion(TEST_APP_KEY_PEM, TEST_APP_CERT_PEM, &aud, -3600);
    let (status, body) = assertion_grant(&endpoint, &expired).await;
    assert_entra_error(status, &body, 401, "invalid_client", 700024);

    let wrong_aud = assertion(
        TEST_APP_KEY_PEM,
        TEST_APP_CERT_PEM,
        "https://example.com/token",
        600,
    );
    let (status, body) = assertion_grant(&endpoint, &wrong_aud).await;
    assert_entra_error(status, &body, 401, "invalid_client", 50027);

    let (status, body) = assertion_grant(&endpoint, "not-a-jwt").await;
    assert_entra_error(status, &body, 401, "invalid_client", 50027);
}

#[tokio::test]
async fn federated_assertion_grant_and_a_wrong_subject() {
    let endpoint = serve(AuthConfig::default()).await;
    let federated = endpoint.service.federated_token(Duration::from_secs(600));
    let (status, body) = assertion_grant(&endpoint, &federated).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(
        endpoint.service.check_bearer(&bearer(token)).unwrap().grant,
        Grant::Federated
    );

    let credential = endpoint.service.config().federated.clone();
    let wrong_subject = sign_federated_token(
        &credential,
        "repo:evil/fork:ref:refs/heads/main",
        Duration::from_secs(600),
    );
    let (status, body) = assertion_grant(&endpoint, &wrong_subject).await;
    assert_entra_error(status, &body, 400, "invalid_request", 70021);

    let expired = sign_federated_token(&credential, &credential.subject, Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(10)).await;
    let (status, _) = assertion_grant(&endpoint, &expired).await;
    // Within Entra's clock-skew tolerance a just-expired token still works.
    assert_eq!(status, 200);
}

#[tokio::test]
async fn authorization_code_then_rotating_refresh_tokens() {
    let endpoint = serve(AuthConfig::default()).await;
    let scope = "offline_access https://graph.microsoft.com/User.Read";
    let code = endpoint.authorize(scope).await;
    let redeem = [
        ("grant_type", "authorization_code"),
        ("client_id", TEST_CLIENT_ID),
        ("code", code.as_str()),
        ("code_verifier", PKCE_VERIFIER),
        ("redirect_uri", TEST_REDIRECT_URI),
        ("scope", scope),
    ];
    let (status, body) = endpoint.token(&redeem).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "https://graph.microsoft.com/User.Read");
    let principal = endpoint
        .service
        .check_bearer(&bearer(body["access_token"].as_str().unwrap()))
        .unwrap();
    assert_eq!(
        principal.user_id.as_deref(),
        Some(endpoint.service.config().user.user_id.as_str())
    );
    assert_eq!(principal.grant, Grant::AuthorizationCode);

    // A code works once.
    let (status, again) = endpoint.token(&redeem).await;
    assert_entra_error(status, &again, 400, "invalid_grant", 54005);

    let first_refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: String| {
        let endpoint = &endpoint;
        async move {
            endpoint
                .token(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", TEST_CLIENT_ID),
                    ("client_secret", TEST_CLIENT_SECRET),
                    ("refresh_token", token.as_str()),
                ])
                .await
        }
    };
    let (status, rotated) = refresh(first_refresh.clone()).await;
    assert_eq!(status, 200, "{rotated}");
    let second_refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first_refresh);
    assert_eq!(
        endpoint
            .service
            .check_bearer(&bearer(rotated["access_token"].as_str().unwrap()))
            .unwrap()
            .grant,
        Grant::RefreshToken
    );
    // The used one is now rejected.
    let (status, body) = refresh(first_refresh).await;
    assert_entra_error(status, &body, 400, "invalid_grant", 70000);

    endpoint.service.expire_codes_and_refresh_tokens();
    let (status, body) = refresh(second_refresh).await;
    assert_entra_error(status, &body, 400, "invalid_grant", 700082);
}

#[tokio::test]
async fn no_offline_access_means_no_refresh_token_and_expired_code_is_aadsts70008() {
    let endpoint = serve(AuthConfig::default()).await;
    let code = endpoint
        .authorize("https://graph.microsoft.com/User.Read")
        .await;
    let redeem = |code: String| {
        let endpoint = &endpoint;
        async move {
            endpoint
                .token(&[
                    ("grant_type", "authorization_code"),
                    ("client_id", TEST_CLIENT_ID),
                    ("code", code.as_str()),
                    ("code_verifier", PKCE_VERIFIER),
                    ("redirect_uri", TEST_REDIRECT_URI),
                ])
                .await
        }
    };
    let (status, body) = redeem(code).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none());

    let code = endpoint.authorize("offline_access User.Read").await;
    endpoint.service.expire_codes_and_refresh_tokens();
    let (status, body) = redeem(code).await;
    assert_entra_error(status, &body, 400, "invalid_grant", 70008);
}

#[tokio::test]
async fn authorize_rejects_a_foreign_redirect_uri() {
    let endpoint = serve(AuthConfig::default()).await;
    let response = endpoint
        .http
        .get(format!(
            "{}/{TEST_TENANT_ID}/oauth2/v2.0/authorize",
            endpoint.base
        ))
        .query(&[
            ("client_id", TEST_CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", "https://attacker.example/cb"),
            ("scope", "offline_access User.Read"),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_entra_error(status, &body, 400, "invalid_request", 50011);
}

#[tokio::test]
async fn managed_identity_imds_and_app_service_forms() {
    let endpoint = serve(AuthConfig::default()).await;
    let imds = format!("{}/metadata/identity/oauth2/token", endpoint.base);
    let query = [
        ("api-version", "2018-02-01"),
        ("resource", "https://graph.microsoft.com"),
    ];

    let response = endpoint.http.get(&imds).query(&query).send().await.unwrap();
    assert_eq!(response.status(), 400, "IMDS requires the Metadata header");

    let response = endpoint
        .http
        .get(&imds)
        .query(&query)
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["expires_in"], "3600");
    assert_eq!(body["resource"], "https://graph.microsoft.com");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(
        endpoint.service.check_bearer(&bearer(token)).unwrap().grant,
        Grant::ManagedIdentity
    );

    let app_service = format!("{}/msi/token", endpoint.base);
    let header = endpoint
        .service
        .config()
        .managed_identity
        .identity_header
        .clone();
    let query = [
        ("api-version", "2019-08-01"),
        ("resource", "https://graph.microsoft.com"),
    ];
    let response = endpoint
        .http
        .get(&app_service)
        .query(&query)
        .header("X-IDENTITY-HEADER", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = endpoint
        .http
        .get(&app_service)
        .query(&query)
        .header("X-IDENTITY-HEADER", header)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["expires_on"].as_str().unwrap().parse::<i64>().is_ok());
}

#[tokio::test]
async fn bearer_checks_missing_malformed_unknown_and_expired() {
    let endpoint = serve(AuthConfig::default()).await;
    let service = &endpoint.service;
    assert_eq!(
        service.check_bearer(&HeaderMap::new()),
        Err(BearerError::Missing)
    );
    let mut empty = HeaderMap::new();
    empty.insert("authorization", HeaderValue::from_static("Bearer "));
    assert_eq!(service.check_bearer(&empty), Err(BearerError::Missing));
    assert_eq!(
        service.check_bearer(&bearer("opaque")),
        Err(BearerError::Malformed)
    );
    let mut basic = HeaderMap::new();
    basic.insert("authorization", HeaderValue::from_static("Basic a.b.c"));
    assert_eq!(service.check_bearer(&basic), Err(BearerError::Malformed));
    assert_eq!(
        service.check_bearer(&bearer("a.b.c")),
        Err(BearerError::Unknown)
    );

    let (_, body) = endpoint
        .token(&as_refs(&secret_form(TEST_CLIENT_SECRET)))
        .await;
    let token = body["access_token"].as_str().unwrap();
    assert!(service.check_bearer(&bearer(token)).is_ok());
    service.expire_all();
    assert_eq!(
        service.check_bearer(&bearer(token)),
        Err(BearerError::Expired)
    );
}

#[tokio::test]
async fn a_short_ttl_expires_tokens_on_its_own() {
    let endpoint = serve(AuthConfig::default().with_token_ttl(Duration::from_secs(1))).await;
    let (_, body) = endpoint
        .token(&as_refs(&secret_form(TEST_CLIENT_SECRET)))
        .await;
    assert_eq!(body["expires_in"], 1);
    let token = body["access_token"].as_str().unwrap();
    assert!(endpoint.service.check_bearer(&bearer(token)).is_ok());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        endpoint.service.check_bearer(&bearer(token)),
        Err(BearerError::Expired)
    );
}

#[test]
fn debug_output_never_shows_secrets() {
    let config = AuthConfig::default();
    let debug = format!("{config:?}");
    assert!(!debug.contains(TEST_CLIENT_SECRET));
    assert!(!debug.contains(&config.managed_identity.identity_header));
}

/// PKCE: a code is only issued with an S256 challenge, and redeemed only with its verifier.
#[tokio::test]
async fn authorization_codes_need_pkce() {
    let endpoint = serve(AuthConfig::default()).await;
    let authorize = |extra: &'static [(&'static str, &'static str)]| {
        let endpoint = &endpoint;
        async move {
            let mut query = vec![
                ("client_id", TEST_CLIENT_ID),
                ("response_type", "code"),
                ("redirect_uri", TEST_REDIRECT_URI),
                ("scope", "offline_access User.Read"),
            ];
            query.extend_from_slice(extra);
            let response = endpoint
                .http
                .get(format!(
                    "{}/{TEST_TENANT_ID}/oauth2/v2.0/authorize",
                    endpoint.base
                ))
                .query(&query)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = authorize(&[]).await;
    assert_entra_error(status, &body, 400, "invalid_request", 9002325);
    let (status, body) = authorize(&[("code_challenge", PKCE_CHALLENGE)]).await;
    assert_entra_error(status, &body, 400, "invalid_request", 900144);
    let (status, body) = authorize(&[
        ("code_challenge", "short"),
        ("code_challenge_method", "S256"),
    ])
    .await;
    assert_entra_error(status, &body, 400, "invalid_request", 501491);

    let code = endpoint.authorize("offline_access User.Read").await;
    let redeem = |verifier: Option<&'static str>| {
        let endpoint = &endpoint;
        let code = code.clone();
        async move {
            let mut form = vec![
                ("grant_type", "authorization_code"),
                ("client_id", TEST_CLIENT_ID),
                ("code", code.as_str()),
                ("redirect_uri", TEST_REDIRECT_URI),
            ];
            if let Some(verifier) = verifier {
                form.push(("code_verifier", verifier));
            }
            endpoint.token(&form).await
        }
    };
    let (status, body) = redeem(None).await;
    assert_entra_error(status, &body, 400, "invalid_request", 900144);
    let (status, body) = redeem(Some("a-verifier-that-is-not-the-one-hashed-into-the-url")).await;
    assert_entra_error(status, &body, 400, "invalid_grant", 50148);
    let (status, body) = redeem(Some(PKCE_VERIFIER)).await;
    assert_eq!(status, 200, "{body}");
}

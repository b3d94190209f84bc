//! Every token provider against the mock's identity endpoints over real HTTP on 127.0.0.1.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use graph_extract::auth::{
    AuthContext, AuthError, AuthSettings, Pkce, authorize_url, code_from_redirect, login, provider,
};
use graph_mock::auth::{
    AuthConfig, Grant, TEST_APP_CERT_PEM, TEST_APP_KEY_PEM, TEST_CLIENT_ID, TEST_CLIENT_SECRET,
    TEST_REDIRECT_URI, TEST_TENANT_ID, TokenService, sign_federated_token,
};
use reqwest::header::{HeaderMap, HeaderValue};

const OTHER_CERT_PEM: &str = include_str!("../../../tests/fixtures/auth/other-cert.pem");
const OTHER_KEY_PEM: &str = include_str!("../../../tests/fixtures/auth/other-key.pem");
const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

struct Mock {
    service: TokenService,
    base: String,
    _server: tokio::task::JoinHandle<()>,
}

async fn mock(config: AuthConfig) -> Mock {
    let service = TokenService::new(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = service.routes();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Mock {
        service,
        base,
        _server: server,
    }
}

impl Mock {
    fn context(&self) -> AuthContext {
        self.context_for(TEST_TENANT_ID, TEST_CLIENT_ID)
    }

    fn context_for(&self, tenant: &str, client: &str) -> AuthContext {
        AuthContext {
            tenant_id: tenant.into(),
            client_id: client.into(),
            scope: GRAPH_SCOPE.into(),
            authority_host: url::Url::parse(&self.base).unwrap(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        }
    }

    /// Whether the mock's Graph side would accept `token`.
    fn accepts(&self, token: &str) -> Result<Grant, String> {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        self.service
            .check_bearer(&headers)
            .map(|p| p.grant)
            .map_err(|e| e.to_string())
    }
}

fn secret_settings(secret: &str) -> AuthSettings {
    AuthSettings {
        client_secret: Some(secret.into()),
        ..Default::default()
    }
}

fn pem_file(dir: &tempfile::TempDir, name: &str, contents: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

async fn fetch(settings: &AuthSettings, ctx: AuthContext) -> Result<String, AuthError> {
    let provider = provider(settings, ctx)?;
    provider.token().await.map(|t| t.secret)
}

#[tokio::test]
async fn client_secret_provider_gets_an_accepted_token_and_caches_it() {
    let mock = mock(AuthConfig::default()).await;
    let provider = provider(&secret_settings(TEST_CLIENT_SECRET), mock.context()).unwrap();
    assert_eq!(provider.method(), "client_secret");
    let first = provider.token().await.unwrap();
    assert_eq!(mock.accepts(&first.secret), Ok(Grant::ClientSecret));
    let second = provider.token().await.unwrap();
    assert_eq!(first.secret, second.secret);
    assert_eq!(mock.service.tokens_issued(Grant::ClientSecret), 1);
}

#[tokio::test]
async fn certificate_provider_with_separate_and_combined_pem() {
    let mock = mock(AuthConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let cert = pem_file(&dir, "cert.pem", TEST_APP_CERT_PEM);
    let key = pem_file(&dir, "key.pem", TEST_APP_KEY_PEM);
    let settings = AuthSettings {
        certificate_path: Some(cert),
        private_key_path: Some(key),
        ..Default::default()
    };
    let token = fetch(&settings, mock.context()).await.unwrap();
    assert_eq!(mock.accepts(&token), Ok(Grant::Certificate));

    let both = pem_file(
        &dir,
        "both.pem",
        &format!("{TEST_APP_KEY_PEM}{TEST_APP_CERT_PEM}"),
    );
    let settings = AuthSettings {
        certificate_path: Some(both),
        ..Default::default()
    };
    let token = fetch(&settings, mock.context()).await.unwrap();
    assert_eq!(mock.accepts(&token), Ok(Grant::Certificate));
}

#[tokio::test]
async fn unregistered_certificate_is_aadsts700027() {
    let mock = mock(AuthConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let both = pem_file(
        &dir,
        "other.pem",
        &format!("{OTHER_CERT_PEM}{OTHER_KEY_PEM}"),
    );
    let settings = AuthSettings {
        certificate_path: Some(both),
        ..Default::default()
    };
    let err = fetch(&settings, mock.context()).await.unwrap_err();
    assert_eq!(err.aadsts_code(), Some("AADSTS700027"));
    assert_eq!(err.status(), Some(401));
    assert!(err.is_permanent());
}

#[tokio::test]
async fn a_missing_key_file_is_a_config_error_before_any_request() {
    let mock = mock(AuthConfig::default()).await;
    let settings = AuthSettings {
        certificate_path: Some("/nonexistent/cert.pem".into()),
        ..Default::default()
    };
    let err = provider(&settings, mock.context())
        .err()
        .expect("must fail");
    assert!(
        matches!(
            err,
            AuthError::File {
                what: "certificate",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(mock.service.total_tokens_issued(), 0);
}

#[tokio::test]
async fn each_aadsts_error_is_typed_with_a_one_line_message() {
    let mock = mock(AuthConfig::default()).await;
    let cases = [
        (
            secret_settings("wrong"),
            mock.context(),
            "AADSTS7000215",
            401,
            "authentication failed: AADSTS7000215: Invalid client secret provided.",
        ),
        (
            secret_settings(TEST_CLIENT_SECRET),
            mock.context_for(TEST_TENANT_ID, "11111111-0000-4000-8000-000000000000"),
            "AADSTS700016",
            400,
            "authentication failed: AADSTS700016: Application with identifier",
        ),
        (
            secret_settings(TEST_CLIENT_SECRET),
            mock.context_for("no-such-tenant", TEST_CLIENT_ID),
            "AADSTS90002",
            400,
            "authentication failed: AADSTS90002: Tenant 'no-such-tenant' not found.",
        ),
    ];
    for (settings, ctx, code, status, prefix) in cases {
        let err = fetch(&settings, ctx).await.unwrap_err();
        let AuthError::Entra(refusal) = &err else {
            panic!("not an Entra refusal: {err:?}")
        };
        assert_eq!(refusal.code, code);
        assert_eq!(refusal.status, status);
        assert!(refusal.trace_id.is_some());
        let message = err.to_string();
        assert!(message.starts_with(prefix), "{message}");
        assert!(
            !message.contains('\n') && !message.contains('\r'),
            "{message:?}"
        );
        assert!(message.contains("[trace id "), "{message}");
        assert!(!message.contains("Correlation ID"), "{message}");
        assert!(
            !message.contains(TEST_CLIENT_SECRET)
                && !format!("{err:?}").contains(TEST_CLIENT_SECRET)
        );
    }
}

#[tokio::test]
async fn delegated_login_then_refresh_tokens_rotate_into_the_cache() {
    let mock = mock(AuthConfig::default()).await;
    let ctx = mock.context();
    let pkce = Pkce::new();
    let url = authorize_url(&ctx, TEST_REDIRECT_URI, "state-123", &pkce);
    assert!(url.query().unwrap().contains("offline_access"));
    let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(pairs["code_challenge_method"], "S256");
    assert_eq!(pairs["code_challenge"], pkce.challenge());
    assert!(
        !url.as_str().contains(pkce.verifier()),
        "the verifier never leaves the process"
    );
    // What a browser would do: follow /authorize to the redirect URI.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirect.get(url).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(code_from_redirect(&location, "other-state").is_err());
    let code = code_from_redirect(&location, "state-123").unwrap();

    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("token-cache.json");
    // The code is worth nothing without this login's verifier (an intercepted redirect).
    let err = login(&ctx, None, &code, &Pkce::new(), TEST_REDIRECT_URI, &cache)
        .await
        .unwrap_err();
    assert_eq!(err.aadsts_code(), Some("AADSTS50148"));
    assert!(!cache.exists());
    // The mock checks the verifier before it spends the code, so the right one still works.
    let first = login(&ctx, None, &code, &pkce, TEST_REDIRECT_URI, &cache)
        .await
        .unwrap();
    assert_eq!(mock.accepts(&first.secret), Ok(Grant::AuthorizationCode));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let stored = std::fs::read_to_string(&cache).unwrap();

    let settings = AuthSettings {
        token_cache_path: Some(cache.clone()),
        ..Default::default()
    };
    let provider = provider(&settings, ctx.clone()).unwrap();
    assert_eq!(provider.method(), "refresh_token");
    let token = provider.token().await.unwrap();
    assert_eq!(mock.accepts(&token.secret), Ok(Grant::RefreshToken));
    let rotated = std::fs::read_to_string(&cache).unwrap();
    assert_ne!(stored, rotated, "the rotated refresh token is persisted");

    // A later run starts from the cache; the stale config token is ignored.
    let later = AuthSettings {
        token_cache_path: Some(cache.clone()),
        refresh_token: Some("stale".into()),
        ..Default::default()
    };
    let token = fetch(&later, ctx.clone()).await.unwrap();
    assert!(mock.accepts(&token).is_ok());

    // The first, used refresh token is dead.
    let old: serde_json::Value = serde_json::from_str(&stored).unwrap();
    let reuse = AuthSettings {
        refresh_token: Some(old["refresh_token"].as_str().unwrap().into()),
        ..Default::default()
    };
    let err = fetch(&reuse, ctx.clone()).await.unwrap_err();
    assert_eq!(err.aadsts_code(), Some("AADSTS70000"));

    mock.service.expire_codes_and_refresh_tokens();
    let err = fetch(&later, ctx).await.unwrap_err();
    assert_eq!(err.aadsts_code(), Some("AADSTS700082"));
}

#[tokio::test]
async fn managed_identity_imds_and_app_service() {
    let mock = mock(AuthConfig::default()).await;
    let imds = AuthSettings {
        use_managed_identity: true,
        identity_endpoint: Some(format!("{}/metadata/identity/oauth2/token", mock.base)),
        ..Default::default()
    };
    let token = fetch(&imds, mock.context()).await.unwrap();
    assert_eq!(mock.accepts(&token), Ok(Grant::ManagedIdentity));

    let identity_header = mock
        .service
        .config()
        .managed_identity
        .identity_header
        .clone();
    let app_service = AuthSettings {
        use_managed_identity: true,
        identity_endpoint: Some(format!("{}/msi/token", mock.base)),
        identity_header: Some(identity_header),
        ..Default::default()
    };
    let token = fetch(&app_service, mock.context()).await.unwrap();
    assert_eq!(mock.accepts(&token), Ok(Grant::ManagedIdentity));

    let wrong_identity = AuthSettings {
        managed_identity_client_id: Some("not-this-identity".into()),
        ..imds
    };
    let err = fetch(&wrong_identity, mock.context()).await.unwrap_err();
    assert!(
        matches!(err, AuthError::ManagedIdentity { status: 400, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("Identity not found"), "{err}");
}

#[tokio::test]
async fn workload_identity_reads_the_token_file_on_each_fetch() {
    let mock = mock(AuthConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = pem_file(
        &dir,
        "federated-token",
        &mock.service.federated_token(Duration::from_secs(600)),
    );
    let settings = AuthSettings {
        federated_token_file: Some(file.clone()),
        ..Default::default()
    };
    let provider = provider(&settings, mock.context()).unwrap();
    assert_eq!(provider.method(), "workload_identity");
    let token = provider.token().await.unwrap();
    assert_eq!(mock.accepts(&token.secret), Ok(Grant::Federated));

    // The platform replaces the file; the next fetch must present the new content.
    let credential = mock.service.config().federated.clone();
    let foreign = sign_federated_token(
        &credential,
        "repo:someone/else:ref:refs/heads/main",
        Duration::from_secs(600),
    );
    std::fs::write(&file, foreign).unwrap();
    provider.invalidate(&token);
    let err = provider.token().await.unwrap_err();
    assert_eq!(err.aadsts_code(), Some("AADSTS70021"));
}

#[tokio::test]
async fn expiry_refreshes_and_invalidate_fetches_anew() {
    let mock = mock(AuthConfig::default().with_token_ttl(Duration::from_secs(2))).await;
    let provider = provider(&secret_settings(TEST_CLIENT_SECRET), mock.context()).unwrap();
    let first = provider.token().await.unwrap();
    assert_eq!(provider.token().await.unwrap().secret, first.secret);

    // Past the safety margin (10% of 2 s) the cached token is not handed out any more.
    tokio::time::sleep(Duration::from_millis(1900)).await;
    let second = provider.token().await.unwrap();
    assert_ne!(second.secret, first.secret);
    assert!(mock.accepts(&second.secret).is_ok());

    // A stale rejection does not drop the newer token; the current one's does.
    provider.invalidate(&first);
    assert_eq!(provider.token().await.unwrap().secret, second.secret);
    provider.invalidate(&second);
    let third = provider.token().await.unwrap();
    assert_ne!(third.secret, second.secret);
    assert_eq!(mock.service.tokens_issued(Grant::ClientSecret), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_callers_share_one_fetch() {
    let mock = mock(AuthConfig::default()).await;
    let provider = provider(&secret_settings(TEST_CLIENT_SECRET), mock.context()).unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let provider = Arc::clone(&provider);
            tokio::spawn(async move { provider.token().await.unwrap().secret })
        })
        .collect();
    let tokens = futures::future::join_all(tasks).await;
    let first = tokens[0].as_ref().unwrap();
    assert!(tokens.iter().all(|t| t.as_ref().unwrap() == first));
    assert_eq!(mock.service.total_tokens_issued(), 1);
}

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_of_failing_and_succeeding_runs_hold_no_secret() {
    let mock = mock(AuthConfig::default()).await;
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let wrong = "WRONG-secret-NEVER-LOG-either";
    let err = fetch(&secret_settings(wrong), mock.context())
        .await
        .unwrap_err();
    tracing::error!(error = %err, debug = ?err, "run failed");

    let ok = provider(&secret_settings(TEST_CLIENT_SECRET), mock.context()).unwrap();
    let token = ok.token().await.unwrap();
    tracing::info!(?token, "run succeeded");

    let dir = tempfile::tempdir().unwrap();
    let both = pem_file(
        &dir,
        "both.pem",
        &format!("{TEST_APP_CERT_PEM}{TEST_APP_KEY_PEM}"),
    );
    let cert = provider(
        &AuthSettings {
            certificate_path: Some(both),
            ..Default::default()
        },
        mock.context(),
    )
    .unwrap();
    let cert_token = cert.token().await.unwrap();

    let federated = mock.service.federated_token(Duration::from_secs(600));
    let file = pem_file(&dir, "federated", &federated);
    let wif = AuthSettings {
        federated_token_file: Some(file),
        ..Default::default()
    };
    let wif_token = fetch(&wif, mock.context()).await.unwrap();

    let settings = AuthSettings {
        client_secret: Some(TEST_CLIENT_SECRET.into()),
        refresh_token: Some("REFRESH-never-log".into()),
        ..Default::default()
    };
    tracing::info!(?settings, "settings");
    let _ = fetch(&settings, mock.context()).await.unwrap_err();

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("run failed") && logs.contains("AADSTS7000215"),
        "{logs}"
    );
    for secret in [
        TEST_CLIENT_SECRET,
        wrong,
        "REFRESH-never-log",
        &token.secret,
        &cert_token.secret,
        &wif_token,
        &federated,
        "PRIVATE KEY",
    ] {
        assert!(!logs.contains(secret), "a secret leaked into the logs");
    }
    // Each header.payload prefix of a JWT would already leak it; none may appear.
    assert!(
        !logs.contains("eyJ"),
        "something JWT-like leaked into the logs"
    );
}

/// A token endpoint answering `failures` times 503 (or `refusal`), then a token; counts requests.
async fn flaky_endpoint(
    failures: u32,
    refusal: Option<&'static str>,
) -> (AuthContext, Arc<std::sync::atomic::AtomicU32>) {
    use axum::response::IntoResponse;
    use std::sync::atomic::{AtomicU32, Ordering};
    let hits = Arc::new(AtomicU32::new(0));
    let counter = hits.clone();
    let handler = move || {
        let counter = counter.clone();
        async move {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let json = [("content-type", "application/json")];
            match refusal {
                Some(body) => (axum::http::StatusCode::BAD_REQUEST, json, body).into_response(),
                None if n < failures => {
                    (axum::http::StatusCode::SERVICE_UNAVAILABLE, json, "{}").into_response()
                }
                None => (
                    json,
                    r#"{"access_token":"tok-after-retries","token_type":"Bearer","expires_in":3600}"#,
                )
                    .into_response(),
            }
        }
    };
    let app =
        axum::Router::new().route("/{tenant}/oauth2/v2.0/token", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let ctx = AuthContext {
        tenant_id: TEST_TENANT_ID.into(),
        client_id: TEST_CLIENT_ID.into(),
        scope: GRAPH_SCOPE.into(),
        authority_host: url::Url::parse(&base).unwrap(),
        http: reqwest::Client::new(),
    };
    (ctx, hits)
}

#[tokio::test]
async fn transient_token_failures_are_retried_and_refusals_are_not() {
    use std::sync::atomic::Ordering;
    let (ctx, hits) = flaky_endpoint(2, None).await;
    let token = fetch(&secret_settings(TEST_CLIENT_SECRET), ctx)
        .await
        .unwrap();
    assert_eq!(token, "tok-after-retries");
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    let refusal = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}"#;
    let (ctx, hits) = flaky_endpoint(0, Some(refusal)).await;
    let err = fetch(&secret_settings("wrong"), ctx).await.unwrap_err();
    assert_eq!(err.aadsts_code(), Some("AADSTS7000215"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "a refusal is final at once");
}

/// Issue 15, item 8: a rotated refresh token the cache cannot take is kept in memory — Entra has
/// retired the old one, so failing (the old behaviour) or forgetting it would end delegated access.
#[tokio::test]
async fn a_rotated_refresh_token_survives_a_failed_cache_write() {
    let mock = mock(AuthConfig::default()).await;
    let ctx = mock.context();
    let pkce = Pkce::new();
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = authorize_url(&ctx, TEST_REDIRECT_URI, "s", &pkce);
    let response = no_redirect.get(url).send().await.unwrap();
    let code = code_from_redirect(response.headers()["location"].to_str().unwrap(), "s").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("token-cache.json");
    login(&ctx, None, &code, &pkce, TEST_REDIRECT_URI, &cache)
        .await
        .unwrap();
    let settings = AuthSettings {
        token_cache_path: Some(cache.clone()),
        ..Default::default()
    };
    let provider = provider(&settings, ctx).unwrap();
    // The cache path turns into a non-empty directory: no rename can replace it (even as root).
    std::fs::remove_file(&cache).unwrap();
    std::fs::create_dir(&cache).unwrap();
    std::fs::write(cache.join("keep"), b"x").unwrap();

    let first = provider.token().await.unwrap();
    assert_eq!(mock.accepts(&first.secret), Ok(Grant::RefreshToken));
    // The next refresh can only succeed with the token rotated in by the first one.
    provider.invalidate(&first);
    let second = provider.token().await.unwrap();
    assert_ne!(second.secret, first.secret);
    assert_eq!(mock.accepts(&second.secret), Ok(Grant::RefreshToken));
}

//! Bearer checks through the whole server: Graph answers 401 InvalidAuthenticationToken to a
//! missing, unknown or expired token, and 200 to a live one from the token endpoint.

use std::time::Duration;

use graph_mock::auth::{AuthConfig, TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TENANT_ID};
use graph_mock::{MockConfig, MockServer};
use serde_json::Value;

async fn graph_get(http: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = http.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn missing_unknown_and_expired_tokens_get_401() {
    let auth = AuthConfig::default().with_token_ttl(Duration::from_secs(1));
    let server = MockServer::start(MockConfig::default().auth(auth))
        .await
        .unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let users = format!("{}/users", server.graph_url());

    let (status, body) = graph_get(&http, &users, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    let (status, _) = graph_get(&http, &users, Some("a.b.c")).await;
    assert_eq!(status, 401);

    let token: Value = http
        .post(server.token_url(TEST_TENANT_ID))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", TEST_CLIENT_ID),
            ("client_secret", TEST_CLIENT_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let (status, body) = graph_get(&http, &users, Some(token)).await;
    assert_eq!(status, 200, "{body}");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = graph_get(&http, &users, Some(token)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );
    server.shutdown().await;
}

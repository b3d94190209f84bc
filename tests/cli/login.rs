//! `msgraph-sync login` then `sync` with the token cache: the delegated flow end to end.

use std::process::Stdio;
use std::time::Duration;

use graph_mock::MockConfig;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_stores_a_refresh_token_that_sync_then_uses() {
    let server = mock(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("token-cache.json");
    // A public client: no secret, only the cache.
    let config = write_config(
        dir.path(),
        &server,
        json!({"client_secret": null, "token_cache_path": cache}),
    );
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_msgraph-sync"))
        .args(["login", "--config", config.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            if line.starts_with("http") {
                return line;
            }
        }
        panic!("no authorize URL printed");
    })
    .await
    .unwrap();
    // The browser's part: the mock signs the user in and redirects with a code.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = browser.get(&url).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{location}\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("Signed in"), "{stdout}");
    let stored = std::fs::read_to_string(&cache).unwrap();

    let out = dir.path().join("landing");
    let run = msgraph_sync(
        sync_args(&config, &out, &["--streams", "users"]),
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let truth = server.truth();
    let users = truth.stream("users").unwrap();
    assert_eq!(
        landed(&out, "users", &users.primary_key, &users.primary_key).0,
        users.rows
    );
    assert_ne!(
        std::fs::read_to_string(&cache).unwrap(),
        stored,
        "the rotated refresh token was written back"
    );
    let refresh: serde_json::Value = serde_json::from_str(&stored).unwrap();
    let refresh = refresh["refresh_token"].as_str().unwrap();
    assert!(!run.all_output().contains(refresh), "{run:?}");
}

//! The retry policy's bound, against a loopback server that never recovers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use graph_extract::{ExtractError, RequestError, RetryPolicy};

mod support;

async fn serve(status: StatusCode, retry_after: Option<&'static str>) -> (String, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let counter = hits.clone();
    let handler = move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = r#"{"error":{"code":"serviceNotAvailable","message":"try later","innerError":{"request-id":"r-42"}}}"#;
            match retry_after {
                Some(v) => (status, [("Retry-After", v)], body).into_response(),
                None => (status, body).into_response(),
            }
        }
    };
    let app = Router::new().route("/v1.0/subscribedSkus", get(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1.0", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, hits)
}

async fn run_against(base: &str) -> Result<graph_extract::RunStats, ExtractError> {
    let policy = RetryPolicy {
        max_attempts: 6,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        default_retry_after: Duration::from_millis(10),
        max_retry_after: Duration::from_secs(1),
    };
    support::run_stream_at(base, "subscribed_skus", "fixed", policy, Default::default()).await
}

#[tokio::test]
async fn a_server_that_stays_unavailable_is_tried_six_times_then_fails() {
    let (base, hits) = serve(StatusCode::SERVICE_UNAVAILABLE, Some("0")).await;
    let error = run_against(&base).await.unwrap_err();
    assert_eq!(hits.load(Ordering::SeqCst), 6);
    let ExtractError::StreamsFailed(stats) = error else {
        panic!("unexpected {error}")
    };
    let failure = &stats.failures[0];
    assert_eq!(failure.stream, "subscribed_skus");
    assert!(
        matches!(*failure.error, RequestError::Exhausted { attempts: 6, .. }),
        "{}",
        failure.error
    );
}

#[tokio::test]
async fn a_client_error_is_not_retried_and_keeps_graphs_code_and_request_id() {
    let (base, hits) = serve(StatusCode::BAD_REQUEST, None).await;
    let error = run_against(&base).await.unwrap_err();
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let ExtractError::StreamsFailed(stats) = error else {
        panic!("a failed stream")
    };
    let graph = stats.failures[0].error.graph().expect("typed Graph error");
    assert_eq!(
        (graph.status, graph.code.as_str()),
        (400, "serviceNotAvailable")
    );
    assert_eq!(graph.request_id.as_deref(), Some("r-42"));
}

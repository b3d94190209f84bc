//! A hostile or broken Graph: links to other hosts, link cycles, wild `Retry-After`, huge and
//! trickling bodies. Each ends the stream with a clear error; none leaks the token, panics or hangs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use graph_extract::{ExtractError, RequestBounds, RequestError, RetryPolicy, RunStats};

mod support;

const TOKEN: &str = "secret-token-7f3a";

/// What a server saw: (path and query, whether it carried an Authorization header).
type Seen = Arc<Mutex<Vec<(String, bool)>>>;
/// A server's answer to a request target (path and query), given its own origin.
type Answer = Arc<dyn Fn(&str, &str) -> Response + Send + Sync>;

/// Serves `answer` on `ip`, recording every request.
async fn serve(ip: &str, answer: Answer) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let listener = tokio::net::TcpListener::bind(format!("{ip}:0"))
        .await
        .unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .fallback(
            |State((origin, seen, answer)): State<(String, Seen, Answer)>, request: Request| async move {
                let target = request.uri().to_string();
                let authorized = request.headers().contains_key("authorization");
                seen.lock().unwrap().push((target.clone(), authorized));
                answer(&origin, &target)
            },
        )
        .with_state((origin.clone(), seen.clone(), answer));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (origin, seen)
}

fn page(next: Option<String>) -> Response {
    let mut body = serde_json::json!({"value": [{"skuId": "s-1", "skuPartNumber": "E5"}]});
    if let Some(next) = next {
        body["@odata.nextLink"] = next.into();
    }
    ([("content-type", "application/json")], body.to_string()).into_response()
}

async fn run_against(origin: &str, bounds: RequestBounds) -> Result<RunStats, ExtractError> {
    let policy = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        default_retry_after: Duration::from_millis(10),
        max_retry_after: Duration::from_millis(300),
    };
    let base = format!("{origin}/v1.0");
    support::run_stream_at(&base, "subscribed_skus", TOKEN, policy, bounds).await
}

/// The stream's error, which must be about `subscribed_skus` and never show the token.
fn stream_error(result: Result<RunStats, ExtractError>) -> Arc<RequestError> {
    let error = result.expect_err("the stream fails");
    let text = format!("{error} {error:?}");
    assert!(!text.contains(TOKEN), "{text}");
    match error {
        ExtractError::StreamsFailed(stats) => {
            let [failure] = &stats.failures[..] else {
                panic!("one failure: {stats:?}")
            };
            assert_eq!(failure.stream, "subscribed_skus");
            failure.error.clone()
        }
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test]
async fn a_next_link_to_another_host_or_port_is_never_sent_the_token() {
    // 127.0.0.2 is loopback too, but another host; another port on 127.0.0.1 is another origin.
    let (elsewhere, elsewhere_seen) = serve("127.0.0.2", Arc::new(|_, _| page(None))).await;
    let (other_port, other_port_seen) = serve("127.0.0.1", Arc::new(|_, _| page(None))).await;
    for away in [&elsewhere, &other_port] {
        let link = format!("{away}/v1.0/subscribedSkus?$skiptoken=2");
        let (graph, graph_seen) =
            serve("127.0.0.1", Arc::new(move |_, _| page(Some(link.clone())))).await;
        let error = stream_error(run_against(&graph, RequestBounds::default()).await);
        let text = error.to_string();
        assert!(matches!(*error, RequestError::Protocol { .. }), "{text}");
        assert!(
            text.contains(away.as_str()) && text.contains("token"),
            "{text}"
        );
        // Graph itself got the token, once: the first page.
        assert_eq!(graph_seen.lock().unwrap().clone().len(), 1);
        assert!(graph_seen.lock().unwrap()[0].1);
    }
    assert!(
        elsewhere_seen.lock().unwrap().is_empty(),
        "{elsewhere_seen:?}"
    );
    assert!(
        other_port_seen.lock().unwrap().is_empty(),
        "{other_port_seen:?}"
    );
}

#[tokio::test]
async fn a_next_link_cycle_of_any_length_ends_the_stream() {
    // page 0 -> 1 -> 2 -> 1: a cycle two pages long, which a check of the last link misses.
    let answer: Answer = Arc::new(|origin, target| {
        let at: u32 = target
            .rsplit_once("skiptoken=")
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or(0);
        let next = match at {
            0 => 1,
            1 => 2,
            _ => 1,
        };
        page(Some(format!(
            "{origin}/v1.0/subscribedSkus?$skiptoken={next}"
        )))
    });
    let (graph, seen) = serve("127.0.0.1", answer).await;
    let error = stream_error(run_against(&graph, RequestBounds::default()).await);
    assert!(error.to_string().contains("cycle"), "{error}");
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_wild_retry_after_is_clamped_not_a_panic() {
    for wild in ["99999999999999999999", "1e20", "-1", "NaN", "in a while"] {
        let answer: Answer = Arc::new(move |_, _| {
            (StatusCode::TOO_MANY_REQUESTS, [("retry-after", wild)], "{}").into_response()
        });
        let (graph, seen) = serve("127.0.0.1", answer).await;
        let started = std::time::Instant::now();
        let error = stream_error(run_against(&graph, RequestBounds::default()).await);
        assert!(
            matches!(*error, RequestError::Exhausted { attempts: 2, .. }),
            "{wild}: {error}"
        );
        // The policy's cap (300 ms here) bounds the wait, whatever the header said.
        assert!(started.elapsed() < Duration::from_secs(5), "{wild}");
        assert_eq!(seen.lock().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn a_body_over_the_cap_fails_at_once_with_a_clear_error() {
    let answer: Answer = Arc::new(|_, _| {
        let padding = "x".repeat(64 * 1024);
        let body = serde_json::json!({"value": [{"skuId": "s-1", "skuPartNumber": padding}]});
        ([("content-type", "application/json")], body.to_string()).into_response()
    });
    let (graph, seen) = serve("127.0.0.1", answer).await;
    let bounds = RequestBounds {
        max_page_bytes: 16 * 1024,
        ..RequestBounds::default()
    };
    let error = stream_error(run_against(&graph, bounds).await);
    assert!(
        error.to_string().contains("larger than 16384 bytes"),
        "{error}"
    );
    // Not retried: a second try would be as large.
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_trickling_server_times_out_instead_of_holding_the_run() {
    // Headers at once, then a byte every 100 ms forever: never silent long enough for a read
    // timeout, so only the whole-request limit ends it.
    let answer: Answer = Arc::new(|_, _| {
        let bytes = futures::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Some((Ok::<_, std::io::Error>(bytes::Bytes::from_static(b" ")), ()))
        });
        Response::builder()
            .header("content-type", "application/json")
            .body(Body::from_stream(bytes))
            .unwrap()
    });
    let (graph, seen) = serve("127.0.0.1", answer).await;
    let bounds = RequestBounds {
        page_timeout: Duration::from_millis(700),
        ..RequestBounds::default()
    };
    let started = std::time::Instant::now();
    let error = stream_error(run_against(&graph, bounds).await);
    assert!(
        matches!(*error, RequestError::Exhausted { attempts: 2, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("timeout"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(seen.lock().unwrap().len(), 2);
}

//! Shared by the extraction tests: start the mock, configure a run against it, collect its pages,
//! and turn pages into the key sets the mock's ground truth holds.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use std::sync::Arc;
use std::time::SystemTime;

use futures::future::BoxFuture;
use graph_extract::auth::{AccessToken, AuthError, TokenProvider};
use graph_extract::{
    Config, ExtractError, ExtractState, Extractor, Page, PageFormat, RequestBounds, RetryPolicy,
    RunStats,
};
use graph_mock::{MockConfig, MockServer, Truth};
use stream_spec::{Catalog, StreamSpec};
use tokio::sync::mpsc;

/// No test runs longer than this.
pub const TEST_LIMIT: Duration = Duration::from_secs(240);

pub async fn start(config: MockConfig) -> MockServer {
    MockServer::start(config).await.expect("mock starts")
}

/// A config pointing at the mock, with the test app's secret; `extra` adds JSON fields.
pub fn config_for(mock: &MockServer, extra: &str) -> Config {
    let extra: serde_json::Value =
        serde_json::from_str(&format!("{{{extra}}}")).expect("extra config fields are JSON");
    let text = mock.client_config(extra).to_string();
    Config::from_json(&text).expect("test config is valid")
}

/// Short waits where the server gives none, so faulty runs stay quick; Retry-After is still honoured.
pub fn quick_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(500),
        default_retry_after: Duration::from_millis(300),
        max_retry_after: Duration::from_secs(5),
    }
}

pub struct Collected {
    pub result: Result<RunStats, ExtractError>,
    pub pages: Vec<Page>,
}

/// Runs `selection` and collects every page (the test tenants are small).
pub async fn run(config: Config, selection: &[&str]) -> Collected {
    let extractor = Extractor::from_config(config, Catalog::embedded())
        .expect("extractor builds")
        .with_retry_policy(quick_policy());
    run_with(&extractor, selection).await
}

pub async fn run_with(extractor: &Extractor, selection: &[&str]) -> Collected {
    run_incremental(extractor, selection, &ExtractState::default(), &[]).await
}

/// A run from `prior` (the last run's `RunStats::state`), rereading `full_refresh` in full.
pub async fn run_incremental(
    extractor: &Extractor,
    selection: &[&str],
    prior: &ExtractState,
    full_refresh: &[&str],
) -> Collected {
    let selection: Vec<String> = selection.iter().map(|s| s.to_string()).collect();
    let full_refresh: Vec<String> = full_refresh.iter().map(|s| s.to_string()).collect();
    // A small bound, so the extractor really waits on a slow consumer.
    let (tx, mut rx) = mpsc::channel::<Page>(4);
    let collect = async move {
        let mut pages = Vec::new();
        while let Some(page) = rx.recv().await {
            pages.push(page);
        }
        pages
    };
    let work = async move {
        extractor
            .run(&selection, tx, prior.clone(), &full_refresh)
            .await
    };
    let (result, pages) = tokio::time::timeout(TEST_LIMIT, async { tokio::join!(work, collect) })
        .await
        .expect("run finishes within the test limit");
    Collected { result, pages }
}

/// Key tuples of a stream's pages, in the declaration's primary-key order, and its row count.
pub fn keys_of(spec: &StreamSpec, pages: &[Page]) -> (u64, BTreeSet<Vec<String>>) {
    let mut rows = 0;
    let mut keys = BTreeSet::new();
    for page in pages.iter().filter(|p| *p.stream == *spec.stream) {
        assert_eq!(page.format, PageFormat::Json, "{}", spec.stream);
        let body: serde_json::Value = serde_json::from_slice(&page.body).expect("page is JSON");
        let values = body["value"].as_array().expect("page has value");
        assert_eq!(values.len(), page.rows, "Page::rows counts the records");
        for record in values {
            rows += 1;
            let key = spec
                .primary_key
                .iter()
                .map(|column| {
                    let parent_columns = spec.parent_columns();
                    if let Some(at) = parent_columns.iter().position(|c| c == column) {
                        let parent = page.parent.as_ref().expect("child page has parent");
                        return parent.ids()[at].clone();
                    }
                    let graph = &spec.field(column).expect("key column declared").graph;
                    match &record[graph.as_str()] {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    }
                })
                .collect();
            keys.insert(key);
        }
    }
    (rows, keys)
}

/// CSV data rows of a report stream.
pub fn report_rows(stream: &str, pages: &[Page]) -> u64 {
    pages
        .iter()
        .filter(|p| &*p.stream == stream)
        .map(|p| {
            assert_eq!(p.format, PageFormat::Csv);
            p.rows as u64
        })
        .sum()
}

/// Asserts every stream in `streams` landed exactly the truth: rows, keys, no duplicates.
pub fn assert_matches_truth(truth: &Truth, streams: &[&str], pages: &[Page]) {
    let catalog = Catalog::embedded();
    let mut mismatches = BTreeMap::new();
    for stream in streams {
        let spec = catalog.get(stream).unwrap();
        let expected = truth
            .stream(stream)
            .unwrap_or_else(|| panic!("truth for {stream}"));
        if spec.kind == stream_spec::StreamKind::Report {
            let rows = report_rows(stream, pages);
            if rows != expected.rows {
                mismatches.insert(
                    stream.to_string(),
                    format!("rows {rows} != {}", expected.rows),
                );
            }
            continue;
        }
        let (rows, keys) = keys_of(spec, pages);
        if rows != expected.rows || keys != expected.keys {
            mismatches.insert(
                stream.to_string(),
                format!(
                    "rows {rows} (distinct {}) vs truth {}; missing {}, extra {}",
                    keys.len(),
                    expected.rows,
                    expected.keys.difference(&keys).count(),
                    keys.difference(&expected.keys).count()
                ),
            );
        }
    }
    assert!(
        mismatches.is_empty(),
        "streams differ from the truth: {mismatches:#?}"
    );
}

pub fn all_streams() -> Vec<String> {
    Catalog::embedded()
        .streams()
        .iter()
        .map(|s| s.stream.clone())
        .collect()
}

/// A token provider that always hands out the same token (for servers that are not the mock).
pub struct FixedToken(pub &'static str);

impl TokenProvider for FixedToken {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>> {
        Box::pin(async {
            Ok(AccessToken {
                secret: self.0.into(),
                expires_at: SystemTime::now() + Duration::from_secs(3600),
            })
        })
    }
    fn invalidate(&self, _rejected: &AccessToken) {}
    fn method(&self) -> &'static str {
        "fixed"
    }
}

/// Runs one `stream` against a hand-made server at `base` (`…/v1.0`) with `token`, dropping
/// its pages; bounded in time.
pub async fn run_stream_at(
    base: &str,
    stream: &str,
    token: &'static str,
    policy: RetryPolicy,
    bounds: RequestBounds,
) -> Result<RunStats, ExtractError> {
    let config = Config::from_json(&format!(
        r#"{{"tenant_id":"t","client_id":"c","graph_base_url":"{base}","authority_host":"http://127.0.0.1:9"}}"#
    ))
    .expect("test config is valid");
    let http = Extractor::http_client().expect("client builds");
    let extractor = Extractor::new(
        config,
        Catalog::embedded(),
        Arc::new(FixedToken(token)),
        http,
    )
    .with_retry_policy(policy)
    .with_request_bounds(bounds);
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let drain = async move { while rx.recv().await.is_some() {} };
    let selection = [stream.to_string()];
    let prior = ExtractState::default();
    let work = extractor.run(&selection, tx, prior, &[]);
    tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(work, drain).0
    })
    .await
    .expect("ends in time")
}

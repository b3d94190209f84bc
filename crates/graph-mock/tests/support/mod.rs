//! Shared by the graph-mock HTTP tests: start a mock, get a token, walk a paging chain.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::time::Duration;

use graph_mock::{MockConfig, MockServer};
use serde_json::Value;
use stream_spec::{ParentKey, StreamSpec};

/// A started mock with a valid app token.
pub struct Harness {
    pub server: MockServer,
    pub http: reqwest::Client,
    pub token: String,
}

impl Harness {
    pub async fn start(config: MockConfig) -> Harness {
        let auth = config.auth.clone();
        let server = MockServer::start(config).await.expect("mock starts");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let answer: Value = http
            .post(server.token_url(&auth.tenant_id))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", auth.client_id.as_str()),
                ("client_secret", auth.client_secret.as_str()),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = answer["access_token"]
            .as_str()
            .expect("token issued")
            .to_string();
        Harness {
            server,
            http,
            token,
        }
    }

    /// The tenant's user ids, in the mock's key order.
    pub fn user_ids(&self) -> Vec<String> {
        let truth = self.server.truth();
        let users = truth.stream("users").expect("users in the truth");
        users.keys.iter().map(|k| k[0].clone()).collect()
    }

    /// GET with the bearer token.
    pub fn get(&self, url: &str) -> reqwest::RequestBuilder {
        self.http.get(url).bearer_auth(&self.token)
    }

    pub fn graph(&self, path: &str) -> String {
        format!("{}{path}", self.server.graph_url())
    }

    /// GET and parse a 200 JSON page, panicking with the body on anything else.
    pub async fn page(&self, url: &str) -> Value {
        let response = self.get(url).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, 200, "{url}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Follows nextLinks from `url` until a page has none; returns rows and the last page.
    pub async fn walk(&self, url: &str) -> (Vec<Value>, Value) {
        let mut rows = Vec::new();
        let mut next = url.to_string();
        for _ in 0..10_000 {
            let page = self.page(&next).await;
            rows.extend(
                page["value"]
                    .as_array()
                    .expect("value array")
                    .iter()
                    .cloned(),
            );
            match page["@odata.nextLink"].as_str() {
                Some(link) => {
                    assert!(
                        link.starts_with(self.server.graph_url()),
                        "absolute nextLink: {link}"
                    );
                    next = link.to_string();
                }
                None => return (rows, page),
            }
        }
        panic!("paging chain from {url} did not end");
    }
}

/// The keys of every row of `parent` (a stream's truth) as the parents of its children: its
/// parent-key columns' values, then its `id`.
pub fn parent_keys(parent: &StreamSpec, truth: &graph_mock::StreamTruth) -> Vec<ParentKey> {
    let at = |column: &str| {
        truth
            .primary_key
            .iter()
            .position(|k| k == column)
            .expect("parent-key columns are in the key")
    };
    let columns: Vec<usize> = parent.parent_columns().iter().map(|c| at(c)).collect();
    let id = at("id");
    truth
        .keys
        .iter()
        .filter_map(|key| {
            let ids = columns
                .iter()
                .chain([&id])
                .map(|&i| key[i].clone())
                .collect();
            ParentKey::from_ids(ids)
        })
        .collect()
}

/// The primary-key tuple of a landed row: declared key columns, the parent-key columns from
/// `parent`.
pub fn key_of(spec: &StreamSpec, row: &Value, parent: Option<&ParentKey>) -> Vec<String> {
    spec.primary_key
        .iter()
        .map(|column| {
            if let Some(at) = spec.parent_columns().iter().position(|c| c == column) {
                return parent.expect("child row has a parent").ids()[at].clone();
            }
            let graph = &spec.field(column).expect("key declared").graph;
            row[graph]
                .as_str()
                .unwrap_or_else(|| panic!("{}: key {graph} missing in {row}", spec.stream))
                .to_string()
        })
        .collect()
}

/// The first request URL for a stream: its path and declared query.
pub fn stream_url(
    h: &Harness,
    spec: &StreamSpec,
    parent: Option<&ParentKey>,
    top: Option<u32>,
) -> String {
    let mut params: Vec<String> = spec
        .query
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    if let Some(top) = top.and_then(|t| spec.page_size.top(t)) {
        params.push(format!("$top={top}"));
    }
    let path = spec.fill_path(&spec.path, parent, str::to_string);
    match params.is_empty() {
        true => h.graph(&path),
        false => format!("{}?{}", h.graph(&path), params.join("&")),
    }
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn as_set(keys: Vec<Vec<String>>) -> BTreeSet<Vec<String>> {
    keys.into_iter().collect()
}

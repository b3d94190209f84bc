//! `POST /v1.0/$batch`: up to 20 requests run through the same handlers, per-item status, headers
//! and body; 424 for an item whose `dependsOn` failed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::graph::{self, GraphRequest};
use crate::response::{GraphResponse, RequestIds};
use crate::server::AppState;

/// Graph's limit of requests in one batch.
pub(crate) const MAX_BATCH: usize = 20;

#[derive(Debug, Deserialize)]
struct BatchBody {
    requests: Vec<BatchItem>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchItem {
    id: String,
    method: String,
    url: String,
    #[serde(default)]
    headers: HashMap<String, String>,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    depends_on: Vec<String>,
}

pub(crate) async fn handle(
    state: Arc<AppState>,
    request: &GraphRequest,
    ids: &RequestIds,
) -> GraphResponse {
    let bad = |message: &str| GraphResponse::bad_request("BadRequest", message, ids);
    let Ok(batch) = serde_json::from_slice::<BatchBody>(&request.body) else {
        return bad("Invalid batch payload format.");
    };
    if batch.requests.is_empty() {
        return bad("The batch request must contain at least one request.");
    }
    if batch.requests.len() > MAX_BATCH {
        return bad(&format!(
            "The number of batch requests exceeds the limit of {MAX_BATCH}."
        ));
    }
    let mut seen = HashSet::new();
    if !batch
        .requests
        .iter()
        .all(|item| seen.insert(item.id.as_str()))
    {
        return bad("Batch request contains duplicate ids.");
    }
    let mut succeeded: HashMap<String, bool> = HashMap::new();
    let mut responses = Vec::with_capacity(batch.requests.len());
    for item in &batch.requests {
        let dependency_failed = item
            .depends_on
            .iter()
            .any(|dep| !succeeded.get(dep).copied().unwrap_or(false));
        let response = if dependency_failed {
            let item_ids = RequestIds::from_headers(&HeaderMap::new());
            GraphResponse::error(
                StatusCode::FAILED_DEPENDENCY,
                "FailedDependency",
                "The request could not run because a request it depends on failed or was not found.",
                &item_ids,
            )
        } else {
            run_item(Arc::clone(&state), item).await
        };
        succeeded.insert(item.id.clone(), response.status.is_success());
        responses.push(item_json(&item.id, &response));
    }
    GraphResponse::json(
        ids,
        serde_json::to_vec(&json!({ "responses": responses })).unwrap_or_default(),
    )
}

async fn run_item(state: Arc<AppState>, item: &BatchItem) -> GraphResponse {
    let mut headers = HeaderMap::new();
    for (name, value) in &item.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    let ids = RequestIds::from_headers(&headers);
    let Ok(method) = Method::from_bytes(item.method.to_ascii_uppercase().as_bytes()) else {
        return GraphResponse::bad_request("BadRequest", "Invalid method in batch item.", &ids);
    };
    if item.url.contains("://") {
        return GraphResponse::bad_request(
            "BadRequest",
            "Batch item urls must be relative to the version root (e.g. /users).",
            &ids,
        );
    }
    let url = format!("/{}", item.url.trim_start_matches('/'));
    let (path, query) = match url.split_once('?') {
        Some((path, query)) => (path.to_string(), Some(query.to_string())),
        None => (url, None),
    };
    let body = item
        .body
        .as_ref()
        .map(|b| Bytes::from(b.to_string()))
        .unwrap_or_default();
    let request = GraphRequest {
        method,
        path,
        query,
        headers,
        body,
        in_batch: true,
    };
    graph::handle(state, request).await
}

fn item_json(id: &str, response: &GraphResponse) -> Value {
    let headers: Map<String, Value> = response
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_string(), json!(value.to_str().ok()?))))
        .collect();
    let mut item = json!({
        "id": id,
        "status": response.status.as_u16(),
        "headers": headers,
    });
    if !response.body.is_empty() {
        item["body"] = serde_json::from_slice(&response.body).unwrap_or_else(|_| {
            Value::String(String::from_utf8_lossy(&response.body).into_owned())
        });
    }
    item
}

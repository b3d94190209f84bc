//! `POST /v1.0/$batch`: up to 20 requests run concurrently through the same handlers (an item with
//! `dependsOn` after its dependencies), per-item status, headers and body; 424 for an item whose
//! `dependsOn` failed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::graph::{self, GraphRequest};
use crate::response::{GraphResponse, RequestIds};
use crate::state::AppState;

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
    let answers = run_items(state, &batch.requests).await;
    let responses: Vec<Value> = batch
        .requests
        .iter()
        .zip(&answers)
        .map(|(item, response)| item_json(&item.id, response))
        .collect();
    GraphResponse::json(
        ids,
        serde_json::to_vec(&json!({ "responses": responses })).unwrap_or_default(),
    )
}

/// Runs the items as Graph does: every item whose dependencies have succeeded runs concurrently
/// with the others (each paying the latency and taking its mailbox slot on its own), in rounds
/// until none is left; an item whose dependency failed, is unknown or never runs gets 424.
async fn run_items(state: Arc<AppState>, items: &[BatchItem]) -> Vec<GraphResponse> {
    let mut answers: Vec<Option<GraphResponse>> = vec![None; items.len()];
    let mut succeeded: HashMap<&str, bool> = HashMap::new();
    loop {
        let mut ready = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if answers[i].is_some() {
                continue;
            }
            let deps: Vec<Option<bool>> = item
                .depends_on
                .iter()
                .map(|dep| succeeded.get(dep.as_str()).copied())
                .collect();
            if deps.iter().all(|d| *d == Some(true)) {
                ready.push(i);
            } else if deps.contains(&Some(false))
                || item
                    .depends_on
                    .iter()
                    .any(|dep| !items.iter().any(|it| it.id == *dep))
            {
                answers[i] = Some(failed_dependency());
                succeeded.insert(&item.id, false);
            }
        }
        if ready.is_empty() {
            break;
        }
        let round = ready
            .iter()
            .map(|&i| run_item(Arc::clone(&state), &items[i]));
        for (i, response) in ready.iter().zip(futures::future::join_all(round).await) {
            succeeded.insert(&items[*i].id, response.status.is_success());
            answers[*i] = Some(response);
        }
    }
    // What is left waits on a cycle or on itself: it can never run.
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(failed_dependency))
        .collect()
}

fn failed_dependency() -> GraphResponse {
    GraphResponse::error(
        StatusCode::FAILED_DEPENDENCY,
        "FailedDependency",
        "The request could not run because a request it depends on failed or was not found.",
        &RequestIds::from_headers(&HeaderMap::new()),
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

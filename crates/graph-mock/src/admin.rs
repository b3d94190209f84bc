//! `/_admin/*`: ground truth, request counts and mutations for tools outside the process. No auth.

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::server::AppState;
use crate::tenant::{MutationOutcome, RowRef, Shape};
use crate::truth::TruthFilter;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MutateError {
    #[error("unknown stream `{0}`")]
    UnknownStream(String),
    #[error("stream `{0}` cannot be mutated (only top-level streams and their direct children)")]
    NotMutable(String),
}

/// `GET /_admin/truth[?domains=a.com,b.com][&start_date=2026-01-01T00:00:00Z]`.
pub(crate) async fn truth(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Response {
    let only = match truth_filter(query.as_deref().unwrap_or("")) {
        Ok(only) => only,
        Err(message) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    let state = Arc::clone(&state);
    // Walking a large tenant is CPU work: keep it off the async workers.
    match tokio::task::spawn_blocking(move || state.truth(&only)).await {
        Ok(truth) => Json(truth).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn truth_filter(query: &str) -> Result<TruthFilter, String> {
    let mut only = TruthFilter::default();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "domains" => {
                only.domains = value
                    .split(',')
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    .map(str::to_string)
                    .collect();
            }
            "start_date" => {
                let at = DateTime::parse_from_rfc3339(&value).map_err(|_| {
                    format!("start_date `{value}` is not an RFC 3339 timestamp such as 2026-01-01T00:00:00Z")
                })?;
                only.start_date = Some(at.with_timezone(&Utc));
            }
            other => {
                return Err(format!(
                    "unknown truth option `{other}`; allowed: domains, start_date"
                ));
            }
        }
    }
    Ok(only)
}

pub(crate) async fn requests(State(state): State<Arc<AppState>>) -> Response {
    Json(state.requests.snapshot()).into_response()
}

/// Body of `POST /_admin/mutate`.
#[derive(Debug, Deserialize)]
pub(crate) struct MutateBody {
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    changed: u64,
    #[serde(default)]
    removed: u64,
    #[serde(default)]
    expire_delta_tokens: bool,
}

pub(crate) async fn mutate_endpoint(
    State(state): State<Arc<AppState>>,
    Json(body): Json<MutateBody>,
) -> Response {
    if body.expire_delta_tokens {
        state.tenant.mutations_mut().expire_delta_tokens();
    }
    let Some(stream) = body.stream else {
        let epoch = state.tenant.mutations().epoch();
        return Json(MutationOutcome {
            epoch,
            changed: Vec::new(),
            removed: Vec::new(),
        })
        .into_response();
    };
    match mutate(&state, &stream, body.changed, body.removed) {
        Ok(outcome) => Json(outcome).into_response(),
        Err(error) => (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    }
}

/// Changes the first `changed` existing rows after a rotating offset and removes the next `removed`.
pub(crate) fn mutate(
    state: &AppState,
    stream: &str,
    changed: u64,
    removed: u64,
) -> Result<MutationOutcome, MutateError> {
    let tenant = &state.tenant;
    let spec = tenant
        .spec(stream)
        .ok_or_else(|| MutateError::UnknownStream(stream.to_string()))?;
    let parents = match (tenant.shape(spec), &spec.parent) {
        (Shape::TopLevel, _) => vec![None],
        (Shape::Child, Some(parent)) => tenant
            .parents(&parent.stream)
            .into_iter()
            .map(Some)
            .collect(),
        _ => return Err(MutateError::NotMutable(stream.to_string())),
    };
    let mut rows = Vec::new();
    for parent in &parents {
        for index in 0..tenant.raw_len(spec, parent.as_ref()) {
            let row = RowRef {
                spec,
                parent: parent.as_ref(),
                index,
            };
            if tenant.exists(row) {
                rows.push((row.key(), tenant.row_id(row)));
            }
        }
    }
    if !rows.is_empty() {
        let offset = (tenant.mutations().epoch() as usize * 7) % rows.len();
        rows.rotate_left(offset);
    }
    let changed_rows: Vec<_> = rows.iter().take(changed as usize).cloned().collect();
    let removed_rows: Vec<_> = rows
        .iter()
        .skip(changed as usize)
        .take(removed as usize)
        .cloned()
        .collect();
    let keys = |list: &[(u64, String)]| list.iter().map(|(k, _)| *k).collect::<Vec<_>>();
    let ids = |list: &[(u64, String)]| list.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>();
    let epoch = tenant
        .mutations_mut()
        .apply(stream, &keys(&changed_rows), &keys(&removed_rows));
    Ok(MutationOutcome {
        epoch,
        changed: ids(&changed_rows),
        removed: ids(&removed_rows),
    })
}

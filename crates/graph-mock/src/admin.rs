//! `/_admin/*`: ground truth, request counts and mutations for tools outside the process. No auth.

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::mutate::mutate;
use crate::state::AppState;
use crate::tenant::{Mutation, MutationOutcome};
use crate::truth::TruthFilter;

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

/// Body of `POST /_admin/mutate`: a [`Mutation`] (`stream`, `parent`, `changed`, `removed`,
/// `added`, `ids`), or only `expire_delta_tokens`.
#[derive(Debug, Deserialize)]
pub(crate) struct MutateBody {
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    changed: u64,
    #[serde(default)]
    removed: u64,
    #[serde(default)]
    added: u64,
    #[serde(default)]
    ids: Vec<String>,
    #[serde(default)]
    expire_delta_tokens: bool,
}

pub(crate) async fn mutate_endpoint(
    State(state): State<Arc<AppState>>,
    Json(body): Json<MutateBody>,
) -> Response {
    if body.expire_delta_tokens {
        state.tenant.expire_delta_tokens();
    }
    let Some(stream) = body.stream else {
        let epoch = state.tenant.mutations().epoch();
        return Json(MutationOutcome {
            epoch,
            ..MutationOutcome::default()
        })
        .into_response();
    };
    let mutation = Mutation {
        stream,
        parent: body.parent,
        changed: body.changed,
        removed: body.removed,
        added: body.added,
        ids: body.ids,
    };
    match mutate(&state.tenant, &mutation) {
        Ok(outcome) => Json(outcome).into_response(),
        Err(error) => (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    }
}

/// `POST /_admin/scenario` (`{"name":"standard_mutation"}`, the default): runs the scenario and
/// answers its [`ExpectedChanges`](crate::ExpectedChanges).
pub(crate) async fn scenario_endpoint(
    State(state): State<Arc<AppState>>,
    body: Option<Json<ScenarioBody>>,
) -> Response {
    let name = body
        .and_then(|Json(b)| b.name)
        .unwrap_or_else(|| "standard_mutation".to_string());
    let state = Arc::clone(&state);
    match tokio::task::spawn_blocking(move || crate::scenario::run(&state, &name)).await {
        Ok(Ok(expected)) => Json(expected).into_response(),
        Ok(Err(error)) => (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ScenarioBody {
    #[serde(default)]
    name: Option<String>,
}

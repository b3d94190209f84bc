//! Usage reports: `GET /v1.0/reports/getX(period='D7')` answers 302 to a CSV the mock serves without
//! auth, as reports.office.com does. The CSV starts with a UTF-8 BOM and a header of the declared
//! `graph` names; one row per user.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use stream_spec::{StreamKind, StreamSpec};

use crate::response::{GraphResponse, RequestIds};
use crate::state::AppState;
use crate::tenant::RowRef;

pub(crate) const DOWNLOAD_ROUTE: &str = "/_download/reports/{stream}";
const PERIODS: [&str; 4] = ["D7", "D30", "D90", "D180"];

/// The 302 for a report function call, or 400 for a bad period/date argument.
pub(crate) fn redirect(
    state: &AppState,
    spec: &StreamSpec,
    argument: &str,
    ids: &RequestIds,
) -> GraphResponse {
    let period_ok = argument
        .strip_prefix("period='")
        .and_then(|rest| rest.strip_suffix('\''))
        .is_some_and(|p| PERIODS.contains(&p));
    let date_ok = argument
        .strip_prefix("date=")
        .is_some_and(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok());
    if !period_ok && !date_ok {
        return GraphResponse::bad_request(
            "BadRequest",
            &format!(
                "Invalid value for the report argument: '{argument}'. Use period='D7', 'D30', 'D90', 'D180' or date=YYYY-MM-DD."
            ),
            ids,
        );
    }
    let mut response = GraphResponse::new(StatusCode::FOUND, ids);
    response.header(
        header::LOCATION.as_str(),
        &format!("{}/_download/reports/{}", state.base_url, spec.stream),
    );
    response.header(header::CONTENT_TYPE.as_str(), "text/plain");
    response
}

/// The CSV download; needs no Authorization header.
pub(crate) async fn download(
    State(state): State<Arc<AppState>>,
    Path(stream): Path<String>,
) -> Response {
    let Some(spec) = state
        .tenant
        .spec(&stream)
        .filter(|s| s.kind == StreamKind::Report)
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let state = Arc::clone(&state);
    let spec = spec.clone();
    let csv = tokio::task::spawn_blocking(move || render_csv(&state, &spec)).await;
    match csv {
        Ok(Ok(body)) => {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::CONTENT_TYPE,
                "application/octet-stream".parse().expect("static header"),
            );
            (StatusCode::OK, headers, body).into_response()
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn render_csv(state: &AppState, spec: &StreamSpec) -> Result<Vec<u8>, csv::Error> {
    let tenant = &state.tenant;
    let mut out = "\u{feff}".as_bytes().to_vec();
    {
        let mut writer = csv::Writer::from_writer(&mut out);
        writer.write_record(spec.fields.iter().map(|f| f.graph.as_str()))?;
        for index in 0..tenant.raw_len(spec, None) {
            let record = tenant.record(RowRef {
                spec,
                parent: None,
                index,
            });
            writer.write_record(spec.fields.iter().map(|f| cell(record.get(&f.graph))))?;
        }
        writer.flush()?;
    }
    Ok(out)
}

/// A JSON value as a report cell: empty for null, `True`/`False`, lists joined with `+`.
fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => if *b { "True" } else { "False" }.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| cell(Some(v)))
            .collect::<Vec<_>>()
            .join("+"),
        Some(other) => other.to_string(),
    }
}

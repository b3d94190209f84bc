//! Delta queries: a first round lists every row and ends in `@odata.deltaLink`; later rounds list rows
//! changed since the token's epoch and `{"id","@removed":{"reason":"changed"}}` for removed ones.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use serde_json::{Map, Value, json};
use stream_spec::StreamSpec;

use crate::graph::GraphRequest;
use crate::ids::{child_key, combine, hash_str};
use crate::paging::{self, Cursor, GraphQuery};
use crate::response::{GraphResponse, RequestIds};
use crate::server::AppState;
use crate::tenant::{ParentRow, RowRef};

/// `Cursor::extra` packs the round: `since + 1` (0 = first round) in the high half, `until` in the low.
fn pack(since: Option<u64>, until: u64) -> u64 {
    (since.map_or(0, |s| s + 1) << 32) | (until & 0xffff_ffff)
}

fn unpack(extra: u64) -> (Option<u64>, u64) {
    let since = extra >> 32;
    ((since > 0).then(|| since - 1), extra & 0xffff_ffff)
}

fn delta_token(seed: u64, path: &str, epoch: u64) -> String {
    let check =
        combine(&[seed, hash_str(&path.to_ascii_lowercase()), epoch, 0xde17a]) & 0xffff_ffff;
    URL_SAFE_NO_PAD.encode(format!("delta1.{epoch}.{check:x}"))
}

fn decode_token(seed: u64, path: &str, token: &str) -> Option<u64> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let (epoch, _) = text.strip_prefix("delta1.")?.split_once('.')?;
    let epoch: u64 = epoch.parse().ok()?;
    (delta_token(seed, path, epoch) == token).then_some(epoch)
}

pub(crate) fn serve(
    state: &AppState,
    spec: &StreamSpec,
    parent: Option<&ParentRow>,
    request: &GraphRequest,
    query: &GraphQuery,
    ids: &RequestIds,
) -> GraphResponse {
    let tenant = &state.tenant;
    let path = request.path.as_str();
    let page = match paging::validate(tenant, spec, path, query, &request.headers, ids) {
        Ok(page) => page,
        Err(response) => return *response,
    };
    let current = tenant.mutations().epoch();
    let delta_link = |epoch: u64| {
        format!(
            "{}{path}?$deltatoken={}",
            state.graph_url,
            delta_token(tenant.seed, path, epoch)
        )
    };
    let (since, until) = if query.get("$skiptoken").is_some() {
        unpack(page.cursor.extra)
    } else {
        match query.get("$deltatoken") {
            None => (None, current),
            Some("latest") => {
                return paging::page_response(
                    &state.graph_url,
                    path,
                    None,
                    Vec::new(),
                    None,
                    Some(&delta_link(current)),
                    ids,
                );
            }
            Some(token) => match decode_token(tenant.seed, path, token) {
                Some(epoch) if tenant.mutations().is_valid_epoch(epoch) => (Some(epoch), current),
                _ => return resync(spec, ids),
            },
        }
    };
    let (rows, next_position) = match since {
        None => first_round(
            state,
            spec,
            parent,
            page.cursor.position,
            page.top,
            page.select.as_deref(),
        ),
        Some(since) => changes(
            state,
            spec,
            parent,
            since,
            until,
            page.cursor.position,
            page.top,
            page.select.as_deref(),
        ),
    };
    match next_position {
        Some(position) => {
            let cursor = Cursor {
                position,
                page: page.cursor.page + 1,
                extra: pack(since, until),
            };
            let link = paging::next_link(
                &state.graph_url,
                path,
                query,
                &cursor.encode(tenant.seed, path),
            );
            paging::page_response(&state.graph_url, path, None, rows, Some(&link), None, ids)
        }
        None => paging::page_response(
            &state.graph_url,
            path,
            None,
            rows,
            None,
            Some(&delta_link(until)),
            ids,
        ),
    }
}

/// 410 Gone: the token is unknown or expired; the client must start over without a token.
fn resync(spec: &StreamSpec, ids: &RequestIds) -> GraphResponse {
    let code = if spec.parent.is_some() {
        "resyncRequired"
    } else {
        "syncStateNotFound"
    };
    GraphResponse::error(
        StatusCode::GONE,
        code,
        "Resync required. The delta token is expired or unknown; replace local state with a full sync without a token.",
        ids,
    )
}

type Rows = Vec<Map<String, Value>>;

fn first_round(
    state: &AppState,
    spec: &StreamSpec,
    parent: Option<&ParentRow>,
    from: u64,
    top: u64,
    select: Option<&[String]>,
) -> (Rows, Option<u64>) {
    let tenant = &state.tenant;
    let len = tenant.raw_len(spec, parent);
    let mut rows = Vec::new();
    let mut position = from;
    while position < len && (rows.len() as u64) < top {
        let row = RowRef {
            spec,
            parent,
            index: position,
        };
        if tenant.exists(row) {
            rows.push(paging::render_row(tenant, row, select));
        }
        position += 1;
    }
    let more = (position..len).any(|index| {
        tenant.exists(RowRef {
            spec,
            parent,
            index,
        })
    });
    (rows, more.then_some(position))
}

#[allow(clippy::too_many_arguments)]
fn changes(
    state: &AppState,
    spec: &StreamSpec,
    parent: Option<&ParentRow>,
    since: u64,
    until: u64,
    from: u64,
    top: u64,
    select: Option<&[String]>,
) -> (Rows, Option<u64>) {
    let tenant = &state.tenant;
    let changes: Vec<_> = tenant
        .mutations()
        .changes(&spec.stream, since, until)
        .into_iter()
        .filter(|c| parent.is_none_or(|p| c.key >> 24 == p.index))
        .collect();
    let end = changes.len().min((from + top) as usize);
    let rows = changes
        .get(from as usize..end)
        .unwrap_or_default()
        .iter()
        .map(|change| {
            let index = if parent.is_some() {
                change.key & 0xff_ffff
            } else {
                change.key
            };
            debug_assert!(parent.is_none_or(|p| child_key(p.index, index) == change.key));
            let row = RowRef {
                spec,
                parent,
                index,
            };
            if change.removed {
                let mut removed = Map::new();
                removed.insert("id".into(), json!(tenant.row_id(row)));
                removed.insert("@removed".into(), json!({"reason": "changed"}));
                removed
            } else {
                paging::render_row(tenant, row, select)
            }
        })
        .collect();
    (rows, (end < changes.len()).then_some(end as u64))
}

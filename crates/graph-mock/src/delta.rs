//! Delta queries: a first round lists every row in scope and ends in `@odata.deltaLink`; a later
//! round lists the rows changed or added since the token's epoch, and a tombstone for each removed
//! one. Tokens (`$skiptoken` within a round, `$deltatoken` between rounds) are opaque and
//! tamper-checked against the path, so a folder's token does not work on another folder.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use serde_json::{Map, Value, json};
use stream_spec::StreamSpec;

use crate::delta_query::{DeltaQuery, Token, Window};
use crate::graph::GraphRequest;
use crate::ids::{combine, hash_str};
use crate::paging::{self, GraphQuery};
use crate::response::{GraphResponse, RequestIds};
use crate::state::AppState;
use crate::tenant::{FolderKind, ParentRow, RowRef, Tenant, event_span};

/// Which delta endpoint: what is in scope, how deletions look, what an expired token answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeltaSource {
    /// `/users/delta`, `/groups/delta`, `/applications/delta`, `/servicePrincipals/delta`.
    Directory,
    /// `/users/{id}/drive/root/delta`.
    Drive,
    /// One folder's items: `/users/{id}/mailFolders/{fid}/messages/delta`,
    /// `/users/{id}/contactFolders/{fid}/contacts/delta`, `/users/{id}/contacts/delta` (folder 0).
    Folder(FolderKind, usize),
    /// `/users/{id}/calendarView/delta?startDateTime=…&endDateTime=…`.
    CalendarView,
}

impl DeltaSource {
    pub fn is_outlook(self) -> bool {
        matches!(self, DeltaSource::Folder(..) | DeltaSource::CalendarView)
    }
}

/// Where a client is: which round (changes after `since`, up to `until`; `since` none = the
/// first round), where in it, and the calendar window fixed by the first call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Round {
    pub since: Option<u64>,
    pub until: u64,
    pub position: u64,
    pub page: u64,
    pub window: Option<Window>,
}

impl Round {
    fn fields(&self) -> [u64; 7] {
        let (w, start, end) = match self.window {
            Some(w) => (1, w.start as u64, w.end as u64),
            None => (0, 0, 0),
        };
        [
            self.since.map_or(0, |s| s + 1),
            self.until,
            self.position,
            self.page,
            w,
            start,
            end,
        ]
    }

    fn check(fields: &[u64], seed: u64, path: &str) -> u64 {
        let mut parts = vec![seed, hash_str(&path.to_ascii_lowercase()), 0xde17a];
        parts.extend_from_slice(fields);
        combine(&parts) & 0xffff_ffff
    }

    pub fn encode(&self, seed: u64, path: &str) -> String {
        let fields = self.fields();
        let text: Vec<String> = fields.iter().map(u64::to_string).collect();
        let check = Self::check(&fields, seed, path);
        URL_SAFE_NO_PAD.encode(format!("delta2.{}.{check:x}", text.join(".")))
    }

    pub fn decode(token: &str, seed: u64, path: &str) -> Option<Round> {
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
        let parts: Vec<&str> = text.strip_prefix("delta2.")?.split('.').collect();
        let [fields @ .., check] = parts.as_slice() else {
            return None;
        };
        let fields: Vec<u64> = fields
            .iter()
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        let check = u64::from_str_radix(check, 16).ok()?;
        if fields.len() != 7 || check != Self::check(&fields, seed, path) {
            return None;
        }
        Some(Round {
            since: fields[0].checked_sub(1),
            until: fields[1],
            position: fields[2],
            page: fields[3],
            window: (fields[4] == 1).then(|| Window {
                start: fields[5] as i64,
                end: fields[6] as i64,
            }),
        })
    }
}

/// One delta request, routed.
pub(crate) struct DeltaTarget<'a> {
    pub spec: &'a StreamSpec,
    pub parent: Option<&'a ParentRow>,
    pub source: DeltaSource,
}

pub(crate) fn serve(
    state: &AppState,
    target: &DeltaTarget<'_>,
    request: &GraphRequest,
    query: &GraphQuery,
    ids: &RequestIds,
) -> GraphResponse {
    let tenant = &state.tenant;
    let path = request.path.as_str();
    let parsed = match DeltaQuery::parse(state, target, request, query, ids) {
        Ok(parsed) => parsed,
        Err(response) => return *response,
    };
    let current = tenant.mutations().epoch();
    let round = match &parsed.token {
        Token::None => Round {
            since: None,
            until: current,
            position: 0,
            page: 0,
            window: parsed.window,
        },
        Token::Latest => {
            let link = Round {
                since: Some(current),
                until: current,
                position: 0,
                page: 0,
                window: parsed.window,
            };
            return respond(
                state,
                target,
                path,
                query,
                &parsed,
                Vec::new(),
                None,
                link,
                ids,
            );
        }
        Token::Skip(text) => match Round::decode(text, tenant.seed, path) {
            Some(round)
                if round
                    .since
                    .is_none_or(|s| tenant.mutations().is_valid_epoch(s)) =>
            {
                round
            }
            _ => return resync(target.source, ids),
        },
        Token::Delta(text) => match Round::decode(text, tenant.seed, path) {
            Some(Round {
                since: Some(since),
                window,
                ..
            }) if tenant.mutations().is_valid_epoch(since) => Round {
                since: Some(since),
                until: current,
                position: 0,
                page: 0,
                window,
            },
            _ => return resync(target.source, ids),
        },
    };
    let in_scope = |row: RowRef<'_>| row_in_scope(tenant, target.source, round.window, row);
    let (rows, next_position) = match round.since {
        None => first_round(tenant, target, &round, parsed.top, &parsed, &in_scope),
        Some(since) => changes(
            tenant, target, since, &round, parsed.top, &parsed, &in_scope,
        ),
    };
    let link = Round {
        since: Some(round.until),
        until: round.until,
        position: 0,
        page: 0,
        window: round.window,
    };
    let next = next_position.map(|position| Round {
        position,
        page: round.page + 1,
        ..round
    });
    respond(state, target, path, query, &parsed, rows, next, link, ids)
}

#[allow(clippy::too_many_arguments)]
fn respond(
    state: &AppState,
    target: &DeltaTarget<'_>,
    path: &str,
    query: &GraphQuery,
    parsed: &DeltaQuery,
    rows: Rows,
    next: Option<Round>,
    link: Round,
    ids: &RequestIds,
) -> GraphResponse {
    let seed = state.tenant.seed;
    let kept = parsed.kept_query(query);
    let url = |name: &str, round: Round| {
        let sep = if kept.is_empty() { "" } else { "&" };
        format!(
            "{}{path}?{kept}{sep}{name}={}",
            state.graph_url,
            round.encode(seed, path)
        )
    };
    let token_name = match target.source {
        DeltaSource::Drive => "token",
        _ => "$deltatoken",
    };
    let (next_link, delta_link) = match next {
        Some(round) => (Some(url("$skiptoken", round)), None),
        None => (None, Some(url(token_name, link))),
    };
    let mut response = paging::page_response(
        &state.graph_url,
        path,
        None,
        rows,
        next_link.as_deref(),
        delta_link.as_deref(),
        ids,
    );
    if let Some(size) = parsed.preferred_page {
        response.header("preference-applied", &format!("odata.maxpagesize={size}"));
    }
    response
}

/// 410 Gone: the token is unknown or expired; the client must start over without a token.
fn resync(source: DeltaSource, ids: &RequestIds) -> GraphResponse {
    let (code, message) = match source {
        DeltaSource::Drive => (
            "resyncChangesApplyDifferences",
            "Resync required. Replace any local items with the server's version (including deletes) if you're sure that the service was up to date with your local changes when you last sync'd. Upload any local changes that the server doesn't know about.",
        ),
        _ => (
            "syncStateNotFound",
            "The sync state generation is not found or has expired. Start a new sync without a token (the delta token is expired or unknown).",
        ),
    };
    GraphResponse::error(StatusCode::GONE, code, message, ids)
}

type Rows = Vec<Map<String, Value>>;

/// Whether a row belongs to this endpoint's scope: its folder, or the calendar window.
fn row_in_scope(
    tenant: &Tenant,
    source: DeltaSource,
    window: Option<Window>,
    row: RowRef<'_>,
) -> bool {
    match source {
        DeltaSource::Folder(kind, folder) => kind.folder_of(tenant.seed, row.key()) == folder,
        DeltaSource::CalendarView => window.is_none_or(|w| {
            let (start, end) = event_span(tenant, row.key());
            start.timestamp() < w.end && end.timestamp() > w.start
        }),
        DeltaSource::Directory | DeltaSource::Drive => true,
    }
}

fn first_round(
    tenant: &Tenant,
    target: &DeltaTarget<'_>,
    round: &Round,
    top: u64,
    parsed: &DeltaQuery,
    in_scope: &dyn Fn(RowRef<'_>) -> bool,
) -> (Rows, Option<u64>) {
    let len = tenant.raw_len(target.spec, target.parent);
    let row_at = |index| RowRef {
        spec: target.spec,
        parent: target.parent,
        index,
    };
    let wanted = |index| tenant.exists(row_at(index)) && in_scope(row_at(index));
    let mut rows = Vec::new();
    let mut position = round.position;
    while position < len && (rows.len() as u64) < top {
        if wanted(position) {
            rows.push(paging::render_row(
                tenant,
                row_at(position),
                parsed.select.as_deref(),
            ));
        }
        position += 1;
    }
    let more = (position..len).any(wanted);
    (rows, more.then_some(position))
}

fn changes(
    tenant: &Tenant,
    target: &DeltaTarget<'_>,
    since: u64,
    round: &Round,
    top: u64,
    parsed: &DeltaQuery,
    in_scope: &dyn Fn(RowRef<'_>) -> bool,
) -> (Rows, Option<u64>) {
    let row_at = |key: u64| RowRef {
        spec: target.spec,
        parent: target.parent,
        index: match target.parent {
            Some(_) => crate::ids::child_index(key),
            None => key,
        },
    };
    let changes: Vec<_> = tenant
        .mutations()
        .changes(
            &target.spec.stream,
            target.parent.map(|p| p.index),
            since,
            round.until,
        )
        .into_iter()
        .filter(|c| in_scope(row_at(c.key)))
        .collect();
    let from = round.position as usize;
    let end = changes.len().min(from + top as usize);
    let rows = changes
        .get(from..end)
        .unwrap_or_default()
        .iter()
        .map(|change| {
            let row = row_at(change.key);
            if change.removed {
                tombstone(tenant, target, row)
            } else {
                paging::render_row(tenant, row, parsed.select.as_deref())
            }
        })
        .collect();
    (rows, (end < changes.len()).then_some(end as u64))
}

/// A removed row as Graph reports it: `@removed` (directory objects are soft-deleted, "changed";
/// Outlook items "deleted"), or the drive item's `deleted` facet.
fn tombstone(tenant: &Tenant, target: &DeltaTarget<'_>, row: RowRef<'_>) -> Map<String, Value> {
    let mut removed = Map::new();
    if target.source.is_outlook()
        && let Some(entity) = &target.spec.entity
    {
        removed.insert("@odata.type".into(), json!(format!("#{entity}")));
    }
    removed.insert("id".into(), json!(tenant.row_id(row)));
    match target.source {
        DeltaSource::Drive => {
            removed.insert("deleted".into(), json!({"state": "deleted"}));
        }
        DeltaSource::Directory => {
            removed.insert("@removed".into(), json!({"reason": "changed"}));
        }
        DeltaSource::Folder(..) | DeltaSource::CalendarView => {
            removed.insert("@removed".into(), json!({"reason": "deleted"}));
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_round_trip_and_are_bound_to_their_path() {
        let round = Round {
            since: Some(3),
            until: 9,
            position: 20,
            page: 2,
            window: Some(Window {
                start: 1_700_000_000,
                end: 1_800_000_000,
            }),
        };
        let token = round.encode(42, "/users/a/calendarView/delta");
        assert_eq!(
            Round::decode(&token, 42, "/users/a/calendarView/delta"),
            Some(round)
        );
        assert_eq!(
            Round::decode(&token, 42, "/users/b/calendarView/delta"),
            None
        );
        let first = Round {
            since: None,
            window: None,
            ..round
        };
        assert_eq!(
            Round::decode(&first.encode(1, "/users/delta"), 1, "/users/delta"),
            Some(first)
        );
        assert_eq!(Round::decode("bm9uc2Vuc2U", 1, "/users/delta"), None);
    }
}

//! `/users/{id}/mailFolders` (hidden ones only with `includeHiddenFolders=true`),
//! `/users/{id}/mailFolders/{fid}/childFolders`, and the same for `contactFolders` (the default
//! contact folder is not listed: its items are at `/users/{id}/contacts`). Pages of 10 unless `$top`.

use serde_json::{Map, Value, json};

use crate::paging::{self, Cursor, GraphQuery};
use crate::response::{GraphResponse, RequestIds};
use crate::state::AppState;
use crate::tenant::{FolderKind, ParentRow, RowRef};

const DEFAULT_PAGE: u64 = 10;
const MAX_PAGE: u64 = 999;

/// One folder listing: whose, which kind, and under which folder (`None` = the top).
pub(crate) struct FolderListing<'a> {
    pub kind: FolderKind,
    pub parent: &'a ParentRow,
    pub of: Option<usize>,
}

pub(crate) fn serve(
    state: &AppState,
    listing: &FolderListing<'_>,
    path: &str,
    query: &GraphQuery,
    ids: &RequestIds,
) -> GraphResponse {
    let tenant = &state.tenant;
    let top = match query.get("$top").map(str::parse::<u64>) {
        None => DEFAULT_PAGE,
        Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => n,
        Some(_) => {
            return GraphResponse::bad_request(
                "ErrorInvalidUrlQuery",
                &format!("$top must be between 1 and {MAX_PAGE}."),
                ids,
            );
        }
    };
    let cursor = match query.get("$skiptoken") {
        None => Cursor::default(),
        Some(token) => match Cursor::decode(token, tenant.seed, path) {
            Some(cursor) => cursor,
            None => {
                return GraphResponse::bad_request(
                    "ErrorInvalidUrlQuery",
                    "The skip token is invalid.",
                    ids,
                );
            }
        },
    };
    let hidden_too = query
        .get("includeHiddenFolders")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let listed = |index: usize| {
        let folder = &listing.kind.folders()[index];
        folder.parent == listing.of && !folder.default && (hidden_too || !folder.hidden)
    };
    let folders: Vec<usize> = (0..listing.kind.folders().len())
        .filter(|&i| listed(i))
        .collect();
    let from = (cursor.position as usize).min(folders.len());
    let end = folders.len().min(from + top as usize);
    let rows = folders[from..end]
        .iter()
        .map(|&i| folder_record(state, listing, i, hidden_too))
        .collect();
    let next = (end < folders.len()).then(|| {
        let cursor = Cursor {
            position: end as u64,
            page: cursor.page + 1,
            extra: 0,
        };
        paging::next_link(
            &state.graph_url,
            path,
            query,
            &cursor.encode(tenant.seed, path),
        )
    });
    paging::page_response(
        &state.graph_url,
        path,
        None,
        rows,
        next.as_deref(),
        None,
        ids,
    )
}

fn folder_record(
    state: &AppState,
    listing: &FolderListing<'_>,
    index: usize,
    hidden_too: bool,
) -> Map<String, Value> {
    let tenant = &state.tenant;
    let (kind, user) = (listing.kind, listing.parent.index);
    let folder = &kind.folders()[index];
    let mut record = Map::new();
    record.insert("@odata.type".into(), json!(kind.entity()));
    record.insert("id".into(), json!(kind.id(tenant.seed, user, index)));
    record.insert("displayName".into(), json!(folder.name));
    record.insert(
        "parentFolderId".into(),
        json!(kind.parent_id(tenant.seed, user, index)),
    );
    if kind == FolderKind::Mail {
        let children = kind
            .folders()
            .iter()
            .filter(|f| f.parent == Some(index) && (hidden_too || !f.hidden))
            .count();
        let (total, unread) = item_counts(state, listing, index);
        record.insert("childFolderCount".into(), json!(children));
        record.insert("unreadItemCount".into(), json!(unread));
        record.insert("totalItemCount".into(), json!(total));
        record.insert("isHidden".into(), json!(folder.hidden));
    }
    record
}

/// Live items in one folder, and a share of them as unread (not each message's `isRead`: listing
/// folders must stay cheap on a mailbox of thousands).
fn item_counts(state: &AppState, listing: &FolderListing<'_>, folder: usize) -> (u64, u64) {
    let tenant = &state.tenant;
    let Some(spec) = listing.kind.item_spec(tenant) else {
        return (0, 0);
    };
    let total = (0..tenant.raw_len(spec, Some(listing.parent)))
        .map(|index| RowRef {
            spec,
            parent: Some(listing.parent),
            index,
        })
        .filter(|row| {
            listing.kind.folder_of(tenant.seed, row.key()) == folder && tenant.exists(*row)
        })
        .count() as u64;
    (total, total / 3)
}

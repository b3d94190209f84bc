//! Routes of the delta endpoints that are no declared stream path: the directory `…/delta`
//! collections, mail and contact folders with their per-folder delta, and `calendarView/delta`.

use crate::delta::DeltaSource;
use crate::graph::Route;
use crate::tenant::{FolderKind, Tenant};

/// Directory collections with a `/delta` function, and the streams they feed.
const DIRECTORY_DELTA: [(&str, &str); 4] = [
    ("users", "users"),
    ("groups", "groups"),
    ("applications", "applications"),
    ("servicePrincipals", "service_principals"),
];

/// The route of `request` (path segments) if it is one of these endpoints.
pub(crate) fn resolve<'a>(tenant: &'a Tenant, request: &[&str]) -> Option<Route<'a>> {
    let is = |segment: &str, name: &str| segment.eq_ignore_ascii_case(name);
    if let [collection, last] = request
        && is(last, "delta")
        && let Some((_, stream)) = DIRECTORY_DELTA.iter().find(|(c, _)| is(collection, c))
    {
        return Some(match tenant.spec(stream) {
            Some(spec) => Route::Delta {
                spec,
                parent: None,
                source: DeltaSource::Directory,
            },
            None => Route::NotFound,
        });
    }
    let [users, user_id, rest @ ..] = request else {
        return None;
    };
    if !is(users, "users") {
        return None;
    }
    // (item stream, folder kind and folder id if any, what is asked)
    enum Ask {
        Folders,
        ChildFolders,
        Delta,
    }
    let (kind, folder_id, ask): (Option<FolderKind>, Option<&str>, Ask) = match rest {
        [f] if is(f, "mailFolders") => (Some(FolderKind::Mail), None, Ask::Folders),
        [f, id, c] if is(f, "mailFolders") && is(c, "childFolders") => {
            (Some(FolderKind::Mail), Some(*id), Ask::ChildFolders)
        }
        [f, id, m, d] if is(f, "mailFolders") && is(m, "messages") && is(d, "delta") => {
            (Some(FolderKind::Mail), Some(*id), Ask::Delta)
        }
        [f] if is(f, "contactFolders") => (Some(FolderKind::Contacts), None, Ask::Folders),
        [f, id, c] if is(f, "contactFolders") && is(c, "childFolders") => {
            (Some(FolderKind::Contacts), Some(*id), Ask::ChildFolders)
        }
        [f, id, c, d] if is(f, "contactFolders") && is(c, "contacts") && is(d, "delta") => {
            (Some(FolderKind::Contacts), Some(*id), Ask::Delta)
        }
        [c, d] if is(c, "contacts") && is(d, "delta") => {
            (Some(FolderKind::Contacts), None, Ask::Delta)
        }
        [c, d] if is(c, "calendarView") && is(d, "delta") => (None, None, Ask::Delta),
        _ => return None,
    };
    let stream = kind.map_or("calendar_events", FolderKind::item_stream);
    let Some(spec) = tenant.spec(stream) else {
        return Some(Route::NotFound);
    };
    let Some(parent) = tenant.parent_from_id("users", user_id) else {
        return Some(Route::MissingParent { spec });
    };
    let Some(kind) = kind else {
        return Some(Route::Delta {
            spec,
            parent: Some(parent),
            source: DeltaSource::CalendarView,
        });
    };
    let folder = match folder_id {
        None => None,
        Some(id) => match kind.decode(tenant.seed, parent.index, id) {
            Some(folder) => Some(folder),
            None => return Some(Route::MissingParent { spec }),
        },
    };
    Some(match ask {
        Ask::Folders | Ask::ChildFolders => Route::Folders {
            spec,
            parent,
            kind,
            of: folder,
        },
        // `/users/{id}/contacts/delta`: the default contact folder.
        Ask::Delta => Route::Delta {
            spec,
            parent: Some(parent),
            source: DeltaSource::Folder(kind, folder.unwrap_or(0)),
        },
    })
}

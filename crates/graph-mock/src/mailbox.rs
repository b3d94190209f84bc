//! Routes of the delta endpoints that are no declared stream path, found from each stream's
//! `incremental` declaration: the directory `…/delta` collections, per-folder delta with its
//! folder listings (mail, contacts) and default folder, and `calendarView/delta`.

use stream_spec::{Incremental, StreamSpec};

use crate::delta::DeltaSource;
use crate::graph::Route;
use crate::tenant::{FolderKind, Tenant};

/// The ids a request's path gave for a template's placeholders.
#[derive(Default)]
struct Ids<'r> {
    parent: Option<&'r str>,
    folder: Option<&'r str>,
}

/// `request` (path segments) against a declared path template, literals compared as Graph does
/// (case-insensitively).
fn fit<'r>(template: &str, request: &[&'r str]) -> Option<Ids<'r>> {
    let template: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
    if template.len() != request.len() {
        return None;
    }
    let mut ids = Ids::default();
    for (t, r) in template.iter().zip(request) {
        match *t {
            "{parent_id}" => ids.parent = Some(*r),
            "{folder_id}" => ids.folder = Some(*r),
            literal if literal.eq_ignore_ascii_case(r) => {}
            _ => return None,
        }
    }
    Some(ids)
}

/// What a request asks of a per-folder or windowed delta stream.
enum Ask {
    Folders,
    ChildFolders,
    Delta,
    DefaultFolder,
    CalendarView,
}

/// The route of `request` (path segments) if it is one of these endpoints.
pub(crate) fn resolve<'a>(tenant: &'a Tenant, request: &[&str]) -> Option<Route<'a>> {
    for spec in tenant.specs() {
        let Incremental::Delta(q) = &spec.incremental else {
            continue;
        };
        if q.path == spec.path {
            continue; // the stream's own path (drive items): served as the stream
        }
        if spec.parent.is_none() {
            if fit(&q.path, request).is_some() {
                return Some(Route::Delta {
                    spec,
                    parent: None,
                    source: DeltaSource::Directory,
                });
            }
            continue;
        }
        let folders = q.folders.as_ref();
        let child_folders = folders
            .and_then(|f| Some(format!("{}/{{folder_id}}/{}", f.path, f.children.as_ref()?)));
        let asks = [
            (folders.map(|f| f.path.clone()), Ask::Folders),
            (child_folders, Ask::ChildFolders),
            (folders.map(|_| q.path.clone()), Ask::Delta),
            (
                folders.and_then(|f| f.default_path.clone()),
                Ask::DefaultFolder,
            ),
            (q.window.then(|| q.path.clone()), Ask::CalendarView),
        ];
        for (template, ask) in asks {
            if let Some(ids) = template.and_then(|t| fit(&t, request)) {
                return Some(route(tenant, spec, ids, ask));
            }
        }
    }
    None
}

fn route<'a>(tenant: &'a Tenant, spec: &'a StreamSpec, ids: Ids<'_>, ask: Ask) -> Route<'a> {
    let parent_stream = spec.parent.as_ref().map_or("", |p| p.stream.as_str());
    let Some(parent) = ids
        .parent
        .and_then(|id| tenant.parent_from_id(parent_stream, id))
    else {
        return Route::MissingParent { spec };
    };
    if let Ask::CalendarView = ask {
        return Route::Delta {
            spec,
            parent: Some(parent),
            source: DeltaSource::CalendarView,
        };
    }
    let Some(kind) = FolderKind::of(spec) else {
        return Route::NotFound;
    };
    let folder = match ids.folder {
        None => None,
        Some(id) => match kind.decode(tenant.seed, parent.index, id) {
            Some(folder) => Some(folder),
            None => return Route::MissingParent { spec },
        },
    };
    match ask {
        Ask::Folders | Ask::ChildFolders => Route::Folders {
            spec,
            parent,
            kind,
            of: folder,
        },
        // `/users/{id}/contacts/delta`: the default contact folder.
        Ask::Delta | Ask::DefaultFolder | Ask::CalendarView => Route::Delta {
            spec,
            parent: Some(parent),
            source: DeltaSource::Folder(kind, folder.unwrap_or(0)),
        },
    }
}

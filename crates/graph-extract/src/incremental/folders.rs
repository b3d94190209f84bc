//! Per-folder delta (mail, contacts): a parent's folders are listed (recursively where the
//! declaration names a child-folder navigation), then each folder's delta chain is followed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Deserialize;
use stream_spec::{DeltaQuery, Folders, ParentKey, StreamSpec};

use super::{Method, ScopeEnd, Start, resync_error};
use crate::chain::{ChainError, FollowedLinks, ParentPages, RunContext};
use crate::error::RequestError;
use crate::paging;
use crate::state::folder_scope;

/// Folders listed per parent before giving up on a listing that never ends.
const MAX_FOLDERS: usize = 100_000;

/// `$top` of a folder listing (Graph's default is 10).
const FOLDER_PAGE: u32 = 999;

#[derive(Deserialize)]
struct FolderPage {
    #[serde(default, rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(default)]
    value: Vec<FolderRow>,
}

#[derive(Deserialize)]
struct FolderRow {
    id: String,
    /// Listing a folder's children is skipped where Graph says it has none.
    #[serde(default, rename = "childFolderCount")]
    child_folder_count: Option<u64>,
}

/// One delta chain of a parent: a listed folder, or the declared default path.
struct FolderChain<'a> {
    /// State key.
    scope: String,
    folder_id: Option<String>,
    path: &'a str,
}

impl RunContext {
    /// Reads every folder of one parent. A folder whose link is refused, or a folder that had a
    /// link and is gone (taking its items with it), makes the whole parent read again in full:
    /// the sink's deletion scope is the parent, not the folder, so only a full read of every
    /// folder lets it find the items deleted during the gap.
    pub(crate) async fn read_folders(
        &self,
        spec: &StreamSpec,
        parent: &ParentKey,
    ) -> Result<Vec<ScopeEnd>, ChainError> {
        let scope = parent.scope();
        let parent_id = scope.as_str();
        let read = self.read(&spec.stream);
        let Method::Delta(q) = &read.method else {
            unreachable!("folders belong to delta streams")
        };
        let folders = q.folders.as_ref().expect("a per-folder stream");
        let listed = self.list_folders(spec, folders, parent).await?;
        let mut chains: Vec<FolderChain<'_>> = listed
            .iter()
            .map(|id| FolderChain {
                scope: folder_scope(parent_id, id),
                folder_id: Some(id.clone()),
                path: &q.path,
            })
            .collect();
        if let Some(default) = &folders.default_path {
            chains.push(FolderChain {
                scope: parent_id.to_string(),
                folder_id: None,
                path: default,
            });
        }
        let prior: BTreeMap<&str, &str> = match read.fresh {
            true => BTreeMap::new(),
            false => read
                .prior
                .folder_links(parent_id)
                .filter(|(folder, _)| !folder.is_empty())
                .collect(),
        };
        let vanished = prior.keys().find(|f| !listed.iter().any(|l| l == **f));
        let mut ends = Vec::with_capacity(chains.len());
        let mut resync: Option<ChainError> = None;
        let pages = ParentPages::default();
        if let Some(folder) = vanished {
            tracing::info!(stream = %spec.stream, parent_id, folder, "a folder is gone; reading the parent again in full");
        } else {
            for (i, chain) in chains.iter().enumerate() {
                let last = i + 1 == chains.len();
                let link = match &chain.folder_id {
                    Some(folder) => prior.get(folder.as_str()).map(|l| l.to_string()),
                    None => read.link(parent_id).map(str::to_string),
                };
                let start = match link {
                    Some(link) => Start::Link(link),
                    None => self.folder_start(spec, q, chain, parent),
                };
                let full = start.full();
                let at = (&pages, last);
                match self.follow_start(spec, Some(parent), start, None, at).await {
                    Ok(end) => ends.push(ScopeEnd::new(end, full).at(chain.scope.clone())),
                    Err(e) if resync_error(&e).is_some() => {
                        resync = Some(e);
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        if vanished.is_none() && resync.is_none() {
            return Ok(ends);
        }
        match &resync {
            Some(e) => self.note_resync(spec, Some(parent), e),
            None => {
                crate::stats::StreamCounters::bump(&self.recorder.counters(&spec.stream).resyncs)
            }
        }
        let mut ends = Vec::with_capacity(chains.len());
        for (i, chain) in chains.iter().enumerate() {
            let at = (&pages, i + 1 == chains.len());
            let start = self.folder_start(spec, q, chain, parent);
            let end = self
                .follow_start(spec, Some(parent), start, None, at)
                .await?;
            ends.push(ScopeEnd::new(end, true).resynced().at(chain.scope.clone()));
        }
        Ok(ends)
    }

    fn folder_start(
        &self,
        spec: &StreamSpec,
        q: &DeltaQuery,
        chain: &FolderChain<'_>,
        parent: &ParentKey,
    ) -> Start {
        Start::Url {
            relative: self.delta_url(
                spec,
                q,
                chain.path,
                Some(parent),
                chain.folder_id.as_deref(),
            ),
            full: true,
        }
    }

    /// Every folder id of one parent, breadth first. Requests count against the stream; the
    /// listings themselves are not landed.
    async fn list_folders(
        &self,
        spec: &StreamSpec,
        folders: &Folders,
        parent: &ParentKey,
    ) -> Result<Vec<String>, ChainError> {
        let base = spec.fill_path(&folders.path, Some(parent), paging::path_segment);
        // Graph lists folders 10 to a page unless asked for more.
        let mut query = folders.query.clone();
        query.insert("$top".into(), FOLDER_PAGE.to_string());
        let url_of =
            |path: String| format!("{}{}", self.base_url, paging::relative_url(path, &query));
        let counters = self.recorder.counters(&spec.stream);
        let mut seen = BTreeSet::new();
        let mut ids = Vec::new();
        let mut queue = VecDeque::from([url_of(base.clone())]);
        let mut followed = FollowedLinks::default();
        while let Some(mut url) = queue.pop_front() {
            followed.first_visit(&url);
            loop {
                let req = self.page_request(spec, Some(parent), &url);
                let body = self.client.send(&req, &counters).await?.body;
                let page: FolderPage = serde_json::from_slice(&body).map_err(|e| {
                    ChainError::Request(RequestError::Protocol {
                        what: format!("folders of `{}`", spec.stream),
                        reason: e.to_string(),
                    })
                })?;
                for folder in page.value {
                    if !seen.insert(folder.id.clone()) {
                        continue;
                    }
                    if let Some(children) = &folders.children
                        && folder.child_folder_count != Some(0)
                    {
                        let path =
                            format!("{base}/{}/{children}", paging::path_segment(&folder.id));
                        queue.push_back(url_of(path));
                    }
                    ids.push(folder.id);
                }
                if ids.len() > MAX_FOLDERS {
                    return Err(ChainError::Request(RequestError::Protocol {
                        what: format!("folders of `{}`", spec.stream),
                        reason: format!("more than {MAX_FOLDERS} folders"),
                    }));
                }
                match page.next_link {
                    Some(next) if followed.first_visit(&next) => url = next,
                    Some(_) => {
                        return Err(ChainError::Request(RequestError::Protocol {
                            what: format!("folders of `{}`", spec.stream),
                            reason: "nextLink leads back to a page already read".into(),
                        }));
                    }
                    None => break,
                }
            }
        }
        Ok(ids)
    }
}

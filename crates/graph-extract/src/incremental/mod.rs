//! Incremental reads: how each stream is read this run (from its declaration, the prior state and
//! `--full-refresh`), where each scope's chain starts, and the resync after an expired token.
//!
//! A scope is what one chain covers: a top-level stream, one parent of a child stream, or one
//! folder of one parent. Its state key is "", the parent id, or "<parent id>/<folder id>" (a
//! per-folder stream's `default_path` uses the parent id).
//!
//! - **delta**: without a stored link the first delta round lists the whole scope (full); with
//!   one, the link gives the changes since (not full). The last page's `@odata.deltaLink` is the
//!   next state. A refused link (410, [`RESYNC_CODES`]) reads the scope again in full, counted
//!   in `resyncs`; for per-folder streams every folder of that parent (see `folders`).
//! - **bookmark**: `$filter=<property> ge <bookmark - overlap>` (or the declared `gt` and
//!   `$orderby`); the greatest value landed is the next bookmark. Without a bookmark the bound is
//!   `start_date`; without that, no filter: on Graph that is everything its retention still
//!   holds, which is what a bound at the retention edge would ask (and a bound computed from the
//!   wall clock would make fixed-date test tenants read nothing). A bookmark older than the
//!   retention is logged: rows in between may have aged out. Full only with no bound at all and
//!   no retention.
//! - **append**: read as declared (reports), never full. **compare**: read as declared, full.
//!
//! `$batch` carries first URLs only: links go directly, and so do per-folder streams, whose
//! folder listing comes before any first page.

mod feed;
mod folders;
mod next_state;
pub(crate) mod scan;
mod spool;
mod tracker;

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use stream_spec::{Bookmark, Catalog, DeltaQuery, Incremental, ParentKey, StreamSpec};

pub(crate) use feed::IdFeed;
pub(crate) use tracker::{ScopeEnd, Tracker};

use crate::chain::{ChainError, FirstPage, ParentPages, RunContext};
use crate::error::{GraphError, RequestError};
use crate::paging::{self, ExtraQuery};
use crate::state::{StreamState, TOP_LEVEL};

/// Graph's codes for "this delta token is no longer valid: start over without one". Directory
/// objects and Outlook answer `syncStateNotFound` or `resyncRequired`, drives the two
/// `resyncChanges*` codes; all of them usually with 410 Gone.
const RESYNC_CODES: &[&str] = &[
    "syncStateNotFound",
    "resyncRequired",
    "resyncChangesApplyDifferences",
    "resyncChangesUploadDifferences",
];

/// Whether a failed request asks for a resync: 410 Gone, or one of [`RESYNC_CODES`].
pub fn is_resync(error: &GraphError) -> bool {
    error.status == 410
        || RESYNC_CODES
            .iter()
            .any(|code| code.eq_ignore_ascii_case(&error.code))
}

fn resync_error(error: &ChainError) -> Option<&GraphError> {
    match error {
        ChainError::Request(RequestError::Graph(g)) if is_resync(g) => Some(g),
        _ => None,
    }
}

/// How a stream is read this run.
#[derive(Debug, Clone)]
pub(crate) enum Method {
    Delta(DeltaQuery),
    Bookmark(Bookmark),
    Append,
    Compare,
}

/// One planned stream's read: the method, the prior state, and what to keep of it.
#[derive(Debug, Clone)]
pub(crate) struct StreamRead {
    pub method: Method,
    pub prior: StreamState,
    /// `--full-refresh` named the stream: read in full, whatever the state says.
    pub refresh: bool,
    /// The prior state is not used (refresh, or a delta parent whose live ids were not kept).
    pub fresh: bool,
    /// A delta stream with children keeps its live ids (see [`IdFeed`]).
    pub track_ids: bool,
    /// The stream's pages go to the sink. A parent pulled in only for its ids must not move its
    /// delta link on: the changes it skipped were never landed.
    pub emitted: bool,
}

impl StreamRead {
    pub fn new(
        catalog: &Catalog,
        spec: &StreamSpec,
        prior: Option<StreamState>,
        refresh: bool,
        emitted: bool,
        extra: &ExtraQuery,
    ) -> Self {
        let has_children = catalog.children(&spec.stream).next().is_some();
        let method = match &spec.incremental {
            // `$filter` on a delta query takes only ids: the `domains` filter on users needs
            // the plain collection, read in full and compared.
            Incremental::Delta(_) if !extra.params.is_empty() => Method::Compare,
            // A child that is a parent too keeps no live ids per parent: a delta round would
            // leave its unchanged rows' children out, so it is read in full.
            Incremental::Delta(_) if spec.parent.is_some() && has_children => Method::Compare,
            Incremental::Delta(q) => Method::Delta(q.clone()),
            Incremental::Bookmark(b) => Method::Bookmark(b.clone()),
            Incremental::Append => Method::Append,
            // A fed stream has no upstream here but Graph: read it in full and compare.
            Incremental::Compare | Incremental::Feed(_) => Method::Compare,
        };
        let prior = prior.unwrap_or_default();
        let track_ids = matches!(method, Method::Delta(_)) && has_children;
        // Children of a delta parent fan out over its live ids; without them a delta round (which
        // lists changed ids only) would leave unchanged parents out.
        let ids_missing = track_ids && prior.ids.is_none();
        Self {
            method,
            fresh: refresh || ids_missing,
            prior,
            refresh,
            track_ids,
            emitted,
        }
    }

    /// The method shown in the summary and the manifest.
    pub fn name(&self, resyncs: u64) -> &'static str {
        match &self.method {
            Method::Append => "append",
            _ if resyncs > 0 => "resync",
            _ if self.refresh => "compare",
            Method::Delta(_) => "delta",
            Method::Bookmark(_) => "bookmark",
            Method::Compare => "compare",
        }
    }

    fn link(&self, scope: &str) -> Option<&str> {
        match self.fresh {
            true => None,
            false => self.prior.delta_links.get(scope).map(String::as_str),
        }
    }

    pub fn tombstone(&self) -> Option<&str> {
        match &self.method {
            Method::Delta(q) => Some(&q.tombstone),
            // A compare parent's ids never carry tombstones; `@removed` is harmless to look for.
            _ => Some("@removed"),
        }
    }

    pub fn bookmark_property(&self) -> Option<&str> {
        match &self.method {
            Method::Bookmark(b) => Some(&b.property),
            _ => None,
        }
    }

    pub fn is_per_folder(&self) -> bool {
        matches!(&self.method, Method::Delta(q) if q.folders.is_some())
    }
}

/// Where a scope's chain starts.
pub(crate) enum Start {
    /// A stored delta link: changes only.
    Link(String),
    /// A first URL relative to the version root; `full` when it lists the whole scope.
    Url { relative: String, full: bool },
    /// A first page already fetched (a `$batch` item) from a `Url` start.
    Body { body: Bytes, full: bool },
}

impl Start {
    fn full(&self) -> bool {
        match self {
            Start::Link(_) => false,
            Start::Url { full, .. } | Start::Body { full, .. } => *full,
        }
    }
}

/// The per-run facts the URLs need.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    pub now: DateTime<Utc>,
    pub start_date: Option<DateTime<Utc>>,
    pub events_window_days: u32,
}

impl RunContext {
    pub(crate) fn read(&self, stream: &str) -> &StreamRead {
        self.reads
            .get(stream)
            .unwrap_or_else(|| panic!("stream `{stream}` was not planned"))
    }

    /// Where the chain of a scope without folders starts.
    pub(crate) fn start(&self, spec: &StreamSpec, parent_id: Option<&ParentKey>) -> Start {
        let read = self.read(&spec.stream);
        let scope = parent_id.map_or_else(|| TOP_LEVEL.to_string(), ParentKey::scope);
        match &read.method {
            Method::Delta(q) => match read.link(&scope) {
                Some(link) => Start::Link(link.to_string()),
                None => Start::Url {
                    relative: self.delta_url(spec, q, &q.path, parent_id, None),
                    full: true,
                },
            },
            Method::Bookmark(b) => self.bookmark_start(spec, b, read, parent_id),
            Method::Append => Start::Url {
                relative: self.plain_url(spec, parent_id),
                full: false,
            },
            Method::Compare => Start::Url {
                relative: self.plain_url(spec, parent_id),
                full: true,
            },
        }
    }

    /// A scope's start when the stored link was refused: the first round, in full.
    fn fresh_start(
        &self,
        spec: &StreamSpec,
        parent_id: Option<&ParentKey>,
        path: &str,
        folder: Option<&str>,
    ) -> Start {
        let Method::Delta(q) = &self.read(&spec.stream).method else {
            unreachable!("only delta scopes resync")
        };
        Start::Url {
            relative: self.delta_url(spec, q, path, parent_id, folder),
            full: true,
        }
    }

    fn plain_url(&self, spec: &StreamSpec, parent_id: Option<&ParentKey>) -> String {
        paging::first_relative_url(
            spec,
            parent_id,
            self.page_size,
            self.extra_for(&spec.stream),
        )
    }

    /// The first URL of a delta query. Directory objects take no `$top`; Outlook pages by the
    /// `Prefer` header ([`Self::prefer_page_size`]); only a delta path that is the stream's own
    /// collection path (drive items) takes the `$top` its declaration allows.
    fn delta_url(
        &self,
        spec: &StreamSpec,
        q: &DeltaQuery,
        path: &str,
        parent_id: Option<&ParentKey>,
        folder_id: Option<&str>,
    ) -> String {
        let mut path = spec.fill_path(path, parent_id, paging::path_segment);
        if let Some(folder) = folder_id {
            path = path.replace("{folder_id}", &paging::path_segment(folder));
        }
        let mut params: BTreeMap<&str, String> = BTreeMap::new();
        if q.select {
            let select = spec.select();
            if !select.is_empty() {
                params.insert("$select", select.join(","));
            }
        }
        if q.path == spec.path
            && !spec.outlook_mailbox_limit
            && let Some(top) = spec.page_size.top(self.page_size)
        {
            params.insert("$top", top.to_string());
        }
        if q.window {
            let days = TimeDelta::days(i64::from(self.clock.events_window_days));
            let at = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
            params.insert("startDateTime", at(self.clock.now - days));
            params.insert("endDateTime", at(self.clock.now + days));
        }
        paging::relative_url(path, &params)
    }

    /// `Prefer: odata.maxpagesize=<n>` for Outlook delta queries, which refuse `$top`.
    pub(crate) fn prefer_page_size(&self, spec: &StreamSpec) -> Option<String> {
        let delta = matches!(self.read(&spec.stream).method, Method::Delta(_));
        (delta && spec.outlook_mailbox_limit).then(|| {
            let n = spec.page_size.top(self.page_size).unwrap_or(self.page_size);
            format!("odata.maxpagesize={n}")
        })
    }

    /// `$filter=<property> ge <bookmark - overlap>` (or `gt`, with the declared `$orderby`).
    /// Without a bookmark the bound is `start_date`, and without that the scope is read whole.
    fn bookmark_start(
        &self,
        spec: &StreamSpec,
        b: &Bookmark,
        read: &StreamRead,
        parent_id: Option<&ParentKey>,
    ) -> Start {
        let scope = parent_id.map_or_else(|| TOP_LEVEL.to_string(), ParentKey::scope);
        let bookmark = (!read.fresh)
            .then(|| read.prior.bookmarks.get(&scope))
            .flatten()
            .map(|at| *at - TimeDelta::minutes(i64::from(b.overlap_minutes)));
        let lower = match (bookmark, self.clock.start_date) {
            (Some(at), Some(start)) => Some(at.max(start)),
            (at, start) => at.or(start),
        };
        if let (Some(lower), Some(days)) = (lower, b.retention_days) {
            // Graph keeps only `days`; asking for older rows is harmless, but rows between the
            // bookmark and the retention edge are gone for good: say so.
            let edge = self.clock.now - TimeDelta::days(i64::from(days));
            if bookmark.is_some() && lower < edge {
                tracing::warn!(
                    stream = %spec.stream,
                    bookmark = %lower,
                    retention_days = days,
                    "bookmark is older than Graph's retention; rows in between may have aged out"
                );
            }
        }
        let mut extra = self.extra_for(&spec.stream).clone();
        if let Some(lower) = lower {
            let bound = ExtraQuery::bound(&b.property, b.operator.as_str(), lower);
            extra.params.extend(bound.params);
            if let Some(order) = &b.order_by {
                extra.params.insert("$orderby".into(), order.clone());
            }
        }
        Start::Url {
            relative: paging::first_relative_url(spec, parent_id, self.page_size, &extra),
            // Rows before a bound, or past Graph's retention, were not read: no deletes from it.
            full: lower.is_none() && b.retention_days.is_none(),
        }
    }

    /// Follows one scope's chain from `start`. A refused delta link is logged, counted, and the
    /// scope read again in full: deletions made during the gap then show as keys not seen.
    pub(crate) async fn read_scope(
        &self,
        spec: &StreamSpec,
        parent_id: Option<&ParentKey>,
        start: Start,
        feed: Option<&IdFeed>,
    ) -> Result<ScopeEnd, ChainError> {
        let via_link = matches!(start, Start::Link(_));
        let full = start.full();
        let pages = ParentPages::default();
        let result = self
            .follow_start(spec, parent_id, start, feed, (&pages, true))
            .await;
        let error = match result {
            Ok(end) => return Ok(ScopeEnd::new(end, full)),
            Err(e) if via_link && resync_error(&e).is_some() => e,
            Err(e) => return Err(e),
        };
        self.note_resync(spec, parent_id, &error);
        if let Some(feed) = feed {
            feed.restart();
        }
        let Method::Delta(q) = &self.read(&spec.stream).method else {
            unreachable!("links are followed for delta streams only")
        };
        let start = self.fresh_start(spec, parent_id, &q.path, None);
        let end = self
            .follow_start(spec, parent_id, start, feed, (&pages, true))
            .await?;
        Ok(ScopeEnd::new(end, true).resynced())
    }

    fn note_resync(&self, spec: &StreamSpec, parent_id: Option<&ParentKey>, error: &ChainError) {
        if let Some(graph) = resync_error(error) {
            tracing::info!(
                stream = %spec.stream,
                parent = parent_id.map(ParentKey::scope),
                status = graph.status,
                code = %graph.code,
                "delta token refused; reading the scope again in full"
            );
        }
        let counters = self.recorder.counters(&spec.stream);
        crate::stats::StreamCounters::bump(&counters.resyncs);
    }

    async fn follow_start(
        &self,
        spec: &StreamSpec,
        parent_id: Option<&ParentKey>,
        start: Start,
        feed: Option<&IdFeed>,
        pages: (&ParentPages, bool),
    ) -> Result<crate::chain::ChainEnd, ChainError> {
        let first = match start {
            Start::Link(link) => FirstPage::Url(link),
            Start::Url { relative, .. } => FirstPage::Url(format!("{}{relative}", self.base_url)),
            Start::Body { body, .. } => FirstPage::Body(body),
        };
        self.follow_chain(spec, parent_id, first, feed, pages).await
    }
}

/// Every planned stream's read, by name; each takes its prior state out of `prior`.
pub(crate) fn plan_reads<'a>(
    catalog: &Catalog,
    streams: impl IntoIterator<Item = &'a StreamSpec>,
    prior: &mut crate::state::ExtractState,
    full_refresh: &[String],
    emits: impl Fn(&str) -> bool,
    extra: &HashMap<String, ExtraQuery>,
) -> HashMap<String, StreamRead> {
    let none = ExtraQuery::default();
    streams
        .into_iter()
        .map(|spec| {
            let read = StreamRead::new(
                catalog,
                spec,
                prior.streams.remove(&spec.stream),
                full_refresh.contains(&spec.stream),
                emits(&spec.stream),
                extra.get(&spec.stream).unwrap_or(&none),
            );
            (spec.stream.clone(), read)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, code: &str) -> GraphError {
        GraphError {
            status,
            code: code.into(),
            message: String::new(),
            request_id: None,
        }
    }

    #[test]
    fn gone_and_the_resync_codes_resync_other_errors_do_not() {
        assert!(is_resync(&err(410, "anything")));
        assert!(is_resync(&err(400, "SyncStateNotFound")));
        assert!(is_resync(&err(400, "resyncChangesUploadDifferences")));
        assert!(!is_resync(&err(400, "Request_BadRequest")));
        assert!(!is_resync(&err(404, "ResourceNotFound")));
    }
}

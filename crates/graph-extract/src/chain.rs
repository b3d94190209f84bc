//! Following one stream (for one parent) from its first page to the end of its nextLink chain.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::{HeaderName, HeaderValue};
use stream_spec::{ParentKey, StreamSpec};
use tokio::sync::mpsc;

use crate::error::{ExtractError, RequestError};
use crate::http::{GraphClient, GraphRequest};
use crate::incremental::scan::{ScanSpec, scan};
use crate::incremental::{Clock, IdFeed, Start, StreamRead, Tracker};
use crate::paging::{self, ExtraQuery, Page, PageFormat};
use crate::skip::{StreamGate, is_skippable};
use crate::stats::{Recorder, Skip, StreamCounters, StreamFailure};

/// Hard stop for a chain that never ends (a server repeating nextLinks): far above any real stream.
const MAX_PAGES_PER_CHAIN: u32 = 10_000_000;

const CONSISTENCY_LEVEL: HeaderName = HeaderName::from_static("consistencylevel");
const PREFER: HeaderName = HeaderName::from_static("prefer");

/// The pages one parent (or top-level stream) sent so far, over all its chains (its folders, a
/// resync): the sink counts a parent's pages as one chain, so only the parent's very last page
/// says how many there were.
#[derive(Debug, Default)]
pub(crate) struct ParentPages {
    pub sent: std::sync::atomic::AtomicU32,
}

/// What a completed chain ended with.
#[derive(Debug, Default)]
pub(crate) struct ChainEnd {
    /// The last page's `@odata.deltaLink`.
    pub delta_link: Option<String>,
    /// The greatest bookmark value on its pages (bookmark streams).
    pub greatest: Option<chrono::DateTime<chrono::Utc>>,
}

/// Why a chain stopped early.
#[derive(Debug)]
pub(crate) enum ChainError {
    Request(RequestError),
    /// The sink dropped its receiver.
    Cancelled,
}

impl From<RequestError> for ChainError {
    fn from(e: RequestError) -> Self {
        ChainError::Request(e)
    }
}

/// Where a chain starts: a URL to fetch, or a first page already fetched (a `$batch` item).
pub(crate) enum FirstPage {
    Url(String),
    Body(Bytes),
}

/// The links a chain followed, as hashes (8 bytes a page): a cycle of any length is caught.
#[derive(Default)]
pub(crate) struct FollowedLinks(HashSet<u64>);

impl FollowedLinks {
    /// Records `link`; false when it was followed before (the chain loops).
    pub fn first_visit(&mut self, link: &str) -> bool {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        link.hash(&mut hasher);
        self.0.insert(hasher.finish())
    }
}

/// Everything the tasks of one run share.
pub(crate) struct RunContext {
    pub client: GraphClient,
    pub base_url: String,
    pub page_size: u32,
    pub use_batch: bool,
    pub concurrency: usize,
    pub recorder: Recorder,
    pub sender: mpsc::Sender<Page>,
    /// Query additions per stream (the `domains` filter on `users`).
    pub extra: HashMap<String, ExtraQuery>,
    /// The planned children of each stream that has any (a pass's tree, by parent name).
    pub children: HashMap<String, Vec<crate::plan::Pass>>,
    pub gates: HashMap<String, StreamGate>,
    pub emitted: Vec<String>,
    pub stream_names: HashMap<String, Arc<str>>,
    /// One report download at a time: each is a whole CSV in memory (tenant-sized), and all of a
    /// run's reports would otherwise start together.
    pub report_downloads: tokio::sync::Semaphore,
    /// How each planned stream is read this run.
    pub reads: HashMap<String, StreamRead>,
    /// What each scope ended with, for the next state.
    pub tracker: Tracker,
    pub clock: Clock,
}

impl RunContext {
    pub fn extra_for(&self, stream: &str) -> &ExtraQuery {
        static NONE: std::sync::OnceLock<ExtraQuery> = std::sync::OnceLock::new();
        self.extra
            .get(stream)
            .unwrap_or_else(|| NONE.get_or_init(ExtraQuery::default))
    }

    pub fn first_url(&self, spec: &StreamSpec, parent: Option<&ParentKey>) -> String {
        paging::first_url(
            &self.base_url,
            spec,
            parent,
            self.page_size,
            self.extra_for(&spec.stream),
        )
    }

    pub fn emits(&self, stream: &str) -> bool {
        self.emitted.iter().any(|s| s == stream)
    }

    pub fn name(&self, stream: &str) -> Arc<str> {
        self.stream_names
            .get(stream)
            .cloned()
            .unwrap_or_else(|| Arc::from(stream))
    }

    /// A GET for a page of `spec`, with the headers and mailbox the stream needs.
    pub fn page_request<'a>(
        &self,
        spec: &StreamSpec,
        parent: Option<&ParentKey>,
        url: &'a str,
    ) -> GraphRequest<'a> {
        let mut req = GraphRequest::get(url);
        if self.extra_for(&spec.stream).consistency_eventual {
            req.headers
                .push((CONSISTENCY_LEVEL, HeaderValue::from_static("eventual")));
        }
        if let Some(prefer) = self.prefer_page_size(spec)
            && let Ok(value) = HeaderValue::from_str(&prefer)
        {
            req.headers.push((PREFER, value));
        }
        if spec.outlook_mailbox_limit {
            // Outlook streams hang under users: the parent's id is the mailbox.
            req.mailboxes.extend(parent.map(|p| p.id().to_string()));
        }
        req
    }

    /// Follows `spec`'s chain for one parent: every page goes to the sink (if the stream is emitted)
    /// and, with `feed`, the ids of its records go to the child fan-out.
    pub async fn follow_chain(
        &self,
        spec: &StreamSpec,
        parent: Option<&ParentKey>,
        first: FirstPage,
        feed: Option<&IdFeed>,
        (pages, last): (&ParentPages, bool),
    ) -> Result<ChainEnd, ChainError> {
        let counters = self.recorder.counters(&spec.stream);
        let emit = self.emits(&spec.stream);
        let stream = self.name(&spec.stream);
        let read = self.read(&spec.stream);
        let wanted = ScanSpec {
            ids: feed.is_some(),
            tombstone: read.tombstone(),
            bookmark: read.bookmark_property(),
        };
        let mut end = ChainEnd::default();
        let mut next = first;
        let mut followed = FollowedLinks::default();
        if let FirstPage::Url(url) = &next {
            followed.first_visit(url);
        }
        for _ in 0..MAX_PAGES_PER_CHAIN {
            let body = match next {
                FirstPage::Body(body) => body,
                FirstPage::Url(url) => {
                    let req = self.page_request(spec, parent, &url);
                    self.client.send(&req, &counters).await?.body
                }
            };
            let protocol = |reason: String| {
                ChainError::Request(RequestError::Protocol {
                    what: format!("page of `{}`", spec.stream),
                    reason,
                })
            };
            let page = scan(&body, wanted).map_err(|e| protocol(e.to_string()))?;
            let (next_link, delta_link, rows) = (page.next_link, page.delta_link, page.rows);
            end.greatest = end.greatest.max(page.greatest);
            if let Some(feed) = feed {
                feed.page(page.live, page.removed).await?;
            }
            StreamCounters::bump(&counters.pages);
            counters
                .rows
                .fetch_add(rows as u64, std::sync::atomic::Ordering::Relaxed);
            if delta_link.is_some() {
                StreamCounters::bump(&counters.delta_links);
            }
            end.delta_link.clone_from(&delta_link);
            let total = pages
                .sent
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            if emit {
                let page = Page {
                    stream: stream.clone(),
                    parent: parent.cloned(),
                    format: PageFormat::Json,
                    body,
                    rows,
                    delta_link,
                    chain_pages: (next_link.is_none() && last).then_some(total),
                };
                self.sender
                    .send(page)
                    .await
                    .map_err(|_| ChainError::Cancelled)?;
            }
            match next_link {
                None => return Ok(end),
                Some(link) => {
                    if !followed.first_visit(&link) {
                        return Err(protocol(format!(
                            "nextLink leads back to a page already read (a cycle after {total} pages): {link}"
                        )));
                    }
                    next = FirstPage::Url(link);
                }
            }
        }
        Err(ChainError::Request(RequestError::Protocol {
            what: format!("stream `{}`", spec.stream),
            reason: format!("more than {MAX_PAGES_PER_CHAIN} pages"),
        }))
    }

    /// Runs one child stream for one parent, turning refusals into skips. `first`: the first
    /// page, where a `$batch` already fetched it. A child with planned children of its own fans
    /// them out over its rows as its pages arrive.
    pub async fn child(
        &self,
        spec: &StreamSpec,
        parent: ParentKey,
        first: Option<Start>,
    ) -> Result<(), ExtractError> {
        if self
            .gates
            .get(&spec.stream)
            .is_some_and(StreamGate::is_denied)
            || self.recorder.has_failed(&spec.stream)
        {
            return Ok(());
        }
        let scope = parent.scope();
        let result = if self.read(&spec.stream).is_per_folder() {
            self.read_folders(spec, &parent).await
        } else {
            let start = first.unwrap_or_else(|| self.start(spec, Some(&parent)));
            let end = match self.children.get(&spec.stream) {
                Some(children) => {
                    self.read_with_children(spec, &parent, start, children)
                        .await?
                }
                None => self.read_scope(spec, Some(&parent), start, None).await,
            };
            end.map(|end| vec![end.at(scope.clone())])
        };
        let result = result.map(|ends| self.tracker.parent_done(&spec.stream, &scope, ends));
        self.settle(spec, Some(&parent), result)
    }

    /// Turns a chain's outcome into the run's: skips recorded, fatal errors returned.
    pub fn settle(
        &self,
        spec: &StreamSpec,
        parent: Option<&ParentKey>,
        result: Result<(), ChainError>,
    ) -> Result<(), ExtractError> {
        let parent_id = parent.map(ParentKey::scope);
        let parent_id = parent_id.as_deref();
        let gate = self.gates.get(&spec.stream);
        let error = match result {
            Ok(()) => {
                if let Some(gate) = gate {
                    gate.success();
                }
                return Ok(());
            }
            Err(ChainError::Cancelled) => return Err(ExtractError::ReceiverClosed),
            Err(ChainError::Request(e)) => e,
        };
        let graph = match error.graph() {
            Some(g) if is_skippable(g, parent_id.is_some()) => g,
            _ => {
                // The stream fails alone: nothing of it lands, its state stays, the rest goes on.
                self.recorder.fail(StreamFailure {
                    stream: spec.stream.clone(),
                    parent_id: parent_id.map(str::to_string),
                    error: Arc::new(error),
                });
                self.tracker.skipped(&spec.stream);
                return Ok(());
            }
        };
        let skip = |parent_id: Option<&str>| Skip {
            stream: spec.stream.clone(),
            parent_id: parent_id.map(str::to_string),
            status: graph.status,
            code: graph.code.clone(),
            message: graph.message.clone(),
            permission: spec.permission.clone(),
        };
        self.recorder.skip(skip(parent_id));
        if parent_id.is_none() {
            self.tracker.skipped(&spec.stream);
        }
        if let (Some(gate), Some(_), 403) = (gate, parent_id, graph.status)
            && gate.denial()
        {
            self.recorder.skip(skip(None));
            self.tracker.skipped(&spec.stream);
        }
        Ok(())
    }
}

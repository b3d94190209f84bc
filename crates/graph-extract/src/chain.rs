//! Following one stream (for one parent) from its first page to the end of its nextLink chain.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::{HeaderName, HeaderValue};
use stream_spec::StreamSpec;
use tokio::sync::mpsc;

use crate::error::{ExtractError, RequestError};
use crate::http::{GraphClient, GraphRequest};
use crate::paging::{self, ExtraQuery, Page, PageFormat, PageIds, PageLinks};
use crate::skip::{StreamGate, is_skippable};
use crate::stats::{Recorder, Skip, StreamCounters};

/// Hard stop for a chain that never ends (a server repeating nextLinks): far above any real stream.
const MAX_PAGES_PER_CHAIN: u32 = 10_000_000;

const CONSISTENCY_LEVEL: HeaderName = HeaderName::from_static("consistencylevel");

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
    pub gates: HashMap<String, StreamGate>,
    pub emitted: Vec<String>,
    pub stream_names: HashMap<String, Arc<str>>,
    /// One report download at a time: each is a whole CSV in memory (tenant-sized), and all of a
    /// run's reports would otherwise start together.
    pub report_downloads: tokio::sync::Semaphore,
}

impl RunContext {
    pub fn extra_for(&self, stream: &str) -> &ExtraQuery {
        static NONE: std::sync::OnceLock<ExtraQuery> = std::sync::OnceLock::new();
        self.extra
            .get(stream)
            .unwrap_or_else(|| NONE.get_or_init(ExtraQuery::default))
    }

    pub fn first_url(&self, spec: &StreamSpec, parent_id: Option<&str>) -> String {
        paging::first_url(
            &self.base_url,
            spec,
            parent_id,
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
        parent_id: Option<&str>,
        url: &'a str,
    ) -> GraphRequest<'a> {
        let mut req = GraphRequest::get(url);
        if self.extra_for(&spec.stream).consistency_eventual {
            req.headers
                .push((CONSISTENCY_LEVEL, HeaderValue::from_static("eventual")));
        }
        if spec.outlook_mailbox_limit {
            req.mailboxes.extend(parent_id.map(str::to_string));
        }
        req
    }

    /// Follows `spec`'s chain for one parent: every page goes to the sink (if the stream is emitted)
    /// and, with `ids`, the ids of its records go to the child fan-out.
    pub async fn follow_chain(
        &self,
        spec: &StreamSpec,
        parent_id: Option<&str>,
        first: FirstPage,
        ids: Option<&mpsc::Sender<String>>,
    ) -> Result<(), ChainError> {
        let counters = self.recorder.counters(&spec.stream);
        let emit = self.emits(&spec.stream);
        let stream = self.name(&spec.stream);
        let parent: Option<Arc<str>> = parent_id.map(Arc::from);
        let mut next = first;
        let mut previous_url: Option<String> = None;
        for sent in 0..MAX_PAGES_PER_CHAIN {
            let (body, url) = match next {
                FirstPage::Body(body) => (body, None),
                FirstPage::Url(url) => {
                    let req = self.page_request(spec, parent_id, &url);
                    (self.client.send(&req, &counters).await?.body, Some(url))
                }
            };
            let protocol = |reason: String| {
                ChainError::Request(RequestError::Protocol {
                    what: format!("page of `{}`", spec.stream),
                    reason,
                })
            };
            let (next_link, delta_link, rows) = if let Some(ids) = ids {
                let page: PageIds =
                    serde_json::from_slice(&body).map_err(|e| protocol(e.to_string()))?;
                let (next_link, delta_link) = (page.next_link.clone(), page.delta_link.clone());
                let rows = page.value.len();
                for id in page.live_ids() {
                    // Bounded: a slow fan-out pauses the parent's paging.
                    ids.send(id).await.map_err(|_| ChainError::Cancelled)?;
                }
                (next_link, delta_link, rows)
            } else {
                let page: PageLinks =
                    serde_json::from_slice(&body).map_err(|e| protocol(e.to_string()))?;
                (page.next_link, page.delta_link, page.value.0)
            };
            StreamCounters::bump(&counters.pages);
            counters
                .rows
                .fetch_add(rows as u64, std::sync::atomic::Ordering::Relaxed);
            // Counted, not kept: the link travels on the page, so a run holds no per-parent state.
            if delta_link.is_some() {
                StreamCounters::bump(&counters.delta_links);
            }
            if emit {
                let page = Page {
                    stream: stream.clone(),
                    parent_id: parent.clone(),
                    format: PageFormat::Json,
                    body,
                    rows,
                    delta_link,
                    chain_pages: next_link.is_none().then_some(sent + 1),
                };
                self.sender
                    .send(page)
                    .await
                    .map_err(|_| ChainError::Cancelled)?;
            }
            match next_link {
                None => return Ok(()),
                Some(link) => {
                    if previous_url.as_deref() == Some(link.as_str())
                        || url.as_deref() == Some(link.as_str())
                    {
                        return Err(protocol(format!(
                            "nextLink repeats the page it is on: {link}"
                        )));
                    }
                    previous_url = url;
                    next = FirstPage::Url(link);
                }
            }
        }
        Err(ChainError::Request(RequestError::Protocol {
            what: format!("stream `{}`", spec.stream),
            reason: format!("more than {MAX_PAGES_PER_CHAIN} pages"),
        }))
    }

    /// Runs one child stream for one parent, turning refusals into skips.
    pub async fn child(
        &self,
        spec: &StreamSpec,
        parent_id: String,
        first: FirstPage,
    ) -> Result<(), ExtractError> {
        if self
            .gates
            .get(&spec.stream)
            .is_some_and(StreamGate::is_denied)
        {
            return Ok(());
        }
        let result = self.follow_chain(spec, Some(&parent_id), first, None).await;
        self.settle(spec, Some(&parent_id), result)
    }

    /// Turns a chain's outcome into the run's: skips recorded, fatal errors returned.
    pub fn settle(
        &self,
        spec: &StreamSpec,
        parent_id: Option<&str>,
        result: Result<(), ChainError>,
    ) -> Result<(), ExtractError> {
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
                return Err(ExtractError::Stream {
                    stream: spec.stream.clone(),
                    parent_id: parent_id.map(str::to_string),
                    source: Box::new(error),
                });
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
        if let (Some(gate), Some(_), 403) = (gate, parent_id, graph.status)
            && gate.denial()
        {
            self.recorder.skip(skip(None));
        }
        Ok(())
    }
}

//! Per-stream counters (shared by concurrent tasks) and the run summary they become.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::error::RequestError;
use crate::state::{FullScope, NextState};

/// Live counters of one stream; cheap to bump from any task.
#[derive(Debug, Default)]
pub struct StreamCounters {
    /// Pages read, emitted or not (a report counts each page its CSV is cut into).
    pub pages: AtomicU64,
    /// Records in those pages (delta's `@removed` entries included).
    pub rows: AtomicU64,
    /// HTTP requests sent for this stream (each `$batch` item counts as one).
    pub requests: AtomicU64,
    /// Attempts after the first, whatever the cause.
    pub retries: AtomicU64,
    /// 429 answers (single requests and `$batch` items).
    pub throttled: AtomicU64,
    /// Parents skipped because Graph refused them (counted when the run finishes).
    pub skipped_parents: AtomicU64,
    /// Delta chains that ended in a `@odata.deltaLink` (the link itself travels on the page).
    pub delta_links: AtomicU64,
    /// Scopes read again in full because Graph refused their delta link.
    pub resyncs: AtomicU64,
}

impl StreamCounters {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> StreamStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StreamStats {
            pages: get(&self.pages),
            rows: get(&self.rows),
            requests: get(&self.requests),
            retries: get(&self.retries),
            throttled: get(&self.throttled),
            skipped_parents: get(&self.skipped_parents),
            delta_links: get(&self.delta_links),
            method: String::new(),
            resyncs: get(&self.resyncs),
        }
    }
}

/// Summary of one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StreamStats {
    /// Pages read (a report counts each page its CSV is cut into).
    pub pages: u64,
    /// Records read (delta's `@removed` entries included).
    pub rows: u64,
    /// HTTP requests sent, retries included (each `$batch` item counts as one).
    pub requests: u64,
    /// Attempts after the first (429, 5xx, dropped connections), over the run.
    pub retries: u64,
    /// 429 answers (single requests and `$batch` items).
    pub throttled: u64,
    /// Parents left out because Graph refused them (each one is in [`RunStats::skips`]).
    pub skipped_parents: u64,
    /// Delta chains that ended in a `@odata.deltaLink`.
    pub delta_links: u64,
    /// How the stream was read: `delta`, `bookmark`, `compare`, `append`, or `resync` when a
    /// scope's delta link was refused and the scope read again in full.
    pub method: String,
    /// Scopes resynced after 410 / `syncStateNotFound` / `resyncRequired` / `resyncChanges*`.
    pub resyncs: u64,
}

/// A stream, or one parent of a child stream, left out because Graph refused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    /// The stream skipped, or whose parent was.
    pub stream: String,
    /// `None`: the whole stream was skipped.
    pub parent_id: Option<String>,
    /// HTTP status of Graph's refusal.
    pub status: u16,
    /// Graph's error code (`Authorization_RequestDenied`, `MailboxNotEnabledForRESTAPI`, ...).
    pub code: String,
    /// Graph's error message.
    pub message: String,
    /// The application permission the stream's declaration says it needs.
    pub permission: String,
}

/// A stream that failed (an error the retry policy could not overcome, a protocol error): what
/// it read this run is not to be landed, and its state stays as it was.
#[derive(Debug, Clone, Serialize)]
pub struct StreamFailure {
    /// The stream that failed.
    pub stream: String,
    /// The parent whose read failed; `None` when the stream failed as a whole, or because its
    /// parent stream failed.
    pub parent_id: Option<String>,
    /// The error the stream stopped on.
    #[serde(serialize_with = "as_text")]
    pub error: Arc<RequestError>,
}

impl StreamFailure {
    /// One line for logs, summaries and manifests.
    pub fn describe(&self) -> String {
        match &self.parent_id {
            Some(parent) => format!("parent {parent}: {}", self.error),
            None => self.error.to_string(),
        }
    }
}

fn as_text<S: serde::Serializer>(error: &Arc<RequestError>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(error)
}

/// What a run did, per stream, for the summary and the manifest.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunStats {
    /// Per emitted stream, its summary.
    pub streams: BTreeMap<String, StreamStats>,
    /// Streams and parents left out, by stream then parent.
    pub skips: Vec<Skip>,
    /// Streams that failed, the first failure of each, in stream order.
    pub failures: Vec<StreamFailure>,
    /// The `POST /$batch` requests themselves (their items are counted per stream).
    pub batch: StreamStats,
    /// The whole next state: the prior one with this run's delta links, bookmarks and ids.
    #[serde(skip)]
    pub state: NextState,
    /// Per stream, the scopes read in full and completely (keys not seen in them are deletes).
    pub full_scopes: BTreeMap<String, FullScope>,
    /// The config asked for strict mode and something was skipped: what was read is all here,
    /// and the caller should land it and then fail the run.
    pub strict_violated: bool,
}

impl RunStats {
    /// The summary of stream `name`; `None` when it was not emitted.
    pub fn stream(&self, name: &str) -> Option<&StreamStats> {
        self.streams.get(name)
    }

    /// One line naming the failed streams: the first with its error, then the others.
    pub fn failure_summary(&self) -> String {
        let mut text = match self.failures.first() {
            Some(first) => format!("stream `{}` failed: {}", first.stream, first.describe()),
            None => "no stream failed".to_string(),
        };
        if self.failures.len() > 1 {
            let others: Vec<&str> = self.failures[1..]
                .iter()
                .map(|f| f.stream.as_str())
                .collect();
            text.push_str(&format!(" (also failed: {})", others.join(", ")));
        }
        text
    }

    /// Whether a failure came from the token provider: the credentials broke, so every stream
    /// failed alike and landing "the others" would mean nothing.
    pub fn failed_on_credentials(&self) -> bool {
        self.failures
            .iter()
            .any(|f| matches!(*f.error, RequestError::Auth(_)))
    }
}

/// Collects counters and records while the run is going.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    streams: BTreeMap<String, std::sync::Arc<StreamCounters>>,
    skips: Mutex<Vec<Skip>>,
    failures: Mutex<BTreeMap<String, StreamFailure>>,
    /// Requests, retries and 429s of the `POST /$batch` calls themselves.
    pub(crate) batch_counters: StreamCounters,
}

impl Recorder {
    pub(crate) fn new<'a>(streams: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            streams: streams
                .into_iter()
                .map(|s| (s.to_string(), Default::default()))
                .collect(),
            ..Default::default()
        }
    }

    pub(crate) fn counters(&self, stream: &str) -> std::sync::Arc<StreamCounters> {
        self.streams
            .get(stream)
            .cloned()
            .unwrap_or_else(|| panic!("stream `{stream}` was not planned"))
    }

    pub(crate) fn skip(&self, skip: Skip) {
        tracing::warn!(
            stream = %skip.stream,
            parent_id = ?skip.parent_id,
            status = skip.status,
            code = %skip.code,
            permission = %skip.permission,
            "skipped: {}",
            skip.message
        );
        self.skips.lock().expect("skips lock").push(skip);
    }

    /// Records the first failure of `failure.stream` (later ones of the same stream add nothing).
    pub(crate) fn fail(&self, failure: StreamFailure) {
        let mut failures = self.failures.lock().expect("failures lock");
        if failures.contains_key(&failure.stream) {
            return;
        }
        tracing::error!(
            stream = %failure.stream,
            parent_id = ?failure.parent_id,
            "stream failed; its other streams go on: {}",
            failure.error
        );
        failures.insert(failure.stream.clone(), failure);
    }

    pub(crate) fn has_failed(&self, stream: &str) -> bool {
        self.failures
            .lock()
            .expect("failures lock")
            .contains_key(stream)
    }

    pub(crate) fn finish(self, emitted: impl Fn(&str) -> bool) -> RunStats {
        let failures = self.failures.into_inner().expect("failures lock");
        let mut skips = self.skips.into_inner().expect("skips lock");
        // A stream skipped whole makes its parent skips for the same reason redundant.
        let whole: Vec<(String, String)> = skips
            .iter()
            .filter(|s| s.parent_id.is_none())
            .map(|s| (s.stream.clone(), s.code.clone()))
            .collect();
        skips.retain(|s| {
            s.parent_id.is_none()
                || !whole
                    .iter()
                    .any(|(st, code)| *st == s.stream && *code == s.code)
        });
        skips.sort_by(|a, b| (&a.stream, &a.parent_id).cmp(&(&b.stream, &b.parent_id)));
        for skip in skips.iter().filter(|s| s.parent_id.is_some()) {
            if let Some(c) = self.streams.get(&skip.stream) {
                StreamCounters::bump(&c.skipped_parents);
            }
        }
        RunStats {
            streams: self
                .streams
                .iter()
                .filter(|(name, _)| emitted(name))
                .map(|(name, c)| (name.clone(), c.snapshot()))
                .collect(),
            skips,
            failures: failures.into_values().collect(),
            batch: self.batch_counters.snapshot(),
            state: NextState::default(),
            full_scopes: BTreeMap::new(),
            strict_violated: false,
        }
    }
}

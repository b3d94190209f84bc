//! Ground truth (what a correct client lands) and request counts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use http::StatusCode;
use serde::Serialize;
use stream_spec::StreamSpec;

use crate::config::Faults;
use crate::filter::{self, Clause, Filter};
use crate::tenant::{ParentRow, RowRef, Tenant};

/// Per stream, what a correct client lands.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Truth {
    /// Per declared stream name.
    pub streams: BTreeMap<String, StreamTruth>,
}

impl Truth {
    /// The truth of `stream`; `None` when it is not declared.
    pub fn stream(&self, stream: &str) -> Option<&StreamTruth> {
        self.streams.get(stream)
    }
}

/// The restrictions of a client run (graph-extract's `domains` and `start_date`): the truth of such a
/// run holds only the users in `domains` and the children fanned out over them, and only the audit
/// log rows at or after `start_date` (`activityDateTime` / `createdDateTime`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TruthFilter {
    /// UPN domains (`contoso.com`); empty means every user.
    pub domains: Vec<String>,
    /// Date-filtered rows (audit logs, chat messages) before this are left out; `None`: none are.
    pub start_date: Option<DateTime<Utc>>,
}

impl TruthFilter {
    /// Keeps only the users in these UPN domains, and what fans out over them.
    pub fn domains<S: Into<String>>(mut self, domains: impl IntoIterator<Item = S>) -> Self {
        self.domains = domains.into_iter().map(Into::into).collect();
        self
    }

    /// Leaves out date-filtered rows before `start_date`.
    pub fn start_date(mut self, start_date: DateTime<Utc>) -> Self {
        self.start_date = Some(start_date);
        self
    }

    /// The filter a client run applies to `spec`, as the mock's `$filter` would.
    fn for_stream(&self, spec: &StreamSpec) -> Filter {
        let mut clauses = Vec::new();
        if let Some(property) = &spec.domain_property {
            clauses.extend(self.domains.iter().map(|d| Clause::EndsWith {
                property: property.clone(),
                suffix: format!("@{d}"),
            }));
        }
        if let (Some(start), Some(property)) = (self.start_date, filter::date_property(spec)) {
            clauses.push(Clause::AtLeast {
                property: property.into(),
                at: start.fixed_offset(),
            });
        }
        match clauses.is_empty() {
            true => Filter::None,
            false => Filter::AnyOf(clauses),
        }
    }

    /// The filter a client run applies to the children of one parent: `start_date` bounds a
    /// bookmark stream's first run (chat messages on `lastModifiedDateTime`), from its declaration.
    fn for_children(&self, spec: &StreamSpec) -> Filter {
        let mut clauses = Vec::new();
        if let (Some(start), stream_spec::Incremental::Bookmark(bookmark)) =
            (self.start_date, &spec.incremental)
        {
            clauses.push(Clause::AtLeast {
                property: bookmark.property.clone(),
                at: start.fixed_offset(),
            });
        }
        match clauses.is_empty() {
            true => Filter::None,
            false => Filter::AnyOf(clauses),
        }
    }
}

/// What a correct client lands for one stream.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct StreamTruth {
    /// Rows landed (as many as `keys`).
    pub rows: u64,
    /// Output column names of the key, e.g. `["id", "user_id"]`.
    pub primary_key: Vec<String>,
    /// Every key tuple, values in `primary_key` order.
    pub keys: BTreeSet<Vec<String>>,
    /// The whole stream answers 403 (permission not granted): nothing lands.
    pub denied: bool,
    /// Parent ids whose children answer 403 or 404 (unlicensed mailbox): nothing lands for them.
    pub skipped_parents: Vec<String>,
}

/// Why a parent's children are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParentRefusal {
    Denied,
    Unlicensed,
}

pub(crate) fn parent_refusal(
    faults: &Faults,
    spec: &StreamSpec,
    parent: &ParentRow,
) -> Option<ParentRefusal> {
    if faults
        .denied_parents
        .iter()
        .any(|(stream, index)| *stream == parent.stream && *index == parent.index)
    {
        return Some(ParentRefusal::Denied);
    }
    // Mailboxes are the parents of Outlook streams (users).
    let unlicensed =
        spec.outlook_mailbox_limit && faults.unlicensed_mailboxes.contains(&parent.index);
    unlicensed.then_some(ParentRefusal::Unlicensed)
}

/// Computes the truth by walking every row (on demand; nothing is stored).
pub(crate) fn compute(tenant: &Tenant, faults: &Faults, only: &TruthFilter) -> Truth {
    let mut truth = Truth::default();
    walk(tenant, faults, only, |spec, stream| {
        let mut keys = BTreeSet::new();
        let skipped = stream.rows(&mut |row| {
            keys.insert(tenant.primary_key(row));
        });
        let denied = faults.denied_streams.contains(&spec.stream);
        let stream = StreamTruth {
            rows: keys.len() as u64,
            primary_key: spec.primary_key.clone(),
            keys,
            denied,
            skipped_parents: skipped,
        };
        truth.streams.insert(spec.stream.clone(), stream);
    });
    truth
}

/// The rows of one stream a correct client lands, handed out one by one.
pub(crate) struct StreamRows<'a> {
    tenant: &'a Tenant,
    faults: &'a Faults,
    spec: &'a StreamSpec,
    only: &'a TruthFilter,
}

impl StreamRows<'_> {
    /// Calls `visit` for every row that lands; returns the parent ids whose children are refused.
    pub fn rows(&self, visit: &mut dyn FnMut(RowRef<'_>)) -> Vec<String> {
        let (tenant, spec) = (self.tenant, self.spec);
        let mut skipped = Vec::new();
        if self.faults.denied_streams.contains(&spec.stream) {
            return skipped;
        }
        match &spec.parent {
            None => collect(tenant, spec, None, &self.only.for_stream(spec), visit),
            Some(parent_ref) => {
                for parent in kept_parents(tenant, &parent_ref.stream, self.only) {
                    if parent_refusal(self.faults, spec, &parent).is_some() {
                        skipped.push(parent.id.clone());
                    } else {
                        let filter = self.only.for_children(spec);
                        collect(tenant, spec, Some(&parent), &filter, visit);
                    }
                }
            }
        }
        skipped
    }
}

/// Calls `per_stream` for each declared stream with a walker over its landed rows.
pub(crate) fn walk(
    tenant: &Tenant,
    faults: &Faults,
    only: &TruthFilter,
    mut per_stream: impl FnMut(&StreamSpec, &StreamRows<'_>),
) {
    for spec in tenant.specs() {
        let rows = StreamRows {
            tenant,
            faults,
            spec,
            only,
        };
        per_stream(spec, &rows);
    }
}

/// The parents a filtered run fans out over (only `users` is ever filtered among parents).
fn kept_parents(tenant: &Tenant, parent_stream: &str, only: &TruthFilter) -> Vec<ParentRow> {
    let mut parents = tenant.parents(parent_stream);
    let Some(spec) = tenant.spec(parent_stream) else {
        return parents;
    };
    if let filter @ Filter::AnyOf(_) = only.for_stream(spec) {
        // Top-level parents: a parent's index is its raw row position.
        parents.retain(|p| {
            let row = RowRef {
                spec,
                parent: None,
                index: p.index,
            };
            filter::matches(tenant, row, &filter)
        });
    }
    parents
}

fn collect(
    tenant: &Tenant,
    spec: &StreamSpec,
    parent: Option<&ParentRow>,
    filter: &Filter,
    visit: &mut dyn FnMut(RowRef<'_>),
) {
    for index in 0..tenant.raw_len(spec, parent) {
        let row = RowRef {
            spec,
            parent,
            index,
        };
        if tenant.exists(row) && filter::matches(tenant, row, filter) {
            visit(row);
        }
    }
}

/// Requests answered, by stream and status.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RequestCounts {
    /// HTTP requests to Graph endpoints (a `$batch` counts once here).
    pub total: u64,
    /// Per stream (`$batch` for batch envelopes, `_unmatched` for unknown paths); batch items count
    /// under their own streams.
    pub by_stream: BTreeMap<String, StreamRequests>,
    /// Most Graph requests being answered at once (batch items one by one, envelopes not): what a
    /// client's concurrency limit let through.
    pub peak_in_flight: u64,
    /// Body bytes of every HTTP answer (a `$batch` envelope holds its items' bodies).
    pub bytes: u64,
}

impl RequestCounts {
    /// Answers with `status` for `stream`.
    pub fn count(&self, stream: &str, status: u16) -> u64 {
        self.by_stream
            .get(stream)
            .and_then(|s| s.by_status.get(&status))
            .copied()
            .unwrap_or(0)
    }

    /// Every answer for `stream`, whatever its status.
    pub fn requests(&self, stream: &str) -> u64 {
        self.by_stream
            .get(stream)
            .map_or(0, |s| s.by_status.values().sum::<u64>() + s.dropped)
    }

    /// `value` entries served for `stream` (tombstones included).
    pub fn records(&self, stream: &str) -> u64 {
        self.by_stream.get(stream).map_or(0, |s| s.records)
    }
}

/// Answers for one stream.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct StreamRequests {
    /// Answers by HTTP status, cut-short ones included.
    pub by_status: BTreeMap<u16, u64>,
    /// Connections closed without an answer.
    pub dropped: u64,
    /// Answers cut short (also counted under their status).
    pub truncated: u64,
    /// Entries of `value` arrays in answers delivered whole (rows, `@removed` and `deleted`
    /// tombstones alike), so a test can compare how much two runs received.
    pub records: u64,
}

#[derive(Default)]
pub(crate) struct RequestLog {
    counts: Mutex<RequestCounts>,
    in_flight: Arc<AtomicU64>,
    peak: AtomicU64,
}

/// One request being answered; leaves the count on drop.
pub(crate) struct InFlight(Arc<AtomicU64>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What happened to one request, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Answered(StatusCode),
    Dropped,
    Truncated(StatusCode),
}

impl RequestLog {
    pub fn record(
        &self,
        stream: &str,
        outcome: Outcome,
        http_request: bool,
        records: u64,
        bytes: u64,
    ) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if http_request {
            counts.total += 1;
            counts.bytes += bytes;
        }
        let entry = counts.by_stream.entry(stream.to_string()).or_default();
        match outcome {
            Outcome::Answered(status) => {
                *entry.by_status.entry(status.as_u16()).or_default() += 1;
                entry.records += records;
            }
            Outcome::Dropped => entry.dropped += 1,
            Outcome::Truncated(status) => {
                entry.truncated += 1;
                *entry.by_status.entry(status.as_u16()).or_default() += 1;
            }
        }
    }

    /// Counts a Graph request as being answered until the guard drops.
    pub fn enter(&self) -> InFlight {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
        InFlight(Arc::clone(&self.in_flight))
    }

    pub fn snapshot(&self) -> RequestCounts {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        counts.peak_in_flight = self.peak.load(Ordering::Relaxed);
        counts
    }
}

//! Ground truth (what a correct client lands) and request counts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use http::StatusCode;
use serde::Serialize;
use stream_spec::StreamSpec;

use crate::config::Faults;
use crate::tenant::{ParentRow, RowRef, Tenant};

/// Per stream, what a correct client lands.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Truth {
    pub streams: BTreeMap<String, StreamTruth>,
}

impl Truth {
    pub fn stream(&self, stream: &str) -> Option<&StreamTruth> {
        self.streams.get(stream)
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct StreamTruth {
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
    let unlicensed = spec.outlook_mailbox_limit
        && parent.stream == "users"
        && faults.unlicensed_mailboxes.contains(&parent.index);
    unlicensed.then_some(ParentRefusal::Unlicensed)
}

/// Computes the truth by walking every row (on demand; nothing is stored).
pub(crate) fn compute(tenant: &Tenant, faults: &Faults) -> Truth {
    let mut truth = Truth::default();
    for spec in tenant.specs() {
        let mut stream = StreamTruth {
            primary_key: spec.primary_key.clone(),
            denied: faults.denied_streams.contains(&spec.stream),
            ..StreamTruth::default()
        };
        if !stream.denied {
            match &spec.parent {
                None => collect(tenant, spec, None, &mut stream),
                Some(parent_ref) => {
                    for parent in tenant.parents(&parent_ref.stream) {
                        if parent_refusal(faults, spec, &parent).is_some() {
                            stream.skipped_parents.push(parent.id.clone());
                        } else {
                            collect(tenant, spec, Some(&parent), &mut stream);
                        }
                    }
                }
            }
        }
        stream.rows = stream.keys.len() as u64;
        truth.streams.insert(spec.stream.clone(), stream);
    }
    truth
}

fn collect(
    tenant: &Tenant,
    spec: &StreamSpec,
    parent: Option<&ParentRow>,
    stream: &mut StreamTruth,
) {
    for index in 0..tenant.raw_len(spec, parent) {
        let row = RowRef {
            spec,
            parent,
            index,
        };
        if tenant.exists(row) {
            stream.keys.insert(tenant.primary_key(row));
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
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct StreamRequests {
    pub by_status: BTreeMap<u16, u64>,
    /// Connections closed without an answer.
    pub dropped: u64,
    /// Answers cut short (also counted under their status).
    pub truncated: u64,
}

#[derive(Default)]
pub(crate) struct RequestLog {
    counts: Mutex<RequestCounts>,
}

/// What happened to one request, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Answered(StatusCode),
    Dropped,
    Truncated(StatusCode),
}

impl RequestLog {
    pub fn record(&self, stream: &str, outcome: Outcome, http_request: bool) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if http_request {
            counts.total += 1;
        }
        let entry = counts.by_stream.entry(stream.to_string()).or_default();
        match outcome {
            Outcome::Answered(status) => *entry.by_status.entry(status.as_u16()).or_default() += 1,
            Outcome::Dropped => entry.dropped += 1,
            Outcome::Truncated(status) => {
                entry.truncated += 1;
                *entry.by_status.entry(status.as_u16()).or_default() += 1;
            }
        }
    }

    pub fn snapshot(&self) -> RequestCounts {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

//! `<root>/_runs/<run_id>.json`: what a run landed. Written last; a run without one did not happen.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::change::ChangeCounts;
use crate::decode::DecodeReport;
use crate::layout::{self, RunId};
use crate::store::Landing;
use crate::write_error::WriteError;
use crate::writer::WrittenFile;

/// 2: landing contract 2 (change log: `_run_id`, `_change`, methods, change counts, state).
pub const MANIFEST_FORMAT: u32 = 2;

/// Whether a committed run landed everything it was asked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every stream and parent was landed.
    Complete,
    /// Landed, but some streams or parents were skipped or failed (see `skipped`, `failed`).
    Partial,
}

/// Something the run did not land, as the caller (the extractor) reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedItem {
    /// The stream skipped, or whose parent's children were.
    pub stream: String,
    /// The parent whose children were skipped; `None` when the whole stream was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// Graph's error code (`Authorization_RequestDenied`) or another short cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The HTTP status Graph answered with; `None` when the cause was not an HTTP answer.
    pub http_status: Option<u16>,
    /// What went wrong, in words.
    pub reason: String,
}

/// A stream the run could not read (after retries, or on a protocol error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedStream {
    /// The stream that failed.
    pub stream: String,
    /// Why it failed, as the caller reported it.
    pub reason: String,
}

/// One stream's part of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamManifest {
    /// The stream's [`schema_hash`](crate::schema_hash) when it was written.
    pub schema_hash: String,
    /// Rows landed, over all its files.
    pub rows: u64,
    /// Bytes landed, over all its files.
    pub bytes: u64,
    /// Null-key rows rejected and repeated rows dropped (also inside `report`).
    pub rejected: u64,
    /// Rows dropped as repeats of a key already landed this run.
    pub deduplicated: u64,
    /// The files landed, with their published paths.
    pub files: Vec<WrittenFile>,
    /// Everything decoding saw: drift (new properties, type conflicts) and counts.
    pub report: DecodeReport,
    /// How the run read the stream: `delta`, `bookmark`, `compare`, `resync`, `append`, or
    /// `compact` for a compaction. Absent in format-1 manifests (read as empty).
    #[serde(default)]
    pub method: String,
    /// What the landed rows are to the current state (`rows` = inserts + updates + deletes).
    /// Absent in format-1 manifests (read as zeros); zeros for a compaction.
    #[serde(default)]
    pub changes: ChangeCounts,
}

/// What a run committed: the landing contract a reader goes by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The manifest format ([`MANIFEST_FORMAT`] when written by this version).
    pub format: u32,
    /// The run's id, as in its file names and `_run_id`.
    pub run_id: String,
    /// Whether everything was landed.
    pub status: RunStatus,
    /// The UTC partition date every file of the run is in.
    pub date: NaiveDate,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When the run committed (the manifest was built).
    pub finished_at: DateTime<Utc>,
    /// Each landed stream's part, by stream name.
    pub streams: BTreeMap<String, StreamManifest>,
    /// What the run did not land (skipped streams and parents, pages that did not decode).
    pub skipped: Vec<SkippedItem>,
    /// Streams that failed: nothing of them landed this run and their current state is as it
    /// was. Absent when none failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<FailedStream>,
    /// The incremental state committed with this run (`_state/<run_id>.json`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Set when this run is a compaction (`msgraph-sync compact`): its files hold rows of earlier
    /// runs (with their own `_run_id`), in those runs' date partitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compaction: Option<Compaction>,
}

/// What a compaction replaced. Format-1 manifests also carried a `superseded` list; serde ignores
/// it (the files it named were deleted by the run that wrote it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compaction {
    /// Data files (relative to the root) this compaction rewrote: deleted once this manifest
    /// exists, and by the next `compact` or sync start if the compaction died before that.
    pub replaces: Vec<String>,
}

impl Manifest {
    /// The parsed run id; `None` when `run_id` is not one.
    pub fn run_id(&self) -> Option<RunId> {
        RunId::parse(&self.run_id)
    }

    /// Reads one run's manifest; `None` when the run never committed.
    pub async fn load(landing: &Landing, run: &RunId) -> Result<Option<Self>, WriteError> {
        let path = layout::manifest_path(landing, run);
        let bytes = match landing.store().get(&path).await {
            Ok(got) => got
                .bytes()
                .await
                .map_err(WriteError::object("reading", &path))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(source) => return Err(WriteError::object("reading", &path)(source)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| WriteError::Manifest { path, source })
    }

    /// Run ids with a manifest, oldest first.
    pub async fn committed_runs(landing: &Landing) -> Result<Vec<RunId>, WriteError> {
        let dir = landing.path([layout::RUNS_DIR]);
        let objects: Vec<_> = landing
            .store()
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(WriteError::object("listing", &dir))?;
        let mut runs: Vec<RunId> = objects
            .iter()
            .filter_map(|o| {
                o.location
                    .filename()?
                    .strip_suffix(".json")
                    .map(String::from)
            })
            .filter_map(|id| RunId::parse(&id))
            .collect();
        runs.sort();
        Ok(runs)
    }

    pub(crate) async fn save(&self, landing: &Landing, run: &RunId) -> Result<(), WriteError> {
        let path = layout::manifest_path(landing, run);
        let json = serde_json::to_vec_pretty(self).map_err(|source| WriteError::Manifest {
            path: path.clone(),
            source,
        })?;
        crate::commit::put_create_only(landing, &path, PutPayload::from(json)).await
    }
}

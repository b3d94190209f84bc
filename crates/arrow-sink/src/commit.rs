//! Making a run visible: publish staged files, write the state, then the manifest.
//!
//! Order matters. Data is written under `_staging/<run_id>/` (never matched by a reader's glob),
//! moved to its partition only when the run commits, and the manifest goes last, created only if
//! absent. Runs only append: no file of an earlier run is touched, so a failure at any point
//! leaves the previous data and state as they were. Files published by a run that died before its
//! manifest are not state (the next runs ignore them) and are removed by a later run.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;

use crate::change::ChangeCounts;
use crate::decode::DecodeReport;
use crate::layout::{self, RunId};
use crate::manifest::{
    FailedStream, MANIFEST_FORMAT, Manifest, RunStatus, SkippedItem, StreamManifest,
};
use crate::store::Landing;
use crate::write_error::WriteError;
use crate::writer::WrittenFile;

/// One stream as its writer finished it.
#[derive(Debug, Clone)]
pub struct StreamOutcome {
    /// The stream's name.
    pub stream: String,
    /// The stream's [`schema_hash`](crate::schema_hash).
    pub schema_hash: String,
    /// Its staged files, published by [`commit_run`].
    pub files: Vec<WrittenFile>,
    /// What decoding its pages saw, summed.
    pub report: DecodeReport,
    /// The incremental method used (`delta`, `compare`, ...).
    pub method: String,
    /// What its rows are to the current state.
    pub changes: ChangeCounts,
}

/// Publishes the staged files of `streams`, writes `state` and the manifest (both create-only)
/// and removes the run's staging prefix. Returns the manifest as written.
pub async fn commit_run(
    landing: &Landing,
    run: &RunId,
    started_at: DateTime<Utc>,
    streams: Vec<StreamOutcome>,
    skipped: Vec<SkippedItem>,
    failed: Vec<FailedStream>,
    state: Option<crate::state::StateInput>,
) -> Result<Manifest, WriteError> {
    let store = landing.store();
    for outcome in &streams {
        for file in &outcome.files {
            let to = landing.path(file.path.split('/'));
            store
                .rename(&file.staging, &to)
                .await
                .map_err(WriteError::object("publishing", &file.staging))?;
        }
    }

    let state = match state {
        Some(state) => Some(crate::state::save(landing, run, &state).await?),
        None => None,
    };

    let mut entries = BTreeMap::new();
    for mut outcome in streams {
        // Published: the staging names no longer exist, and the manifest never records them.
        for file in &mut outcome.files {
            file.staging = Path::default();
        }
        let rows = outcome.files.iter().map(|f| f.rows).sum();
        let bytes = outcome.files.iter().map(|f| f.bytes).sum();
        let entry = StreamManifest {
            schema_hash: outcome.schema_hash,
            rows,
            bytes,
            rejected: outcome.report.rejected_null_key,
            deduplicated: outcome.report.duplicates,
            files: outcome.files,
            report: outcome.report,
            method: outcome.method,
            changes: outcome.changes,
        };
        if entries.insert(outcome.stream.clone(), entry).is_some() {
            return Err(WriteError::DuplicateStream(outcome.stream));
        }
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        run_id: run.to_string(),
        status: if skipped.is_empty() && failed.is_empty() {
            RunStatus::Complete
        } else {
            RunStatus::Partial
        },
        date: run.date(),
        started_at,
        finished_at: Utc::now(),
        streams: entries,
        skipped,
        failed,
        state,
        compaction: None,
    };
    manifest.save(landing, run).await?;
    delete_prefix(landing, &layout::staging_dir(landing, run)).await?;
    Ok(manifest)
}

/// Deletes part files published by runs that never committed (killed between publishing and
/// the manifest) once they are older than `grace`: a run that recent may still be committing.
pub(crate) async fn delete_orphans(
    landing: &Landing,
    current: &RunId,
    orphans: &[object_store::ObjectMeta],
    grace: Duration,
) -> Result<usize, WriteError> {
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::TimeDelta::MAX);
    let mut removed = 0;
    for orphan in orphans {
        let Some(run) = orphan
            .location
            .filename()
            .and_then(layout::run_of_part_file)
        else {
            continue;
        };
        if run != *current && run.started() + grace <= current.started() {
            delete_if_present(landing, &orphan.location).await?;
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(removed, "removed part files of runs that never committed");
    }
    Ok(removed)
}

/// Deletes the staging leftovers of runs that started more than `grace` before `current` and never
/// committed (killed, or failed before cleaning up). Returns how many objects were removed.
pub async fn clean_dead_runs(
    landing: &Landing,
    current: &RunId,
    grace: Duration,
) -> Result<usize, WriteError> {
    let staging = landing.path([layout::STAGING_DIR]);
    let listing = landing
        .store()
        .list_with_delimiter(Some(&staging))
        .await
        .map_err(WriteError::object("listing", &staging))?;
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::TimeDelta::MAX);
    let mut removed = 0;
    for dir in listing.common_prefixes {
        let Some(run) = dir.filename().and_then(RunId::parse) else {
            continue;
        };
        if run != *current && run.started() + grace <= current.started() {
            removed += delete_prefix(landing, &dir).await?;
        }
    }
    Ok(removed)
}

/// Writes `payload` at `path` only if nothing is there: commit points (manifests, state,
/// compaction markers) are never overwritten, and a run id never commits twice.
pub(crate) async fn put_create_only(
    landing: &Landing,
    path: &Path,
    payload: object_store::PutPayload,
) -> Result<(), WriteError> {
    landing
        .store()
        .put_opts(
            path,
            payload,
            object_store::PutOptions::from(object_store::PutMode::Create),
        )
        .await
        .map_err(WriteError::object("writing", path))?;
    Ok(())
}

pub(crate) async fn delete_prefix(landing: &Landing, prefix: &Path) -> Result<usize, WriteError> {
    let objects: Vec<_> = landing
        .store()
        .list(Some(prefix))
        .try_collect()
        .await
        .map_err(WriteError::object("listing", prefix))?;
    for object in &objects {
        delete_if_present(landing, &object.location).await?;
    }
    Ok(objects.len())
}

pub(crate) async fn delete_if_present(landing: &Landing, path: &Path) -> Result<(), WriteError> {
    match landing.store().delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(source) => Err(WriteError::object("deleting", path)(source)),
    }
}

//! `compact`: rewrites a stream's change log into files holding only each key's latest live row,
//! so the current-state query gives the same result from far fewer rows. Also the migration of
//! a landing written before contract 2: its rows become inserts of their file's run.
//!
//! ```text
//! lease ─► finish interrupted compactions ─► per stream: pass 1 index (key hash -> latest rank)
//!       ─► pass 2 stream every committed file, keep each key's latest live row once, in its
//!          file's date partition ─► _compact/<run>.json ─► publish ─► lease check
//!       ─► _runs/<run>.json (create-only, `compaction.replaces`) ─► delete replaced ─► marker
//! ```
//! Rows keep their `_run_id`, `_change` and `_hash` (and their `date` partition), so the README's
//! current-state query and the next run's comparison see exactly what they saw before. Memory:
//! the index (about 40 bytes per key, as for a run) and one batch; no rows are held.
//!
//! The old files go only once the manifest exists. A compaction killed in between leaves its
//! marker; until [`finish_compactions`] runs, readers see each kept row twice, identically (same
//! key, same `_run_id`), which the current-state query tolerates.

mod read;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{Schema, SchemaRef};
use chrono::{NaiveDate, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt, PutPayload};
use serde::Serialize;
use stream_spec::Table;

use crate::change::{Change, CommittedRuns, CurrentState, key_hashes, key_names, stream_files};
use crate::commit::{delete_if_present, delete_prefix};
use crate::decode::DecodeReport;
use crate::layout::{self, RunId};
use crate::lease::Lease;
use crate::manifest::{Compaction, MANIFEST_FORMAT, Manifest, RunStatus, StreamManifest};
use crate::schema::{CHANGE_COLUMN, RUN_ID_COLUMN, StreamSchema};
use crate::store::Landing;
use crate::write_error::WriteError;
use crate::writer::{StreamWriter, WriterOptions, WrittenFile, relative};

/// The `method` of every stream in a compaction's manifest.
pub const COMPACT_METHOD: &str = "compact";

/// How [`compact`] writes and how long its lease lasts.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// How the rewritten files are written.
    pub writer: WriterOptions,
    /// The lease held for the whole compaction (renewed every third of it).
    pub lease_ttl: Duration,
}

impl Default for CompactOptions {
    fn default() -> Self {
        Self {
            writer: WriterOptions::default(),
            lease_ttl: Duration::from_secs(60),
        }
    }
}

/// One stream's compaction. A stream with nothing superseded, no tombstone and no pre-contract
/// file is left as it is (`rewritten: false`, after = before).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StreamCompaction {
    /// The stream's name.
    pub stream: String,
    /// Whether its files were rewritten.
    pub rewritten: bool,
    /// Its data files before the compaction.
    pub files_before: usize,
    /// Its data files after it.
    pub files_after: usize,
    /// Rows in its data files before the compaction.
    pub rows_before: u64,
    /// Rows in its data files after it.
    pub rows_after: u64,
    /// Keys whose latest row was a delete: nothing left to hide, so the tombstone goes.
    pub tombstones_dropped: u64,
    /// Older rows of keys (and rows of runs that never committed inside earlier compactions).
    pub superseded_removed: u64,
    /// Files landed before contract 2, migrated (their rows become inserts of their run).
    pub migrated_files: usize,
    /// Columns of old files the current declaration no longer has (not carried over).
    pub dropped_columns: Vec<String>,
}

/// What [`compact`] did, stream by stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CompactReport {
    /// The compaction's run id; `None` when no stream needed rewriting (nothing was written).
    pub run_id: Option<String>,
    /// Streams that had data, in the order asked for.
    pub streams: Vec<StreamCompaction>,
    /// Replaced files of earlier, interrupted compactions deleted first.
    pub finished_interrupted: usize,
}

/// Compacts the tables `streams` of `landing` under its lease (fails fast with [`WriteError::Lease`] while
/// another run holds it). Streams without data are left out of the report.
pub async fn compact(
    landing: &Landing,
    streams: &[Table],
    options: &CompactOptions,
) -> Result<CompactReport, WriteError> {
    let run = RunId::new();
    let lease = Lease::acquire(landing, &run, options.lease_ttl).await?;
    let result = compact_held(landing, streams, options, &run, &lease).await;
    let released = lease.release().await;
    match (result, released) {
        (Err(e), _) => Err(e),
        (Ok(report), Ok(())) => Ok(report),
        // Committed already; the lease just expires after its ttl.
        (Ok(report), Err(e)) => {
            tracing::warn!(error = %e, "releasing the lease after compacting");
            Ok(report)
        }
    }
}

/// Deletes the replaced files of compactions that committed but died before deleting them, and
/// the markers of those that never committed. One listing when there is nothing to do; call it
/// while holding the root's lease (`compact` does; a sync should at start). Returns how many
/// replaced files were deleted.
pub async fn finish_compactions(landing: &Landing) -> Result<usize, WriteError> {
    let dir = landing.path([layout::COMPACT_DIR]);
    let markers: Vec<ObjectMeta> = landing
        .store()
        .list(Some(&dir))
        .try_collect()
        .await
        .map_err(WriteError::object("listing", &dir))?;
    let mut deleted = 0;
    for marker in markers {
        let run = marker
            .location
            .filename()
            .and_then(|f| f.strip_suffix(".json"))
            .and_then(RunId::parse);
        if let Some(run) = run
            && let Some(manifest) = Manifest::load(landing, &run).await?
        {
            for file in manifest.compaction.map(|c| c.replaces).unwrap_or_default() {
                let path = landing.path(file.split('/'));
                if landing.store().head(&path).await.is_ok() {
                    delete_if_present(landing, &path).await?;
                    deleted += 1;
                }
            }
        }
        // No manifest: that compaction never happened; its files are orphans a run removes.
        delete_if_present(landing, &marker.location).await?;
    }
    if deleted > 0 {
        tracing::info!(
            deleted,
            "finished deleting files an interrupted compaction replaced"
        );
    }
    Ok(deleted)
}

/// A stream rewritten, waiting for the commit.
struct Rewritten {
    schema: StreamSchema,
    files: Vec<WrittenFile>,
    replaces: Vec<String>,
}

async fn compact_held(
    landing: &Landing,
    streams: &[Table],
    options: &CompactOptions,
    run: &RunId,
    lease: &Lease,
) -> Result<CompactReport, WriteError> {
    let started_at = Utc::now();
    let finished_interrupted = finish_compactions(landing).await?;
    let runs = Manifest::committed_runs(landing).await?;
    let committed = CommittedRuns::new(&runs);
    let mut report = CompactReport {
        finished_interrupted,
        ..CompactReport::default()
    };
    let mut rewritten = Vec::new();
    let staged = async {
        for table in streams {
            let schema = StreamSchema::new(table).map_err(|e| WriteError::Decode {
                stream: table.name.clone(),
                source: e.into(),
            })?;
            if let Some((stream, done)) =
                compact_stream(landing, run, &schema, &committed, options).await?
            {
                report.streams.push(stream);
                rewritten.extend(done);
            }
        }
        Ok::<_, WriteError>(())
    }
    .await;
    if let Err(e) = staged {
        discard(landing, run).await;
        return Err(e);
    }
    if rewritten.is_empty() {
        return Ok(report);
    }
    if let Err(e) = commit(landing, run, started_at, &runs, rewritten, lease).await {
        discard(landing, run).await;
        return Err(e);
    }
    // Committed. From here a failure only leaves duplicates that the next `finish_compactions`
    // removes (the marker stays until the replaced files are gone).
    finish_compactions(landing).await?;
    delete_prefix(landing, &layout::staging_dir(landing, run)).await?;
    report.run_id = Some(run.to_string());
    Ok(report)
}

/// A failed compaction's staged files and marker (its published files, if any, are orphans of
/// a run that never committed: ignored, and removed by a later run).
async fn discard(landing: &Landing, run: &RunId) {
    if let Err(e) = delete_prefix(landing, &layout::staging_dir(landing, run)).await {
        tracing::warn!(error = %e, "removing a failed compaction's staging files");
    }
    let marker = layout::compaction_marker(landing, run);
    if let Err(e) = delete_if_present(landing, &marker).await {
        tracing::warn!(error = %e, "removing a failed compaction's marker");
    }
}

/// Pass 1 of one stream: the index, and what the files hold.
struct Index {
    state: CurrentState,
    files: Vec<ObjectMeta>,
    rows: u64,
    empty_files: usize,
    migrated: usize,
}

impl Index {
    fn needs_rewrite(&self) -> bool {
        let superseded = self.rows != self.state.live() as u64;
        // Each run lands an empty file for a stream without changes: merge those away too.
        let empties = self.files.len() > 1 && self.empty_files > 0;
        superseded || empties || self.migrated > 0
    }
}

async fn compact_stream(
    landing: &Landing,
    run: &RunId,
    schema: &StreamSchema,
    committed: &CommittedRuns,
    options: &CompactOptions,
) -> Result<Option<(StreamCompaction, Option<Rewritten>)>, WriteError> {
    let stream = schema.stream();
    // Files of runs that never committed are not history: left alone, as a run leaves them.
    let files = stream_files(landing, stream, committed).await?.committed;
    if files.is_empty() {
        return Ok(None);
    }
    let mut index = index_stream(landing, schema, committed, files).await?;
    let mut report = StreamCompaction {
        stream: stream.to_string(),
        files_before: index.files.len(),
        rows_before: index.rows,
        migrated_files: index.migrated,
        ..StreamCompaction::default()
    };
    if !index.needs_rewrite() {
        report.files_after = report.files_before;
        report.rows_after = report.rows_before;
        return Ok(Some((report, None)));
    }
    let mut dropped = BTreeSet::new();
    let files = rewrite(
        landing,
        run,
        schema,
        committed,
        &mut index,
        options,
        &mut dropped,
    )
    .await?;
    report.rewritten = true;
    report.files_after = files.len();
    report.rows_after = files.iter().map(|f| f.rows).sum();
    report.tombstones_dropped = index.state.deleted() as u64;
    report.superseded_removed = report
        .rows_before
        .saturating_sub(report.rows_after + report.tombstones_dropped);
    report.dropped_columns = dropped.into_iter().collect();
    let replaces = index
        .files
        .iter()
        .map(|f| relative(landing, &f.location))
        .collect();
    Ok(Some((
        report,
        Some(Rewritten {
            schema: schema.clone(),
            files,
            replaces,
        }),
    )))
}

fn compact_error(
    stream: &str,
    path: &Path,
) -> impl FnOnce(arrow::error::ArrowError) -> WriteError + use<> {
    let (stream, path) = (stream.to_string(), path.clone());
    move |source| WriteError::Compact {
        stream,
        path,
        source,
    }
}

/// The rank of the run a file's name says landed it (pre-contract rows are that run's).
fn file_rank(committed: &CommittedRuns, file: &ObjectMeta) -> Option<(RunId, u32)> {
    let run = file
        .location
        .filename()
        .and_then(layout::run_of_part_file)?;
    let rank = committed.rank(run.as_str())?;
    Some((run, rank))
}

/// Pass 1: per key, the rank of its latest row and whether it is live; key columns, `_run_id`
/// and `_change` only.
async fn index_stream(
    landing: &Landing,
    schema: &StreamSchema,
    committed: &CommittedRuns,
    files: Vec<ObjectMeta>,
) -> Result<Index, WriteError> {
    let stream = schema.stream();
    let keys = key_names(schema);
    let landed = schema.landed();
    let key_schema: SchemaRef = Arc::new(Schema::new(
        schema
            .key_indices()
            .iter()
            .map(|&i| landed.field(i).clone())
            .collect::<Vec<_>>(),
    ));
    let mut log_fields: Vec<_> = key_schema.fields().iter().cloned().collect();
    for name in [RUN_ID_COLUMN, CHANGE_COLUMN] {
        log_fields.push(Arc::new(
            landed.field_with_name(name).expect("landed").clone(),
        ));
    }
    let log_schema: SchemaRef = Arc::new(Schema::new(log_fields));
    let mut columns: Vec<&str> = keys.iter().map(String::as_str).collect();
    columns.extend([RUN_ID_COLUMN, CHANGE_COLUMN]);
    let nkeys = keys.len();

    let mut index = Index {
        state: CurrentState::new(),
        files: Vec::new(),
        rows: 0,
        empty_files: 0,
        migrated: 0,
    };
    for file in files {
        let Some((_, rank)) = file_rank(committed, &file) else {
            continue;
        };
        let mut read = read::open(landing.store(), stream, &file, Some(&columns)).await?;
        let mut rows = 0;
        let mut ignored = BTreeSet::new();
        let target = if read.pre_contract {
            &key_schema
        } else {
            &log_schema
        };
        let mut failed = None;
        while let Some(batch) = read.batches.next().await {
            let batch = batch.map_err(|source| WriteError::CurrentState {
                stream: stream.to_string(),
                path: file.location.clone(),
                source,
            })?;
            rows += batch.num_rows() as u64;
            let batch = match read::conform(&batch, target, &mut ignored) {
                Ok(batch) => batch,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            };
            let hashes = match key_hashes(&batch.columns()[..nkeys]) {
                Ok(hashes) => hashes,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            };
            let log = (!read.pre_contract).then(|| {
                (
                    batch.column(nkeys).as_string::<i32>(),
                    batch.column(nkeys + 1).as_string::<i32>(),
                )
            });
            for (row, key) in hashes.iter().enumerate() {
                let Some(key) = *key else { continue };
                let (rank, change) = match log {
                    None => (Some(rank), Some(Change::Insert)),
                    Some((runs, changes)) => (
                        committed.rank(runs.value(row)),
                        Change::parse(changes.value(row)),
                    ),
                };
                // A row of a run that never committed (inside a compacted file) is not state.
                if let (Some(rank), Some(change)) = (rank, change) {
                    index.state.load(key, change, None, rank);
                }
            }
        }
        if let Some(e) = failed {
            return Err(compact_error(stream, &file.location)(e));
        }
        index.rows += rows;
        index.empty_files += usize::from(rows == 0);
        index.migrated += usize::from(read.pre_contract);
        index.files.push(file);
    }
    Ok(index)
}

/// Pass 2: every committed file again, in full; each key's latest live row is written once,
/// into a file of the compaction run in the source file's date partition.
async fn rewrite(
    landing: &Landing,
    run: &RunId,
    schema: &StreamSchema,
    committed: &CommittedRuns,
    index: &mut Index,
    options: &CompactOptions,
    dropped: &mut BTreeSet<String>,
) -> Result<Vec<WrittenFile>, WriteError> {
    let stream = schema.stream();
    let nkeys = schema.key_indices().to_vec();
    let run_at = schema.landed().index_of(RUN_ID_COLUMN).expect("landed");
    let mut written = Vec::new();
    // Files list sorted by path, so one partition's files come together: one writer at a time.
    let mut open: Option<(NaiveDate, StreamWriter)> = None;
    for file in &index.files {
        let (file_run, _) = file_rank(committed, file).expect("indexed files are committed");
        let date = layout::partition_of(&file.location).unwrap_or_else(|| file_run.date());
        if open.as_ref().is_some_and(|(d, _)| *d != date)
            && let Some((_, writer)) = open.take()
        {
            written.extend(writer.finish().await?);
        }
        let mut read = read::open(landing.store(), stream, file, None).await?;
        let error = |e| compact_error(stream, &file.location)(e);
        while let Some(batch) = read.batches.next().await {
            let batch = batch.map_err(|source| WriteError::CurrentState {
                stream: stream.to_string(),
                path: file.location.clone(),
                source,
            })?;
            let landed = if read.pre_contract {
                let output = read::conform(&batch, schema.output(), dropped).map_err(error)?;
                schema
                    .as_inserts(&output, file_run.as_str())
                    .map_err(error)?
            } else {
                read::conform(&batch, schema.landed(), dropped).map_err(error)?
            };
            let keys: Vec<_> = nkeys.iter().map(|&i| landed.column(i).clone()).collect();
            let hashes = key_hashes(&keys).map_err(error)?;
            let runs = landed.column(run_at).as_string::<i32>();
            let keep: BooleanArray = hashes
                .iter()
                .enumerate()
                .map(|(row, key)| {
                    let rank = runs.is_valid(row).then(|| committed.rank(runs.value(row)));
                    Some(match (key, rank.flatten()) {
                        (Some(key), Some(rank)) => index.state.keep_latest(*key, rank),
                        _ => false,
                    })
                })
                .collect();
            if keep.true_count() == 0 {
                continue;
            }
            let kept = filter_record_batch(&landed, &keep).map_err(error)?;
            if open.is_none() {
                let writer = StreamWriter::new(landing, run, schema, &options.writer)?;
                open = Some((date, writer.in_partition(date)));
            }
            let (_, writer) = open.as_mut().expect("opened above");
            writer.write(&kept).await?;
        }
    }
    if let Some((_, writer)) = open.take() {
        written.extend(writer.finish().await?);
    }
    if written.is_empty() {
        // Every key deleted: one empty file keeps the stream's columns queryable, as a run does.
        let writer = StreamWriter::new(landing, run, schema, &options.writer)?;
        written.extend(writer.finish().await?);
    }
    Ok(written)
}

/// Marker, publish, lease check, then the manifest (create-only): the commit point.
async fn commit(
    landing: &Landing,
    run: &RunId,
    started_at: chrono::DateTime<Utc>,
    runs: &[RunId],
    rewritten: Vec<Rewritten>,
    lease: &Lease,
) -> Result<(), WriteError> {
    let store = landing.store();
    let marker = layout::compaction_marker(landing, run);
    crate::commit::put_create_only(landing, &marker, PutPayload::from_static(b"{}")).await?;
    let mut streams = std::collections::BTreeMap::new();
    let mut replaces = Vec::new();
    for mut done in rewritten {
        for file in &mut done.files {
            let to = landing.path(file.path.split('/'));
            store
                .rename(&file.staging, &to)
                .await
                .map_err(WriteError::object("publishing", &file.staging))?;
            file.staging = Path::default();
        }
        replaces.extend(done.replaces);
        let entry = StreamManifest {
            schema_hash: done.schema.hash().to_string(),
            rows: done.files.iter().map(|f| f.rows).sum(),
            bytes: done.files.iter().map(|f| f.bytes).sum(),
            rejected: 0,
            deduplicated: 0,
            files: done.files,
            report: DecodeReport::default(),
            method: COMPACT_METHOD.to_string(),
            changes: Default::default(),
        };
        streams.insert(done.schema.stream().to_string(), entry);
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        run_id: run.to_string(),
        status: RunStatus::Complete,
        date: run.date(),
        started_at,
        finished_at: Utc::now(),
        streams,
        skipped: Vec::new(),
        failed: Vec::new(),
        // The newest manifest is where `state::latest` looks first: carry the state in force.
        state: latest_state_reference(landing, runs).await?,
        compaction: Some(Compaction { replaces }),
    };
    lease.check().await?;
    manifest.save(landing, run).await
}

/// The `_state/` file of the newest committed run that wrote one.
async fn latest_state_reference(
    landing: &Landing,
    runs: &[RunId],
) -> Result<Option<String>, WriteError> {
    for run in runs.iter().rev() {
        if let Some(manifest) = Manifest::load(landing, run).await?
            && manifest.state.is_some()
        {
            return Ok(manifest.state);
        }
    }
    Ok(None)
}

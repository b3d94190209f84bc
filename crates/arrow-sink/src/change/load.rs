//! Reading a stream's current state back from the landing: the key columns, `_run_id`,
//! `_change` and `_hash` of every file a committed run landed (a column projection, so mail
//! bodies are never read).

use std::collections::HashMap;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectMeta;
use object_store::path::Path;
use parquet::arrow::ProjectionMask;
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;

use super::reader::ObjectReader;
use super::{Change, CurrentState, key_hashes};
use crate::layout::{self, RunId};
use crate::schema::{CHANGE_COLUMN, HASH_COLUMN, RUN_ID_COLUMN, StreamSchema};
use crate::store::Landing;
use crate::write_error::WriteError;

/// Committed runs (those with a manifest), ranked oldest first from 1.
#[derive(Debug, Clone, Default)]
pub(crate) struct CommittedRuns {
    ranks: HashMap<String, u32>,
}

impl CommittedRuns {
    pub fn new(runs: &[RunId]) -> Self {
        let mut sorted: Vec<&RunId> = runs.iter().collect();
        sorted.sort();
        Self {
            ranks: sorted
                .iter()
                .enumerate()
                .map(|(i, r)| (r.to_string(), i as u32 + 1))
                .collect(),
        }
    }

    pub fn rank(&self, run: &str) -> Option<u32> {
        self.ranks.get(run).copied()
    }

    /// The rank of a run starting now: after every committed one.
    pub fn next_rank(&self) -> u32 {
        self.ranks.len() as u32 + 1
    }
}

/// A stream's part files, split into those of committed runs and leftovers of runs that never
/// committed (killed between publishing and the manifest).
pub(crate) struct StreamFiles {
    pub committed: Vec<ObjectMeta>,
    pub uncommitted: Vec<ObjectMeta>,
}

pub(crate) async fn stream_files(
    landing: &Landing,
    stream: &str,
    committed: &CommittedRuns,
) -> Result<StreamFiles, WriteError> {
    let dir = landing.path([stream]);
    let objects: Vec<ObjectMeta> = landing
        .store()
        .list(Some(&dir))
        .try_collect()
        .await
        .map_err(WriteError::object("listing", &dir))?;
    let mut files = StreamFiles {
        committed: Vec::new(),
        uncommitted: Vec::new(),
    };
    for object in objects {
        let Some(run) = object
            .location
            .filename()
            .and_then(layout::run_of_part_file)
        else {
            continue;
        };
        if committed.rank(run.as_str()).is_some() {
            files.committed.push(object);
        } else {
            files.uncommitted.push(object);
        }
    }
    files.committed.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(files)
}

/// Reads `columns` (by name) of every row of `file`, batch by batch.
pub(crate) async fn read_columns(
    landing: &Landing,
    stream: &str,
    file: &ObjectMeta,
    columns: &[&str],
    mut each: impl FnMut(&RecordBatch) -> Result<(), WriteError>,
) -> Result<(), WriteError> {
    let parquet_error = |path: &Path| {
        let path = path.clone();
        let stream = stream.to_string();
        move |source| WriteError::CurrentState {
            stream,
            path,
            source,
        }
    };
    let reader = ObjectReader::new(landing.store().clone(), file.location.clone(), file.size);
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(parquet_error(&file.location))?;
    let schema = builder.schema().clone();
    if schema.index_of(RUN_ID_COLUMN).is_err() {
        return Err(WriteError::PreContractLanding {
            path: file.location.clone(),
        });
    }
    let mut roots = Vec::with_capacity(columns.len());
    for name in columns {
        let index = schema
            .index_of(name)
            .map_err(|_| WriteError::PreContractLanding {
                path: file.location.clone(),
            })?;
        roots.push(index);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let mut batches = builder
        .with_projection(mask)
        .with_batch_size(8192)
        .build()
        .map_err(parquet_error(&file.location))?;
    while let Some(batch) = batches.next().await {
        let batch = batch.map_err(parquet_error(&file.location))?;
        // The projection keeps file order; put the columns back in the order asked for.
        let ordered = columns
            .iter()
            .map(|name| batch.column_by_name(name).cloned())
            .collect::<Option<Vec<ArrayRef>>>()
            .ok_or_else(|| WriteError::PreContractLanding {
                path: file.location.clone(),
            })?;
        let fields = columns
            .iter()
            .map(|name| batch.schema().field_with_name(name).cloned())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| WriteError::PreContractLanding {
                path: file.location.clone(),
            })?;
        let ordered = RecordBatch::try_new(
            std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
            ordered,
        )
        .map_err(|source| WriteError::Compare {
            stream: stream.to_string(),
            source,
        })?;
        each(&ordered)?;
    }
    Ok(())
}

/// Names of the key columns of `schema`, in key order.
pub(crate) fn key_names(schema: &StreamSchema) -> Vec<String> {
    schema
        .key_indices()
        .iter()
        .map(|&i| schema.output().field(i).name().clone())
        .collect()
}

/// The current state of one stream: every committed row's key, change and hash, latest wins.
/// Also returns the part files of runs that never committed.
pub(crate) async fn load_current(
    landing: &Landing,
    schema: &StreamSchema,
    committed: &CommittedRuns,
) -> Result<(CurrentState, Vec<ObjectMeta>), WriteError> {
    let stream = schema.stream();
    let files = stream_files(landing, stream, committed).await?;
    let keys = key_names(schema);
    let mut columns: Vec<&str> = keys.iter().map(String::as_str).collect();
    columns.extend([RUN_ID_COLUMN, CHANGE_COLUMN, HASH_COLUMN]);
    let nkeys = keys.len();
    let compare_error = |source| WriteError::Compare {
        stream: stream.to_string(),
        source,
    };
    let mut state = CurrentState::new();
    for file in &files.committed {
        read_columns(landing, stream, file, &columns, |batch| {
            let hashes = key_hashes(&batch.columns()[..nkeys]).map_err(compare_error)?;
            let runs = batch.column(nkeys).as_string::<i32>();
            let changes = batch.column(nkeys + 1).as_string::<i32>();
            let content = batch
                .column(nkeys + 2)
                .as_primitive::<arrow::datatypes::Int64Type>();
            let mut last_run: Option<(&str, Option<u32>)> = None;
            for (row, key) in hashes.iter().enumerate() {
                let Some(key) = *key else { continue };
                let run = runs.value(row);
                let rank = match last_run {
                    Some((r, rank)) if r == run => rank,
                    _ => {
                        let rank = committed.rank(run);
                        last_run = Some((run, rank));
                        rank
                    }
                };
                // A row of a run that never committed (inside a compacted file) is not state.
                let (Some(rank), Some(change)) = (rank, Change::parse(changes.value(row))) else {
                    continue;
                };
                let hash = content.is_valid(row).then(|| content.value(row) as u64);
                state.load(key, change, hash, rank);
            }
            Ok(())
        })
        .await?;
    }
    Ok((state, files.uncommitted))
}

//! Landing contract 2: every run lands only what changed against the stream's current state.
//!
//! ```text
//! landing ──load──► CurrentState (key hash -> content hash, live)      at run start
//! page ──decode──► rows + key/content hashes ──Classifier──► insert | update | delete | nothing
//! finish: full scopes ──sweep──► deletes of live keys not seen (and children of deleted parents)
//! ```
//! Nothing here knows where rows come from: a tombstone is a row whose declared tombstone
//! property is present, and which scopes were read in full is the caller's word.

mod hash;
mod index;
mod load;
mod reader;
mod sweep;

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, StringArray, UInt32Array,
    new_null_array,
};
use arrow::compute::{nullif, take};
use arrow::error::ArrowError;
use serde::{Deserialize, Serialize};

pub use hash::{content_hashes, key_hashes};
pub use index::CurrentState;
pub(crate) use load::{CommittedRuns, key_names, load_current, stream_files};
pub(crate) use reader::ObjectReader;
pub(crate) use sweep::{eligibility, sweep_stream};

use crate::schema::StreamSchema;

/// What a landed row is to the stream's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// The key was not live: new, or back after a delete.
    Insert,
    /// The key was live with other content.
    Update,
    /// The key was live and is gone (a tombstone, or not seen in a full scope).
    Delete,
}

impl Change {
    /// The name `_change` holds: `insert`, `update` or `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Insert => "insert",
            Change::Update => "update",
            Change::Delete => "delete",
        }
    }

    /// Reads a `_change` value back; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "insert" => Some(Change::Insert),
            "update" => Some(Change::Update),
            "delete" => Some(Change::Delete),
            _ => None,
        }
    }
}

/// A stream's changes in one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeCounts {
    /// Rows landed as `insert`.
    pub inserts: u64,
    /// Rows landed as `update`.
    pub updates: u64,
    /// Rows landed as `delete` (tombstones and swept keys).
    pub deletes: u64,
    /// Rows received that were the current row already (not landed).
    pub unchanged: u64,
}

impl ChangeCounts {
    fn count(&mut self, change: Change) {
        match change {
            Change::Insert => self.inserts += 1,
            Change::Update => self.updates += 1,
            Change::Delete => self.deletes += 1,
        }
    }
}

/// The scope a row's parent-key columns name (see [`stream_spec::scope_of`]); `None` for a
/// top-level row (no columns) or where one of them is null.
pub(crate) fn row_scope(columns: &[&StringArray], row: usize) -> Option<String> {
    if columns.is_empty() || columns.iter().any(|c| !c.is_valid(row)) {
        return None;
    }
    let ids: Vec<&str> = columns.iter().map(|c| c.value(row)).collect();
    Some(stream_spec::scope_of(&ids))
}

/// What of a stream this run read in full, so live keys in it that were not seen are deletes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FullScope {
    /// The stream read in full and to its end (for a child stream: under every parent).
    pub whole: bool,
    /// Parents of a child stream whose children were all read in full and to their end.
    pub parents: BTreeSet<String>,
}

/// Classifies one stream's rows against its current state; owned by the stream's writer lane.
#[derive(Debug)]
pub(crate) struct Classifier {
    schema: StreamSchema,
    state: CurrentState,
    run_id: Arc<str>,
    rank: u32,
    pub counts: ChangeCounts,
    /// Output columns a delete row keeps: the primary key and the parent-key columns.
    kept_on_delete: Vec<bool>,
    /// The columns that make a deleted row's scope for its children: its parent-key columns,
    /// then `id` (`None` when no landed stream has this one as parent).
    deleted_scope_columns: Option<Vec<usize>>,
    /// Scopes (see [`stream_spec::scope_of`]) of the rows deleted this run: their children go.
    pub deleted_ids: HashSet<String>,
    /// Pages that failed to decode: their scope was not read in full, whatever the caller says.
    pub failed_whole: bool,
    pub failed_parents: HashSet<String>,
}

impl Classifier {
    pub fn new(
        schema: StreamSchema,
        state: CurrentState,
        run_id: Arc<str>,
        rank: u32,
        collect_deleted_ids: bool,
    ) -> Self {
        let output = schema.output();
        let parent_columns: Vec<usize> = schema
            .table()
            .parent_columns()
            .iter()
            .filter_map(|c| output.index_of(c).ok())
            .collect();
        let kept_on_delete = (0..output.fields().len())
            .map(|i| schema.key_indices().contains(&i) || parent_columns.contains(&i))
            .collect();
        let deleted_scope_columns = match output.index_of("id") {
            Ok(id) if collect_deleted_ids => Some([parent_columns, vec![id]].concat()),
            _ => None,
        };
        Self {
            schema,
            state,
            run_id,
            rank,
            counts: ChangeCounts::default(),
            kept_on_delete,
            deleted_scope_columns,
            deleted_ids: HashSet::new(),
            failed_whole: false,
            failed_parents: HashSet::new(),
        }
    }

    pub fn schema(&self) -> &StreamSchema {
        &self.schema
    }

    pub fn state(&self) -> &CurrentState {
        &self.state
    }

    /// A page that failed to decode: its scope (parent, or the whole stream) is not swept.
    pub fn page_failed(&mut self, parent: Option<&str>) {
        match parent {
            Some(parent) if self.schema.table().parent.is_some() => {
                self.failed_parents.insert(parent.to_string());
            }
            _ => self.failed_whole = true,
        }
    }

    /// The rows of a decoded page that change the current state, in the landed schema; `None`
    /// when nothing changed.
    pub fn apply(
        &mut self,
        batch: &RecordBatch,
        key_hashes: &[u128],
        content: &[u64],
        tombstones: &[bool],
    ) -> Result<Option<RecordBatch>, ArrowError> {
        let mut rows = Vec::new();
        let mut changes = Vec::new();
        for (i, &key) in key_hashes.iter().enumerate() {
            let change = if tombstones.get(i).copied().unwrap_or(false) {
                self.state.delete(key, self.rank).then_some(Change::Delete)
            } else {
                self.state.upsert(key, content[i], self.rank)
            };
            match change {
                Some(change) => {
                    rows.push(i as u32);
                    changes.push(change);
                }
                None => self.counts.unchanged += 1,
            }
        }
        if rows.is_empty() {
            return Ok(None);
        }
        let hashes = rows
            .iter()
            .zip(&changes)
            .map(|(&i, &c)| (c != Change::Delete).then_some(content[i as usize] as i64))
            .collect();
        // Every row lands (a first run, a page of new rows): the page's columns as they are,
        // instead of a `take` that copies all of them.
        let rows = (rows.len() < batch.num_rows()).then_some(rows);
        self.landed(batch, rows, changes, hashes).map(Some)
    }

    /// Delete rows for keys read back from the landing (`keys`: the output schema's key and
    /// parent columns, other columns null).
    pub fn deletes(&mut self, keys: &RecordBatch) -> Result<RecordBatch, ArrowError> {
        let n = keys.num_rows();
        self.landed(keys, None, vec![Change::Delete; n], vec![None; n])
    }

    /// A batch of key (and parent) columns with every other output column null.
    pub fn key_only_batch(&self, keys: &[(usize, ArrayRef)]) -> Result<RecordBatch, ArrowError> {
        let output = self.schema.output();
        let n = keys.first().map_or(0, |(_, c)| c.len());
        let columns = output
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| match keys.iter().find(|(k, _)| *k == i) {
                Some((_, column)) => column.clone(),
                None => new_null_array(f.data_type(), n),
            })
            .collect();
        RecordBatch::try_new(output.clone(), columns)
    }

    fn landed(
        &mut self,
        batch: &RecordBatch,
        rows: Option<Vec<u32>>,
        changes: Vec<Change>,
        hashes: Vec<Option<i64>>,
    ) -> Result<RecordBatch, ArrowError> {
        let indices = rows.map(UInt32Array::from);
        let deletes = BooleanArray::from(
            changes
                .iter()
                .map(|&c| c == Change::Delete)
                .collect::<Vec<_>>(),
        );
        let any_delete = deletes.true_count() > 0;
        let mut columns = Vec::with_capacity(batch.num_columns() + 3);
        for (i, column) in batch.columns().iter().enumerate() {
            let column = match &indices {
                Some(indices) => take(column, indices, None)?,
                None => column.clone(),
            };
            let column = if any_delete && !self.kept_on_delete[i] {
                nullif(&column, &deletes)?
            } else {
                column
            };
            columns.push(column);
        }
        if let Some(scope_columns) = &self.deleted_scope_columns {
            let scope: Vec<_> = scope_columns
                .iter()
                .map(|&i| columns[i].as_string::<i32>())
                .collect();
            for (row, &change) in changes.iter().enumerate() {
                if change == Change::Delete
                    && let Some(scope) = row_scope(&scope, row)
                {
                    self.deleted_ids.insert(scope);
                }
            }
        }
        for &change in &changes {
            self.counts.count(change);
        }
        let n = changes.len();
        columns.push(Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n(&*self.run_id, n),
        )));
        columns.push(Arc::new(StringArray::from_iter_values(
            changes.iter().map(|c| c.as_str()),
        )));
        columns.push(Arc::new(Int64Array::from(hashes)));
        RecordBatch::try_new(self.schema.landed().clone(), columns)
    }

    /// Hands the index to the sweep and back.
    pub fn state_mut(&mut self) -> &mut CurrentState {
        &mut self.state
    }

    pub fn rank(&self) -> u32 {
        self.rank
    }
}

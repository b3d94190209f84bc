//! Deletes nobody sent: live keys of the current state that a full read did not list, and the
//! children of parents deleted in this run. Their key values are read back from the landing (the
//! index holds hashes only), one projected file at a time.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::take;

use super::load::{key_names, read_columns, stream_files};
use super::{Classifier, CommittedRuns, key_hashes};
use crate::store::Landing;
use crate::write_error::WriteError;

/// Delete rows, in the landed schema, for every live key not seen this run whose parent (for
/// child streams; `None` for top-level ones) `eligible` accepts.
pub(crate) async fn sweep_stream(
    landing: &Landing,
    classifier: &mut Classifier,
    committed: &CommittedRuns,
    eligible: &(dyn Fn(Option<&str>) -> bool + Sync),
) -> Result<Vec<RecordBatch>, WriteError> {
    if classifier.state().unseen_live() == 0 {
        return Ok(Vec::new());
    }
    let schema = classifier.schema().clone();
    let stream = schema.stream().to_string();
    let output = schema.output().clone();
    let keys = key_names(&schema);
    let mut names: Vec<String> = keys.clone();
    let parent_columns: Vec<String> = schema.table().parent_columns().to_vec();
    for parent in &parent_columns {
        if !names.contains(parent) {
            names.push(parent.clone());
        }
    }
    let positions: Vec<usize> = names
        .iter()
        .map(|n| {
            output
                .index_of(n)
                .expect("key and parent columns are output columns")
        })
        .collect();
    let parent_at: Vec<usize> = parent_columns
        .iter()
        .filter_map(|p| names.iter().position(|n| n == p))
        .collect();
    let columns: Vec<&str> = names.iter().map(String::as_str).collect();
    let compare_error = |source| WriteError::Compare {
        stream: stream.clone(),
        source,
    };

    let files = stream_files(landing, &stream, committed).await?;
    let rank = classifier.rank();
    let mut out = Vec::new();
    for file in &files.committed {
        let mut batches: Vec<RecordBatch> = Vec::new();
        read_columns(landing, &stream, file, &columns, |batch| {
            let hashes = key_hashes(&batch.columns()[..keys.len()]).map_err(compare_error)?;
            let parents: Vec<_> = parent_at
                .iter()
                .map(|&i| batch.column(i).as_string::<i32>())
                .collect();
            let mut rows = Vec::new();
            for (row, hash) in hashes.iter().enumerate() {
                let Some(hash) = *hash else { continue };
                if !classifier.state().is_unseen_live(hash) {
                    continue;
                }
                let parent = super::row_scope(&parents, row);
                if eligible(parent.as_deref()) && classifier.state_mut().delete(hash, rank) {
                    rows.push(row as u32);
                }
            }
            if rows.is_empty() {
                return Ok(());
            }
            let rows = UInt32Array::from(rows);
            let taken: Vec<(usize, ArrayRef)> = batch
                .columns()
                .iter()
                .zip(&positions)
                .map(|(c, &at)| take(c, &rows, None).map(|c| (at, c)))
                .collect::<Result<_, _>>()
                .map_err(compare_error)?;
            let keys_only = classifier.key_only_batch(&taken).map_err(compare_error)?;
            batches.push(classifier.deletes(&keys_only).map_err(compare_error)?);
            Ok(())
        })
        .await?;
        out.extend(batches);
        if classifier.state().unseen_live() == 0 {
            break;
        }
    }
    Ok(out)
}

/// The sweep rule for one stream: which parents' unseen children are deleted.
pub(crate) fn eligibility(
    whole: bool,
    parents: Arc<std::collections::HashSet<String>>,
) -> impl Fn(Option<&str>) -> bool + Sync {
    // `whole` on a child stream (a Singer stream sent whole) covers every parent.
    move |parent| match parent {
        None => whole,
        Some(parent) => whole || parents.contains(parent),
    }
}

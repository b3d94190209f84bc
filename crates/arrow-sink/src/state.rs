//! `<root>/_state/<run_id>.json`: the caller's incremental state (delta links, bookmarks),
//! committed with the run's manifest. The state of the newest committed run is the one in force;
//! a run that died before its manifest never wrote state anyone reads, so the next run resumes
//! from the last commit.

use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use object_store::buffered::BufWriter;
use object_store::{ObjectStoreExt, PutPayload};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::layout::{self, RunId};
use crate::manifest::Manifest;
use crate::store::Landing;
use crate::write_error::WriteError;
use crate::writer::relative;

/// The caller's incremental state, committed with the run's manifest. The sink never reads it.
#[derive(Debug, Clone)]
pub enum StateInput {
    /// A JSON value in memory.
    Json(serde_json::Value),
    /// A local file of JSON, streamed up: a large state never has to be in memory.
    File(PathBuf),
}

/// Writes `state` for `run` and returns its path relative to the root.
pub(crate) async fn save(
    landing: &Landing,
    run: &RunId,
    state: &StateInput,
) -> Result<String, WriteError> {
    let path = layout::state_path(landing, run);
    match state {
        StateInput::Json(value) => {
            let json = serde_json::to_vec(value).map_err(|source| WriteError::State {
                path: path.clone(),
                source,
            })?;
            crate::commit::put_create_only(landing, &path, PutPayload::from(json)).await?;
        }
        // A multipart upload cannot be create-only; the run id is this run's alone (the lease
        // excludes a second writer) and the manifest, written after, stays the commit point.
        StateInput::File(file) => {
            // Small parts, two in flight: object_store's defaults (10 MiB × 8) held ~22 MiB more
            // at the end of a 20k-user run, whose state is 180 MB, than at 1k users.
            let mut writer = landing.upload(path.clone(), STATE_PART_BYTES, 2);
            if let Err(e) = upload_file(file, &mut writer, &path).await {
                // Not completing yet: abort leaves no parts for the store to keep (and bill).
                writer.abort().await.ok();
                return Err(e);
            }
            writer.shutdown().await.map_err(|e| {
                let source = object_store::Error::Generic {
                    store: "upload",
                    source: Box::new(e),
                };
                WriteError::object("writing", &path)(source)
            })?;
        }
    }
    Ok(relative(landing, &path))
}

/// Part size of a state file's multipart upload, where the store allows parts this small.
const STATE_PART_BYTES: usize = 1 << 20;

/// Sends a local file through `writer` in chunks of one part; the caller completes or aborts.
async fn upload_file(
    file: &std::path::Path,
    writer: &mut BufWriter,
    path: &object_store::path::Path,
) -> Result<(), WriteError> {
    let read_error = |source| WriteError::StateFile {
        file: file.to_path_buf(),
        source,
    };
    let mut reader = tokio::fs::File::open(file).await.map_err(read_error)?;
    loop {
        let mut chunk = BytesMut::with_capacity(STATE_PART_BYTES);
        while chunk.len() < STATE_PART_BYTES {
            if reader.read_buf(&mut chunk).await.map_err(read_error)? == 0 {
                break;
            }
        }
        if chunk.is_empty() {
            return Ok(());
        }
        writer
            .put(chunk.freeze())
            .await
            .map_err(WriteError::object("writing", path))?;
    }
}

/// The JSON state of the newest committed run that wrote one; `None` for a landing without
/// state. Raw bytes: the caller parses them into its own type, without a generic copy between.
pub async fn latest(landing: &Landing) -> Result<Option<Bytes>, WriteError> {
    for run in Manifest::committed_runs(landing).await?.iter().rev() {
        let Some(manifest) = Manifest::load(landing, run).await? else {
            continue;
        };
        let Some(relative) = manifest.state else {
            continue;
        };
        let path = landing.path(relative.split('/'));
        let bytes = landing
            .store()
            .get(&path)
            .await
            .map_err(WriteError::object("reading", &path))?
            .bytes()
            .await
            .map_err(WriteError::object("reading", &path))?;
        return Ok(Some(bytes));
    }
    Ok(None)
}

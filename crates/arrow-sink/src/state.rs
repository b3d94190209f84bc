//! `<root>/_state/<run_id>.json`: the caller's incremental state (delta links, bookmarks),
//! committed with the run's manifest. The state of the newest committed run is the one in force;
//! a run that died before its manifest never wrote state anyone reads, so the next run resumes
//! from the last commit.

use object_store::{ObjectStoreExt, PutPayload};

use crate::layout::{self, RunId};
use crate::manifest::Manifest;
use crate::store::Landing;
use crate::write_error::WriteError;
use crate::writer::relative;

/// Writes `state` for `run` (create-only) and returns its path relative to the root.
pub(crate) async fn save(
    landing: &Landing,
    run: &RunId,
    state: &serde_json::Value,
) -> Result<String, WriteError> {
    let path = layout::state_path(landing, run);
    let json = serde_json::to_vec(state).map_err(|source| WriteError::State {
        path: path.clone(),
        source,
    })?;
    crate::commit::put_create_only(landing, &path, PutPayload::from(json)).await?;
    Ok(relative(landing, &path))
}

/// The state of the newest committed run that wrote one; `None` for a landing without state.
pub async fn latest(landing: &Landing) -> Result<Option<serde_json::Value>, WriteError> {
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
        return serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| WriteError::State { path, source });
    }
    Ok(None)
}

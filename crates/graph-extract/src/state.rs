//! What a run hands the next one: delta links, bookmarks and a delta parent's live ids, per stream
//! and scope; and which scopes it read in full (for the sink's deletes).
//!
//! The state is opaque to the sink: it stores the JSON with the manifest and gives it back to the
//! next run. A run's state is always the whole state: the prior one with this run's updates, so a
//! stream or parent that was skipped or not selected keeps what it had.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Per stream name, its incremental state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtractState {
    /// A stream without an entry has no state: it is read in full.
    #[serde(default)]
    pub streams: BTreeMap<String, StreamState>,
}

/// The state a run hands on, as a local temporary file of [`ExtractState`]'s JSON (deleted when
/// the last clone is dropped). It is written to disk as the run ends rather than built in memory:
/// per-folder delta links of tens of thousands of mailboxes run to hundreds of megabytes.
#[derive(Debug, Clone, Default)]
pub struct NextState {
    file: Option<Arc<tempfile::TempPath>>,
}

impl NextState {
    pub(crate) fn new(file: tempfile::TempPath) -> Self {
        Self {
            file: Some(Arc::new(file)),
        }
    }

    /// The JSON file to commit (stream it; it may be large); `None` for a run that made no state.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_deref().map(|p| p.as_ref())
    }

    /// The whole state in memory: for the Singer tap's STATE message and for tests.
    pub fn read(&self) -> io::Result<ExtractState> {
        let Some(path) = self.path() else {
            return Ok(ExtractState::default());
        };
        let file = io::BufReader::new(std::fs::File::open(path)?);
        Ok(serde_json::from_reader(file)?)
    }
}

/// One stream's incremental state, per scope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamState {
    /// Delta links per scope: "" for a top-level stream, the parent id, or "<parent id>/<folder id>".
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub delta_links: BTreeMap<String, String>,
    /// Greatest bookmark value landed (bookmark streams), per scope ("" or the parent id).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bookmarks: BTreeMap<String, DateTime<Utc>>,
    /// Live ids of a delta stream that has children, so the fan-out covers every live parent
    /// although a delta round lists only the changed ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
}

/// The scopes of one stream a run read in full and completely: live keys of the current state
/// that were not seen in them are deletes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FullScope {
    /// A top-level stream's single chain was read in full and completed without a skip.
    pub whole: bool,
    /// Parents of a child stream whose chain(s) were all read in full and completed (for
    /// per-folder streams: every folder of the parent, and its default folder).
    pub parents: BTreeSet<String>,
}

/// The scope key of a top-level stream.
pub const TOP_LEVEL: &str = "";

/// The scope key of one folder of one parent.
pub fn folder_scope(parent_id: &str, folder_id: &str) -> String {
    format!("{parent_id}/{folder_id}")
}

/// The parent a scope key belongs to: the key itself, or what stands before a folder's `/`.
pub(crate) fn parent_of_scope(scope: &str) -> &str {
    scope.split_once('/').map_or(scope, |(parent, _)| parent)
}

impl StreamState {
    /// Whether there is nothing to hand on: no delta link, no bookmark, no ids.
    pub fn is_empty(&self) -> bool {
        self.delta_links.is_empty() && self.bookmarks.is_empty() && self.ids.is_none()
    }

    /// Folder links of one parent: (folder id, link). Parent ids never hold a `/`; folder ids may.
    pub fn folder_links<'a>(
        &'a self,
        parent_id: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let prefix = format!("{parent_id}/");
        self.delta_links
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(move |(k, v)| (&k[parent_id.len() + 1..], v.as_str()))
    }

    /// Drops every entry of one parent: its own link or bookmark and its folders' links.
    pub fn remove_parent(&mut self, parent_id: &str) {
        let prefix = format!("{parent_id}/");
        self.delta_links
            .retain(|k, _| k != parent_id && !k.starts_with(&prefix));
        self.bookmarks.remove(parent_id);
    }

    /// Whether any entry belongs to `parent_id`.
    pub fn has_parent(&self, parent_id: &str) -> bool {
        self.delta_links.contains_key(parent_id)
            || self.bookmarks.contains_key(parent_id)
            || self.folder_links(parent_id).next().is_some()
    }

    /// The parent ids that have entries.
    pub fn parents(&self) -> BTreeSet<String> {
        self.delta_links
            .keys()
            .chain(self.bookmarks.keys())
            .filter(|k| !k.is_empty())
            .map(|k| parent_of_scope(k).to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_leaves_out_what_is_empty() {
        let mut stream = StreamState::default();
        stream.delta_links.insert(
            TOP_LEVEL.into(),
            "https://g/v1.0/users/delta?$deltatoken=a".into(),
        );
        stream.ids = Some(vec!["u1".into(), "u2".into()]);
        let mut mail = StreamState::default();
        mail.delta_links
            .insert(folder_scope("u1", "inbox/x"), "https://g/l1".into());
        mail.delta_links
            .insert(folder_scope("u1", "sent"), "https://g/l2".into());
        mail.delta_links.insert("u10".into(), "https://g/l3".into());
        let mut audit = StreamState::default();
        audit.bookmarks.insert(
            TOP_LEVEL.into(),
            "2026-11-30T10:00:00.1234567Z".parse().unwrap(),
        );
        let state = ExtractState {
            streams: BTreeMap::from([
                ("users".into(), stream),
                ("mail_messages".into(), mail.clone()),
                ("audit_logs_signins".into(), audit),
            ]),
        };
        let json = serde_json::to_value(&state).unwrap();
        assert!(json["streams"]["users"].get("bookmarks").is_none());
        assert!(json["streams"]["mail_messages"].get("ids").is_none());
        let back: ExtractState = serde_json::from_value(json).unwrap();
        assert_eq!(back, state);
        let empty: ExtractState = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, ExtractState::default());

        let folders: Vec<_> = mail.folder_links("u1").collect();
        assert_eq!(
            folders,
            [("inbox/x", "https://g/l1"), ("sent", "https://g/l2")]
        );
        assert_eq!(
            mail.parents(),
            BTreeSet::from(["u1".to_string(), "u10".to_string()])
        );
        mail.remove_parent("u1");
        assert!(!mail.has_parent("u1") && mail.has_parent("u10"));
    }
}

//! Changes made through the admin endpoint, the only state the tenant keeps. Delta rounds read the
//! change log; collections skip removed rows; changed rows get a new version (new values, same id);
//! added rows take raw positions after the generated ones (so their ids are new and never reused).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// One logged change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    pub epoch: u64,
    pub stream: String,
    pub key: u64,
    pub removed: bool,
}

/// Rows added under one parent (`None` for a top-level stream).
type AddScope = (String, Option<u64>);

#[derive(Debug, Default)]
pub(crate) struct Mutations {
    /// Bumped by every mutation; delta tokens carry the epoch they were issued at.
    epoch: u64,
    /// Delta tokens issued before this epoch answer 410.
    oldest_valid_epoch: u64,
    /// When each epoch happened (`times[e - 1]`): a touched row's `lastModifiedDateTime`.
    times: Vec<DateTime<Utc>>,
    removed: HashSet<(String, u64)>,
    versions: HashMap<(String, u64), u32>,
    /// Epoch of each row's last change or addition.
    touched: HashMap<(String, u64), u64>,
    /// Epoch each added row was added at (its `createdDateTime`).
    created: HashMap<(String, u64), u64>,
    added: HashMap<AddScope, u64>,
    /// Changes per stream and per parent (`key >> 24`), in epoch order: a delta round of one
    /// mailbox reads its own changes, not every mailbox's.
    log: HashMap<String, HashMap<u64, Vec<Change>>>,
}

/// What one mutation asks for. `parent` (the parent's id) limits a child stream to one parent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mutation {
    /// The stream to mutate.
    pub stream: String,
    /// The parent's id, limiting a child stream to one parent; `None`: spread over all parents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Rows to change.
    #[serde(default)]
    pub changed: u64,
    /// Rows to remove.
    #[serde(default)]
    pub removed: u64,
    /// Rows to add.
    #[serde(default)]
    pub added: u64,
    /// Ids of the rows to change and remove, in that order (the first `changed` are changed, the
    /// next `removed` removed) instead of the mock's own pick.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
}

impl Mutation {
    /// A mutation of `stream` that does nothing yet.
    pub fn new(stream: impl Into<String>) -> Self {
        Self {
            stream: stream.into(),
            ..Self::default()
        }
    }
    /// Only children of the parent with this id (mail of one user, messages of one chat …).
    pub fn parent(mut self, id: impl Into<String>) -> Self {
        self.parent = Some(id.into());
        self
    }
    /// Changes `n` rows (the mock picks which).
    pub fn changed(mut self, n: u64) -> Self {
        self.changed = n;
        self
    }
    /// Removes `n` rows (the mock picks which).
    pub fn removed(mut self, n: u64) -> Self {
        self.removed = n;
        self
    }
    /// Adds `n` rows.
    pub fn added(mut self, n: u64) -> Self {
        self.added = n;
        self
    }
    /// Changes the rows with these ids (instead of the mock's pick).
    pub fn change_ids<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.ids.extend(ids.into_iter().map(Into::into));
        self.changed = self.ids.len() as u64;
        self
    }
    /// Removes the rows with these ids (after those given to `change_ids`).
    pub fn remove_ids<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        let before = self.ids.len();
        self.ids.extend(ids.into_iter().map(Into::into));
        self.removed = (self.ids.len() - before) as u64;
        self
    }
}

/// What a mutation did, as the admin endpoint reports it: the ids touched (for a child stream, ids
/// are unique across parents too) and their primary-key tuples in the same order.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct MutationOutcome {
    /// The tenant's epoch after this mutation (every mutation bumps it by one).
    pub epoch: u64,
    /// Ids of the rows changed.
    pub changed: Vec<String>,
    /// Ids of the rows removed.
    pub removed: Vec<String>,
    /// Ids of the rows added.
    pub added: Vec<String>,
    /// Primary-key tuples of the rows changed, in `changed` order.
    pub changed_keys: Vec<Vec<String>>,
    /// Primary-key tuples of the rows removed, in `removed` order.
    pub removed_keys: Vec<Vec<String>>,
    /// Primary-key tuples of the rows added, in `added` order.
    pub added_keys: Vec<Vec<String>>,
}

impl Mutations {
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn is_valid_epoch(&self, epoch: u64) -> bool {
        epoch >= self.oldest_valid_epoch && epoch <= self.epoch
    }

    pub fn is_removed(&self, stream: &str, key: u64) -> bool {
        !self.removed.is_empty() && self.removed.contains(&(stream.to_string(), key))
    }

    pub fn version(&self, stream: &str, key: u64) -> u32 {
        if self.versions.is_empty() {
            return 0;
        }
        self.versions
            .get(&(stream.to_string(), key))
            .copied()
            .unwrap_or(0)
    }

    /// Rows added under `parent` (a parent index, `None` at top level).
    pub fn added(&self, stream: &str, parent: Option<u64>) -> u64 {
        if self.added.is_empty() {
            return 0;
        }
        self.added
            .get(&(stream.to_string(), parent))
            .copied()
            .unwrap_or(0)
    }

    /// When the row was last changed or added, if ever.
    pub fn touched_at(&self, stream: &str, key: u64) -> Option<DateTime<Utc>> {
        if self.touched.is_empty() {
            return None;
        }
        let epoch = self.touched.get(&(stream.to_string(), key))?;
        self.time_of(*epoch)
    }

    /// When the row was added, if it was.
    pub fn created_at(&self, stream: &str, key: u64) -> Option<DateTime<Utc>> {
        if self.created.is_empty() {
            return None;
        }
        let epoch = self.created.get(&(stream.to_string(), key))?;
        self.time_of(*epoch)
    }

    fn time_of(&self, epoch: u64) -> Option<DateTime<Utc>> {
        self.times
            .get(usize::try_from(epoch).ok()?.checked_sub(1)?)
            .copied()
    }

    /// Starts a new epoch at `not_before` or later (and after the previous one), so times only grow.
    fn next_epoch(&mut self, not_before: DateTime<Utc>) -> u64 {
        let floor = match self.times.last() {
            Some(last) => *last + TimeDelta::milliseconds(1),
            None => not_before,
        };
        self.times.push(Utc::now().max(not_before).max(floor));
        self.epoch += 1;
        self.epoch
    }

    /// Records one mutation of `stream` in a new epoch: `added` are (parent index, count) pairs
    /// whose new keys `key_of(parent, index)` makes. Returns the epoch and the added keys.
    pub fn apply(
        &mut self,
        stream: &str,
        edit: Edit<'_>,
        not_before: DateTime<Utc>,
    ) -> (u64, Vec<u64>) {
        let epoch = self.next_epoch(not_before);
        for &key in edit.changed {
            *self.versions.entry((stream.to_string(), key)).or_default() += 1;
            self.touch(stream, key, false);
        }
        for &key in edit.removed {
            self.removed.insert((stream.to_string(), key));
            self.touch(stream, key, true);
        }
        let mut added_keys = Vec::new();
        for &(parent, first, count) in edit.added {
            for index in first..first + count {
                let key = (edit.key_of)(parent, index);
                self.created.insert((stream.to_string(), key), epoch);
                self.touch(stream, key, false);
                added_keys.push(key);
            }
            *self.added.entry((stream.to_string(), parent)).or_default() += count;
        }
        (epoch, added_keys)
    }

    fn touch(&mut self, stream: &str, key: u64, removed: bool) {
        self.touched.insert((stream.to_string(), key), self.epoch);
        let change = Change {
            epoch: self.epoch,
            stream: stream.to_string(),
            key,
            removed,
        };
        let by_parent = self.log.entry(stream.to_string()).or_default();
        by_parent.entry(key >> 24).or_default().push(change);
    }

    /// Makes every delta token issued so far answer 410 (as when Graph's sync state expires).
    pub fn expire_delta_tokens(&mut self, not_before: DateTime<Utc>) {
        self.next_epoch(not_before);
        self.oldest_valid_epoch = self.epoch;
    }

    /// Last change per row of `stream` (under the parent with this index, if given) made after
    /// `since` up to `until`, in key order.
    pub fn changes(
        &self,
        stream: &str,
        parent: Option<u64>,
        since: u64,
        until: u64,
    ) -> Vec<Change> {
        let Some(by_parent) = self.log.get(stream) else {
            return Vec::new();
        };
        let buckets: Vec<&Vec<Change>> = match parent {
            Some(p) => by_parent.get(&p).into_iter().collect(),
            None => by_parent.values().collect(),
        };
        let mut latest: HashMap<u64, &Change> = HashMap::new();
        for change in buckets
            .into_iter()
            .flatten()
            .filter(|c| c.epoch > since && c.epoch <= until)
        {
            latest.insert(change.key, change);
        }
        let mut changes: Vec<Change> = latest.into_values().cloned().collect();
        changes.sort_by_key(|c| c.key);
        changes
    }
}

/// The rows one mutation touches, by key; `added` holds (parent index, first new raw index, count).
pub(crate) struct Edit<'a> {
    pub changed: &'a [u64],
    pub removed: &'a [u64],
    pub added: &'a [(Option<u64>, u64, u64)],
    pub key_of: &'a dyn Fn(Option<u64>, u64) -> u64,
}

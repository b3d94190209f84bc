//! Changes made through the admin endpoint, the only state the tenant keeps. Delta rounds read the
//! change log; collections skip removed rows; changed rows get a new version (new values, same id).

use std::collections::{HashMap, HashSet};

use serde::Serialize;

/// One logged change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    pub epoch: u64,
    pub stream: String,
    pub key: u64,
    pub removed: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Mutations {
    /// Bumped by every mutation; delta tokens carry the epoch they were issued at.
    epoch: u64,
    /// Delta tokens issued before this epoch answer 410.
    oldest_valid_epoch: u64,
    removed: HashSet<(String, u64)>,
    versions: HashMap<(String, u64), u32>,
    log: Vec<Change>,
}

/// What a mutation did, as the admin endpoint reports it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MutationOutcome {
    pub epoch: u64,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
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

    /// Starts a new epoch and records the changes in it.
    pub fn apply(&mut self, stream: &str, changed: &[u64], removed: &[u64]) -> u64 {
        self.epoch += 1;
        for &key in changed {
            *self.versions.entry((stream.to_string(), key)).or_default() += 1;
            self.log(stream, key, false);
        }
        for &key in removed {
            self.removed.insert((stream.to_string(), key));
            self.log(stream, key, true);
        }
        self.epoch
    }

    fn log(&mut self, stream: &str, key: u64, removed: bool) {
        self.log.push(Change {
            epoch: self.epoch,
            stream: stream.to_string(),
            key,
            removed,
        });
    }

    /// Makes every delta token issued so far answer 410 (as when Graph's sync state expires).
    pub fn expire_delta_tokens(&mut self) {
        self.epoch += 1;
        self.oldest_valid_epoch = self.epoch;
    }

    /// Last change per row of `stream` made after `since` up to `until`, in key order.
    pub fn changes(&self, stream: &str, since: u64, until: u64) -> Vec<Change> {
        let mut latest: HashMap<u64, &Change> = HashMap::new();
        for change in self
            .log
            .iter()
            .filter(|c| c.stream == stream && c.epoch > since && c.epoch <= until)
        {
            latest.insert(change.key, change);
        }
        let mut changes: Vec<Change> = latest.into_values().cloned().collect();
        changes.sort_by_key(|c| c.key);
        changes
    }
}

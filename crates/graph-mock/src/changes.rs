//! Snapshots of the tenant's content and the changes between two of them: what a landing that
//! compares each run with the previous state (by primary key and full record) must see.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Faults;
use crate::ids::hash_str;
use crate::tenant::Tenant;
use crate::truth::{self, TruthFilter};

/// Per stream, every row a correct client lands: its primary-key tuple and a hash of its whole
/// Graph record. Denied streams and refused parents hold nothing, as in the truth.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Per stream name, each row's primary-key tuple and the hash of its record.
    pub streams: BTreeMap<String, BTreeMap<Vec<String>, u64>>,
}

/// Rows a landing classifies as inserted, updated or deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeCounts {
    /// Keys only in the later snapshot.
    pub inserts: u64,
    /// Keys in both whose record changed.
    pub updates: u64,
    /// Keys only in the earlier snapshot.
    pub deletes: u64,
}

impl ChangeCounts {
    /// Inserts, updates and deletes together.
    pub fn total(&self) -> u64 {
        self.inserts + self.updates + self.deletes
    }
}

/// The `_change` counts per stream (every declared stream, zeros included).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedChanges {
    /// Per stream name, its counts.
    pub streams: BTreeMap<String, ChangeCounts>,
}

impl ExpectedChanges {
    /// The counts of one stream (zeros for a stream that did not change or is unknown).
    pub fn stream(&self, stream: &str) -> ChangeCounts {
        self.streams.get(stream).copied().unwrap_or_default()
    }
}

pub(crate) fn snapshot(tenant: &Tenant, faults: &Faults, only: &TruthFilter) -> Snapshot {
    let mut snapshot = Snapshot::default();
    truth::walk(tenant, faults, only, |spec, stream| {
        let mut rows = BTreeMap::new();
        stream.rows(&mut |row| {
            let record = serde_json::to_vec(&tenant.record(row)).unwrap_or_default();
            // The text of the JSON: FNV over bytes, stable across processes and Rust versions.
            let hash = hash_str(&String::from_utf8_lossy(&record));
            rows.insert(tenant.primary_key(row), hash);
        });
        snapshot.streams.insert(spec.stream.clone(), rows);
    });
    snapshot
}

/// Keys only in `after` are inserts, keys only in `before` deletes, keys in both with another
/// content hash updates; every stream of either snapshot is listed.
pub fn diff(before: &Snapshot, after: &Snapshot) -> ExpectedChanges {
    let empty = BTreeMap::new();
    let mut expected = ExpectedChanges::default();
    let names = before.streams.keys().chain(after.streams.keys());
    for name in names {
        let old = before.streams.get(name).unwrap_or(&empty);
        let new = after.streams.get(name).unwrap_or(&empty);
        let mut counts = ChangeCounts::default();
        for (key, hash) in new {
            match old.get(key) {
                None => counts.inserts += 1,
                Some(previous) if previous != hash => counts.updates += 1,
                Some(_) => {}
            }
        }
        counts.deletes = old.keys().filter(|key| !new.contains_key(*key)).count() as u64;
        expected.streams.insert(name.clone(), counts);
    }
    expected
}

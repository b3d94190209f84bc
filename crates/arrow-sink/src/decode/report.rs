//! What decoding saw, per page, merged per stream for the run manifest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Counts for one page, or for a whole stream after [`DecodeReport::merge`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodeReport {
    /// Pages (or report files) decoded.
    pub pages: u64,
    /// Records found in the pages, before the key guard.
    pub records: u64,
    /// Rows landed: `records - rejected_null_key - duplicates`.
    pub rows: u64,
    /// Rows dropped because a primary-key column was null.
    pub rejected_null_key: u64,
    /// Rows dropped because their key was already landed earlier in the run.
    pub duplicates: u64,
    /// Delta rows carrying `@removed` (landed with their key; the annotation is in `_extra`).
    pub removed: u64,
    /// Values of the wrong type landed as null, per output column path
    /// (`account_enabled`, `to_recipients[].email_address.address`). The value itself is kept in
    /// `_extra`.
    pub type_conflicts: BTreeMap<String, u64>,
    /// Undeclared properties kept in `_extra`, per Graph path (`newProp`,
    /// `toRecipients[].emailAddress.newProp`), counted in rows.
    pub new_properties: BTreeMap<String, u64>,
    /// OData control annotations (`@odata.etag`, `x@odata.navigationLink`, ...) seen and not
    /// landed, per name: protocol metadata, not data.
    pub ignored_annotations: BTreeMap<String, u64>,
}

impl DecodeReport {
    /// Adds `other`'s counts to this report's (a stream's report sums its pages').
    pub fn merge(&mut self, other: &DecodeReport) {
        self.pages += other.pages;
        self.records += other.records;
        self.rows += other.rows;
        self.rejected_null_key += other.rejected_null_key;
        self.duplicates += other.duplicates;
        self.removed += other.removed;
        add_counts(&mut self.type_conflicts, &other.type_conflicts);
        add_counts(&mut self.new_properties, &other.new_properties);
        add_counts(&mut self.ignored_annotations, &other.ignored_annotations);
    }

    /// Total type conflicts over all columns.
    pub fn type_conflict_total(&self) -> u64 {
        self.type_conflicts.values().sum()
    }
}

fn add_counts(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (name, count) in from {
        *into.entry(name.clone()).or_default() += count;
    }
}

pub(crate) fn bump(map: &mut BTreeMap<String, u64>, name: &str) {
    match map.get_mut(name) {
        Some(count) => *count += 1,
        None => {
            map.insert(name.to_string(), 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_every_count_and_unions_names() {
        let mut a = DecodeReport {
            pages: 1,
            records: 3,
            rows: 2,
            duplicates: 1,
            type_conflicts: BTreeMap::from([("x".into(), 1)]),
            new_properties: BTreeMap::from([("p".into(), 2)]),
            ..Default::default()
        };
        let b = DecodeReport {
            pages: 1,
            records: 4,
            rows: 3,
            rejected_null_key: 1,
            removed: 2,
            type_conflicts: BTreeMap::from([("x".into(), 2), ("y".into(), 1)]),
            ignored_annotations: BTreeMap::from([("@odata.etag".into(), 4)]),
            ..Default::default()
        };
        a.merge(&b);
        assert_eq!((a.pages, a.records, a.rows), (2, 7, 5));
        assert_eq!((a.rejected_null_key, a.duplicates, a.removed), (1, 1, 2));
        assert_eq!(
            a.type_conflicts,
            BTreeMap::from([("x".into(), 3), ("y".into(), 1)])
        );
        assert_eq!(a.type_conflict_total(), 4);
        assert_eq!(a.new_properties, BTreeMap::from([("p".into(), 2)]));
        assert_eq!(
            a.ignored_annotations,
            BTreeMap::from([("@odata.etag".into(), 4)])
        );
    }
}

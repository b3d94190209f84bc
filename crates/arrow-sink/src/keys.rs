//! Primary keys: never null, never landed twice in one run.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::error::ArrowError;

/// Which rows of a batch may land.
#[derive(Debug)]
pub struct KeyVerdict {
    /// `None` when every row may land (no copy needed); else the rows to keep.
    pub keep: Option<BooleanArray>,
    /// Key hashes of the rows that land, in row order.
    pub kept: Vec<u128>,
    /// Rows dropped because a key column is null.
    pub rejected_null_key: u64,
    /// Rows dropped because their key was already admitted.
    pub duplicates: u64,
}

/// One per stream per run, shared by every worker decoding that stream's pages.
///
/// A row whose key has a null is rejected; a row whose key tuple was already admitted (earlier in
/// the page, or in an earlier page of the same chain) is a duplicate. Keys are remembered as
/// 128-bit xxh3 hashes of arrow's row encoding of the key tuple (16 bytes per key, collisions
/// negligible). When pages decode in parallel, the copy that reaches the guard first is kept.
///
/// Keys are remembered per chain: the pages of one parent (a child stream's key holds the parent
/// column, so two parents never share a key), or the whole stream for top-level streams. A chain's
/// keys are dropped once all its pages are checked ([`KeyGuard::page_done`] with the chain's page
/// count), so memory follows the chains in flight, not the tenant.
#[derive(Debug, Default)]
pub struct KeyGuard {
    chains: Mutex<Chains>,
}

type KeySet = HashSet<u128, BuildHasherDefault<PreHashed>>;

/// A map keyed by key hashes (see [`PreHashed`]).
pub(crate) type KeyMap<V> = HashMap<u128, V, BuildHasherDefault<PreHashed>>;

#[derive(Debug, Default)]
struct Chains {
    /// Chains of child streams, by parent id.
    by_parent: HashMap<String, ChainKeys>,
    /// The chain of a top-level stream.
    top: ChainKeys,
    /// Keys of chains already dropped.
    retired: usize,
}

#[derive(Debug, Default)]
struct ChainKeys {
    seen: KeySet,
    pages_done: u32,
    /// The chain's page count, once its last page said it.
    pages: Option<u32>,
}

impl Chains {
    fn held(&self) -> usize {
        let by_parent: usize = self.by_parent.values().map(|c| c.seen.len()).sum();
        self.top.seen.len() + by_parent
    }

    fn get(&mut self, parent: Option<&str>) -> &mut ChainKeys {
        match parent {
            None => &mut self.top,
            Some(parent) => {
                if !self.by_parent.contains_key(parent) {
                    self.by_parent
                        .insert(parent.to_string(), ChainKeys::default());
                }
                self.by_parent.get_mut(parent).expect("inserted above")
            }
        }
    }
}

impl KeyGuard {
    /// A guard that has admitted no key yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of distinct keys admitted so far.
    pub fn admitted(&self) -> usize {
        let chains = self.lock();
        chains.retired + chains.held()
    }

    /// Keys held in memory now (chains not yet done).
    pub fn held(&self) -> usize {
        self.lock().held()
    }

    /// Decides, for the key columns of one batch of the chain of `parent`, which rows land.
    pub fn check(
        &self,
        parent: Option<&str>,
        key_columns: &[ArrayRef],
    ) -> Result<KeyVerdict, ArrowError> {
        let num_rows = key_columns.first().map_or(0, |c| c.len());
        // Hash outside the lock; only the set insertions are serialised.
        let hashes = crate::change::key_hashes(key_columns)?;
        let mut kept = Vec::with_capacity(num_rows);
        let mut keep = Vec::with_capacity(num_rows);
        let (mut rejected_null_key, mut duplicates) = (0, 0);
        {
            let mut chains = self.lock();
            let seen = &mut chains.get(parent).seen;
            for hash in hashes {
                let admitted = match hash {
                    None => {
                        rejected_null_key += 1;
                        false
                    }
                    Some(hash) if !seen.insert(hash) => {
                        duplicates += 1;
                        false
                    }
                    Some(hash) => {
                        kept.push(hash);
                        true
                    }
                };
                keep.push(admitted);
            }
        }
        let all_kept = rejected_null_key == 0 && duplicates == 0;
        Ok(KeyVerdict {
            keep: (!all_kept).then(|| BooleanArray::from(keep)),
            kept,
            rejected_null_key,
            duplicates,
        })
    }

    /// Counts one page of the chain of `parent` as checked (or failed); `chain_pages` is set on
    /// the chain's last page. Once every page of the chain is done, in whatever order parallel
    /// decoding finished them, its keys are dropped: no later page can repeat them.
    pub fn page_done(&self, parent: Option<&str>, chain_pages: Option<u32>) {
        let mut chains = self.lock();
        let chain = chains.get(parent);
        chain.pages_done += 1;
        if chain_pages.is_some() {
            chain.pages = chain_pages;
        }
        if chain.pages.is_none_or(|pages| chain.pages_done < pages) {
            return;
        }
        let dropped = match parent {
            None => std::mem::take(&mut chains.top),
            Some(parent) => chains.by_parent.remove(parent).unwrap_or_default(),
        };
        chains.retired += dropped.seen.len();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Chains> {
        self.chains.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The set's keys are already uniform hashes: use their low bits instead of hashing again.
#[derive(Default)]
pub(crate) struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for non-u128 keys, which this set never holds; fold anyway to stay correct.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, value: u128) {
        self.0 = value as u64;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::StringArray;

    use super::*;

    fn col(values: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(values.to_vec()))
    }

    #[test]
    fn null_keys_are_rejected_and_repeats_dropped_across_calls() {
        let guard = KeyGuard::new();
        let ids = col(&[Some("a"), None, Some("b"), Some("a")]);
        let parents = col(&[Some("u1"), Some("u1"), None, Some("u1")]);
        let verdict = guard.check(None, &[ids, parents]).unwrap();
        assert_eq!((verdict.rejected_null_key, verdict.duplicates), (2, 1));
        let keep = verdict.keep.unwrap();
        assert_eq!(keep, BooleanArray::from(vec![true, false, false, false]));

        // Same id under another parent is another key; the same pair again is a repeat.
        let verdict = guard
            .check(
                None,
                &[col(&[Some("a"), Some("a")]), col(&[Some("u2"), Some("u1")])],
            )
            .unwrap();
        assert_eq!((verdict.rejected_null_key, verdict.duplicates), (0, 1));
        assert_eq!(verdict.keep.unwrap(), BooleanArray::from(vec![true, false]));
        assert_eq!(guard.admitted(), 2);
    }

    #[test]
    fn a_clean_batch_needs_no_filter() {
        let guard = KeyGuard::new();
        let verdict = guard.check(None, &[col(&[Some("x"), Some("y")])]).unwrap();
        assert!(verdict.keep.is_none());
        assert_eq!((verdict.rejected_null_key, verdict.duplicates), (0, 0));
    }

    #[test]
    fn tuple_boundaries_are_part_of_the_key() {
        // ("ab","c") and ("a","bc") must not collide: the row encoding delimits each value.
        let guard = KeyGuard::new();
        let verdict = guard
            .check(
                None,
                &[col(&[Some("ab"), Some("a")]), col(&[Some("c"), Some("bc")])],
            )
            .unwrap();
        assert!(verdict.keep.is_none());
    }

    #[test]
    fn a_chain_keeps_its_keys_until_all_its_pages_are_done_in_any_order() {
        let guard = KeyGuard::new();
        let ids = || col(&[Some("a"), Some("b")]);
        // Chain u1 has 3 pages; the last one is checked before the second.
        assert!(guard.check(Some("u1"), &[ids()]).unwrap().keep.is_none());
        guard.page_done(Some("u1"), None);
        assert_eq!(guard.check(Some("u1"), &[ids()]).unwrap().duplicates, 2);
        guard.page_done(Some("u1"), Some(3));
        assert_eq!(guard.held(), 2, "one page of the chain is still out");
        // A page that failed to decode is still done.
        guard.page_done(Some("u1"), None);
        assert_eq!((guard.held(), guard.admitted()), (0, 2));

        // Another parent's chain is its own: the same ids land again (its key holds the parent).
        assert!(guard.check(Some("u2"), &[ids()]).unwrap().keep.is_none());
        guard.page_done(Some("u2"), Some(1));
        // A page without a chain count keeps its keys to the end of the run.
        assert!(guard.check(None, &[ids()]).unwrap().keep.is_none());
        guard.page_done(None, None);
        assert_eq!((guard.held(), guard.admitted()), (2, 6));
    }
}

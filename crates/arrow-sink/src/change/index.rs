//! The current state of one stream, as much of it as comparing needs: per primary key, the
//! content hash of its latest row and whether that row is live. 16 bytes of key hash and 16 of
//! entry per key (about 40 bytes with the table's overhead); no row values.

use crate::keys::KeyMap;

use super::Change;

const LIVE: u8 = 1;
/// Seen in this run: listed again (or just deleted), so a full-scope sweep leaves it alone.
/// In a compaction: the key's latest row was already written ([`CurrentState::keep_latest`]).
const SEEN: u8 = 2;

#[derive(Debug, Clone, Copy)]
struct Entry {
    hash: u64,
    /// Rank of the run that landed the latest row (1 = oldest committed run).
    rank: u32,
    flags: u8,
}

/// Keys of one stream with their latest content hash. Built from the landing, then updated by
/// every row the run lands.
#[derive(Debug, Default)]
pub struct CurrentState {
    entries: KeyMap<Entry>,
}

impl CurrentState {
    /// A state holding no key.
    pub fn new() -> Self {
        Self::default()
    }

    /// A row read back from the landing, landed by the run of `rank`: the latest row per key wins.
    pub fn load(&mut self, key: u128, change: Change, hash: Option<u64>, rank: u32) {
        let entry = Entry {
            hash: hash.unwrap_or(0),
            rank,
            flags: if change == Change::Delete { 0 } else { LIVE },
        };
        self.entries
            .entry(key)
            .and_modify(|e| {
                if rank >= e.rank {
                    *e = entry;
                }
            })
            .or_insert(entry);
    }

    /// A row this run received: what it changes, or `None` when it is the current row again
    /// (a replay, an overlap, an unchanged row of a full read).
    pub fn upsert(&mut self, key: u128, hash: u64, rank: u32) -> Option<Change> {
        let fresh = Entry {
            hash,
            rank,
            flags: LIVE | SEEN,
        };
        match self.entries.get_mut(&key) {
            None => {
                self.entries.insert(key, fresh);
                Some(Change::Insert)
            }
            Some(e) if e.flags & LIVE == 0 => {
                *e = fresh;
                Some(Change::Insert)
            }
            Some(e) if e.hash == hash => {
                e.flags |= SEEN;
                None
            }
            Some(e) => {
                *e = fresh;
                Some(Change::Update)
            }
        }
    }

    /// A deletion this run received or inferred: true when the key was live (a `delete` lands).
    pub fn delete(&mut self, key: u128, rank: u32) -> bool {
        match self.entries.get_mut(&key) {
            Some(e) if e.flags & LIVE != 0 => {
                *e = Entry {
                    hash: 0,
                    rank,
                    flags: SEEN,
                };
                true
            }
            _ => false,
        }
    }

    /// Live keys this run has not seen: what a full-scope sweep may delete.
    pub fn unseen_live(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.flags & (LIVE | SEEN) == LIVE)
            .count()
    }

    /// Whether `key` is live and not seen in this run.
    pub fn is_unseen_live(&self, key: u128) -> bool {
        self.entries
            .get(&key)
            .is_some_and(|e| e.flags & (LIVE | SEEN) == LIVE)
    }

    /// Compaction: true once per key, for a row landed by `rank` when that is the key's latest
    /// row and it is live. Marks the key written, so an identical duplicate (the same row in a
    /// replaced file and in the compaction that replaced it, after a killed compaction) is
    /// kept once.
    pub fn keep_latest(&mut self, key: u128, rank: u32) -> bool {
        match self.entries.get_mut(&key) {
            Some(e) if e.rank == rank && e.flags & (LIVE | SEEN) == LIVE => {
                e.flags |= SEEN;
                true
            }
            _ => false,
        }
    }

    /// Keys whose latest row is a delete (tombstones a compaction drops).
    pub fn deleted(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.flags & LIVE == 0)
            .count()
    }

    /// Live keys.
    pub fn live(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.flags & LIVE != 0)
            .count()
    }

    /// Keys held (live or deleted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_row_per_key_decides_whatever_the_order_read() {
        let mut state = CurrentState::new();
        state.load(1, Change::Insert, Some(10), 1);
        state.load(1, Change::Delete, None, 3);
        state.load(1, Change::Update, Some(11), 2);
        state.load(2, Change::Update, Some(20), 2);
        state.load(2, Change::Insert, Some(19), 1);
        assert_eq!(state.live(), 1);
        assert_eq!(
            state.upsert(1, 11, 4),
            Some(Change::Insert),
            "deleted, back"
        );
        assert_eq!(state.upsert(2, 20, 4), None, "unchanged");
        assert_eq!(state.upsert(2, 21, 4), Some(Change::Update));
        assert_eq!(state.upsert(3, 30, 4), Some(Change::Insert));
        assert_eq!(state.upsert(3, 30, 4), None, "a replay changes nothing");
    }

    #[test]
    fn deletes_land_once_and_sweeps_see_only_unseen_live_keys() {
        let mut state = CurrentState::new();
        for key in 1..=3 {
            state.load(key, Change::Insert, Some(key as u64), 1);
        }
        assert!(state.delete(1, 2));
        assert!(!state.delete(1, 2), "a replayed delete lands nothing");
        assert!(!state.delete(9, 2), "an unknown key has nothing to delete");
        assert_eq!(state.upsert(2, 2, 2), None);
        assert_eq!(state.unseen_live(), 1);
        assert!(state.is_unseen_live(3) && !state.is_unseen_live(2));
    }

    #[test]
    fn a_compaction_keeps_each_live_latest_row_once() {
        let mut state = CurrentState::new();
        state.load(1, Change::Insert, None, 1);
        state.load(1, Change::Update, None, 2);
        state.load(2, Change::Insert, None, 1);
        state.load(2, Change::Delete, None, 2);
        assert!(!state.keep_latest(1, 1), "superseded");
        assert!(state.keep_latest(1, 2));
        assert!(!state.keep_latest(1, 2), "a duplicate of a kept row");
        assert!(!state.keep_latest(2, 2), "a tombstone");
        assert!(!state.keep_latest(3, 1), "unknown");
        assert_eq!(state.deleted(), 1);
    }
}

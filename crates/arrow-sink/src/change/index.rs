//! The current state of one stream, as much of it as comparing needs: per primary key, the
//! content hash of its latest row and whether that row is live; no row values.
//!
//! Held for every landed stream until the run's sweep, so it is the one structure of a run that
//! grows with the tenant. Most keys sit in a sorted array of 28-byte slots (no table slack, no
//! doubling); keys new since the last merge sit in a small hash table that is merged into the
//! array once it holds an eighth as many. A hash table alone took ~55 bytes a key (32-byte slots,
//! 1 control byte, 40–87% full) and twice its size while it grew.

use crate::keys::KeyMap;

use super::Change;

const LIVE: u8 = 1;
/// Seen in this run: listed again (or just deleted), so a full-scope sweep leaves it alone.
/// In a compaction: the key's latest row was already written ([`CurrentState::keep_latest`]).
const SEEN: u8 = 2;
const FLAG_BITS: u32 = 2;
/// Ranks count committed runs; two bits of the 32 go to the flags.
const MAX_RANK: u32 = u32::MAX >> FLAG_BITS;

/// Fresh keys are merged into the sorted array once they are this many, or an eighth of it.
const MIN_MERGE: usize = 4096;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Entry {
    hash: u64,
    /// Rank of the run that landed the latest row (1 = oldest committed run).
    rank: u32,
    flags: u8,
}

/// One key of the sorted array: 28 bytes at 4-byte alignment (a `u128` field would make it 32).
#[derive(Debug, Clone, Copy)]
struct Slot {
    key: [u32; 4],
    hash: [u32; 2],
    /// Rank above the flag bits.
    meta: u32,
}

impl Slot {
    fn new(key: u128, entry: Entry) -> Self {
        let word = |i: u32| (key >> (32 * i)) as u32;
        let mut slot = Self {
            key: [word(0), word(1), word(2), word(3)],
            hash: [0; 2],
            meta: 0,
        };
        slot.set(entry);
        slot
    }

    fn key(&self) -> u128 {
        self.key
            .iter()
            .rev()
            .fold(0u128, |acc, &w| (acc << 32) | u128::from(w))
    }

    fn entry(&self) -> Entry {
        Entry {
            hash: u64::from(self.hash[0]) | (u64::from(self.hash[1]) << 32),
            rank: self.meta >> FLAG_BITS,
            flags: (self.meta & ((1 << FLAG_BITS) - 1)) as u8,
        }
    }

    fn set(&mut self, entry: Entry) {
        debug_assert!(
            entry.rank <= MAX_RANK,
            "run rank {} out of range",
            entry.rank
        );
        self.hash = [entry.hash as u32, (entry.hash >> 32) as u32];
        self.meta = (entry.rank.min(MAX_RANK) << FLAG_BITS) | u32::from(entry.flags);
    }
}

/// Where a key's entry lives.
enum Place {
    Sorted(usize),
    Fresh,
    Absent,
}

/// Keys of one stream with their latest content hash. Built from the landing, then updated by
/// every row the run lands.
#[derive(Debug, Default)]
pub struct CurrentState {
    /// Keys in ascending order, each once.
    sorted: Vec<Slot>,
    /// Keys not in `sorted`.
    fresh: KeyMap<Entry>,
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
        let (place, current) = self.find(key);
        if current.is_none_or(|e| rank >= e.rank) {
            self.put(place, key, entry);
        }
    }

    /// A row this run received: what it changes, or `None` when it is the current row again
    /// (a replay, an overlap, an unchanged row of a full read).
    pub fn upsert(&mut self, key: u128, hash: u64, rank: u32) -> Option<Change> {
        let fresh = Entry {
            hash,
            rank,
            flags: LIVE | SEEN,
        };
        let (place, current) = self.find(key);
        let (change, entry) = match current {
            None => (Some(Change::Insert), fresh),
            Some(e) if e.flags & LIVE == 0 => (Some(Change::Insert), fresh),
            Some(e) if e.hash == hash => (
                None,
                Entry {
                    flags: e.flags | SEEN,
                    ..e
                },
            ),
            Some(_) => (Some(Change::Update), fresh),
        };
        self.put(place, key, entry);
        change
    }

    /// A deletion this run received or inferred: true when the key was live (a `delete` lands).
    pub fn delete(&mut self, key: u128, rank: u32) -> bool {
        match self.find(key) {
            (place, Some(e)) if e.flags & LIVE != 0 => {
                let gone = Entry {
                    hash: 0,
                    rank,
                    flags: SEEN,
                };
                self.put(place, key, gone);
                true
            }
            _ => false,
        }
    }

    /// Live keys this run has not seen: what a full-scope sweep may delete.
    pub fn unseen_live(&self) -> usize {
        self.count(|e| e.flags & (LIVE | SEEN) == LIVE)
    }

    /// Whether `key` is live and not seen in this run.
    pub fn is_unseen_live(&self, key: u128) -> bool {
        self.find(key)
            .1
            .is_some_and(|e| e.flags & (LIVE | SEEN) == LIVE)
    }

    /// Compaction: true once per key, for a row landed by `rank` when that is the key's latest
    /// row and it is live. Marks the key written, so an identical duplicate (the same row in a
    /// replaced file and in the compaction that replaced it, after a killed compaction) is
    /// kept once.
    pub fn keep_latest(&mut self, key: u128, rank: u32) -> bool {
        match self.find(key) {
            (place, Some(e)) if e.rank == rank && e.flags & (LIVE | SEEN) == LIVE => {
                let kept = Entry {
                    flags: e.flags | SEEN,
                    ..e
                };
                self.put(place, key, kept);
                true
            }
            _ => false,
        }
    }

    /// Keys whose latest row is a delete (tombstones a compaction drops).
    pub fn deleted(&self) -> usize {
        self.count(|e| e.flags & LIVE == 0)
    }

    /// Live keys.
    pub fn live(&self) -> usize {
        self.count(|e| e.flags & LIVE != 0)
    }

    /// Keys held (live or deleted).
    pub fn len(&self) -> usize {
        self.sorted.len() + self.fresh.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn count(&self, matches: impl Fn(&Entry) -> bool) -> usize {
        let sorted = self.sorted.iter().filter(|s| matches(&s.entry())).count();
        sorted + self.fresh.values().filter(|e| matches(e)).count()
    }

    fn find(&self, key: u128) -> (Place, Option<Entry>) {
        if let Some(i) = self.search(key) {
            return (Place::Sorted(i), Some(self.sorted[i].entry()));
        }
        match self.fresh.get(&key) {
            Some(e) => (Place::Fresh, Some(*e)),
            None => (Place::Absent, None),
        }
    }

    fn put(&mut self, place: Place, key: u128, entry: Entry) {
        match place {
            Place::Sorted(i) => self.sorted[i].set(entry),
            Place::Fresh | Place::Absent => {
                self.fresh.insert(key, entry);
                if self.fresh.len() >= MIN_MERGE.max(self.sorted.len() / 8) {
                    self.merge();
                }
            }
        }
    }

    /// The index of `key` in `sorted`. Keys are xxh3 hashes, uniform over `u128`, so a key's
    /// share of the range is a close guess at its position; a galloping search from there
    /// finds it in a few probes near one another (a plain binary search would touch ~20 cache
    /// lines across the whole array for each of a million rows).
    fn search(&self, key: u128) -> Option<usize> {
        let slots = &self.sorted;
        if slots.is_empty() {
            return None;
        }
        let len = slots.len();
        let guess = (((key >> 64) * len as u128) >> 64) as usize;
        let at = |i: usize| slots[i].key();
        let (lo, hi) = if at(guess) < key {
            // Gallop right: the key is in (guess, guess + step].
            let mut step = 1;
            while guess + step < len && at(guess + step) < key {
                step *= 2;
            }
            (guess + step / 2 + 1, (guess + step + 1).min(len))
        } else {
            // Gallop left: the key is in [guess - step, guess].
            let mut step = 1;
            while step <= guess && at(guess - step) > key {
                step *= 2;
            }
            (guess.saturating_sub(step), guess + 1)
        };
        slots[lo..hi]
            .binary_search_by(|s| s.key().cmp(&key))
            .ok()
            .map(|i| lo + i)
    }

    /// Moves the fresh keys into the sorted array, merging from the back in place: the array
    /// grows by exactly the fresh keys (a large array grows by remapping, without a copy).
    fn merge(&mut self) {
        let mut fresh: Vec<Slot> = self
            .fresh
            .drain()
            .map(|(key, entry)| Slot::new(key, entry))
            .collect();
        fresh.sort_unstable_by_key(Slot::key);
        let old_len = self.sorted.len();
        self.sorted.reserve_exact(fresh.len());
        self.sorted
            .resize(old_len + fresh.len(), Slot::new(0, Entry::default()));
        let (mut old, mut new, mut out) = (old_len, fresh.len(), old_len + fresh.len());
        while new > 0 {
            out -= 1;
            if old > 0 && self.sorted[old - 1].key() > fresh[new - 1].key() {
                old -= 1;
                self.sorted[out] = self.sorted[old];
            } else {
                new -= 1;
                self.sorted[out] = fresh[new];
            }
        }
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

    /// Spreads small numbers over `u128` as the key hashes are.
    fn spread(i: u64) -> u128 {
        twox_hash::XxHash3_128::oneshot(&i.to_le_bytes())
    }

    #[test]
    fn keys_merged_into_the_sorted_array_answer_as_the_fresh_ones_did() {
        let mut state = CurrentState::new();
        let mut reference = std::collections::HashMap::new();
        // Enough keys for several merges; every third key comes back with other content.
        for i in 0..50_000u64 {
            let key = spread(i);
            assert_eq!(state.upsert(key, i, 1), Some(Change::Insert), "key {i}");
            reference.insert(key, i);
            if i % 3 == 0 {
                let back = spread(i / 2);
                let change = state.upsert(back, i, 1);
                let was = reference.insert(back, i).expect("seen");
                assert_eq!(
                    change,
                    (was != i).then_some(Change::Update),
                    "key {}",
                    i / 2
                );
            }
        }
        assert!(
            state.sorted.len() > 40_000,
            "merged: {}",
            state.sorted.len()
        );
        assert!(state.sorted.windows(2).all(|w| w[0].key() < w[1].key()));
        assert_eq!(state.len(), reference.len());
        for (&key, &hash) in &reference {
            assert_eq!(state.upsert(key, hash, 2), None, "unchanged");
        }
        assert!(state.delete(spread(7), 2) && !state.delete(spread(7), 2));
        assert_eq!(state.upsert(spread(7), 7, 2), Some(Change::Insert));
        assert!(!state.is_unseen_live(spread(50_001)));
        assert_eq!(state.live(), reference.len());
    }

    #[test]
    fn clustered_keys_are_found_wherever_the_guess_lands() {
        // Keys far from uniform: the guess is wrong by most of the array.
        let mut state = CurrentState::new();
        let keys: Vec<u128> = (0..20_000u128)
            .map(|i| if i % 2 == 0 { i } else { u128::MAX - i })
            .collect();
        for (i, &key) in keys.iter().enumerate() {
            state.load(key, Change::Insert, Some(i as u64), 1);
        }
        for (i, &key) in keys.iter().enumerate() {
            assert_eq!(state.upsert(key, i as u64, 2), None, "key {key}");
        }
        assert_eq!(state.upsert(12_345_678, 0, 2), Some(Change::Insert));
        assert_eq!(state.unseen_live(), 0);
    }

    #[test]
    fn a_slot_keeps_every_bit_of_key_hash_and_rank() {
        let entry = Entry {
            hash: u64::MAX - 5,
            rank: MAX_RANK,
            flags: LIVE | SEEN,
        };
        let slot = Slot::new(u128::MAX - 9, entry);
        assert_eq!((slot.key(), slot.entry()), (u128::MAX - 9, entry));
        assert_eq!(std::mem::size_of::<Slot>(), 28);
    }
}

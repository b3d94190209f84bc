//! Collects what each scope ended with while the run goes, and turns it into the next state and
//! the scopes read in full.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::StreamRead;
use crate::chain::ChainEnd;
use crate::state::{ExtractState, FullScope, StreamState, TOP_LEVEL};

/// How one scope's chain ended.
#[derive(Debug, Clone)]
pub(crate) struct ScopeEnd {
    /// The state key ("", parent id, "<parent id>/<folder id>").
    pub scope: String,
    pub delta_link: Option<String>,
    pub greatest: Option<DateTime<Utc>>,
    /// Read in full (no token, no lower bound), so keys not seen in it are gone.
    pub full: bool,
    pub resynced: bool,
}

impl ScopeEnd {
    pub fn new(end: ChainEnd, full: bool) -> Self {
        Self {
            scope: String::new(),
            delta_link: end.delta_link,
            greatest: end.greatest,
            full,
            resynced: false,
        }
    }

    pub fn resynced(mut self) -> Self {
        self.resynced = true;
        self
    }

    pub fn at(mut self, scope: String) -> Self {
        self.scope = scope;
        self
    }
}

#[derive(Debug, Default)]
struct Progress {
    /// Streams skipped whole (refused, or their parent stream was): their state stays.
    skipped: BTreeSet<String>,
    /// Top-level streams whose chain completed.
    top: HashMap<String, ScopeEnd>,
    /// Child streams: parents whose every scope completed, with those scopes.
    parents: HashMap<String, BTreeMap<String, Vec<ScopeEnd>>>,
    /// Parent streams: the live ids their children ran over.
    live: HashMap<String, BTreeSet<String>>,
}

#[derive(Debug, Default)]
pub(crate) struct Tracker {
    progress: Mutex<Progress>,
}

impl Tracker {
    fn with<T>(&self, f: impl FnOnce(&mut Progress) -> T) -> T {
        f(&mut self.progress.lock().expect("tracker lock"))
    }

    pub fn skipped(&self, stream: &str) {
        self.with(|p| p.skipped.insert(stream.to_string()));
    }

    pub fn top_done(&self, stream: &str, end: ScopeEnd) {
        self.with(|p| p.top.insert(stream.to_string(), end.at(TOP_LEVEL.into())));
    }

    pub fn parent_done(&self, stream: &str, parent_id: &str, ends: Vec<ScopeEnd>) {
        self.with(|p| {
            p.parents
                .entry(stream.to_string())
                .or_default()
                .insert(parent_id.to_string(), ends)
        });
    }

    pub fn live_ids(&self, parent_stream: &str, ids: BTreeSet<String>) {
        self.with(|p| p.live.insert(parent_stream.to_string(), ids));
    }

    /// The whole next state (`prior` with this run's updates) and the scopes read in full.
    /// `parent_of` names a child stream's parent stream.
    pub fn finish(
        self,
        prior: &crate::state::ExtractState,
        reads: &HashMap<String, StreamRead>,
        parent_of: impl Fn(&str) -> Option<String>,
    ) -> (ExtractState, BTreeMap<String, FullScope>) {
        let progress = self.progress.into_inner().expect("tracker lock");
        let mut state = prior.clone();
        let mut full = BTreeMap::new();
        for (stream, read) in reads {
            if progress.skipped.contains(stream) {
                continue;
            }
            let entry = state.streams.entry(stream.clone()).or_default();
            let mut scope = FullScope::default();
            match parent_of(stream) {
                None => {
                    if let Some(end) = progress.top.get(stream) {
                        if read.emitted {
                            replace(entry, TOP_LEVEL, std::slice::from_ref(end));
                            scope.whole = end.full;
                        }
                        entry.ids = match read.track_ids {
                            true => progress
                                .live
                                .get(stream)
                                .map(|ids| ids.iter().cloned().collect()),
                            false => None,
                        };
                    }
                }
                Some(parent) => {
                    // Entries of parents that are no longer live (deleted users) go.
                    if let Some(live) = progress.live.get(&parent) {
                        for gone in entry.parents().into_iter().filter(|p| !live.contains(p)) {
                            entry.remove_parent(&gone);
                        }
                    }
                    for (parent_id, ends) in progress.parents.get(stream).into_iter().flatten() {
                        replace(entry, parent_id, ends);
                        // No chains at all (a mailbox without folders) is complete too.
                        if ends.iter().all(|e| e.full) {
                            scope.parents.insert(parent_id.clone());
                        }
                    }
                }
            }
            if entry.is_empty() {
                state.streams.remove(stream);
            }
            if read.emitted && (scope.whole || !scope.parents.is_empty()) {
                full.insert(stream.clone(), scope);
            }
        }
        (state, full)
    }
}

/// Replaces every entry of one parent (or of the top level) with what its scopes ended with. A
/// bookmark never moves back: a round that saw nothing newer keeps the one it had.
fn replace(entry: &mut StreamState, parent: &str, ends: &[ScopeEnd]) {
    let bookmark = entry.bookmarks.get(parent).copied();
    if parent == TOP_LEVEL {
        entry.delta_links.remove(TOP_LEVEL);
        entry.bookmarks.remove(TOP_LEVEL);
    } else {
        entry.remove_parent(parent);
    }
    for end in ends {
        if let Some(link) = &end.delta_link {
            entry.delta_links.insert(end.scope.clone(), link.clone());
        }
        let kept = if end.full { None } else { bookmark };
        if let Some(at) = end.greatest.max(kept) {
            entry.bookmarks.insert(end.scope.clone(), at);
        }
    }
}

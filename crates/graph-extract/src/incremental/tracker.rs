//! Collects what each scope ended with while the run goes (child scopes spooled to disk), and
//! turns it into the next state and the scopes read in full.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::StreamRead;
use super::next_state::{self, ChildUpdate, NextStream};
use super::spool::{Spool, SpoolRef};
use crate::chain::ChainEnd;
use crate::state::{ExtractState, FullScope, NextState, StreamState, TOP_LEVEL};

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

#[derive(Default)]
struct Progress {
    /// Streams skipped whole (refused, or their parent stream was): their state stays.
    skipped: BTreeSet<String>,
    /// Top-level streams whose chain completed.
    top: HashMap<String, ScopeEnd>,
    /// Child streams: parents whose every scope completed, with where their ends were spooled.
    parents: HashMap<String, BTreeMap<String, SpoolRef>>,
    /// Parent streams: the live ids their children ran over.
    live: HashMap<String, BTreeSet<String>>,
    /// Child scopes' ends, off the heap until the run ends (opened at the first parent).
    spool: Option<Spool>,
    /// The first spool write that failed: the run cannot hand on its state.
    spool_error: Option<io::Error>,
}

impl Progress {
    fn spool_append(&mut self, ends: &[ScopeEnd]) -> io::Result<SpoolRef> {
        let spool = match &mut self.spool {
            Some(spool) => spool,
            None => self.spool.insert(Spool::new()?),
        };
        spool.append(ends)
    }
}

#[derive(Default)]
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
            if p.spool_error.is_some() {
                return;
            }
            match p.spool_append(&ends) {
                Ok(at) => {
                    p.parents
                        .entry(stream.to_string())
                        .or_default()
                        .insert(parent_id.to_string(), at);
                }
                Err(e) => p.spool_error = Some(e),
            }
        });
    }

    pub fn live_ids(&self, parent_stream: &str, ids: BTreeSet<String>) {
        self.with(|p| p.live.insert(parent_stream.to_string(), ids));
    }

    /// Writes the whole next state (the prior one with this run's updates) to a temporary file
    /// and returns it with the scopes read in full. A stream read this run has its prior state
    /// in `reads`; `prior` holds the streams not read. `parent_of` names a child stream's parent.
    pub fn finish(
        self,
        prior: &ExtractState,
        reads: &HashMap<String, StreamRead>,
        parent_of: impl Fn(&str) -> Option<String>,
    ) -> io::Result<(NextState, BTreeMap<String, FullScope>)> {
        let mut progress = self.progress.into_inner().expect("tracker lock");
        if let Some(e) = progress.spool_error.take() {
            return Err(e);
        }
        let mut spool = progress.spool.take().map(Spool::into_reader).transpose()?;
        let mut plan = Vec::new();
        let mut full = BTreeMap::new();
        let names: BTreeSet<&String> = prior.streams.keys().chain(reads.keys()).collect();
        for stream in names {
            let prior_entry = match reads.get(stream) {
                Some(read) => Some(&read.prior).filter(|p| !p.is_empty()),
                None => prior.streams.get(stream),
            };
            let read = match reads.get(stream) {
                Some(read) if !progress.skipped.contains(stream) => read,
                // Not read this run: its state stays as it was.
                _ => {
                    if let Some(entry) = prior_entry {
                        plan.push((stream.clone(), NextStream::Kept(entry)));
                    }
                    continue;
                }
            };
            let mut scope = FullScope::default();
            let next = match parent_of(stream) {
                None => {
                    let mut entry = prior_entry.cloned().unwrap_or_default();
                    if let Some(end) = progress.top.get(stream) {
                        if read.emitted {
                            replace(&mut entry, TOP_LEVEL, std::slice::from_ref(end));
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
                    NextStream::Top(entry)
                }
                Some(parent) => {
                    let done = progress.parents.remove(stream).unwrap_or_default();
                    for (parent_id, at) in &done {
                        // No chains at all (a mailbox without folders) is complete too.
                        if at.all_full {
                            scope.parents.insert(parent_id.clone());
                        }
                    }
                    NextStream::Child(ChildUpdate {
                        prior: prior_entry,
                        // Entries of parents that are no longer live (deleted users) go.
                        live: progress.live.get(&parent),
                        done,
                    })
                }
            };
            if read.emitted && (scope.whole || !scope.parents.is_empty()) {
                full.insert(stream.clone(), scope);
            }
            plan.push((stream.clone(), next));
        }
        let state = next_state::write(&plan, spool.as_mut())?;
        Ok((state, full))
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
        if let Some(at) = next_bookmark(end.greatest, end.full, bookmark) {
            entry.bookmarks.insert(end.scope.clone(), at);
        }
    }
}

/// A scope's next bookmark: the greatest value its round saw, never behind the one it had
/// (`kept`) unless the round read it in full.
pub(super) fn next_bookmark(
    greatest: Option<DateTime<Utc>>,
    full: bool,
    kept: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    greatest.max(if full { None } else { kept })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incremental::Method;

    fn read(emitted: bool, prior: StreamState) -> StreamRead {
        StreamRead {
            method: Method::Compare,
            prior,
            refresh: false,
            fresh: false,
            track_ids: false,
            emitted,
        }
    }

    fn end(scope: &str, link: Option<&str>, greatest: Option<&str>, full: bool) -> ScopeEnd {
        let chain = ChainEnd {
            delta_link: link.map(str::to_string),
            greatest: greatest.map(|t| t.parse().unwrap()),
        };
        ScopeEnd::new(chain, full).at(scope.into())
    }

    fn at(t: &str) -> DateTime<Utc> {
        t.parse().unwrap()
    }

    /// The next state merges the prior one with the spooled ends: parents read again are
    /// replaced whole, gone parents drop out, the others and unread streams stay, bookmarks never
    /// move back unless read in full.
    #[test]
    fn the_next_state_merges_prior_and_spooled_parents() {
        let mut mail = StreamState::default();
        for (scope, link) in [
            ("p1/inbox", "old-1i"),
            ("p1/old", "old-1o"),
            ("p2/inbox", "old-2i"),
            ("p3/inbox", "old-3i"),
        ] {
            mail.delta_links.insert(scope.into(), link.into());
        }
        let mut chats = StreamState::default();
        chats
            .bookmarks
            .insert("c1".into(), at("2026-01-05T00:00:00Z"));
        chats
            .bookmarks
            .insert("c2".into(), at("2026-01-05T00:00:00Z"));
        chats
            .bookmarks
            .insert("c3".into(), at("2026-01-01T00:00:00Z"));
        let mut untouched = StreamState::default();
        untouched.delta_links.insert("".into(), "keep-me".into());
        // Streams read this run carry their prior state in their read; the rest stay in `prior`.
        let prior = ExtractState {
            streams: BTreeMap::from([("applications".into(), untouched.clone())]),
        };

        let tracker = Tracker::default();
        tracker.live_ids(
            "users",
            BTreeSet::from(["p1".into(), "p2".into(), "p4".into()]),
        );
        tracker.parent_done(
            "mail_messages",
            "p1",
            vec![
                end("p1/inbox", Some("new-1i"), None, false),
                end("p1/sent", Some("new-1s"), None, true),
            ],
        );
        tracker.parent_done(
            "mail_messages",
            "p4",
            vec![end("p4/inbox", Some("new-4i"), None, true)],
        );
        tracker.parent_done("mail_messages", "p5", vec![]);
        // c1: older values seen in a partial round keep the bookmark; c2 read in full resets it.
        tracker.parent_done(
            "chat_messages",
            "c1",
            vec![end("c1", None, Some("2026-01-02T00:00:00Z"), false)],
        );
        tracker.parent_done(
            "chat_messages",
            "c2",
            vec![end("c2", None, Some("2026-01-03T00:00:00Z"), true)],
        );
        let reads = HashMap::from([
            ("mail_messages".to_string(), read(true, mail)),
            ("chat_messages".to_string(), read(true, chats)),
            ("users".to_string(), read(false, StreamState::default())),
        ]);
        let parent_of = |s: &str| match s {
            "mail_messages" => Some("users".to_string()),
            "chat_messages" => Some("chats".to_string()),
            _ => None,
        };
        let (next, full) = tracker.finish(&prior, &reads, parent_of).unwrap();
        let next = next.read().unwrap();

        let links = &next.streams["mail_messages"].delta_links;
        let expected: BTreeMap<String, String> = [
            ("p1/inbox", "new-1i"),
            ("p1/sent", "new-1s"),
            ("p2/inbox", "old-2i"),
            ("p4/inbox", "new-4i"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(links, &expected, "p1 replaced, p2 kept, p3 gone, p4 new");
        let marks = &next.streams["chat_messages"].bookmarks;
        assert_eq!(marks["c1"], at("2026-01-05T00:00:00Z"));
        assert_eq!(marks["c2"], at("2026-01-03T00:00:00Z"));
        assert_eq!(
            marks["c3"],
            at("2026-01-01T00:00:00Z"),
            "no live ids known: kept"
        );
        assert_eq!(
            next.streams["applications"], untouched,
            "not read: as it was"
        );
        assert!(!next.streams.contains_key("users"), "nothing to hand on");

        let mail_full = &full["mail_messages"];
        assert_eq!(
            mail_full.parents,
            BTreeSet::from(["p4".to_string(), "p5".to_string()]),
            "every scope in full, or none at all"
        );
        assert_eq!(
            full["chat_messages"].parents,
            BTreeSet::from(["c2".to_string()])
        );
    }

    #[test]
    fn a_run_without_state_writes_an_empty_one() {
        let (next, full) = Tracker::default()
            .finish(&ExtractState::default(), &HashMap::new(), |_| None)
            .unwrap();
        assert_eq!(next.read().unwrap(), ExtractState::default());
        assert!(full.is_empty());
        let text = std::fs::read_to_string(next.path().unwrap()).unwrap();
        assert_eq!(text, r#"{"streams":{}}"#);
    }
}

//! Writes the next state as JSON ([`ExtractState`](crate::ExtractState)'s shape) straight to a
//! temporary file: a child stream's links are merged from the prior state and the spool entry by
//! entry, so the whole state never sits in memory at once.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufWriter, Write};

use chrono::{DateTime, Utc};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::spool::{SpoolReader, SpoolRef};
use super::tracker::next_bookmark;
use crate::state::{NextState, StreamState, parent_of_scope};

/// What one stream's next state is made of.
pub(crate) enum NextStream<'a> {
    /// Not read this run: as it was.
    Kept(&'a StreamState),
    /// A top-level stream: one scope and its live ids, small enough to build in memory.
    Top(StreamState),
    /// A child stream: the prior entries of parents neither gone nor read again, then the
    /// spooled entries of the parents read this run.
    Child(ChildUpdate<'a>),
}

pub(crate) struct ChildUpdate<'a> {
    pub prior: Option<&'a StreamState>,
    /// The parent stream's live ids, when it was read this run.
    pub live: Option<&'a BTreeSet<String>>,
    /// Parents whose every scope completed this run.
    pub done: BTreeMap<String, SpoolRef>,
}

impl ChildUpdate<'_> {
    /// A prior entry's key belongs to a parent that is gone or whose entries this run replaces.
    fn replaced(&self, key: &str) -> bool {
        let parent = parent_of_scope(key);
        self.done.contains_key(parent) || self.live.is_some_and(|live| !live.contains(parent))
    }

    /// The bookmark a parent had, which a round that did not read it in full keeps.
    fn prior_bookmark(&self, parent: &str) -> Option<DateTime<Utc>> {
        let gone = self.live.is_some_and(|live| !live.contains(parent));
        let prior = self.prior?.bookmarks.get(parent).copied();
        prior.filter(|_| !gone)
    }

    fn prior_links(&self) -> impl Iterator<Item = (&String, &String)> {
        let links = self.prior.map(|p| &p.delta_links).into_iter().flatten();
        links.filter(|(k, _)| !self.replaced(k))
    }

    fn prior_bookmarks(&self) -> impl Iterator<Item = (&String, &DateTime<Utc>)> {
        let marks = self.prior.map(|p| &p.bookmarks).into_iter().flatten();
        marks.filter(|(k, _)| !self.replaced(k))
    }

    fn has_links(&self) -> bool {
        self.prior_links().next().is_some() || self.done.values().any(|at| at.has_link)
    }

    fn has_bookmarks(&self) -> bool {
        self.prior_bookmarks().next().is_some()
            || self
                .done
                .iter()
                .any(|(parent, at)| self.gives_bookmark(parent, at))
    }

    /// A parent read this run leaves a bookmark: one its round saw, or the one it had, kept by a
    /// round that did not read it in full.
    fn gives_bookmark(&self, parent: &str, at: &SpoolRef) -> bool {
        at.has_greatest || (!at.all_full && self.prior_bookmark(parent).is_some())
    }

    fn ids(&self) -> Option<&Vec<String>> {
        self.prior.and_then(|p| p.ids.as_ref())
    }
}

/// Writes `streams` (in the order given) as the next state.
pub(crate) fn write(
    streams: &[(String, NextStream<'_>)],
    spool: Option<&mut SpoolReader>,
) -> io::Result<NextState> {
    let file = tempfile::Builder::new()
        .prefix("msgraph-sync-state-")
        .suffix(".json")
        .tempfile()?;
    let mut out = BufWriter::with_capacity(256 * 1024, file.as_file());
    let spool = RefCell::new(spool);
    let state = StateOut {
        streams,
        spool: &spool,
    };
    state
        .serialize(&mut serde_json::Serializer::new(&mut out))
        .map_err(io::Error::from)?;
    out.flush()?;
    drop(out);
    Ok(NextState::new(file.into_temp_path()))
}

struct StateOut<'a, 's> {
    streams: &'a [(String, NextStream<'a>)],
    spool: &'a RefCell<Option<&'s mut SpoolReader>>,
}

impl Serialize for StateOut<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut root = serializer.serialize_map(Some(1))?;
        root.serialize_entry("streams", &StreamsOut(self))?;
        root.end()
    }
}

struct StreamsOut<'a, 'b, 's>(&'b StateOut<'a, 's>);

impl Serialize for StreamsOut<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (name, next) in self.0.streams {
            match next {
                NextStream::Kept(entry) => map.serialize_entry(name, entry)?,
                NextStream::Top(entry) if !entry.is_empty() => map.serialize_entry(name, entry)?,
                NextStream::Top(_) => {}
                NextStream::Child(update) => {
                    let links = update.has_links();
                    let bookmarks = update.has_bookmarks();
                    if links || bookmarks || update.ids().is_some() {
                        let child = ChildOut {
                            update,
                            spool: self.0.spool,
                            links,
                            bookmarks,
                        };
                        map.serialize_entry(name, &child)?;
                    }
                }
            }
        }
        map.end()
    }
}

struct ChildOut<'a, 's> {
    update: &'a ChildUpdate<'a>,
    spool: &'a RefCell<Option<&'s mut SpoolReader>>,
    links: bool,
    bookmarks: bool,
}

impl ChildOut<'_, '_> {
    /// Every parent read this run that `wanted` picks (from what its [`SpoolRef`] says, before
    /// reading it back), with its ends by scope (the last end of a scope wins).
    fn each_done<E: serde::ser::Error>(
        &self,
        wanted: impl Fn(&str, &SpoolRef) -> bool,
        mut visit: impl FnMut(&str, BTreeMap<String, super::spool::SpooledEnd>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut spool = self.spool.borrow_mut();
        for (parent, at) in &self.update.done {
            if !wanted(parent, at) {
                continue;
            }
            let ends = match spool.as_deref_mut() {
                Some(reader) => reader.read(*at).map_err(E::custom)?,
                None => return Err(E::custom("the run's spool of scope ends is missing")),
            };
            let by_scope = ends.into_iter().map(|e| (e.scope.clone(), e)).collect();
            visit(parent, by_scope)?;
        }
        Ok(())
    }
}

impl Serialize for ChildOut<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if self.links {
            map.serialize_entry("delta_links", &Links(self))?;
        }
        if self.bookmarks {
            map.serialize_entry("bookmarks", &Bookmarks(self))?;
        }
        if let Some(ids) = self.update.ids() {
            map.serialize_entry("ids", ids)?;
        }
        map.end()
    }
}

struct Links<'a, 'b, 's>(&'b ChildOut<'a, 's>);

impl Serialize for Links<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (scope, link) in self.0.update.prior_links() {
            map.serialize_entry(scope, link)?;
        }
        self.0.each_done(
            |_, at| at.has_link,
            |_, ends| {
                for (scope, end) in &ends {
                    if let Some(link) = &end.delta_link {
                        map.serialize_entry(scope, link)?;
                    }
                }
                Ok(())
            },
        )?;
        map.end()
    }
}

struct Bookmarks<'a, 'b, 's>(&'b ChildOut<'a, 's>);

impl Serialize for Bookmarks<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (scope, at) in self.0.update.prior_bookmarks() {
            map.serialize_entry(scope, at)?;
        }
        let update = self.0.update;
        self.0.each_done(
            |parent, at| update.gives_bookmark(parent, at),
            |parent, ends| {
                let kept = update.prior_bookmark(parent);
                for (scope, end) in &ends {
                    if let Some(mark) = next_bookmark(end.greatest, end.full, kept) {
                        map.serialize_entry(scope, &mark)?;
                    }
                }
                Ok(())
            },
        )?;
        map.end()
    }
}

//! The parent ids children fan out over. A full round lists every live parent; a delta round lists
//! only changed ones, so after it the prior live ids (less those removed) follow. Each id goes to
//! the children once.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use stream_spec::ParentKey;
use tokio::sync::mpsc;

use crate::chain::ChainError;

pub(crate) struct IdFeed {
    /// `None` when no child stream is planned: the ids are only kept for the state.
    tx: Option<mpsc::Sender<ParentKey>>,
    /// The key of the rows' own parent (a child stream's feed): the children's keys extend it.
    under: Option<ParentKey>,
    ids: Mutex<Ids>,
}

#[derive(Default)]
struct Ids {
    sent: HashSet<String>,
    /// This round's ids: true live, false removed (the last mention wins).
    round: HashMap<String, bool>,
}

impl IdFeed {
    pub fn new(tx: Option<mpsc::Sender<ParentKey>>, under: Option<ParentKey>) -> Self {
        Self {
            tx,
            under,
            ids: Mutex::default(),
        }
    }

    /// One page's ids: live ones go to the children (bounded: a slow fan-out pauses the parent).
    pub async fn page(&self, live: Vec<String>, removed: Vec<String>) -> Result<(), ChainError> {
        let fresh: Vec<String> = {
            let mut ids = self.ids.lock().expect("ids lock");
            for id in removed {
                ids.round.insert(id, false);
            }
            live.into_iter()
                .filter(|id| {
                    ids.round.insert(id.clone(), true);
                    self.tx.is_some() && ids.sent.insert(id.clone())
                })
                .collect()
        };
        self.send(fresh).await
    }

    /// The round starts over in full (a resync): what it lists replaces what the delta said.
    pub fn restart(&self) {
        self.ids.lock().expect("ids lock").round.clear();
    }

    /// Ends the parent's round and returns its live ids. After a delta round (`full` false) the
    /// prior live ids not removed in it follow to the children.
    pub async fn finish(
        self,
        prior: Option<&[String]>,
        full: bool,
    ) -> Result<BTreeSet<String>, ChainError> {
        let (live, rest) = {
            let ids = self.ids.lock().expect("ids lock");
            let mut live: BTreeSet<String> = ids
                .round
                .iter()
                .filter(|(_, alive)| **alive)
                .map(|(id, _)| id.clone())
                .collect();
            let mut rest = Vec::new();
            if !full {
                for id in prior.unwrap_or_default() {
                    if ids.round.contains_key(id) {
                        continue;
                    }
                    live.insert(id.clone());
                    if self.tx.is_some() && !ids.sent.contains(id) {
                        rest.push(id.clone());
                    }
                }
            }
            (live, rest)
        };
        self.send(rest).await?;
        Ok(live)
    }

    async fn send(&self, ids: Vec<String>) -> Result<(), ChainError> {
        let Some(tx) = &self.tx else { return Ok(()) };
        for id in ids {
            let key = match &self.under {
                Some(under) => under.child(&id),
                None => ParentKey::top(id),
            };
            tx.send(key).await.map_err(|_| ChainError::Cancelled)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn a_delta_round_adds_the_prior_live_ids_once() {
        let (tx, mut rx) = mpsc::channel(16);
        let feed = IdFeed::new(Some(tx), None);
        feed.page(strings(&["new", "changed"]), strings(&["gone"]))
            .await
            .unwrap();
        feed.page(strings(&["changed"]), vec![]).await.unwrap();
        let prior = strings(&["changed", "gone", "same"]);
        let live = feed.finish(Some(&prior), false).await.unwrap();
        assert_eq!(
            live,
            BTreeSet::from_iter(strings(&["changed", "new", "same"]))
        );
        let mut sent = Vec::new();
        while let Some(id) = rx.recv().await {
            sent.push(id.id().to_string());
        }
        assert_eq!(sent, ["new", "changed", "same"]);
    }

    #[tokio::test]
    async fn a_full_round_after_a_restart_is_the_whole_truth() {
        let feed = IdFeed::new(None, None);
        feed.page(strings(&["a"]), strings(&["b"])).await.unwrap();
        feed.restart();
        feed.page(strings(&["b", "c"]), vec![]).await.unwrap();
        let live = feed.finish(Some(&strings(&["z"])), true).await.unwrap();
        assert_eq!(live, BTreeSet::from_iter(strings(&["b", "c"])));
    }
}

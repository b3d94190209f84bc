//! One writer per root: a lease a run holds on its landing while it writes.
//!
//! ```text
//! <root>/_lease/<generation, 20 digits>.json    the lease record of one holder
//! ```
//!
//! # The protocol
//!
//! The lease is a sequence of **generations**. Generation `n` is the object
//! `_lease/0000000000000000000n.json`; it is created only with `PutMode::Create` (if-absent), so at
//! most one run ever creates a given generation, and afterwards only that run writes it. The
//! **holder** is the run that wrote the highest generation, as long as that record is not
//! released and has not expired.
//!
//! - **Acquire**: list `_lease/`, read the highest generation `g`. If it is live, fail at once with
//!   [`LeaseError::Held`] (naming its run id, start time, host and pid). If there is none, or it
//!   expired or was released, create generation `g + 1` (or 1) with `PutMode::Create`. Of any
//!   number of runs that try this at once exactly one succeeds; the others get `AlreadyExists`,
//!   read again, and find the winner's live record (`Held`). The winner lists once more (it gives
//!   way to a higher generation, which only a run acting on a stale read could have made) and then
//!   deletes the generations below its own. The highest generation is never deleted: a released
//!   lease stays as a record marked `released`, so generation numbers only grow and a run that
//!   read an old state can never win a takeover with it.
//! - **Renew** (every `ttl / 3` in a tokio task, and in [`Lease::check`]): a holder rewrites its
//!   own generation with a later `expires_at`, but only while its current `expires_at` is still in
//!   the future, and a renewal counts only if it completed before that time. A lease that expired
//!   is never revived: the holder then considers it lost. After each renewal the holder lists
//!   `_lease/`; a higher generation means another run took over.
//! - **Take over**: a run takes over only a record whose `expires_at` lies more than the clock
//!   allowance (`min(5 s, ttl / 4)`) in the past. Every renewal of the old holder completed before
//!   its `expires_at`, so a taker's later read sees it; and a holder whose renewals stopped
//!   considers itself lost from `expires_at` on, before anyone may take over. Two runs therefore
//!   never both believe they hold the lease, provided the hosts' clocks agree within the
//!   allowance.
//! - **Check** renews synchronously, so a caller that then writes its manifest has a full `ttl`
//!   to do so. It fails once the lease is lost.
//! - **Release** marks the record `released` (which frees it at once) and stops renewal; a lease
//!   that is no longer ours is left alone.
//!
//! The same protocol runs on every store, so a root stays locked whichever client opens it (a
//! local mount of a bucket and the bucket's URL agree). Writes to a run's own generation use
//! `PutMode::Update` on the version the run last wrote where the store supports it (memory, S3,
//! Azure, GCS): a renewal then fails instead of recreating a generation someone deleted. The local
//! filesystem has no conditional update (`NotImplemented`); there the run checks that its object
//! still exists and overwrites it (atomically, by rename). Stores without conditional create (S3
//! with `aws_conditional_put=disabled`) cannot hold a lease: [`LeaseError::Unsupported`].
//!
//! What object_store 0.14 does with the two modes (the first four tested in `tests/lease.rs`):
//!
//! | store | `PutMode::Create` | `PutMode::Update` |
//! |---|---|---|
//! | local filesystem | yes (hard link of a staged file) | `NotImplemented` |
//! | memory | yes | yes (e-tag) |
//! | S3, `aws_conditional_put=etag` (the default) | `If-None-Match: *` | `If-Match: <e-tag>` |
//! | S3, `aws_conditional_put=disabled` | `NotImplemented` | `NotImplemented` |
//! | Azure Blob | `If-None-Match: *` | `If-Match: <e-tag>` |
//! | GCS (from its source, untested) | `x-goog-if-generation-match: 0` | generation match |
//!
//! A run should [`Lease::release`] on every way out: a dropped (or killed) holder's lease blocks
//! the root until its expiry plus the clock allowance. Never delete `_lease/` by hand while a run
//! is live; to break the lease of a run known to be dead, wait for its expiry.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::layout::RunId;
use crate::store::Landing;

/// The directory of the lease generations, under the landing's root.
pub const LEASE_DIR: &str = "_lease";
/// Shortest lease accepted.
pub const MIN_TTL: Duration = Duration::from_millis(300);
/// Largest clock difference between hosts allowed for (less for short leases: `ttl / 4`).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5);
const RECORD_FORMAT: u32 = 1;
/// Rounds of list, read and create before [`LeaseError::Contended`].
const ACQUIRE_ATTEMPTS: usize = 8;

/// Who holds (or held) a lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseHolder {
    /// The holder's run id.
    pub run_id: String,
    /// When the holder's run started.
    pub started_at: DateTime<Utc>,
    /// The lease is valid until then unless renewed.
    pub expires_at: DateTime<Utc>,
    /// The holder's host name (`unknown` when it has none).
    pub host: String,
    /// The holder's process id on that host.
    pub pid: u32,
}

/// Why taking, keeping or giving back a lease failed. Messages name the root as the landing
/// shows it (without query strings or user info).
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another run holds a live lease on the root.
    #[error("{}", held_message(root, holder))]
    Held {
        /// The root as the landing shows it.
        root: String,
        /// The live lease's holder.
        holder: LeaseHolder,
    },
    /// The lease was lost to another run that took it over; do not commit.
    #[error("{}", taken_over_message(root, by.as_ref()))]
    TakenOver {
        /// The root as the landing shows it.
        root: String,
        /// The higher generation found.
        generation: u64,
        /// Its holder; `None` when its record could not be read.
        by: Option<LeaseHolder>,
    },
    /// The lease was not renewed in time (store unreachable, process stalled); do not commit.
    #[error(
        "lost the lease on {root}: it was not renewed before it expired at {}",
        expired_at.format("%Y-%m-%d %H:%M:%S%.3f UTC")
    )]
    Expired {
        /// The root as the landing shows it.
        root: String,
        /// When the lease expired.
        expired_at: DateTime<Utc>,
    },
    /// The run's own lease object was changed or deleted by someone else; do not commit.
    #[error("lost the lease on {root}: its object {path} was changed or deleted by someone else")]
    Removed {
        /// The root as the landing shows it.
        root: String,
        /// The run's own generation object.
        path: Path,
    },
    /// The store cannot create an object only if it is absent.
    #[error(
        "{root}: the store cannot create objects only-if-absent, which the lease needs \
         (for S3, leave `aws_conditional_put` at its default `etag`): {source}"
    )]
    Unsupported {
        /// The root as the landing shows it.
        root: String,
        /// The store's refusal.
        #[source]
        source: object_store::Error,
    },
    /// An object store call on the lease failed.
    #[error("lease on {root}: {action} {path}: {source}")]
    Store {
        /// The root as the landing shows it.
        root: String,
        /// What was being done: "listing", "reading", "creating", ...
        action: &'static str,
        /// The object or prefix it was done on.
        path: Path,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// An object under `_lease/` is not a lease record.
    #[error(
        "lease on {root}: {path} is not a lease record (delete it when no run is live): {source}"
    )]
    Corrupt {
        /// The root as the landing shows it.
        root: String,
        /// The unreadable object.
        path: Path,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// The lease ttl asked for is shorter than [`MIN_TTL`].
    #[error("lease ttl {ttl:?} is shorter than the minimum {MIN_TTL:?}")]
    BadTtl {
        /// The ttl asked for.
        ttl: Duration,
    },
    /// Other runs kept changing the lease while this one tried to take it.
    #[error("lease on {root}: gave up after {attempts} attempts, other runs kept changing it")]
    Contended {
        /// The root as the landing shows it.
        root: String,
        /// Rounds of list, read and create made.
        attempts: usize,
    },
}

impl LeaseError {
    /// The lease is gone (taken over, expired or removed): the run must not commit.
    pub fn is_lost(&self) -> bool {
        matches!(
            self,
            Self::TakenOver { .. } | Self::Expired { .. } | Self::Removed { .. }
        )
    }
}

fn held_message(root: &str, holder: &LeaseHolder) -> String {
    let until = if holder.expires_at.date_naive() == holder.started_at.date_naive() {
        holder.expires_at.format("%H:%M:%S UTC")
    } else {
        holder.expires_at.format("%Y-%m-%d %H:%M:%S UTC")
    };
    format!(
        "another run is writing {root}: run {} started {} (lease valid until {until}; host {}, pid {})",
        holder.run_id,
        holder.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        holder.host,
        holder.pid,
    )
}

fn taken_over_message(root: &str, by: Option<&LeaseHolder>) -> String {
    match by {
        Some(by) => format!(
            "lost the lease on {root}: run {} (started {}) took it over",
            by.run_id,
            by.started_at.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        None => format!("lost the lease on {root}: another run took it over"),
    }
}

/// What is stored in a generation object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    format: u32,
    generation: u64,
    #[serde(flatten)]
    holder: LeaseHolder,
    renewed_at: DateTime<Utc>,
    ttl_ms: u64,
    /// Random, so a run recognises its own write when a retried request reports a conflict.
    nonce: u64,
    #[serde(default)]
    released: bool,
}

impl Record {
    /// How long past `expires_at` others wait before taking over.
    fn allowance(&self) -> chrono::Duration {
        let skew = Duration::from_millis(self.ttl_ms / 4).min(MAX_CLOCK_SKEW);
        chrono::Duration::from_std(skew).unwrap_or_default()
    }

    fn is_live(&self, now: DateTime<Utc>) -> bool {
        !self.released && now < self.holder.expires_at + self.allowance()
    }

    fn to_payload(&self) -> PutPayload {
        PutPayload::from(serde_json::to_vec_pretty(self).expect("a lease record serializes"))
    }
}

fn chrono_ttl(ttl: Duration) -> chrono::Duration {
    chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX)
}

fn generation_path(dir: &Path, generation: u64) -> Path {
    dir.clone().join(format!("{generation:020}.json"))
}

fn parse_generation(file_name: &str) -> Option<u64> {
    let digits = file_name.strip_suffix(".json")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// The lease directory of a landing and how to read it.
struct Dir {
    landing: Landing,
    root: String,
    dir: Path,
}

impl Dir {
    fn new(landing: &Landing) -> Self {
        Self {
            landing: landing.clone(),
            root: landing.to_string(),
            dir: landing.path([LEASE_DIR]),
        }
    }

    fn store_error(
        &self,
        action: &'static str,
        path: &Path,
    ) -> impl FnOnce(object_store::Error) -> LeaseError {
        let (root, path) = (self.root.clone(), path.clone());
        move |source| LeaseError::Store {
            root,
            action,
            path,
            source,
        }
    }

    /// Generations present, lowest first.
    async fn generations(&self) -> Result<Vec<u64>, LeaseError> {
        let objects: Vec<_> = self
            .landing
            .store()
            .list(Some(&self.dir))
            .try_collect()
            .await
            .map_err(self.store_error("listing", &self.dir))?;
        let mut generations: Vec<u64> = objects
            .iter()
            .filter_map(|o| parse_generation(o.location.filename()?))
            .collect();
        generations.sort_unstable();
        Ok(generations)
    }

    /// A generation's record and version; `None` when it does not exist (any more).
    async fn read(&self, generation: u64) -> Result<Option<(Record, UpdateVersion)>, LeaseError> {
        let path = generation_path(&self.dir, generation);
        let got = match self.landing.store().get(&path).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(source) => return Err(self.store_error("reading", &path)(source)),
        };
        let version = UpdateVersion {
            e_tag: got.meta.e_tag.clone(),
            version: got.meta.version.clone(),
        };
        let bytes = match got.bytes().await {
            Ok(bytes) => bytes,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(source) => return Err(self.store_error("reading", &path)(source)),
        };
        let record = parse_record(&bytes).map_err(|source| LeaseError::Corrupt {
            root: self.root.clone(),
            path,
            source,
        })?;
        Ok(Some((record, version)))
    }

    /// The holder of the highest generation, if it is live.
    async fn live_holder(&self) -> Result<Option<LeaseHolder>, LeaseError> {
        for _ in 0..ACQUIRE_ATTEMPTS {
            let Some(&top) = self.generations().await?.last() else {
                return Ok(None);
            };
            match self.read(top).await? {
                Some((record, _)) if record.is_live(Utc::now()) => return Ok(Some(record.holder)),
                Some(_) => return Ok(None),
                None => continue,
            }
        }
        Err(LeaseError::Contended {
            root: self.root.clone(),
            attempts: ACQUIRE_ATTEMPTS,
        })
    }
}

fn parse_record(bytes: &Bytes) -> Result<Record, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// Why a held lease is gone.
#[derive(Debug, Clone)]
enum Lost {
    TakenOver {
        generation: u64,
        by: Option<LeaseHolder>,
    },
    Expired(DateTime<Utc>),
    Removed,
}

struct State {
    /// The record as last written.
    record: Record,
    version: UpdateVersion,
    /// Whether to write with `PutMode::Update` (false once the store said `NotImplemented`).
    conditional: bool,
    lost: Option<Lost>,
}

struct Shared {
    dir: Dir,
    path: Path,
    generation: u64,
    ttl: Duration,
    state: tokio::sync::Mutex<State>,
}

/// A lease on a landing's root, renewed in the background until released or dropped. Dropping
/// it stops renewal without releasing: the lease then expires after its ttl.
pub struct Lease {
    shared: Arc<Shared>,
    renewal: JoinHandle<()>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("root", &self.shared.dir.root)
            .field("generation", &self.shared.generation)
            .field("ttl", &self.shared.ttl)
            .finish_non_exhaustive()
    }
}

impl Lease {
    /// Takes the lease on `landing`'s root for `run`: creates the next generation under
    /// `<root>/_lease/` with `PutMode::Create`, taking over an expired or released one (see the
    /// module doc). Fails fast with [`LeaseError::Held`] while another run's lease is live.
    /// Starts a tokio task renewing the lease every `ttl / 3`.
    pub async fn acquire(
        landing: &Landing,
        run: &RunId,
        ttl: Duration,
    ) -> Result<Lease, LeaseError> {
        if ttl < MIN_TTL {
            return Err(LeaseError::BadTtl { ttl });
        }
        let dir = Dir::new(landing);
        let host = host_name();
        let nonce: u64 = rand::random();
        for _ in 0..ACQUIRE_ATTEMPTS {
            let generations = dir.generations().await?;
            let next = match generations.last() {
                None => 1,
                Some(&top) => match dir.read(top).await? {
                    // Removed between listing and reading: a newer generation cleaned it up.
                    None => continue,
                    Some((record, _)) if record.is_live(Utc::now()) => {
                        return Err(LeaseError::Held {
                            root: dir.root.clone(),
                            holder: record.holder,
                        });
                    }
                    Some(_) => top + 1,
                },
            };
            let now = Utc::now();
            let record = Record {
                format: RECORD_FORMAT,
                generation: next,
                holder: LeaseHolder {
                    run_id: run.to_string(),
                    started_at: run.started(),
                    expires_at: now + chrono_ttl(ttl),
                    host: host.clone(),
                    pid: std::process::id(),
                },
                renewed_at: now,
                ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
                nonce,
                released: false,
            };
            let path = generation_path(&dir.dir, next);
            let created = dir
                .landing
                .store()
                .put_opts(&path, record.to_payload(), PutMode::Create.into())
                .await;
            let version = match created {
                Ok(put) => UpdateVersion::from(put),
                Err(object_store::Error::AlreadyExists { .. }) => match dir.read(next).await? {
                    // A retried request whose first attempt had created it.
                    Some((mine, version)) if mine == record => version,
                    // Another run won this generation: the next round reports it as the holder.
                    _ => continue,
                },
                Err(source @ object_store::Error::NotImplemented { .. }) => {
                    return Err(LeaseError::Unsupported {
                        root: dir.root.clone(),
                        source,
                    });
                }
                Err(source) => return Err(dir.store_error("creating", &path)(source)),
            };
            let generations = dir.generations().await?;
            if generations.iter().any(|&g| g > next) {
                // Only a run acting on a stale read gets here; the higher generation rules.
                let _ = dir.landing.store().delete(&path).await;
                continue;
            }
            for &old in generations.iter().filter(|&&g| g < next) {
                let old_path = generation_path(&dir.dir, old);
                match dir.landing.store().delete(&old_path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => {
                        tracing::warn!(path = %old_path, error = %e, "could not delete an old lease generation");
                    }
                }
            }
            tracing::debug!(root = %dir.root, generation = next, "lease acquired");
            let shared = Arc::new(Shared {
                dir,
                path,
                generation: next,
                ttl,
                state: tokio::sync::Mutex::new(State {
                    record,
                    version,
                    conditional: true,
                    lost: None,
                }),
            });
            let renewal = tokio::spawn(renew_periodically(shared.clone()));
            return Ok(Lease { shared, renewal });
        }
        Err(LeaseError::Contended {
            root: dir.root.clone(),
            attempts: ACQUIRE_ATTEMPTS,
        })
    }

    /// The live holder of `landing`'s lease, if any.
    pub async fn current(landing: &Landing) -> Result<Option<LeaseHolder>, LeaseError> {
        Dir::new(landing).live_holder().await
    }

    /// Renews the lease now and errors if it was lost (renewal failed past expiry, or another run
    /// took it over) or cannot be confirmed: the caller must then not commit. On success the
    /// lease is valid for a full ttl from now.
    pub async fn check(&self) -> Result<(), LeaseError> {
        let mut state = self.shared.state.lock().await;
        self.shared.renew(&mut state).await
    }

    /// Marks the lease released (only if it is still ours; a lost lease is left alone) and stops
    /// renewal. Another run may take the root at once.
    pub async fn release(self) -> Result<(), LeaseError> {
        let mut state = self.shared.state.lock().await;
        // The task is asleep or waiting for the lock, never in the middle of a write.
        self.renewal.abort();
        if state.lost.is_some() || Utc::now() >= state.record.holder.expires_at {
            return Ok(());
        }
        let mut released = state.record.clone();
        released.released = true;
        released.renewed_at = Utc::now();
        released.holder.expires_at = released.renewed_at;
        match self.shared.write(&mut state, &released).await {
            Ok(_) => {
                state.record = released;
                Ok(())
            }
            Err(e) if e.is_lost() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The generation this lease holds.
    pub fn generation(&self) -> u64 {
        self.shared.generation
    }

    /// How long the lease lasts unless renewed (renewed every third of it).
    pub fn ttl(&self) -> Duration {
        self.shared.ttl
    }

    /// Stops background renewal without releasing, as a stalled process would. For tests.
    #[doc(hidden)]
    pub fn suspend_renewal(&self) {
        self.renewal.abort();
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

async fn renew_periodically(shared: Arc<Shared>) {
    let interval = shared.ttl / 3;
    let mut delay = interval;
    loop {
        tokio::time::sleep(delay).await;
        let mut state = shared.state.lock().await;
        match shared.renew(&mut state).await {
            Ok(()) => delay = interval,
            Err(e) if state.lost.is_some() => {
                tracing::warn!(error = %e, "lease lost; renewal stopped");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "renewing the lease failed; retrying");
                delay = interval / 2;
            }
        }
    }
}

impl Shared {
    fn lost_error(&self, lost: &Lost) -> LeaseError {
        let root = self.dir.root.clone();
        match lost.clone() {
            Lost::TakenOver { generation, by } => LeaseError::TakenOver {
                root,
                generation,
                by,
            },
            Lost::Expired(expired_at) => LeaseError::Expired { root, expired_at },
            Lost::Removed => LeaseError::Removed {
                root,
                path: self.path.clone(),
            },
        }
    }

    fn lose(&self, state: &mut State, lost: Lost) -> LeaseError {
        let error = self.lost_error(&lost);
        state.lost = Some(lost);
        error
    }

    /// Extends the lease to now + ttl, then looks for a higher generation.
    async fn renew(&self, state: &mut State) -> Result<(), LeaseError> {
        if let Some(lost) = &state.lost {
            return Err(self.lost_error(lost));
        }
        let expires_at = state.record.holder.expires_at;
        let now = Utc::now();
        if now >= expires_at {
            return Err(self.lose(state, Lost::Expired(expires_at)));
        }
        let mut next = state.record.clone();
        next.renewed_at = now;
        next.holder.expires_at = now + chrono_ttl(self.ttl);
        self.write(state, &next).await?;
        if Utc::now() >= expires_at {
            // Others may have read the expired record before this write landed.
            return Err(self.lose(state, Lost::Expired(expires_at)));
        }
        state.record = next;
        let generations = self.dir.generations().await?;
        if let Some(&top) = generations.iter().filter(|&&g| g > self.generation).max() {
            let by = self
                .dir
                .read(top)
                .await
                .ok()
                .flatten()
                .map(|(r, _)| r.holder);
            return Err(self.lose(
                state,
                Lost::TakenOver {
                    generation: top,
                    by,
                },
            ));
        }
        Ok(())
    }

    /// Writes this run's own generation: a conditional update on the version last written where
    /// the store has one, else (local filesystem) an overwrite of an object that still exists.
    /// Updates `state.version`; a changed or deleted object marks the lease lost.
    async fn write(&self, state: &mut State, record: &Record) -> Result<(), LeaseError> {
        let store = self.dir.landing.store();
        let has_version = state.version.e_tag.is_some() || state.version.version.is_some();
        if state.conditional && has_version {
            let mode = PutMode::Update(state.version.clone());
            match store
                .put_opts(&self.path, record.to_payload(), PutOptions::from(mode))
                .await
            {
                Ok(put) => {
                    state.version = put.into();
                    return Ok(());
                }
                Err(
                    object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. },
                ) => {
                    // A retried request may have conflicted with its own first attempt.
                    return match self.dir.read(self.generation).await? {
                        Some((stored, version)) if &stored == record => {
                            state.version = version;
                            Ok(())
                        }
                        _ => Err(self.lose(state, Lost::Removed)),
                    };
                }
                Err(object_store::Error::NotImplemented { .. }) => state.conditional = false,
                Err(source) => return Err(self.dir.store_error("renewing", &self.path)(source)),
            }
        }
        match store.head(&self.path).await {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => {
                return Err(self.lose(state, Lost::Removed));
            }
            Err(source) => return Err(self.dir.store_error("reading", &self.path)(source)),
        }
        let put = store
            .put_opts(&self.path, record.to_payload(), PutMode::Overwrite.into())
            .await
            .map_err(self.dir.store_error("renewing", &self.path))?;
        state.version = put.into();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn holder() -> LeaseHolder {
        LeaseHolder {
            run_id: "20261202T031405.409Z-afd264".into(),
            started_at: Utc.with_ymd_and_hms(2026, 12, 2, 3, 14, 5).unwrap()
                + chrono::Duration::milliseconds(409),
            expires_at: Utc.with_ymd_and_hms(2026, 12, 2, 3, 16, 5).unwrap(),
            host: "build-7".into(),
            pid: 4242,
        }
    }

    fn record(ttl_ms: u64) -> Record {
        Record {
            format: RECORD_FORMAT,
            generation: 3,
            holder: holder(),
            renewed_at: Utc.with_ymd_and_hms(2026, 12, 2, 3, 14, 5).unwrap(),
            ttl_ms,
            nonce: 7,
            released: false,
        }
    }

    #[test]
    fn held_names_the_holder_and_its_start() {
        let err = LeaseError::Held {
            root: "s3://bucket/landing".into(),
            holder: holder(),
        };
        assert_eq!(
            err.to_string(),
            "another run is writing s3://bucket/landing: run 20261202T031405.409Z-afd264 \
             started 2026-12-02 03:14:05 UTC (lease valid until 03:16:05 UTC; host build-7, pid 4242)"
        );
        assert!(!err.is_lost());
        let lost = LeaseError::TakenOver {
            root: "/data".into(),
            generation: 4,
            by: Some(holder()),
        };
        assert!(lost.is_lost());
        assert!(
            lost.to_string().contains(
                "run 20261202T031405.409Z-afd264 (started 2026-12-02 03:14:05 UTC) took it over"
            ),
            "{lost}"
        );
    }

    #[test]
    fn generations_have_fixed_width_names() {
        let dir = Path::from("root/_lease");
        assert_eq!(
            generation_path(&dir, 12).as_ref(),
            "root/_lease/00000000000000000012.json"
        );
        assert_eq!(parse_generation("00000000000000000012.json"), Some(12));
        assert_eq!(parse_generation("12.json"), None);
        assert_eq!(parse_generation("00000000000000000012.json#1"), None);
        assert_eq!(parse_generation("0000000000000000001x.json"), None);
    }

    #[test]
    fn a_record_is_live_until_expiry_plus_the_clock_allowance() {
        let record = record(120_000);
        let expires = record.holder.expires_at;
        assert_eq!(record.allowance(), chrono::Duration::seconds(5));
        assert!(record.is_live(expires));
        assert!(record.is_live(expires + chrono::Duration::milliseconds(4999)));
        assert!(!record.is_live(expires + chrono::Duration::seconds(5)));
        let short = Record {
            ttl_ms: 1000,
            ..record.clone()
        };
        assert_eq!(short.allowance(), chrono::Duration::milliseconds(250));
        let released = Record {
            released: true,
            ..record
        };
        assert!(!released.is_live(expires - chrono::Duration::seconds(60)));
    }

    #[test]
    fn records_round_trip_with_the_holder_flattened() {
        let record = record(1000);
        let json: serde_json::Value =
            serde_json::from_slice(&serde_json::to_vec(&record).unwrap()).unwrap();
        assert_eq!(json["run_id"], "20261202T031405.409Z-afd264");
        assert_eq!(json["generation"], 3);
        let back = parse_record(&Bytes::from(serde_json::to_vec(&json).unwrap())).unwrap();
        assert_eq!(back, record);
    }

    #[tokio::test]
    async fn too_short_a_ttl_is_refused() {
        let landing = Landing::open("memory:///x").unwrap();
        let err = Lease::acquire(&landing, &RunId::new(), Duration::from_millis(10))
            .await
            .unwrap_err();
        assert!(matches!(err, LeaseError::BadTtl { .. }), "{err}");
    }
}

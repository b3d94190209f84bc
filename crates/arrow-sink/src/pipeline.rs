//! The run pipeline: pages in (tokio), decode on a rayon pool, Parquet writers per stream (tokio),
//! bounded everywhere so a slow store slows the producer instead of filling memory.
//!
//! ```text
//! PageSender::send ──(permit: at most `pages_in_flight`)──► rayon: PageDecoder::decode
//!        ──► bounded channel per stream ──► StreamWriter (staging) ──► finish: commit_run
//! ```
//! A permit travels with its page until the batch is written, so pages in flight — queued,
//! decoding or waiting for the writer — never exceed `pages_in_flight`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use stream_spec::Table;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::change::{Classifier, CommittedRuns, FullScope, load_current, sweep_stream};
use crate::commit::{StreamOutcome, clean_dead_runs, commit_run, delete_orphans};
use crate::decode::{DecodeError, DecodeReport, DecodedPage, PageDecoder, PageInput};
use crate::layout::RunId;
use crate::lease::Lease;
use crate::manifest::{FailedStream, Manifest, SkippedItem};
use crate::schema::StreamSchema;
use crate::store::Landing;
use crate::write_error::WriteError;
use crate::writer::{StreamWriter, WriterOptions};

/// How a [`SinkRun`] decodes, buffers and writes; the defaults suit most runs.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// Threads decoding pages; 0 means one per core.
    pub decode_threads: usize,
    /// Pages accepted but not yet written, across all streams.
    pub pages_in_flight: usize,
    /// Decoded batches queued per stream writer.
    pub batches_per_stream: usize,
    /// How each stream's files are written.
    pub writer: WriterOptions,
    /// A stream that got no page for this long writes out its open row group, so streams that
    /// are done (or waiting on throttled parents) stop holding memory until the end of the run.
    /// Kept short: the small streams finish within the first second, and at 3 s their 20-odd
    /// flushes landed together on the big streams' busiest moment (the run's peak memory).
    pub idle_flush: Duration,
    /// The run's lease on the root (one writer per root): renewed every third of this; a run
    /// killed without releasing it blocks the root for this long (plus a clock allowance).
    pub lease_ttl: Duration,
}

impl Default for SinkOptions {
    fn default() -> Self {
        Self {
            decode_threads: 0,
            pages_in_flight: 64,
            batches_per_stream: 8,
            writer: WriterOptions::default(),
            idle_flush: Duration::from_secs(1),
            lease_ttl: Duration::from_secs(60),
        }
    }
}

enum LaneMessage {
    Page {
        parent_id: Option<String>,
        /// Boxed: a decoded page carries its batch and per-row hashes, `Finish` nothing.
        decoded: Box<Result<DecodedPage, DecodeError>>,
        _permit: OwnedSemaphorePermit,
    },
    Finish,
}

struct Lane {
    decoder: Arc<PageDecoder>,
    batches: mpsc::Sender<LaneMessage>,
}

/// A lane once its pages are all in: the writer still open (the sweep may add deletes).
struct LaneDone {
    writer: StreamWriter,
    classifier: Classifier,
    schema_hash: String,
    report: DecodeReport,
    skipped: Vec<SkippedItem>,
}

type LaneResult = Result<LaneDone, WriteError>;

/// What the caller knows at the end of a run that the pages did not say.
#[derive(Debug, Clone, Default)]
pub struct RunInput {
    /// Streams and parents not read (refused, unlicensed); their current state stays as it was.
    pub skipped: Vec<SkippedItem>,
    /// Per stream, the method actually used (`delta`, `resync`, ...); the declared one otherwise.
    pub methods: BTreeMap<String, String>,
    /// Per stream, what was read in full: live keys there that were not seen become deletes.
    pub full_scopes: BTreeMap<String, FullScope>,
    /// The caller's incremental state (delta links, bookmarks), committed with the manifest.
    pub state: Option<crate::state::StateInput>,
    /// Streams that failed this run: what was sent of them is discarded (their current state
    /// stays as it was) and the manifest names them with the reason.
    pub failed: BTreeMap<String, String>,
}

impl RunInput {
    /// Only skips: nothing read in full, no state (an append-only load).
    pub fn skipped(skipped: Vec<SkippedItem>) -> Self {
        Self {
            skipped,
            ..Self::default()
        }
    }
}

/// One run in progress. Send pages through [`SinkRun::sender`], then call [`SinkRun::finish`].
/// Dropping it without `finish` stops the writers and commits nothing.
pub struct SinkRun {
    landing: Landing,
    run: RunId,
    started_at: DateTime<Utc>,
    lanes: BTreeMap<String, Arc<Lane>>,
    writers: Vec<(String, JoinHandle<LaneResult>)>,
    pool: Arc<rayon::ThreadPool>,
    in_flight: Arc<Semaphore>,
    capacity: usize,
    committed: CommittedRuns,
    /// Held from start to commit; `None` only once released.
    lease: Option<Lease>,
    /// Landed streams in the order their sweeps run: parents before their children.
    order: Vec<(String, Option<String>)>,
    /// Cancelled when the run is aborted or dropped: each lane then aborts its open multipart
    /// upload and deletes what it staged, so nothing is left for the store to bill.
    cancel: CancellationToken,
}

/// How long [`SinkRun::abort`] waits for the lanes to abort their uploads before giving up on
/// them (each abort is one request, bounded by the store client's own timeouts).
const ABORT_WAIT: Duration = Duration::from_secs(30);

struct Opened {
    lanes: BTreeMap<String, Arc<Lane>>,
    writers: Vec<(String, JoinHandle<LaneResult>)>,
    pool: Arc<rayon::ThreadPool>,
    committed: CommittedRuns,
    order: Vec<(String, Option<String>)>,
}

/// Gives the lease back; a failure only delays the next run until the lease expires.
async fn release(lease: Lease) {
    if let Err(e) = lease.release().await {
        tracing::warn!("releasing the lease: {e}");
    }
}

/// A cloneable handle that feeds one stream's pages into the run.
#[derive(Clone)]
pub struct PageSender {
    stream: String,
    lane: Arc<Lane>,
    pool: Arc<rayon::ThreadPool>,
    in_flight: Arc<Semaphore>,
}

impl SinkRun {
    /// Starts a run writing `tables` into `landing`, after removing dead runs' staging leftovers.
    /// Must be called inside a tokio runtime.
    pub async fn start(
        landing: &Landing,
        tables: &[Table],
        options: SinkOptions,
    ) -> Result<Self, WriteError> {
        let run = RunId::new();
        // First: a second writer on this root must fail before it reads or cleans anything.
        let lease = Lease::acquire(landing, &run, options.lease_ttl).await?;
        let cancel = CancellationToken::new();
        // A compaction killed after its commit left replaced files behind: finish it first.
        let opened = match crate::compact::finish_compactions(landing).await {
            Ok(_) => Self::open(landing, &run, tables, &options, &cancel).await,
            Err(e) => Err(e),
        };
        match opened {
            Ok(open) => Ok(Self {
                landing: landing.clone(),
                run,
                started_at: Utc::now(),
                lanes: open.lanes,
                writers: open.writers,
                pool: open.pool,
                in_flight: Arc::new(Semaphore::new(options.pages_in_flight.max(1))),
                capacity: options.pages_in_flight.max(1),
                committed: open.committed,
                lease: Some(lease),
                order: open.order,
                cancel,
            }),
            Err(e) => {
                release(lease).await;
                Err(e)
            }
        }
    }

    /// Reads every stream's current state and starts its writer lane.
    async fn open(
        landing: &Landing,
        run: &RunId,
        tables: &[Table],
        options: &SinkOptions,
        cancel: &CancellationToken,
    ) -> Result<Opened, WriteError> {
        let committed = CommittedRuns::new(&Manifest::committed_runs(landing).await?);
        // Holding the lease, no other run is live: leftovers of uncommitted runs are dead at once.
        let removed = clean_dead_runs(landing, run, Duration::ZERO).await?;
        if removed > 0 {
            tracing::info!(removed, "removed staging leftovers of dead runs");
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(options.decode_threads)
            .thread_name(|i| format!("sink-decode-{i}"))
            .build()
            .map_err(|e| WriteError::PipelineStopped(format!("starting the decode pool: {e}")))?;
        let schemas = tables
            .iter()
            .map(|table| {
                StreamSchema::new(table).map_err(|e| WriteError::Decode {
                    stream: table.name.clone(),
                    source: e.into(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let loaded = futures::future::try_join_all(
            schemas
                .iter()
                .map(|schema| load_current(landing, schema, &committed)),
        )
        .await?;
        let parents: HashSet<&str> = tables
            .iter()
            .filter_map(|t| t.parent.as_ref().map(|p| p.table.as_str()))
            .collect();
        let run_id: Arc<str> = Arc::from(run.as_str());
        let mut lanes = BTreeMap::new();
        let mut writers = Vec::new();
        for (schema, (state, orphans)) in schemas.into_iter().zip(loaded) {
            let stream = schema.stream().to_string();
            delete_orphans(landing, run, &orphans, Duration::ZERO).await?;
            tracing::debug!(
                stream,
                keys = state.len(),
                live = state.live(),
                "current state"
            );
            // A stream with rows landed before needs no empty file to show its columns.
            let landed_before = !state.is_empty();
            let classifier = Classifier::new(
                schema.clone(),
                state,
                run_id.clone(),
                committed.next_rank(),
                parents.contains(stream.as_str()),
            );
            let decoder = PageDecoder::with_schema(schema.clone());
            let mut writer = StreamWriter::new(landing, run, &schema, &options.writer)?;
            if landed_before {
                writer = writer.without_empty_file();
            }
            let (tx, rx) = mpsc::channel(options.batches_per_stream.max(1));
            let hash = schema.hash().to_string();
            writers.push((
                stream.clone(),
                tokio::spawn(write_lane(
                    writer,
                    classifier,
                    hash,
                    rx,
                    options.idle_flush,
                    cancel.clone(),
                )),
            ));
            let lane = Lane {
                decoder: Arc::new(decoder),
                batches: tx,
            };
            if lanes.insert(stream.clone(), Arc::new(lane)).is_some() {
                // Nothing was written yet: the lanes stop at once on the cancel.
                cancel.cancel();
                return Err(WriteError::DuplicateStream(stream));
            }
        }
        let mut order: Vec<(String, Option<String>)> = tables
            .iter()
            .map(|t| (t.name.clone(), t.parent.as_ref().map(|p| p.table.clone())))
            .collect();
        // Top-level streams first, so a child's sweep knows which parents were deleted.
        order.sort_by_key(|(_, parent)| parent.is_some());
        Ok(Opened {
            lanes,
            writers,
            pool: Arc::new(pool),
            committed,
            order,
        })
    }

    /// The run's id (its files' names and `_run_id`).
    pub fn run_id(&self) -> &RunId {
        &self.run
    }

    /// A sender of pages to `stream`; [`WriteError::UnknownStream`] when it is not a table of
    /// the run.
    pub fn sender(&self, stream: &str) -> Result<PageSender, WriteError> {
        let lane = self
            .lanes
            .get(stream)
            .ok_or_else(|| WriteError::UnknownStream(stream.to_string()))?;
        Ok(PageSender {
            stream: stream.to_string(),
            lane: Arc::clone(lane),
            pool: Arc::clone(&self.pool),
            in_flight: Arc::clone(&self.in_flight),
        })
    }

    /// Waits for every accepted page to be written, lands the deletes that full reads and deleted
    /// parents imply, closes the files, then commits: publishes the files, writes the state and
    /// the manifest (with skips and pages that failed to decode). Runs only append.
    pub async fn finish(mut self, input: RunInput) -> Result<Manifest, WriteError> {
        // Holding every permit means nothing is queued, decoding or being written.
        let all = u32::try_from(self.capacity).unwrap_or(u32::MAX);
        let permits = self.in_flight.acquire_many(all).await;
        self.in_flight.close();
        drop(permits);
        for lane in self.lanes.values() {
            // A lane whose writer failed has closed its channel; its error surfaces below.
            let _ = lane.batches.send(LaneMessage::Finish).await;
        }
        let mut done = BTreeMap::new();
        let mut first_error = None;
        for (stream, handle) in std::mem::take(&mut self.writers) {
            match handle.await {
                Ok(Ok(lane)) => {
                    done.insert(stream, lane);
                }
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    first_error.get_or_insert(WriteError::PipelineStopped(format!(
                        "writer for `{stream}`: {e}"
                    )));
                }
            }
        }
        if let Some(e) = first_error {
            for lane in done.into_values() {
                lane.writer.abort().await;
            }
            return Err(self.fail(e).await);
        }

        let mut skipped = input.skipped;
        let mut deleted_parents: BTreeMap<String, Arc<HashSet<String>>> = BTreeMap::new();
        let mut outcomes = Vec::new();
        let mut failed = Vec::new();
        for (stream, parent) in &self.order {
            let Some(mut lane) = done.remove(stream) else {
                continue;
            };
            if let Some(reason) = input.failed.get(stream) {
                // Its staged files go with the run's staging prefix at commit.
                lane.writer.abort().await;
                failed.push(FailedStream {
                    stream: stream.clone(),
                    reason: reason.clone(),
                });
                continue;
            }
            let scope = input.full_scopes.get(stream).cloned().unwrap_or_default();
            let whole = scope.whole && !lane.classifier.failed_whole;
            let mut parents: HashSet<String> = scope
                .parents
                .into_iter()
                .filter(|p| !lane.classifier.failed_parents.contains(p))
                .collect();
            if let Some(gone) = parent.as_ref().and_then(|p| deleted_parents.get(p)) {
                parents.extend(gone.iter().cloned());
            }
            if whole || !parents.is_empty() {
                let eligible = crate::change::eligibility(whole, Arc::new(parents));
                let swept = sweep_stream(
                    &self.landing,
                    &mut lane.classifier,
                    &self.committed,
                    &eligible,
                )
                .await;
                let written = match swept {
                    Ok(batches) => write_all(&mut lane.writer, &batches).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = written {
                    lane.writer.abort().await;
                    for other in done.into_values() {
                        other.writer.abort().await;
                    }
                    return Err(self.fail(e).await);
                }
            }
            if !lane.classifier.deleted_ids.is_empty() {
                deleted_parents.insert(
                    stream.clone(),
                    Arc::new(std::mem::take(&mut lane.classifier.deleted_ids)),
                );
            }
            skipped.extend(lane.skipped);
            let method = input
                .methods
                .get(stream)
                .cloned()
                .unwrap_or_else(|| lane.classifier.schema().table().method.clone());
            let changes = lane.classifier.counts;
            let files = match lane.writer.finish().await {
                Ok(files) => files,
                Err(e) => return Err(self.fail(e).await),
            };
            outcomes.push(StreamOutcome {
                stream: stream.clone(),
                schema_hash: lane.schema_hash,
                files,
                report: lane.report,
                method,
                changes,
            });
        }
        // The lease must still be ours (and good for a full ttl) when the commit point is written.
        let lease = self.lease.take().expect("held until finish");
        if let Err(e) = lease.check().await {
            release(lease).await;
            return Err(e.into());
        }
        let committed = commit_run(
            &self.landing,
            &self.run,
            self.started_at,
            outcomes,
            skipped,
            failed,
            input.state,
        )
        .await;
        release(lease).await;
        committed
    }

    /// Stops the run without committing: writers stopped, lease given back, `error` returned.
    async fn fail(&mut self, error: WriteError) -> WriteError {
        if let Some(lease) = self.lease.take() {
            release(lease).await;
        }
        error
    }

    /// Ends the run without committing (nothing a reader sees): every lane aborts its open
    /// multipart upload and deletes its staged files, then the lease is given back, so the next
    /// run need not wait for it to expire.
    pub async fn abort(mut self) {
        self.in_flight.close();
        self.cancel.cancel();
        let writers = std::mem::take(&mut self.writers);
        let handles: Vec<_> = writers
            .iter()
            .map(|(_, handle)| handle.abort_handle())
            .collect();
        let joined = futures::future::join_all(writers.into_iter().map(|(_, handle)| async {
            // A lane that had already ended hands its writer back: abort that one here.
            if let Ok(Ok(done)) = handle.await {
                done.writer.abort().await;
            }
        }));
        if tokio::time::timeout(ABORT_WAIT, joined).await.is_err() {
            tracing::warn!("writers did not stop within {ABORT_WAIT:?}; leaving their uploads");
            for handle in handles {
                handle.abort();
            }
        }
        if let Some(lease) = self.lease.take() {
            release(lease).await;
        }
    }
}

async fn write_all(
    writer: &mut StreamWriter,
    batches: &[arrow::array::RecordBatch],
) -> Result<(), WriteError> {
    for batch in batches {
        writer.write(batch).await?;
    }
    Ok(())
}

impl Drop for SinkRun {
    fn drop(&mut self) {
        // Not finished: the lanes abort their uploads on their own while the runtime lives;
        // staged files they could not delete are removed by a later run.
        self.cancel.cancel();
        self.in_flight.close();
        // Give the lease back if a runtime is still there to do it; else it expires.
        if let Some(lease) = self.lease.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(release(lease));
        }
    }
}

impl PageSender {
    /// The stream this sender feeds.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Queues a page for decoding; waits while `pages_in_flight` pages are unwritten.
    pub async fn send(&self, page: PageInput) -> Result<(), WriteError> {
        let permit = Arc::clone(&self.in_flight)
            .acquire_owned()
            .await
            .map_err(|_| WriteError::PipelineStopped("the run has finished".into()))?;
        if self.lane.batches.is_closed() {
            return Err(WriteError::PipelineStopped(format!(
                "the writer for `{}` failed (see the run's error)",
                self.stream
            )));
        }
        let lane = Arc::clone(&self.lane);
        self.pool.spawn(move || {
            let decoded = lane.decoder.decode(&page);
            // Blocking here is the back-pressure from a slow writer; the permit bounds how many
            // decode threads can wait like this.
            let _ = lane.batches.blocking_send(LaneMessage::Page {
                parent_id: page.parent.as_ref().map(stream_spec::ParentKey::scope),
                decoded: Box::new(decoded),
                _permit: permit,
            });
        });
        Ok(())
    }
}

async fn write_lane(
    mut writer: StreamWriter,
    mut classifier: Classifier,
    schema_hash: String,
    mut pages: mpsc::Receiver<LaneMessage>,
    idle_flush: Duration,
    cancel: CancellationToken,
) -> LaneResult {
    let mut report = DecodeReport::default();
    let mut skipped = Vec::new();
    loop {
        let next = tokio::select! {
            biased;
            () = cancel.cancelled() => {
                writer.abort().await;
                return Err(WriteError::PipelineStopped("the run was aborted".into()));
            }
            next = tokio::time::timeout(idle_flush, pages.recv()) => next,
        };
        let message = match next {
            Ok(Some(message)) => message,
            Ok(None) => break,
            Err(_idle) => {
                if let Err(e) = writer.flush_row_group().await {
                    writer.abort().await;
                    return Err(e);
                }
                continue;
            }
        };
        match message {
            LaneMessage::Page {
                parent_id, decoded, ..
            } => match *decoded {
                Ok(page) => {
                    let changed = classifier
                        .apply(
                            &page.batch,
                            &page.key_hashes,
                            &page.content_hashes,
                            &page.tombstones,
                        )
                        .map_err(|source| WriteError::Compare {
                            stream: writer.stream().to_string(),
                            source,
                        });
                    let written = match changed {
                        Ok(Some(batch)) => writer.write(&batch).await,
                        Ok(None) => Ok(()),
                        Err(e) => Err(e),
                    };
                    if let Err(e) = written {
                        writer.abort().await;
                        return Err(e);
                    }
                    report.merge(&page.report);
                }
                // A malformed page loses that page only; the manifest says which, and its
                // scope is not swept for deletes.
                Err(e) => {
                    classifier.page_failed(parent_id.as_deref());
                    skipped.push(SkippedItem {
                        stream: writer.stream().to_string(),
                        parent_id,
                        code: Some("decode_error".into()),
                        http_status: None,
                        reason: e.to_string(),
                    })
                }
            },
            LaneMessage::Finish => break,
        }
    }
    Ok(LaneDone {
        writer,
        classifier,
        schema_hash,
        report,
        skipped,
    })
}

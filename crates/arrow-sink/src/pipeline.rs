//! The run pipeline: pages in (tokio), decode on a rayon pool, Parquet writers per stream (tokio),
//! bounded everywhere so a slow store slows the producer instead of filling memory.
//!
//! ```text
//! PageSender::send ──(permit: at most `pages_in_flight`)──► rayon: PageDecoder::decode
//!        ──► bounded channel per stream ──► StreamWriter (staging) ──► finish: commit_run
//! ```
//! A permit travels with its page until the batch is written, so pages in flight — queued,
//! decoding or waiting for the writer — never exceed `pages_in_flight`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use stream_spec::StreamSpec;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;

use crate::commit::{StreamOutcome, clean_dead_runs, commit_run};
use crate::decode::{DecodeError, DecodeReport, DecodedPage, PageDecoder, PageInput};
use crate::layout::RunId;
use crate::manifest::{Manifest, SkippedItem};
use crate::store::Landing;
use crate::write_error::WriteError;
use crate::writer::{StreamWriter, WriterOptions};

#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// Threads decoding pages; 0 means one per core.
    pub decode_threads: usize,
    /// Pages accepted but not yet written, across all streams.
    pub pages_in_flight: usize,
    /// Decoded batches queued per stream writer.
    pub batches_per_stream: usize,
    pub writer: WriterOptions,
    /// Staging leftovers of uncommitted runs older than this are deleted when a run starts.
    pub dead_run_grace: Duration,
    /// A stream that got no page for this long writes out its open row group, so streams that
    /// are done (or waiting on throttled parents) stop holding memory until the end of the run.
    /// Kept short: the small streams finish within the first second, and at 3 s their 20-odd
    /// flushes landed together on the big streams' busiest moment (the run's peak memory).
    pub idle_flush: Duration,
}

impl Default for SinkOptions {
    fn default() -> Self {
        Self {
            decode_threads: 0,
            pages_in_flight: 64,
            batches_per_stream: 8,
            writer: WriterOptions::default(),
            dead_run_grace: Duration::from_secs(3600),
            idle_flush: Duration::from_secs(1),
        }
    }
}

enum LaneMessage {
    Page {
        parent_id: Option<String>,
        decoded: Result<DecodedPage, DecodeError>,
        _permit: OwnedSemaphorePermit,
    },
    Finish,
}

struct Lane {
    decoder: Arc<PageDecoder>,
    batches: mpsc::Sender<LaneMessage>,
}

type LaneResult = Result<(StreamOutcome, Vec<SkippedItem>), WriteError>;

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
    /// Starts a run writing `streams` into `landing`, after removing dead runs' staging leftovers.
    /// Must be called inside a tokio runtime.
    pub async fn start(
        landing: &Landing,
        streams: &[StreamSpec],
        options: SinkOptions,
    ) -> Result<Self, WriteError> {
        let run = RunId::new();
        let removed = clean_dead_runs(landing, &run, options.dead_run_grace).await?;
        if removed > 0 {
            tracing::info!(removed, "removed staging leftovers of dead runs");
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(options.decode_threads)
            .thread_name(|i| format!("sink-decode-{i}"))
            .build()
            .map_err(|e| WriteError::PipelineStopped(format!("starting the decode pool: {e}")))?;
        let capacity = options.pages_in_flight.max(1);
        let mut lanes = BTreeMap::new();
        let mut writers = Vec::new();
        for spec in streams {
            let decoder = PageDecoder::new(spec).map_err(|source| WriteError::Decode {
                stream: spec.stream.clone(),
                source,
            })?;
            let writer = StreamWriter::new(landing, &run, decoder.schema(), &options.writer)?;
            let (tx, rx) = mpsc::channel(options.batches_per_stream.max(1));
            let hash = decoder.schema().hash().to_string();
            writers.push((
                spec.stream.clone(),
                tokio::spawn(write_lane(writer, hash, rx, options.idle_flush)),
            ));
            let lane = Lane {
                decoder: Arc::new(decoder),
                batches: tx,
            };
            if lanes.insert(spec.stream.clone(), Arc::new(lane)).is_some() {
                return Err(WriteError::DuplicateStream(spec.stream.clone()));
            }
        }
        Ok(Self {
            landing: landing.clone(),
            run,
            started_at: Utc::now(),
            lanes,
            writers,
            pool: Arc::new(pool),
            in_flight: Arc::new(Semaphore::new(capacity)),
            capacity,
        })
    }

    pub fn run_id(&self) -> &RunId {
        &self.run
    }

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

    /// Waits for every accepted page to be written, closes the files, then commits: publishes the
    /// files, writes the manifest (with `skipped` and pages that failed to decode) and supersedes
    /// older files of the same partitions.
    pub async fn finish(mut self, mut skipped: Vec<SkippedItem>) -> Result<Manifest, WriteError> {
        // Holding every permit means nothing is queued, decoding or being written.
        let all = u32::try_from(self.capacity).unwrap_or(u32::MAX);
        let permits = self.in_flight.acquire_many(all).await;
        self.in_flight.close();
        drop(permits);
        for lane in self.lanes.values() {
            // A lane whose writer failed has closed its channel; its error surfaces below.
            let _ = lane.batches.send(LaneMessage::Finish).await;
        }
        let mut outcomes = Vec::new();
        let mut first_error = None;
        for (stream, handle) in std::mem::take(&mut self.writers) {
            match handle.await {
                Ok(Ok((outcome, decode_skips))) => {
                    skipped.extend(decode_skips);
                    outcomes.push(outcome);
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
            return Err(e);
        }
        commit_run(&self.landing, &self.run, self.started_at, outcomes, skipped).await
    }
}

impl Drop for SinkRun {
    fn drop(&mut self) {
        // Not finished: stop the writers; their staged files are removed by a later run.
        for (_, handle) in &self.writers {
            handle.abort();
        }
        self.in_flight.close();
    }
}

impl PageSender {
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
                parent_id: page.parent_id,
                decoded,
                _permit: permit,
            });
        });
        Ok(())
    }
}

async fn write_lane(
    mut writer: StreamWriter,
    schema_hash: String,
    mut pages: mpsc::Receiver<LaneMessage>,
    idle_flush: Duration,
) -> LaneResult {
    let mut report = DecodeReport::default();
    let mut skipped = Vec::new();
    loop {
        let message = match tokio::time::timeout(idle_flush, pages.recv()).await {
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
            } => match decoded {
                Ok(page) => {
                    if let Err(e) = writer.write(&page.batch).await {
                        writer.abort().await;
                        return Err(e);
                    }
                    report.merge(&page.report);
                }
                // A malformed page loses that page only; the manifest says which.
                Err(e) => skipped.push(SkippedItem {
                    stream: writer.stream().to_string(),
                    parent_id,
                    code: Some("decode_error".into()),
                    http_status: None,
                    reason: e.to_string(),
                }),
            },
            LaneMessage::Finish => break,
        }
    }
    let stream = writer.stream().to_string();
    let files = writer.finish().await?;
    Ok((
        StreamOutcome {
            stream,
            schema_hash,
            files,
            report,
        },
        skipped,
    ))
}

//! `target-parquet-arrow`: Singer messages on stdin -> arrow-sink -> partitioned Parquet.
//!
//! Two phases, so a broken input never leaves a manifest and a late or changed SCHEMA still gets
//! one table shape per stream:
//! 1. read every line, keep each stream's (merged) schema, spool RECORDs as pages of record
//!    lines, remember the latest STATE; any malformed line stops here with its line number
//!    (nothing written);
//! 2. one arrow-sink run over all streams: pages decoded on rayon, Parquet written, manifest last.
//!
//! The latest STATE is printed on stdout only after the run has committed (its manifest exists),
//! so a state Meltano stores never points past data that is not durably landed.

mod batch;
pub mod config;
pub mod input;
mod keys;
pub mod ordered;
mod read;
pub mod schema;
pub mod spool;

use std::io::BufRead;

use arrow_sink::{FullScope, Landing, Manifest, PageInput, RunInput, SinkOptions, SinkRun};
use stream_spec::Table;

pub use config::TargetConfig;

/// Why the target stopped.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// An input line is malformed, too long, or out of order; nothing was written.
    #[error("line {line}: {message}")]
    Input {
        /// The line's number (from 1); the last line read for errors found after reading.
        line: u64,
        /// What was wrong with it.
        message: String,
    },
    /// The target's config is invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The output could not be opened as a landing.
    #[error("opening output `{output}`: {source}")]
    Store {
        /// The output location, without query string or user info.
        output: String,
        /// arrow-sink's error.
        #[source]
        source: arrow_sink::StoreError,
    },
    /// Reading stdin or the spool failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done: "reading stdin at line 3", "spooling line 7", ...
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// arrow-sink could not write or commit the run.
    #[error("writing the landing: {0}")]
    Write(#[from] arrow_sink::WriteError),
    /// The run committed, but some pages failed to decode; no STATE is printed.
    #[error(
        "run {run_id} committed without {pages} page(s) that failed to decode (first: {reason}); \
         no state is emitted"
    )]
    Partial {
        /// The committed run's id.
        run_id: String,
        /// Pages that failed to decode.
        pages: usize,
        /// Why the first of them failed.
        reason: String,
    },
    /// SIGINT or SIGTERM (held) stopped the run before it committed; no STATE is printed.
    #[error(
        "interrupted by {}: nothing of this run was committed (its uploads were aborted) and no \
         state is emitted",
        .0.name()
    )]
    Interrupted(arrow_sink::signal::Interrupt),
}

/// What a finished run did.
#[derive(Debug)]
pub struct TargetOutcome {
    /// `None` when the input had no SCHEMA at all (nothing to land, no run).
    pub manifest: Option<Manifest>,
    /// The latest STATE `value` (JSON text), printed after the commit.
    pub state: Option<String>,
    /// Input lines read.
    pub lines: u64,
}

pub use read::{MAX_VERSIONS_PER_STREAM, Spooled, read_input};

/// Phase 2: lands what was spooled in one arrow-sink run and returns its manifest.
pub async fn land(
    spooled: Spooled,
    landing: &Landing,
    options: SinkOptions,
) -> Result<TargetOutcome, TargetError> {
    let Spooled {
        streams,
        state,
        lines,
    } = spooled;
    if streams.is_empty() {
        return Ok(TargetOutcome {
            manifest: None,
            state,
            lines,
        });
    }
    let tables: Vec<Table> = streams
        .values()
        .map(|s| schema::table(&s.table, &s.fields, &s.key_properties, s.parent.as_ref()))
        .collect::<Result<_, _>>()
        .map_err(|e| TargetError::Input {
            line: lines,
            message: e.to_string(),
        })?;
    // Every stream is a feed of changes; one sent whole (ACTIVATE_VERSION) also deletes the keys
    // it no longer has.
    let mut run_input = RunInput::default();
    for input in streams.values() {
        let method = if input.activated {
            "full_table"
        } else {
            "feed"
        };
        run_input
            .methods
            .insert(input.table.clone(), method.to_string());
        if input.activated {
            run_input.full_scopes.insert(
                input.table.clone(),
                FullScope {
                    whole: true,
                    ..FullScope::default()
                },
            );
        }
    }
    let run = SinkRun::start(landing, &tables, options).await?;
    // Phase 1 only spools to local disk, so a signal is listened for from here on.
    let sent = tokio::select! {
        sent = send_spooled(&run, streams.into_values()) => sent,
        signal = arrow_sink::signal::interrupted() => Err(TargetError::Interrupted(signal)),
    };
    if let Err(e) = sent {
        // Aborted, not dropped: the open uploads must be aborted before the process exits.
        run.abort().await;
        return Err(e);
    }
    let manifest = run.finish(run_input).await?;
    // Lines were validated in phase 1, so a page failing to decode is unexpected; its rows are
    // missing from the landing, and no STATE may claim them.
    if let Some(first) = manifest.skipped.first() {
        return Err(TargetError::Partial {
            run_id: manifest.run_id.clone(),
            pages: manifest.skipped.len(),
            reason: first.reason.clone(),
        });
    }
    Ok(TargetOutcome {
        manifest: Some(manifest),
        state,
        lines,
    })
}

/// Feeds every spooled stream's pages into the run.
async fn send_spooled(
    run: &SinkRun,
    streams: impl Iterator<Item = read::StreamInput>,
) -> Result<(), TargetError> {
    for input in streams {
        let sender = run.sender(&input.table)?;
        let mut records = 0;
        for segment in input.segments {
            records += segment.landing_records();
            let pages = segment.finish().map_err(|source| TargetError::Io {
                what: format!("finishing the spool of `{}`", input.table),
                source,
            })?;
            for i in 0..pages.len() {
                let Some(body) = pages.page(i).await.map_err(|source| TargetError::Io {
                    what: format!("reading the spool of `{}`", input.table),
                    source,
                })?
                else {
                    continue; // every record of the page was replaced by a later one
                };
                sender
                    .send(PageInput {
                        parent: None,
                        body,
                        chain_pages: None,
                    })
                    .await?;
            }
        }
        tracing::info!(stream = %input.table, records, "queued");
    }
    Ok(())
}

/// Both phases with the config's landing and options.
pub async fn run(
    config: &TargetConfig,
    input: impl BufRead + Send,
) -> Result<TargetOutcome, TargetError> {
    let landing = Landing::open_with_options(
        &config.output,
        config
            .store_options
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone())),
    )
    .map_err(|source| TargetError::Store {
        output: arrow_sink::redact_location(&config.output),
        source,
    })?;
    let spool_dir = config.spool_dir();
    let spooled = tokio::task::block_in_place(|| {
        read_input(
            input,
            &spool_dir,
            config.page_limits(),
            config.max_line_bytes(),
            &config.store_options,
        )
    })?;
    let threads = config.decode_threads.unwrap_or(0) as usize;
    let options = SinkOptions {
        decode_threads: threads,
        // Each page is up to `batch_bytes` of JSON: a few per decode thread keep every core busy.
        pages_in_flight: 2 * threads.max(available_cores()) + 2,
        ..SinkOptions::default()
    };
    land(spooled, &landing, options).await
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

//! `msgraph-sync sync`: graph-extract pages -> arrow-sink -> Parquet, in one process.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use arrow_sink::{
    FullScope, Landing, PageInput, PageSender, RunInput, SinkOptions, SinkRun, SkippedItem,
    StateInput,
};
use graph_extract::{ExtractError, ExtractState, Extractor, Page, Plan, RunStats};
use tokio::sync::mpsc;

use crate::connect::{Source, connect};
use crate::failure::Failure;
use crate::progress::Progress;
use crate::summary;

/// The landing root when `--output` is not given (never read under `--demo`).
pub const OUTPUT_ENV: &str = "MSGRAPH_SYNC_OUTPUT";

/// Pages between the fetch and the sink; the sink's own queues bound the rest.
const PAGE_CHANNEL: usize = 32;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    source: Source,
    /// Where to land: a directory, file://, s3://bucket/prefix, az://container/prefix, abfss://, gs://.
    /// Defaults to $MSGRAPH_SYNC_OUTPUT; with --demo only this flag counts (the fake tenant must
    /// never land where the environment points real loads) and it defaults to ./msgraph-demo.
    #[arg(long)]
    output: Option<String>,
    /// Fail with exit code 3 when a stream or parent was skipped (permission, license); what was
    /// read still lands.
    #[arg(long)]
    strict: bool,
    /// All or nothing: when any stream fails, commit nothing (by default the streams that
    /// succeeded land, the failed ones are named in the manifest, and the exit code is 1).
    #[arg(long)]
    atomic: bool,
    /// Threads decoding pages into Arrow (0: one per core).
    #[arg(long, default_value_t = 0)]
    decode_threads: usize,
    /// Reread these streams in full (all selected streams when no list is given) instead of
    /// following their delta links and bookmarks, and compare with the current state.
    #[arg(long, value_name = "STREAMS", num_args = 0..=1, value_delimiter = ',', require_equals = false)]
    full_refresh: Option<Vec<String>>,
    /// Seconds the run's lease on the output root lasts between renewals; a run killed without
    /// giving it back blocks the root this long.
    #[arg(
        long,
        env = "MSGRAPH_SYNC_LEASE_TTL",
        default_value_t = 60.0,
        value_name = "SECONDS"
    )]
    lease_ttl: f64,
}

pub async fn run(args: Args, json_logs: bool) -> Result<(), Failure> {
    let output = match (&args.output, args.source.demo) {
        (Some(output), _) => output.clone(),
        (None, true) => crate::demo::DEFAULT_OUTPUT.to_string(),
        (None, false) => std::env::var(OUTPUT_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| {
                Failure::Config(anyhow::anyhow!(
                    "no output: give --output ROOT (a directory, s3://, az://, gs:// URL) or set \
                     {OUTPUT_ENV}"
                ))
            })?,
    };
    let connection = connect(&args.source).await?;
    let mut config = connection.config;
    config.strict |= args.strict;

    let catalog = connection.catalog.clone();
    let plan = Plan::new(&catalog, &config.streams).map_err(|e| Failure::Config(e.into()))?;
    let landed: Vec<_> = plan
        .streams()
        .filter(|s| plan.emits(&s.stream))
        .cloned()
        .collect();

    let landing = Landing::open(&output)
        .with_context(|| format!("--output {}", arrow_sink::redact_location(&output)))
        .map_err(Failure::Config)?;
    let lease_ttl = std::time::Duration::try_from_secs_f64(args.lease_ttl)
        .ok()
        .filter(|ttl| *ttl >= arrow_sink::lease::MIN_TTL)
        .ok_or_else(|| {
            Failure::Config(anyhow::anyhow!(
                "--lease-ttl {}: give a number of seconds of at least {:?}",
                args.lease_ttl,
                arrow_sink::lease::MIN_TTL
            ))
        })?;
    let options = SinkOptions {
        decode_threads: args.decode_threads,
        lease_ttl,
        ..SinkOptions::default()
    };
    let tables: Vec<_> = landed.iter().map(|spec| spec.table()).collect();
    let sink = SinkRun::start(&landing, &tables, options)
        .await
        .map_err(|e| Failure::Other(e.into()))?;
    let prior = match prior_state(&landing).await {
        Ok(prior) => prior,
        Err(e) => {
            sink.abort().await;
            return Err(Failure::Other(e));
        }
    };
    let full_refresh: Vec<String> = match &args.full_refresh {
        // The demo tenant is served on a new port each run: links stored by an earlier demo run
        // point nowhere, so every demo run rereads in full and compares.
        None if connection.demo.is_some() => landed.iter().map(|s| s.stream.clone()).collect(),
        None => Vec::new(),
        Some(list) if list.is_empty() => landed.iter().map(|s| s.stream.clone()).collect(),
        Some(list) => list.clone(),
    };
    for stream in &full_refresh {
        if catalog.get(stream).is_err() {
            sink.abort().await;
            return Err(Failure::Config(anyhow::anyhow!(
                "--full-refresh: unknown stream `{stream}` (run `msgraph-sync streams` for the list)"
            )));
        }
    }

    let started = Instant::now();
    let names: Vec<String> = landed.iter().map(|s| s.stream.clone()).collect();
    let progress = Progress::start(&names, json_logs);
    let extractor = Extractor::new(config, catalog, connection.tokens, connection.http);
    let (pages_tx, pages_rx) = mpsc::channel::<Page>(PAGE_CHANNEL);
    let forward = forward_pages(&sink, pages_rx, &progress);
    let work = async { tokio::join!(extractor.run(&[], pages_tx, prior, &full_refresh), forward) };
    let (extracted, forwarded) = tokio::select! {
        done = work => done,
        // Stopped from outside: abort the uploads and give the lease back; nothing committed.
        signal = arrow_sink::signal::interrupted() => {
            progress.finish();
            sink.abort().await;
            return Err(Failure::Interrupted(signal));
        }
    };
    progress.finish();
    if let Err(e) = forwarded {
        sink.abort().await;
        return Err(Failure::Other(e));
    }
    let (stats, run_failure) = match extracted {
        Ok(stats) if stats.strict_violated => {
            let message = format!(
                "{} stream(s)/parent(s) skipped under --strict; what was read landed",
                stats.skips.len()
            );
            (stats, Some(Failure::SkippedUnderStrict(message)))
        }
        Ok(stats) => (stats, None),
        // Some streams failed: the others land (unless --atomic, or the credentials broke,
        // which fails every stream alike).
        Err(ExtractError::StreamsFailed(stats))
            if !args.atomic && !stats.failed_on_credentials() =>
        {
            let failure = Failure::Other(anyhow::anyhow!(
                "{}; the other streams landed",
                stats.failure_summary()
            ));
            (*stats, Some(failure))
        }
        // Aborting commits nothing: no manifest, nothing a reader sees, the state unchanged.
        Err(err) => {
            sink.abort().await;
            return Err(err.into());
        }
    };
    let input = run_input(&stats);
    let manifest = sink
        .finish(input)
        .await
        .map_err(|e| Failure::Other(e.into()))?;
    summary::print(
        &stats,
        &manifest,
        &progress.streams(),
        &arrow_sink::redact_location(&output),
        started.elapsed(),
    );
    if connection.demo.is_some() {
        crate::demo::print_try_this(&output);
    }
    match run_failure {
        Some(failure) => Err(failure),
        None => Ok(()),
    }
}

async fn forward_pages(
    sink: &SinkRun,
    mut pages: mpsc::Receiver<Page>,
    progress: &Progress,
) -> anyhow::Result<()> {
    let mut senders: HashMap<Arc<str>, PageSender> = HashMap::new();
    while let Some(page) = pages.recv().await {
        progress.page(&page.stream, page.rows as u64, page.body.len() as u64);
        let sender = match senders.get(&page.stream) {
            Some(sender) => sender,
            None => {
                let sender = sink.sender(&page.stream)?;
                senders.entry(page.stream.clone()).or_insert(sender)
            }
        };
        let input = PageInput {
            parent: page.parent,
            body: page.body,
            chain_pages: page.chain_pages,
        };
        sender.send(input).await?;
    }
    Ok(())
}

/// The state the last committed run left, or a fresh one for a new landing.
async fn prior_state(landing: &Landing) -> anyhow::Result<ExtractState> {
    match arrow_sink::state::latest(landing).await? {
        None => Ok(ExtractState::default()),
        Some(json) => serde_json::from_slice(&json).context(
            "the landing's incremental state (_state/) is not one this version reads; \
             rerun with --full-refresh to rebuild it",
        ),
    }
}

/// What the sink needs from the extraction to land deletes and commit the new state.
fn run_input(stats: &RunStats) -> RunInput {
    RunInput {
        skipped: skipped_items(stats),
        methods: stats
            .streams
            .iter()
            .map(|(stream, s)| (stream.clone(), s.method.clone()))
            .filter(|(_, method)| !method.is_empty())
            .collect(),
        full_scopes: stats
            .full_scopes
            .iter()
            .map(|(stream, scope)| {
                (
                    stream.clone(),
                    FullScope {
                        whole: scope.whole,
                        parents: scope.parents.clone(),
                    },
                )
            })
            .collect(),
        // A file the extractor wrote: `stats` (which deletes it when dropped) outlives the commit.
        state: stats
            .state
            .path()
            .map(|file| StateInput::File(file.to_path_buf())),
        failed: stats
            .failures
            .iter()
            .map(|f| (f.stream.clone(), f.describe()))
            .collect(),
    }
}

fn skipped_items(stats: &RunStats) -> Vec<SkippedItem> {
    stats
        .skips
        .iter()
        .map(|skip| SkippedItem {
            stream: skip.stream.clone(),
            parent_id: skip.parent_id.clone(),
            code: Some(skip.code.clone()),
            http_status: Some(skip.status),
            reason: format!("{} (the stream needs {})", skip.message, skip.permission),
        })
        .collect()
}

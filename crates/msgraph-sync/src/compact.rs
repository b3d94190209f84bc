//! `msgraph-sync compact`: rewrite each stream's change log to its current state (and migrate a
//! landing written before landing contract 2). See arrow-sink's `compact` module.

use std::collections::BTreeSet;

use anyhow::Context;
use arrow_sink::{CompactOptions, Landing, WriteError, compact};
use stream_spec::{Catalog, StreamSpec};

use crate::failure::Failure;

#[derive(clap::Args)]
pub struct Args {
    /// The landing to compact: a directory, file://, s3://, az://, abfss:// or gs://.
    #[arg(long, env = "MSGRAPH_SYNC_OUTPUT")]
    output: String,
    /// Streams to compact (default: every declared stream with data under the root).
    #[arg(long, value_delimiter = ',')]
    streams: Vec<String>,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let landing = Landing::open(&args.output)
        .with_context(|| format!("--output {}", arrow_sink::redact_location(&args.output)))
        .map_err(Failure::Config)?;
    let catalog = Catalog::embedded();
    let streams = selected(&catalog, &landing, &args.streams).await?;
    let tables: Vec<_> = streams.iter().map(|spec| spec.table()).collect();
    let report = compact(&landing, &tables, &CompactOptions::default())
        .await
        .map_err(|e: WriteError| Failure::Other(e.into()))?;
    let rows: Vec<Vec<String>> = report
        .streams
        .iter()
        .map(|s| {
            vec![
                s.stream.clone(),
                s.files_before.to_string(),
                s.files_after.to_string(),
                s.rows_before.to_string(),
                s.rows_after.to_string(),
                s.tombstones_dropped.to_string(),
                s.superseded_removed.to_string(),
                s.migrated_files.to_string(),
            ]
        })
        .collect();
    let header = [
        "STREAM",
        "FILES BEFORE",
        "FILES AFTER",
        "ROWS BEFORE",
        "ROWS AFTER",
        "TOMBSTONES DROPPED",
        "SUPERSEDED REMOVED",
        "MIGRATED FILES",
    ];
    print!(
        "{}",
        crate::table::render(&header, &rows, &[1, 2, 3, 4, 5, 6, 7])
    );
    for s in report
        .streams
        .iter()
        .filter(|s| !s.dropped_columns.is_empty())
    {
        println!(
            "{}: columns the declaration no longer has were not carried over: {}",
            s.stream,
            s.dropped_columns.join(", ")
        );
    }
    if report.finished_interrupted > 0 {
        println!(
            "finished an interrupted compaction: {} replaced file(s) deleted",
            report.finished_interrupted
        );
    }
    match &report.run_id {
        Some(run) => println!(
            "compacted: {}/_runs/{run}.json",
            arrow_sink::redact_location(&args.output).trim_end_matches('/')
        ),
        None => println!("nothing to compact: every stream holds only its current state"),
    }
    Ok(())
}

/// The streams asked for (unknown names are a configuration error), or every declared stream
/// with a directory under the root (one listing).
async fn selected(
    catalog: &Catalog,
    landing: &Landing,
    names: &[String],
) -> Result<Vec<StreamSpec>, Failure> {
    if !names.is_empty() {
        return names
            .iter()
            .map(|n| catalog.get(n).cloned())
            .collect::<Result<_, _>>()
            .context("--streams")
            .map_err(Failure::Config);
    }
    let present = stream_dirs(landing).await.map_err(Failure::Other)?;
    Ok(catalog
        .streams()
        .iter()
        .filter(|s| present.contains(&s.stream))
        .cloned()
        .collect())
}

/// The directories directly under the root that may hold a stream (not `_runs`, `_state` …).
pub(crate) async fn stream_dirs(landing: &Landing) -> anyhow::Result<BTreeSet<String>> {
    let listing = landing
        .store()
        .list_with_delimiter(Some(landing.root()))
        .await
        .with_context(|| format!("listing {}", landing.root()))?;
    Ok(listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename())
        .filter(|name| !name.starts_with('_'))
        .map(str::to_string)
        .collect())
}

//! The account printed at the end of a run.

use std::collections::BTreeMap;
use std::time::Duration;

use arrow_sink::Manifest;
use graph_extract::RunStats;

use crate::progress::StreamProgress;

pub fn print(
    stats: &RunStats,
    manifest: &Manifest,
    timings: &BTreeMap<String, StreamProgress>,
    output: &str,
    elapsed: Duration,
) {
    let header = [
        "STREAM", "METHOD", "INSERTS", "UPDATES", "DELETES", "FILES", "BYTES", "SECONDS", "PAGES",
        "SKIPPED", "RETRIES", "429s",
    ];
    let rows: Vec<Vec<String>> = manifest
        .streams
        .iter()
        .map(|(stream, landed)| {
            let fetched = stats.streams.get(stream).cloned().unwrap_or_default();
            let seconds = timings.get(stream).map(|t| t.seconds()).unwrap_or(0.0);
            let skipped = manifest
                .skipped
                .iter()
                .filter(|s| &s.stream == stream)
                .count();
            vec![
                stream.clone(),
                landed.method.clone(),
                landed.changes.inserts.to_string(),
                landed.changes.updates.to_string(),
                landed.changes.deletes.to_string(),
                landed.files.len().to_string(),
                landed.bytes.to_string(),
                format!("{seconds:.1}"),
                fetched.pages.to_string(),
                skipped.to_string(),
                fetched.retries.to_string(),
                fetched.throttled.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        crate::table::render(&header, &rows, &[2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    );
    for skip in &manifest.skipped {
        let parent = skip
            .parent_id
            .as_deref()
            .map(|p| format!(" parent {p}"))
            .unwrap_or_default();
        println!("skipped {}{parent}: {}", skip.stream, skip.reason);
    }
    for failed in &manifest.failed {
        println!(
            "FAILED {}: {} (nothing of it landed; its current state is unchanged)",
            failed.stream, failed.reason
        );
    }
    let root = output.trim_end_matches('/');
    println!(
        "run {} landed in {root} in {:.1}s; manifest: {root}/_runs/{}.json",
        manifest.run_id,
        elapsed.as_secs_f64(),
        manifest.run_id
    );
    // `output` is already redacted: the hint never carries a SAS query or a password.
    println!(
        "query it: msgraph-sync duckdb --output {root} | duckdb msgraph.duckdb  \
         (a view of every stream's current state and history)"
    );
}

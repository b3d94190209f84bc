//! `msgraph-sync streams`.

use std::io::Write;

use stream_spec::{Catalog, StreamKind};

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON (one object per stream) instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let catalog = Catalog::embedded();
    let mut out = std::io::stdout().lock();
    if args.json {
        let rows: Vec<_> = catalog
            .streams()
            .iter()
            .map(|s| {
                serde_json::json!({
                    "stream": s.stream,
                    "kind": s.kind,
                    "path": s.path,
                    "primary_key": s.primary_key,
                    "parent": s.parent.as_ref().map(|p| &p.stream),
                    "permission": s.permission,
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = catalog
        .streams()
        .iter()
        .map(|s| {
            let kind = match s.kind {
                StreamKind::Collection => "collection",
                StreamKind::Delta => "delta",
                StreamKind::Report => "report",
            };
            vec![
                s.stream.clone(),
                kind.to_string(),
                s.primary_key.join(", "),
                s.parent
                    .as_ref()
                    .map(|p| p.stream.clone())
                    .unwrap_or_else(|| "-".into()),
                s.permission.clone(),
            ]
        })
        .collect();
    let header = ["STREAM", "KIND", "PRIMARY KEY", "PARENT", "PERMISSION"];
    write!(out, "{}", crate::table::render(&header, &rows, &[]))?;
    Ok(())
}

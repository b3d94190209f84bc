//! `msgraph-sync streams`: the declared streams, and `streams check DIR` for declarations
//! written by hand or by `streams new`.

use std::io::Write;
use std::path::{Path, PathBuf};

use stream_spec::{Catalog, StreamKind, StreamSpec};

use crate::failure::Failure;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// Print JSON (one object per stream) instead of a table.
    #[arg(long)]
    json: bool,
    /// Also list the declarations in DIR (as `sync --streams-dir DIR` would read them).
    #[arg(long, env = "MSGRAPH_SYNC_STREAMS_DIR", value_name = "DIR")]
    streams_dir: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Validate the declarations in DIR (`<stream>.json` each) against the shipped ones: every
    /// error at once, each naming its file; exit 2 when any is wrong.
    Check { dir: PathBuf },
    /// Write a declaration for a Graph collection (`--path /print/printers`), its fields from the
    /// CSDL this build ships, for `sync --streams-dir DIR`.
    New(crate::streams_new::Args),
}

pub fn run(args: Args) -> Result<(), Failure> {
    match &args.action {
        Some(Action::Check { dir }) => check(dir),
        Some(Action::New(new)) => crate::streams_new::run(new),
        None => {
            let catalog = crate::connect::load_catalog(args.streams_dir.as_deref())?;
            list(&catalog, args.json).map_err(Failure::Other)
        }
    }
}

/// Every file on its own first (so one bad file does not hide the next), then the catalog they
/// make with the shipped streams (parents declared, no circles).
fn check(dir: &Path) -> Result<(), Failure> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Failure::Config(anyhow::anyhow!("reading {}: {e}", dir.display())))?;
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let mut errors = Vec::new();
    let mut good = Vec::new();
    for path in &paths {
        let name = path.file_stem().unwrap_or_default().to_string_lossy();
        let read = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: {e}", path.display()))
            .and_then(|text| {
                StreamSpec::from_json(&name, &text).map_err(|e| format!("{}: {e}", path.display()))
            });
        match read {
            Ok(spec) => good.push(spec),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        let names: Vec<String> = good.iter().map(|s| s.stream.clone()).collect();
        let extra = Catalog::from_dir(dir).map_err(|e| Failure::Config(e.into()))?;
        if let Err(e) = Catalog::embedded().with(extra) {
            errors.push(format!("{}: {e}", dir.display()));
        } else if names.is_empty() {
            errors.push(format!("{}: no <stream>.json declarations", dir.display()));
        } else {
            let shipped = Catalog::embedded();
            for name in names {
                let verb = match shipped.get(&name) {
                    Ok(_) => "replaces the shipped declaration",
                    Err(_) => "adds a stream",
                };
                println!("ok  {name}: {verb}");
            }
            return Ok(());
        }
    }
    for e in &errors {
        eprintln!("{e}");
    }
    Err(Failure::Config(anyhow::anyhow!(
        "{} of the declarations in {} are wrong (see above)",
        errors.len(),
        dir.display()
    )))
}

fn list(catalog: &Catalog, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
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

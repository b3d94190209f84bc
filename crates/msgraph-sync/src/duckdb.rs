//! `msgraph-sync duckdb --output URL`: a DuckDB script with two views per landed stream, its
//! current state and its history, written from the landing contract and the declarations' keys.
//!
//! The views read only rows of committed runs (a `_run_id` with a manifest under `_runs/`), so a
//! run that died after publishing files never shows, as the sync itself treats it. The script
//! holds no credentials: for a store that needs them the user creates DuckDB's secret first.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use arrow_sink::layout::run_of_part_file;
use arrow_sink::{Landing, Manifest, RunId};
use futures::TryStreamExt;
use stream_spec::{Catalog, StreamSpec};
use url::Url;

use crate::failure::Failure;

#[derive(clap::Args)]
pub struct Args {
    /// The landing to read: a directory, file://, s3://, az://, abfss:// or gs://.
    #[arg(long, env = "MSGRAPH_SYNC_OUTPUT")]
    output: String,
    /// Declarations added with `sync --streams-dir DIR`, for their keys.
    #[arg(long)]
    streams_dir: Option<PathBuf>,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let shown = arrow_sink::redact_location(&args.output);
    let location = ReaderLocation::of(&args.output)
        .with_context(|| format!("--output {shown}"))
        .map_err(Failure::Config)?;
    let landing = Landing::open(&args.output)
        .with_context(|| format!("--output {shown}"))
        .map_err(Failure::Config)?;
    let catalog = crate::connect::load_catalog(args.streams_dir.as_deref())?;
    let landed = landed_streams(&landing)
        .await
        .with_context(|| format!("reading the landing {shown}"))
        .map_err(Failure::Other)?;
    if landed.committed_runs == 0 {
        return Err(Failure::Config(anyhow!(
            "--output {shown}: no committed run there (no manifest under _runs/); point it at \
             the root a `msgraph-sync sync --output` wrote"
        )));
    }
    print!("{}", script(&location, &catalog, &landed));
    Ok(())
}

/// Where DuckDB reads the landing, and what it needs to get there.
struct ReaderLocation {
    /// The root as DuckDB spells it: an absolute path or the store URL, no trailing slash.
    root: String,
    /// For a store: the extension and secret DuckDB needs, as a comment for the user.
    needs: Option<&'static str>,
}

impl ReaderLocation {
    fn of(output: &str) -> anyhow::Result<Self> {
        let url = Url::parse(output).ok().filter(|u| u.scheme().len() > 1);
        let dir = match &url {
            Some(url) if url.scheme() == "file" => url
                .to_file_path()
                .map_err(|()| anyhow!("not a local file path"))?,
            Some(url) => return Self::remote(url),
            None => PathBuf::from(output),
        };
        // Landing::open would create a missing directory; a reader's script must not.
        let dir = dir
            .canonicalize()
            .with_context(|| format!("{} is not a landing directory", dir.display()))?;
        Ok(Self {
            root: dir.display().to_string(),
            needs: None,
        })
    }

    fn remote(url: &Url) -> anyhow::Result<Self> {
        let needs = match url.scheme() {
            "s3" | "s3a" => {
                "LOAD httpfs; then CREATE SECRET (TYPE s3, ...) with the key, region and endpoint \
                 this landing was written with"
            }
            "az" | "azure" | "abfs" | "abfss" | "adl" => {
                "LOAD azure; then CREATE SECRET (TYPE azure, ...) for the storage account"
            }
            "gs" => {
                "LOAD httpfs; then CREATE SECRET (TYPE gcs, KEY_ID ..., SECRET ...) (HMAC keys)"
            }
            other => anyhow::bail!("DuckDB cannot read a `{other}://` landing in place"),
        };
        // The user part of abfss:// is the file system, not a credential; a query or password is.
        let mut shown = url.clone();
        shown.set_query(None);
        shown.set_fragment(None);
        let _ = shown.set_password(None);
        Ok(Self {
            root: shown.as_str().trim_end_matches('/').to_string(),
            needs: Some(needs),
        })
    }
}

/// What is under the root: stream directories with part files of committed runs, and the rest.
struct Landed {
    committed_runs: usize,
    /// Directory names holding at least one part file of a committed run.
    with_rows: BTreeSet<String>,
    /// Directory names (not `_…`) holding none.
    without_rows: BTreeSet<String>,
}

async fn landed_streams(landing: &Landing) -> anyhow::Result<Landed> {
    let committed: BTreeSet<RunId> = Manifest::committed_runs(landing)
        .await?
        .into_iter()
        .collect();
    let mut landed = Landed {
        committed_runs: committed.len(),
        with_rows: BTreeSet::new(),
        without_rows: BTreeSet::new(),
    };
    for name in crate::compact::stream_dirs(landing).await? {
        let dir = landing.path([name.as_str()]);
        let files: Vec<_> = landing.store().list(Some(&dir)).try_collect().await?;
        let has_rows = files.iter().any(|file| {
            file.location
                .filename()
                .and_then(run_of_part_file)
                .is_some_and(|run| committed.contains(&run))
        });
        match has_rows {
            true => landed.with_rows.insert(name),
            false => landed.without_rows.insert(name),
        };
    }
    Ok(landed)
}

fn script(location: &ReaderLocation, catalog: &Catalog, landed: &Landed) -> String {
    let root = &location.root;
    let mut sql = String::new();
    let _ = writeln!(
        sql,
        "-- DuckDB views over the msgraph-sync landing {root} (landing contract 2), from \
         msgraph-sync {}.\n\
         -- <stream>: its current state (each key's latest committed row, unless a delete);\n\
         -- <stream>_history: every committed row, with _run_id and _change.\n\
         -- Pipe into `duckdb FILE.duckdb`, or run with duckdb.sql(...) from Python.",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(needs) = location.needs {
        let _ = writeln!(sql, "-- This landing is on a store: first {needs}.");
    }
    let _ = writeln!(
        sql,
        "\nCREATE OR REPLACE VIEW msgraph_committed_runs AS\n  \
         SELECT regexp_extract(file, '([^/]+)\\.json$', 1) AS run_id\n  \
         FROM glob({});",
        literal(&format!("{root}/_runs/*.json"))
    );
    for name in &landed.with_rows {
        match catalog.get(name) {
            Ok(spec) => stream_views(&mut sql, root, spec),
            Err(_) => {
                let _ = writeln!(
                    sql,
                    "\n-- {name}: no declaration of this stream here; pass the --streams-dir it \
                     was synced with."
                );
            }
        }
    }
    for name in &landed.without_rows {
        let _ = writeln!(sql, "\n-- {name}: no rows of a committed run yet.");
    }
    sql
}

fn stream_views(sql: &mut String, root: &str, spec: &StreamSpec) {
    let stream = &spec.stream;
    let history = identifier(&format!("{stream}_history"));
    let current = identifier(stream);
    let partition = spec
        .primary_key
        .iter()
        .map(|k| identifier(k))
        .collect::<Vec<_>>()
        .join(", ");
    let files = literal(&format!("{root}/{stream}/**/*.parquet"));
    let _ = writeln!(
        sql,
        "\nCREATE OR REPLACE VIEW {history} AS\n  \
         SELECT * FROM read_parquet({files}, hive_partitioning = true, union_by_name = true)\n  \
         WHERE _run_id IN (SELECT run_id FROM msgraph_committed_runs);\n\
         CREATE OR REPLACE VIEW {current} AS\n  \
         SELECT * EXCLUDE (_rn) FROM (\n    \
         SELECT *, row_number() OVER (PARTITION BY {partition} ORDER BY _run_id DESC) AS _rn\n    \
         FROM {history})\n  \
         WHERE _rn = 1 AND _change <> 'delete';"
    );
}

/// A SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A quoted SQL identifier.
fn identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_the_quote_character() {
        assert_eq!(literal("/a/it's"), "'/a/it''s'");
        assert_eq!(identifier("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn store_urls_keep_their_path_and_lose_their_query() {
        let s3 = ReaderLocation::of("s3://lake/msgraph/").unwrap();
        assert_eq!(s3.root, "s3://lake/msgraph");
        assert!(s3.needs.unwrap().contains("TYPE s3"));
        let abfss =
            ReaderLocation::of("abfss://fs@acct.dfs.core.windows.net/x?sig=SECRET").unwrap();
        assert_eq!(abfss.root, "abfss://fs@acct.dfs.core.windows.net/x");
        assert!(ReaderLocation::of("memory:///x").is_err());
    }

    #[test]
    fn a_missing_directory_is_an_error_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nothing-here");
        let err = ReaderLocation::of(missing.to_str().unwrap()).err().unwrap();
        assert!(
            format!("{err:#}").contains("not a landing directory"),
            "{err:#}"
        );
        assert!(!missing.exists());
    }
}

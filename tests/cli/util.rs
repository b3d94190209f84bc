//! Tiny helpers: the real binary as a child process, a mock tenant in-process, DuckDB on the landing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use graph_mock::{MockConfig, MockServer, Truth};
use serde_json::Value;
use test_support::duckdb_query;

/// No run of the small test tenants comes near this, faults included.
const RUN_LIMIT: Duration = Duration::from_secs(240);

pub async fn mock(config: MockConfig) -> MockServer {
    MockServer::start(config).await.expect("mock starts")
}

/// A tap-ms-graph style config file pointing at `mock`; `extra` fields are merged in.
pub fn write_config(dir: &Path, mock: &MockServer, extra: Value) -> PathBuf {
    assert!(extra.is_object(), "extra is an object");
    let config = mock.client_config(extra);
    let path = dir.join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Two syncs of `streams` into `<dir>/landing`, with 3 users changed and 2 removed between them:
/// a landing with updates and tombstones. Returns the landing's path.
pub async fn landing_with_changes(mock: &MockServer, dir: &Path, streams: &[&str]) -> PathBuf {
    let config = write_config(dir, mock, serde_json::json!({ "streams": streams }));
    let out = dir.join("landing");
    for round in 0..2 {
        if round == 1 {
            mock.mutate("users", 3, 2).expect("users change");
        }
        let run = msgraph_sync(sync_args(&config, &out, &[]), dir, &[]).await;
        assert_eq!(run.code, 0, "{run:?}");
    }
    out
}

/// `sync --config CONFIG --output OUT` and `extra` flags.
pub fn sync_args(config: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "sync".to_string(),
        "--config".to_string(),
        config.display().to_string(),
        "--output".to_string(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Runs `msgraph-sync args...` with a clean environment for our variables, killed after a limit.
pub async fn msgraph_sync<S: AsRef<std::ffi::OsStr>>(
    args: impl IntoIterator<Item = S>,
    dir: &Path,
    env: &[(&str, &str)],
) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_msgraph-sync"));
    command
        .args(args)
        .current_dir(dir)
        .kill_on_drop(true)
        .env_remove("MSGRAPH_SYNC_CONFIG")
        .env_remove("MSGRAPH_SYNC_OUTPUT")
        .env_remove("MSGRAPH_CLIENT_SECRET")
        .env_remove("AZURE_CLIENT_SECRET")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        command.env(k, v);
    }
    let output: Output = tokio::time::timeout(RUN_LIMIT, command.output())
        .await
        .expect("msgraph-sync finished within the limit")
        .expect("msgraph-sync started");
    Run {
        code: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub use test_support::current_state_sql;

/// Row count and key set of one stream's current state (keys listed in `key`, partitioned by
/// `primary_key`), read back the way the README tells readers to.
pub fn landed(
    root: &Path,
    stream: &str,
    primary_key: &[String],
    key: &[String],
) -> (u64, BTreeSet<Vec<String>>) {
    let columns = if key.is_empty() {
        "1 AS one".to_string()
    } else {
        key.iter()
            .map(|k| format!("CAST(\"{k}\" AS VARCHAR) AS \"{k}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let rows = duckdb_query(&current_state_sql(root, stream, primary_key, &columns));
    let keys: BTreeSet<Vec<String>> = rows
        .iter()
        .map(|row| {
            key.iter()
                .map(|k| row[k].as_str().expect("keys are never null").to_string())
                .collect()
        })
        .collect();
    (rows.len() as u64, keys)
}

/// One stream's current state under `root` equals `expected`: row count and key set.
pub fn assert_stream_matches(root: &Path, stream: &str, expected: &graph_mock::StreamTruth) {
    let (rows, keys) = landed(root, stream, &expected.primary_key, &expected.primary_key);
    assert_eq!(rows, expected.rows, "{stream}: rows");
    assert_eq!(keys, expected.keys, "{stream}: keys");
}

/// Rows of one run that repeat a key (`0` when every key is landed once per run).
pub fn repeated_keys(root: &Path, stream: &str, primary_key: &[String]) -> u64 {
    let key = primary_key
        .iter()
        .map(|k| format!("\"{k}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT count(*) - count(DISTINCT ({key}, _run_id)) AS repeated \
         FROM read_parquet('{}/{stream}/**/*.parquet', hive_partitioning=true, union_by_name=true)",
        root.display()
    );
    duckdb_query(&sql)[0]["repeated"].as_u64().unwrap_or(0)
}

/// Every non-denied stream of the truth, as landed under `root`, equals the truth exactly.
pub fn assert_landing_matches(root: &Path, truth: &Truth) {
    let mut checked = 0;
    for (stream, expected) in &truth.streams {
        if expected.denied {
            continue;
        }
        // Reports have no key the mock tracks; their counts are the check.
        let key: &[String] = if expected.keys.is_empty() {
            &[]
        } else {
            &expected.primary_key
        };
        let (rows, keys) = landed(root, stream, &expected.primary_key, key);
        assert_eq!(rows, expected.rows, "row count of {stream}");
        assert_eq!(
            repeated_keys(root, stream, &expected.primary_key),
            0,
            "{stream}: a key landed twice in one run"
        );
        if !key.is_empty() {
            assert_eq!(keys, expected.keys, "key set of {stream}");
        }
        checked += 1;
    }
    assert!(checked > 20, "every stream was checked ({checked})");
}

/// The one manifest of a landing that saw one run.
pub fn manifest(root: &Path) -> Value {
    let runs: Vec<_> = std::fs::read_dir(root.join("_runs"))
        .expect("a _runs directory")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "one manifest: {runs:?}");
    serde_json::from_slice(&std::fs::read(&runs[0]).unwrap()).unwrap()
}

/// Every committed manifest of a landing, oldest run first (none when `_runs` is absent).
pub fn manifests(root: &Path) -> Vec<Value> {
    let mut runs: Vec<_> = match std::fs::read_dir(root.join("_runs")) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    runs.sort();
    runs.iter()
        .map(|path| serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
        .collect()
}

/// Names under `root`, for asserting that nothing was written.
pub fn tree(root: &Path) -> BTreeMap<String, u64> {
    fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<String, u64>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, base, out);
            } else {
                let name = path.strip_prefix(base).unwrap().display().to_string();
                out.insert(name, entry.metadata().map(|m| m.len()).unwrap_or(0));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

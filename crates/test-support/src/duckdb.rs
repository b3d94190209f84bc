//! Queries through DuckDB's Python package, results as JSON rows.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Opens the in-memory DuckDB `con` that [`RUNNER_QUERY`] uses; a prelude may go between the two.
const RUNNER_CONNECT: &str = r#"
import json, sys, duckdb
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
# A query past 2 s would draw DuckDB's progress bar on stdout, into the JSON.
con.execute("SET enable_progress_bar = false")
"#;

/// Runs the SQL and prints the rows as a JSON array of objects. DuckDB itself renders each row as
/// JSON (`to_json`), so dates and timestamps come back as DuckDB's text for them, in UTC, without
/// needing Python's timezone packages.
const RUNNER_QUERY: &str = r#"
rel = con.sql(sys.argv[1])
if rel is None:
    print("[]")
else:
    rel.create("__result")
    rows = con.sql("SELECT to_json(__result)::VARCHAR FROM __result").fetchall()
    print("[" + ",".join(row[0] for row in rows) + "]")
"#;

/// Loads DuckDB's httpfs and azure extensions from their PyPI packages, by path: nothing is
/// downloaded at run time.
const LOAD_STORE_EXTENSIONS: &str = r#"
import os, duckdb_extension_httpfs, duckdb_extension_azure
for package, name in ((duckdb_extension_httpfs, "httpfs"), (duckdb_extension_azure, "azure")):
    path = os.path.join(os.path.dirname(package.__file__), "extensions", "v" + duckdb.__version__,
                        name + ".duckdb_extension")
    con.execute("LOAD '" + path + "'")
"#;

/// Like [`duckdb_query`], in a DuckDB with the httpfs and azure extensions loaded, so `sql` can
/// read `s3://…` and `az://…` after its `CREATE SECRET`.
pub fn duckdb_store_query(sql: &str) -> Vec<Value> {
    let python = crate::tools::tool("duckdb-stores-venv/bin/python");
    execute(&python, LOAD_STORE_EXTENSIONS, sql, None)
}

/// Runs `sql` in a fresh in-memory DuckDB and returns the rows. Panics with DuckDB's message when
/// the query fails, so tests read like SQL.
pub fn duckdb_query(sql: &str) -> Vec<Value> {
    run(sql, None)
}

/// Like [`duckdb_query`], with `dir` as the working directory for relative paths.
pub fn duckdb_query_in(dir: &Path, sql: &str) -> Vec<Value> {
    run(sql, Some(dir))
}

/// The landing contract's current state of one stream (README: "the current state"): each key's
/// row with the greatest `_run_id`, dropped when it is a delete; `columns` are selected.
pub fn current_state_sql(
    root: &Path,
    stream: &str,
    primary_key: &[String],
    columns: &str,
) -> String {
    let partition = primary_key
        .iter()
        .map(|k| format!("\"{k}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {columns} FROM (SELECT *, row_number() OVER (PARTITION BY {partition} ORDER BY _run_id DESC) AS _rn \
         FROM read_parquet('{}/{stream}/**/*.parquet', hive_partitioning=true, union_by_name=true)) \
         WHERE _rn = 1 AND _change <> 'delete'",
        root.display()
    )
}

fn run(sql: &str, dir: Option<&Path>) -> Vec<Value> {
    execute(&crate::tools::python(), "", sql, dir)
}

/// Runs `sql` with `python`'s DuckDB, after `prelude` (Python, with `con` open).
fn execute(python: &Path, prelude: &str, sql: &str, dir: Option<&Path>) -> Vec<Value> {
    let runner = format!("{RUNNER_CONNECT}{prelude}{RUNNER_QUERY}");
    let mut command = Command::new(python);
    command.arg("-c").arg(runner).arg(sql);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let output = command.output().expect("starting DuckDB's Python");
    assert!(
        output.status.success(),
        "DuckDB failed on\n{sql}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Value = serde_json::from_slice(&output.stdout).expect("DuckDB runner prints JSON");
    match rows {
        Value::Array(rows) => rows,
        other => panic!("DuckDB runner printed {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_values_come_back_as_json() {
        let rows = duckdb_query(
            "SELECT 1 AS n, 'x' AS s, [1, 2] AS l, {'a': 1} AS st, DATE '2026-01-02' AS d, \
             TIMESTAMPTZ '2026-01-02 03:04:05.123456+00' AS ts",
        );
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row["n"], 1);
        assert_eq!(row["s"], "x");
        assert_eq!(row["l"], serde_json::json!([1, 2]));
        assert_eq!(row["st"], serde_json::json!({"a": 1}));
        assert_eq!(row["d"], "2026-01-02");
        assert_eq!(row["ts"], "2026-01-02 03:04:05.123456+00");
    }

    #[test]
    #[should_panic(expected = "DuckDB failed")]
    fn sql_errors_panic_with_duckdbs_message() {
        duckdb_query("SELECT * FROM no_such_table");
    }
}

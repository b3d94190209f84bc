//! `msgraph-sync duckdb --output URL`: the printed script, run by DuckDB, gives every landed
//! stream's current state exactly as the README's query does, and its history; rows of a run
//! that never committed stay out; DuckDB reads an Azurite landing in place through it (S3: in
//! incremental.rs); a directory that is no landing is exit 2.

use graph_mock::MockConfig;
use serde_json::json;
use test_support::duckdb_query;

use crate::util::{
    current_state_sql, landing_with_changes, mock, msgraph_sync, sync_args, write_config,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_views_give_the_readme_current_state_and_skip_uncommitted_runs() {
    let server = mock(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let streams = ["users", "groups", "group_member"];
    let out = landing_with_changes(&server, dir.path(), &streams).await;
    let catalog = stream_spec::Catalog::embedded();
    let views = script(&out, dir.path()).await;
    let comparisons: Vec<String> = streams
        .iter()
        .map(|stream| {
            let key = &catalog.get(stream).unwrap().primary_key;
            let readme = current_state_sql(&out, stream, key, "* EXCLUDE (_rn)");
            comparison(&format!("\"{stream}\""), &readme)
        })
        .collect();
    assert_same_rows(&views, &comparisons);
    let history = duckdb_query(&format!(
        "{views}\nSELECT count(*) AS n, count(DISTINCT _run_id) AS runs, \
         count(*) FILTER (WHERE _change = 'delete') AS deletes FROM users_history"
    ));
    let all = duckdb_query(&format!(
        "SELECT count(*) AS n FROM read_parquet('{}/users/**/*.parquet')",
        out.display()
    ));
    assert_eq!(history[0]["n"], all[0]["n"], "{history:?}");
    assert_eq!(history[0]["runs"], 2, "{history:?}");
    assert_eq!(history[0]["deletes"], 2, "{history:?}");

    // A run that died after publishing a file: its tombstone of one user is not part of the
    // landing (no manifest), so the views keep that user; the README's plain glob would not.
    let dead = "20991231T000000.000Z-dead00";
    let partition = std::fs::read_dir(out.join("users"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    duckdb_query(&format!(
        "COPY (SELECT * EXCLUDE (date) REPLACE ('{dead}' AS _run_id, 'delete' AS _change) \
         FROM read_parquet('{root}/users/**/*.parquet', hive_partitioning=true, union_by_name=true) \
         WHERE _change <> 'delete' LIMIT 1) TO '{}/part-{dead}-0.parquet' (FORMAT parquet)",
        partition.display(),
        root = out.display()
    ));
    let readme_users = current_state_sql(&out, "users", &["id".to_string()], "id");
    let before = duckdb_query(&format!("{views}\nSELECT count(*) AS n FROM users"));
    let readme_after = duckdb_query(&format!("SELECT count(*) AS n FROM ({readme_users})"));
    assert_eq!(
        readme_after[0]["n"].as_u64().unwrap() + 1,
        before[0]["n"].as_u64().unwrap(),
        "the plain glob reads the dead run's tombstone"
    );
    let views = script(&out, dir.path()).await;
    let after = duckdb_query(&format!(
        "{views}\nSELECT count(*) AS n, (SELECT count(*) FROM users_history WHERE _run_id = '{dead}') AS dead FROM users"
    ));
    assert_eq!(after[0]["n"], before[0]["n"], "{after:?}");
    assert_eq!(after[0]["dead"], 0, "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_reads_an_azurite_landing_in_place_through_the_views() {
    let azurite = test_support::Azurite::start();
    let server = mock(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let streams = ["users", "groups", "mail_messages"];
    let config = write_config(dir.path(), &server, json!({ "streams": streams }));
    let env = azurite.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let url = azurite.url("views");
    let remote = std::path::Path::new(&url);
    let run = msgraph_sync(sync_args(&config, remote, &[]), dir.path(), &env).await;
    assert_eq!(run.code, 0, "{run:?}");
    // The same tenant landed locally is what the in-place reads must match.
    let local = dir.path().join("local");
    let run = msgraph_sync(sync_args(&config, &local, &[]), dir.path(), &[]).await;
    assert_eq!(run.code, 0, "{run:?}");

    let views = msgraph_sync(["duckdb", "--output", url.as_str()], dir.path(), &env).await;
    assert_eq!(views.code, 0, "{views:?}");
    assert!(
        views.stdout.contains("CREATE SECRET (TYPE azure"),
        "{views:?}"
    );
    assert!(
        !views.stdout.contains(test_support::Azurite::KEY),
        "no key in the script"
    );
    assert_in_place_counts(&azurite.duckdb_secret(), &views.stdout, &local, &streams);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_without_a_landing_is_exit_2_and_stays_absent() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-landing");
    let run = msgraph_sync(
        ["duckdb", "--output", missing.to_str().unwrap()],
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("not a landing directory"), "{run:?}");
    assert!(
        !missing.exists(),
        "the reader's command created the directory"
    );

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let run = msgraph_sync(
        ["duckdb", "--output", empty.to_str().unwrap()],
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no committed run"), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
}

/// Runs the `views` of a landing on a store, after its `secret`, in DuckDB with the store
/// extensions: each stream's current state has as many rows, and more than none, as the same
/// tenant's `local` landing read the README's way. Returns each stream's count of distinct runs.
pub fn assert_in_place_counts(
    secret: &str,
    views: &str,
    local: &std::path::Path,
    streams: &[&str],
) -> Vec<u64> {
    let catalog = stream_spec::Catalog::embedded();
    streams
        .iter()
        .map(|stream| {
            let key = &catalog.get(stream).unwrap().primary_key;
            let in_place = test_support::duckdb_store_query(&format!(
                "{secret}\n{views}\nSELECT count(*) AS n, count(DISTINCT _run_id) AS runs \
                 FROM \"{stream}\""
            ));
            let expected = crate::util::landed(local, stream, key, &[]).0;
            assert!(expected > 0, "{stream} landed rows");
            assert_eq!(in_place[0]["n"], expected, "{stream}: {in_place:?}");
            in_place[0]["runs"].as_u64().unwrap()
        })
        .collect()
}

/// The script `msgraph-sync duckdb` prints for `root`.
pub async fn script(root: &std::path::Path, dir: &std::path::Path) -> String {
    let run = msgraph_sync(["duckdb", "--output", root.to_str().unwrap()], dir, &[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("CREATE OR REPLACE VIEW"), "{run:?}");
    run.stdout
}

/// One row comparing the view `view` with the query `readme`: counts, and rows in one and not
/// the other (duplicates counted).
pub fn comparison(view: &str, readme: &str) -> String {
    format!(
        "SELECT '{}' AS view, (SELECT count(*) FROM {view}) AS n, \
         (SELECT count(*) FROM ({readme})) AS expected, \
         (SELECT count(*) FROM (SELECT * FROM {view} EXCEPT ALL SELECT * FROM ({readme}))) AS extra, \
         (SELECT count(*) FROM (SELECT * FROM ({readme}) EXCEPT ALL SELECT * FROM {view})) AS missing",
        view.replace('\'', "''")
    )
}

/// Every comparison (after the `views` script) finds the same, non-empty rows on both sides.
pub fn assert_same_rows(views: &str, comparisons: &[String]) {
    let rows = duckdb_query(&format!("{views}\n{}", comparisons.join("\nUNION ALL\n")));
    assert_eq!(rows.len(), comparisons.len(), "{rows:?}");
    for row in &rows {
        assert_eq!(row["n"], row["expected"], "{row}");
        assert!(row["n"].as_u64().unwrap() > 0, "empty: {row}");
        assert_eq!(row["extra"], 0, "{row}");
        assert_eq!(row["missing"], 0, "{row}");
    }
}

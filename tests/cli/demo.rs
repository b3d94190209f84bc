//! The README's first command: `sync --demo`, then the DuckDB query it prints.

use test_support::duckdb_query_in;

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_lands_every_stream_and_its_query_works() {
    let dir = tempfile::tempdir().unwrap();
    // Where real loads go on this host: the fake tenant must never land there.
    let lake = dir.path().join("lake");
    let env = [("MSGRAPH_SYNC_OUTPUT", lake.to_str().unwrap())];
    let run = msgraph_sync(&["sync", "--demo"], dir.path(), &env).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        !lake.exists(),
        "--demo landed where MSGRAPH_SYNC_OUTPUT points"
    );
    let root = dir.path().join("msgraph-demo");
    let manifest = manifest(&root);
    let declared = stream_spec::Catalog::embedded().streams().len();
    assert_eq!(manifest["streams"].as_object().unwrap().len(), declared);

    // Run the printed query as a user would, from the same directory.
    let line = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("duckdb -c"))
        .unwrap_or_else(|| panic!("a DuckDB command is printed: {run:?}"));
    let sql = line
        .split_once('"')
        .and_then(|(_, rest)| rest.rsplit_once('"'))
        .map(|(sql, _)| sql)
        .expect("the query is quoted");
    let rows = duckdb_query_in(dir.path(), sql);
    let users: u64 = rows.iter().map(|r| r["users"].as_u64().unwrap()).sum();
    assert_eq!(users, 120, "{rows:?}");

    // The views command its summary prints: every landed stream's view holds the README's
    // current state.
    let views_line = run
        .stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("query it: "))
        .filter(|command| command.starts_with("msgraph-sync duckdb"))
        .unwrap_or_else(|| panic!("the views command is printed: {run:?}"));
    let (command, _) = views_line.split_once('|').expect("piped into duckdb");
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    let views = msgraph_sync(&args, dir.path(), &[]).await;
    assert_eq!(views.code, 0, "{views:?}");
    let catalog = stream_spec::Catalog::embedded();
    let comparisons: Vec<String> = catalog
        .streams()
        .iter()
        .filter_map(|spec| {
            let view = format!("\"{}\"", spec.stream);
            let declared = format!("CREATE OR REPLACE VIEW {view} AS");
            views.stdout.contains(&declared).then(|| {
                let readme =
                    current_state_sql(&root, &spec.stream, &spec.primary_key, "* EXCLUDE (_rn)");
                crate::duckdb::comparison(&view, &readme)
            })
        })
        .collect();
    // The demo tenant has rows in every stream, so every stream gets its views.
    assert_eq!(
        comparisons.len(),
        declared,
        "views for {} of {declared} streams: {views:?}",
        comparisons.len()
    );
    crate::duckdb::assert_same_rows(&views.stdout, &comparisons);
}

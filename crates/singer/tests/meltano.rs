//! The Singer ecosystem for real: `meltano run` with our tap against graph-mock into our target,
//! and a third-party tap from PyPI (tap-jsonl) into our target, both checked with DuckDB.
//!
//! Meltano and tap-jsonl live in `$MSGRAPH_SYNC_TOOLS/meltano-venv` (`cargo xtask test` installs
//! them). Without it these tests print why and pass, unless `MSGRAPH_SYNC_REQUIRE_TOOLS` is set
//! (CI sets it), in which case a missing tool fails them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use graph_mock::auth::{TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TENANT_ID};
use graph_mock::{MockConfig, MockServer};
use serde_json::{Value, json};

/// `<venv>/bin` holding `tool`, or `None` (after saying why) when it may be skipped.
fn venv_bin(tool: &str) -> Option<PathBuf> {
    let bin = test_support::tools_dir().join("meltano-venv/bin");
    if bin.join(tool).exists() {
        return Some(bin);
    }
    let why = format!(
        "{} is missing: run `cargo xtask test` (or `cargo xtask tools`) to install it",
        bin.join(tool).display()
    );
    if std::env::var_os("MSGRAPH_SYNC_REQUIRE_TOOLS").is_some() {
        panic!("{why} (MSGRAPH_SYNC_REQUIRE_TOOLS is set)");
    }
    println!("SKIPPED: {why}; set MSGRAPH_SYNC_REQUIRE_TOOLS to make this a failure");
    None
}

fn example_project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("meltano/meltano.yml")
}

/// PATH with our executables and the venv's first.
fn path_with(venv: &Path) -> std::ffi::OsString {
    let ours = Path::new(TAP).parent().expect("bin dir").to_path_buf();
    let mut dirs = vec![ours, venv.to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH")
}

fn meltano(venv: &Path, project: &Path, mock: &MockServer, args: &[&str]) -> Finished {
    let mut command = Command::new(venv.join("meltano"));
    command
        .args(args)
        .current_dir(project)
        .env("PATH", path_with(venv))
        .env("HOME", project)
        .env("MELTANO_SEND_ANONYMOUS_USAGE_STATS", "false")
        .env("MELTANO_DISABLE_TRACKING", "true")
        .env("MELTANO_CLI_LOG_LEVEL", "info")
        .env("TAP_MSGRAPH_TENANT_ID", TEST_TENANT_ID)
        .env("TAP_MSGRAPH_CLIENT_ID", TEST_CLIENT_ID)
        .env("TAP_MSGRAPH_CLIENT_SECRET", TEST_CLIENT_SECRET)
        .env("TAP_MSGRAPH_GRAPH_BASE_URL", mock.graph_url())
        .env("TAP_MSGRAPH_AUTHORITY_HOST", mock.authority_host())
        .env("TARGET_PARQUET_ARROW_OUTPUT", project.join("output"));
    run(&mut command, b"")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meltano_runs_twice_and_the_second_lands_only_the_changes() {
    let Some(venv) = venv_bin("meltano") else {
        return;
    };
    // Sized so the scenario's changes (6 users, 2 groups) stay under 10% of a full read.
    let sizes = graph_mock::Sizes {
        users: 80,
        groups: 40,
        ..graph_mock::Sizes::default()
    };
    let mock = MockServer::start(MockConfig::default().sizes(sizes))
        .await
        .expect("mock starts");
    let project = tempfile::tempdir().unwrap();
    std::fs::copy(example_project(), project.path().join("meltano.yml")).unwrap();

    let done = meltano(
        &venv,
        project.path(),
        &mock,
        &["run", "tap-msgraph", "target-parquet-arrow"],
    );
    assert!(done.success(), "meltano run failed:\n{}", done.stderr);

    let out = project.path().join("output");
    let truth = mock.truth();
    for stream in ["users", "groups", "group_member", "mail_messages"] {
        assert_eq!(
            count(&out, stream),
            truth.stream(stream).unwrap().rows,
            "{stream}"
        );
    }
    assert!(
        !out.join("teams").exists(),
        "unselected streams are not synced"
    );
    assert_eq!(manifests(&out).len(), 1);

    // Meltano stored the state our target emitted after its commit.
    let stored = stored_state(&venv, project.path(), &mock);
    let bookmark = &stored["singer_state"]["bookmarks"]["users"]["last_synced_at"];
    assert!(bookmark.is_string(), "{stored}");

    // The tenant changes; the second run resumes from the stored state.
    graph_mock::scenario::standard_mutation(&mock).expect("the scenario applies");
    let before = mock.requests();
    let done = meltano(
        &venv,
        project.path(),
        &mock,
        &["run", "tap-msgraph", "target-parquet-arrow"],
    );
    assert!(
        done.success(),
        "second meltano run failed:\n{}",
        done.stderr
    );
    let after = mock.requests();
    assert_eq!(manifests(&out).len(), 2);
    let stored = stored_state(&venv, project.path(), &mock);
    assert!(
        stored["singer_state"]["bookmarks"]["users"]["msgraph"]["delta_links"][""].is_string(),
        "the stored state carries the users delta link: {stored}"
    );
    let truth = mock.truth();
    for stream in ["users", "groups", "mail_messages"] {
        let run_2 = after.records(stream) - before.records(stream);
        let run_1 = before.records(stream);
        assert!(
            run_2 * 10 <= run_1,
            "{stream}: the second run read {run_2} records, the first {run_1}"
        );
    }
    for stream in ["users", "groups", "group_member", "mail_messages"] {
        let want = truth.stream(stream).unwrap();
        let sql = test_support::current_state_sql(&out, stream, &want.primary_key, "1 AS one");
        assert_eq!(
            test_support::duckdb_query(&sql).len() as u64,
            want.rows,
            "{stream}: current state rows = the mock's truth"
        );
    }
}

fn stored_state(venv: &Path, project: &Path, mock: &MockServer) -> Value {
    let state = meltano(
        venv,
        project,
        mock,
        &["state", "get", "dev:tap-msgraph-to-target-parquet-arrow"],
    );
    assert!(state.success(), "{}", state.stderr);
    serde_json::from_slice(&state.stdout).expect("state JSON")
}

#[test]
fn third_party_tap_jsonl_lands_through_our_target() {
    let Some(venv) = venv_bin("tap-jsonl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let mut jsonl = String::new();
    for i in 0..1000 {
        let row = json!({
            "id": i,
            "name": if i % 7 == 0 { Value::Null } else { json!(format!("person {i} ✓")) },
            "joined": format!("2024-01-{:02}T10:00:00Z", i % 28 + 1),
            "score": i as f64 / 4.0,
            "tags": ["a", format!("t{}", i % 3)],
            "profile": {"city": "Zürich", "floor": i % 5}
        });
        jsonl.push_str(&row.to_string());
        jsonl.push('\n');
    }
    std::fs::write(data.join("people.jsonl"), jsonl).unwrap();
    let tap_config = dir.path().join("tap.json");
    std::fs::write(
        &tap_config,
        json!({"path": format!("{}/*.jsonl", data.display()), "stream_name": "people",
               "primary_keys": ["id"]})
        .to_string(),
    )
    .unwrap();
    let tapped = run(
        Command::new(venv.join("tap-jsonl"))
            .arg("--config")
            .arg(&tap_config),
        b"",
    );
    assert!(tapped.success(), "tap-jsonl failed:\n{}", tapped.stderr);
    let last_state = tapped
        .lines()
        .into_iter()
        .rfind(|l| l["type"] == "STATE")
        .expect("tap-jsonl sends STATE")["value"]
        .clone();

    let out = dir.path().join("landing");
    let landed = target(&target_config(dir.path(), &out, ""), &tapped.stdout);
    assert!(landed.success(), "{}", landed.stderr);
    assert_eq!(
        landed.lines(),
        vec![last_state],
        "the tap's latest state, after the commit"
    );

    assert_eq!(count(&out, "people"), 1000);
    let rows = test_support::duckdb_query(&format!(
        "SELECT count(DISTINCT id) AS ids, count(name) AS names, max(typeof(id)) AS id_type,
                max(typeof(joined)) AS joined_type, sum(score) AS score, max(len(tags)) AS tags,
                max(typeof(tags)) AS tags_type
         FROM read_parquet('{}/people/**/*.parquet', hive_partitioning=true)",
        out.display()
    ));
    let row = &rows[0];
    assert_eq!(row["ids"], 1000);
    assert_eq!(row["names"], 1000 - 143);
    assert_eq!(row["id_type"], "BIGINT");
    assert_eq!(row["joined_type"], "TIMESTAMP WITH TIME ZONE");
    assert_eq!(row["score"], 124875.0);
    assert_eq!(row["tags"], 2);
}

//! The Singer ecosystem for real: `meltano install` of our wheel, then `meltano run` with our tap
//! against graph-mock into our target, and a third-party tap from PyPI (tap-jsonl) into our
//! target, both checked with DuckDB; and the Hub definitions read by a YAML parser.
//!
//! Meltano and tap-jsonl live in `$MSGRAPH_SYNC_TOOLS/meltano-venv`, the wheel at
//! `$MSGRAPH_SYNC_WHEEL` (`cargo xtask test` installs and builds them). Without them these tests
//! print why and pass, unless `MSGRAPH_SYNC_REQUIRE_TOOLS` is set (CI sets it), in which case a
//! missing tool fails them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use graph_mock::auth::{TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TENANT_ID};
use graph_mock::{MockConfig, MockServer};
use serde_json::Value;

/// The wheel `cargo xtask wheel` built (`MSGRAPH_SYNC_WHEEL`), or `None` when it may be skipped.
fn wheel() -> Option<PathBuf> {
    match std::env::var_os("MSGRAPH_SYNC_WHEEL").map(PathBuf::from) {
        Some(wheel) if wheel.is_file() => Some(wheel),
        Some(wheel) => skip(format!(
            "MSGRAPH_SYNC_WHEEL={} is not a file: run `cargo xtask wheel`",
            wheel.display()
        )),
        None => skip(
            "MSGRAPH_SYNC_WHEEL is not set: run `cargo xtask test`, or \
             `export MSGRAPH_SYNC_WHEEL=$(cargo xtask wheel)`"
                .into(),
        ),
    }
}

fn example_project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("meltano/meltano.yml")
}

/// PATH with Meltano's venv first. Not our build's executables: Meltano must run the ones it
/// installed from the wheel.
fn path_with(venv: &Path) -> std::ffi::OsString {
    let mut dirs = vec![venv.to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH")
}

struct Project<'a> {
    venv: &'a Path,
    wheel: &'a Path,
    dir: &'a Path,
}

fn meltano(project: &Project, mock: &MockServer, args: &[&str]) -> Finished {
    let Project { venv, wheel, dir } = *project;
    let mut command = Command::new(venv.join("meltano"));
    command
        .args(args)
        .current_dir(dir)
        .env("PATH", path_with(venv))
        .env("MSGRAPH_SYNC_WHEEL", wheel)
        // `meltano install` needs nothing but the wheel (no dependencies): no index, so the test
        // talks to no server, and pip's own upgrade of itself is a no-op.
        .env("PIP_NO_INDEX", "1")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("HOME", dir)
        .env("MELTANO_SEND_ANONYMOUS_USAGE_STATS", "false")
        .env("MELTANO_DISABLE_TRACKING", "true")
        .env("MELTANO_CLI_LOG_LEVEL", "info")
        .env("TAP_MSGRAPH_TENANT_ID", TEST_TENANT_ID)
        .env("TAP_MSGRAPH_CLIENT_ID", TEST_CLIENT_ID)
        .env("TAP_MSGRAPH_CLIENT_SECRET", TEST_CLIENT_SECRET)
        .env("TAP_MSGRAPH_GRAPH_BASE_URL", mock.graph_url())
        .env("TAP_MSGRAPH_AUTHORITY_HOST", mock.authority_host())
        .env("TARGET_PARQUET_ARROW_OUTPUT", dir.join("output"));
    run(&mut command, b"")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meltano_installs_the_wheel_and_runs_twice_the_second_landing_only_the_changes() {
    let (Some(venv), Some(wheel)) = (venv_bin("meltano"), wheel()) else {
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
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(example_project(), dir.path().join("meltano.yml")).unwrap();
    let project = Project {
        venv: &venv,
        wheel: &wheel,
        dir: dir.path(),
    };

    // As a user would: both plugins from the wheel, into Meltano's own venvs.
    let done = meltano(&project, &mock, &["install"]);
    assert!(done.success(), "meltano install failed:\n{}", done.stderr);
    for (kind, name) in [
        ("extractors", "tap-msgraph"),
        ("loaders", "target-parquet-arrow"),
    ] {
        let installed = dir
            .path()
            .join(format!(".meltano/{kind}/{name}/venv/bin/{name}"));
        assert!(installed.is_file(), "{} is missing", installed.display());
    }

    let done = meltano(
        &project,
        &mock,
        &["run", "tap-msgraph", "target-parquet-arrow"],
    );
    assert!(done.success(), "meltano run failed:\n{}", done.stderr);

    let out = dir.path().join("output");
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
    let stored = stored_state(&project, &mock);
    let bookmark = &stored["singer_state"]["bookmarks"]["users"]["last_synced_at"];
    assert!(bookmark.is_string(), "{stored}");

    // The tenant changes; the second run resumes from the stored state.
    graph_mock::scenario::standard_mutation(&mock).expect("the scenario applies");
    let before = mock.requests();
    let done = meltano(
        &project,
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
    let stored = stored_state(&project, &mock);
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

fn stored_state(project: &Project, mock: &MockServer) -> Value {
    let state = meltano(
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
    people_jsonl(&data);
    let tapped = tap_jsonl(&venv, dir.path(), &data, None);
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

/// The YAML files, read by a YAML parser (Meltano's venv has one), as JSON values.
fn load_yaml(venv: &Path, files: &[PathBuf]) -> Vec<Value> {
    const LOAD: &str = "import json, sys\n\
        try:\n    import yaml; load = yaml.safe_load\n\
        except ImportError:\n    from ruamel.yaml import YAML; load = YAML(typ='safe').load\n\
        print(json.dumps([load(open(p)) for p in sys.argv[1:]]))";
    let done = run(
        Command::new(venv.join("python"))
            .arg("-c")
            .arg(LOAD)
            .args(files),
        b"",
    );
    assert!(done.success(), "reading YAML: {}", done.stderr);
    serde_json::from_slice(&done.stdout).expect("JSON from Python")
}

/// (name, kind, secret) of each setting `exe --about` lists; its capabilities; its required settings.
fn about_facts(exe: &str) -> (Vec<(String, String, bool)>, Value, Value) {
    let done = run(Command::new(exe).arg("--about"), b"");
    assert!(done.success(), "{}", done.stderr);
    let about: Value = serde_json::from_slice(&done.stdout).unwrap();
    let settings = about_settings(&about)
        .into_iter()
        .map(|(name, kind, _, secret)| (name, kind, secret))
        .collect();
    (
        settings,
        about["capabilities"].clone(),
        about["settings"]["required"].clone(),
    )
}

/// A plugin definition's settings as (name, kind, secret); Meltano's default kind is string.
fn yaml_settings(plugin: &Value) -> Vec<(String, String, bool)> {
    let mut settings: Vec<_> = plugin["settings"]
        .as_array()
        .expect("settings")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["kind"].as_str().unwrap_or("string").to_string(),
                s["sensitive"] == true,
            )
        })
        .collect();
    settings.sort();
    settings
}

#[test]
fn hub_definitions_and_the_example_project_match_about() {
    let Some(venv) = venv_bin("python") else {
        return;
    };
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let hub = [
        crate_dir.join("hub/tap-msgraph.yml"),
        crate_dir.join("hub/target-parquet-arrow.yml"),
    ];
    let mut files = hub.to_vec();
    files.push(example_project());
    let loaded = load_yaml(&venv, &files);
    let project = &loaded[2]["plugins"];
    for (i, (exe, kind)) in [(TAP, "extractors"), (TARGET, "loaders")]
        .into_iter()
        .enumerate()
    {
        let (mut settings, capabilities, required) = about_facts(exe);
        settings.sort();
        let definition = &loaded[i];
        let name = definition["name"].as_str().unwrap();
        assert!(exe.ends_with(name), "{exe}: {definition}");
        for key in ["namespace", "variant", "label", "description", "pip_url"] {
            assert!(definition[key].is_string(), "{name}: Hub key {key} missing");
        }
        assert_eq!(definition["executable"], name);
        assert_eq!(definition["capabilities"], capabilities, "{name}");
        assert_eq!(
            yaml_settings(definition),
            settings,
            "{name}: Hub settings vs --about"
        );
        assert_eq!(
            definition["settings_group_validation"],
            Value::Array(vec![required])
        );

        // The example project: installed from the wheel, declaring only settings --about has.
        let plugin = &project[kind][0];
        assert_eq!(plugin["name"], name);
        assert_eq!(plugin["pip_url"], "$MSGRAPH_SYNC_WHEEL", "{name}");
        assert_eq!(plugin["executable"], name, "no path to a build directory");
        assert_eq!(plugin["capabilities"], capabilities, "{name}");
        for setting in yaml_settings(plugin) {
            assert!(
                settings.contains(&setting),
                "meltano.yml's {name} setting {setting:?} is not --about's"
            );
        }
    }
}

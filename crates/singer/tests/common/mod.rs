//! Shared by the Singer tests: the built executables, bounded child processes, graph-mock configs
//! and DuckDB checks of a landing.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use graph_mock::MockServer;
use graph_mock::auth::TEST_CLIENT_SECRET;
use serde_json::Value;

pub const TAP: &str = env!("CARGO_BIN_EXE_tap-msgraph");
pub const TARGET: &str = env!("CARGO_BIN_EXE_target-parquet-arrow");

/// No child process in these tests runs longer than this.
pub const CHILD_LIMIT: Duration = Duration::from_secs(180);

pub struct Finished {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// stdout as JSON lines.
    pub fn lines(&self) -> Vec<Value> {
        self.stdout
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("every stdout line is JSON"))
            .collect()
    }
}

/// Runs `command` with `input` on stdin, killing it after `CHILD_LIMIT`. The test secret never
/// reaches the returned text unnoticed: callers assert on it.
pub fn run(command: &mut Command, input: &[u8]) -> Finished {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("child starts");
    let mut stdin = child.stdin.take().expect("stdin piped");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        // The child may exit early (bad input): a broken pipe here is expected then.
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().expect("stdout piped");
    let mut stderr = child.stderr.take().expect("stderr piped");
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = String::new();
        let _ = stderr.read_to_string(&mut buf);
        buf
    });
    let deadline = Instant::now() + CHILD_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting on the child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{command:?} ran past {CHILD_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    writer.join().expect("stdin writer");
    let finished = Finished {
        code: status.code(),
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    };
    assert_no_secret(&finished.stderr);
    assert_no_secret(&String::from_utf8_lossy(&finished.stdout));
    finished
}

pub fn assert_no_secret(text: &str) {
    assert!(
        !text.contains(TEST_CLIENT_SECRET),
        "the client secret leaked into a child's output"
    );
}

/// tap-ms-graph's config fields as they are, plus where graph-mock listens.
pub fn tap_config(dir: &Path, mock: &MockServer, extra: &str) -> PathBuf {
    let tap_fields = format!(
        r#"{{"scope":"https://graph.microsoft.com/.default","page_size":"999","start_date":"2020-07-01T00:00:00Z"{extra}}}"#
    );
    let extra: serde_json::Value = serde_json::from_str(&tap_fields).expect("extra is JSON");
    let text = mock.client_config(extra).to_string();
    let path = dir.join("tap-config.json");
    std::fs::write(&path, text).expect("config written");
    path
}

pub fn target_config(dir: &Path, output: &Path, extra: &str) -> PathBuf {
    let text = format!(
        r#"{{"output":{}{extra}}}"#,
        serde_json::to_string(&output.display().to_string()).unwrap()
    );
    let path = dir.join("target-config.json");
    std::fs::write(&path, text).expect("config written");
    path
}

pub fn target(config: &Path, input: &[u8]) -> Finished {
    run(Command::new(TARGET).arg("--config").arg(config), input)
}

/// The streams of the tap tests: top-level, fan-out, bookmark, `list<json>` and report (CSV,
/// snake_case) streams.
pub const TAP_STREAMS: [&str; 6] = [
    "users",
    "groups",
    "group_member",
    "drive_items",
    "chat_messages",
    "office365_active_user_detail",
];

/// The tap's `--discover` catalog for `config`.
pub fn discover(config: &std::path::Path) -> Value {
    let done = run(
        Command::new(TAP)
            .arg("--config")
            .arg(config)
            .arg("--discover"),
        b"",
    );
    assert!(done.success(), "{}", done.stderr);
    serde_json::from_slice(&done.stdout).expect("catalog JSON")
}

/// A tap sync with `catalog` (and `state`), files in `dir`; it must succeed.
pub fn sync(
    config: &std::path::Path,
    catalog: &Value,
    dir: &std::path::Path,
    state: Option<&Value>,
) -> Finished {
    let path = dir.join("catalog.json");
    std::fs::write(&path, serde_json::to_vec(catalog).unwrap()).unwrap();
    let mut command = Command::new(TAP);
    command
        .arg("--config")
        .arg(config)
        .arg("--catalog")
        .arg(&path);
    if let Some(state) = state {
        let state_path = dir.join("state.json");
        std::fs::write(&state_path, state.to_string()).unwrap();
        command.arg("--state").arg(state_path);
    }
    let done = run(&mut command, b"");
    assert!(done.success(), "{}", done.stderr);
    done
}

/// A catalog from `--discover` with only `streams` selected.
pub fn select(catalog: &mut Value, streams: &[&str]) {
    for entry in catalog["streams"].as_array_mut().expect("streams") {
        let on = streams.contains(&entry["stream"].as_str().expect("stream name"));
        for md in entry["metadata"].as_array_mut().expect("metadata") {
            if md["breadcrumb"] == serde_json::json!([]) {
                md["metadata"]["selected"] = Value::Bool(on);
            }
        }
    }
}

/// Rows of a landed stream, read the way the landing's README tells readers to.
pub fn count(root: &Path, stream: &str) -> u64 {
    let rows = test_support::duckdb_query(&format!(
        "SELECT count(*) AS n FROM read_parquet('{}/{stream}/**/*.parquet', hive_partitioning=true, union_by_name=true)",
        root.display()
    ));
    rows[0]["n"].as_u64().expect("a count")
}

/// Every stream of `streams` landed under `root` with the rows graph-mock holds; the tap config's
/// start_date (2020-07-01) bounds the bookmark streams' first run (chat messages).
pub fn assert_counts_are_the_truth(mock: &MockServer, root: &Path, streams: &[&str]) {
    let start = chrono::DateTime::parse_from_rfc3339("2020-07-01T00:00:00Z").expect("a date");
    let truth = mock.truth_with(&graph_mock::TruthFilter::default().start_date(start.to_utc()));
    for stream in streams {
        let expected = truth.stream(stream).expect("a mock stream").rows;
        assert_eq!(count(root, stream), expected, "{stream}");
    }
}

/// The committed runs' manifests under `root`.
pub fn manifests(root: &Path) -> Vec<Value> {
    let dir = root.join("_runs");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .map(|e| {
            let text = std::fs::read_to_string(e.expect("entry").path()).expect("manifest");
            serde_json::from_str(&text).expect("manifest JSON")
        })
        .collect()
}

/// `people.jsonl` in `data`: 1,000 people for tap-jsonl (some without a name, a timestamp, a
/// double, a list and a struct each).
pub fn people_jsonl(data: &Path) {
    std::fs::create_dir_all(data).expect("data dir");
    let mut jsonl = String::new();
    for i in 0..1000 {
        let row = serde_json::json!({
            "id": i,
            "name": if i % 7 == 0 { Value::Null } else { serde_json::json!(format!("person {i} ✓")) },
            "joined": format!("2024-01-{:02}T10:00:00Z", i % 28 + 1),
            "score": i as f64 / 4.0,
            "tags": ["a", format!("t{}", i % 3)],
            "profile": {"city": "Zürich", "floor": i % 5}
        });
        jsonl.push_str(&row.to_string());
        jsonl.push('\n');
    }
    std::fs::write(data.join("people.jsonl"), jsonl).expect("people.jsonl written");
}

/// `<$MSGRAPH_SYNC_TOOLS>/meltano-venv/bin` holding `tool`, or `None` (after saying why) when the
/// test may be skipped.
pub fn venv_bin(tool: &str) -> Option<PathBuf> {
    let bin = test_support::tools_dir().join("meltano-venv/bin");
    if bin.join(tool).exists() {
        return Some(bin);
    }
    skip(format!(
        "{} is missing: run `cargo xtask test` (or `cargo xtask tools`) to install it",
        bin.join(tool).display()
    ))
}

/// `None` after saying why a tool-dependent test is skipped; a failure instead when
/// `MSGRAPH_SYNC_REQUIRE_TOOLS` is set (CI sets it).
pub fn skip<T>(why: String) -> Option<T> {
    if std::env::var_os("MSGRAPH_SYNC_REQUIRE_TOOLS").is_some() {
        panic!("{why} (MSGRAPH_SYNC_REQUIRE_TOOLS is set)");
    }
    println!("SKIPPED: {why}; set MSGRAPH_SYNC_REQUIRE_TOOLS to make this a failure");
    None
}

/// tap-jsonl (a Meltano SDK tap from PyPI, in `venv`) over `data/*.jsonl` as stream `people`
/// keyed by `id`; with `batch`, its `batch_config` writes gzipped JSONL files of 300 records
/// there and the tap sends BATCH messages instead of RECORDs.
pub fn tap_jsonl(venv: &Path, dir: &Path, data: &Path, batch: Option<&Path>) -> Finished {
    let mut config = serde_json::json!({"path": format!("{}/*.jsonl", data.display()),
                                        "stream_name": "people", "primary_keys": ["id"]});
    if let Some(root) = batch {
        config["batch_config"] = serde_json::json!({
            "encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": format!("file://{}", root.display()), "prefix": "people-"},
            "batch_size": 300,
        });
    }
    let path = dir.join(if batch.is_some() {
        "tap-batch.json"
    } else {
        "tap.json"
    });
    std::fs::write(&path, config.to_string()).expect("tap config written");
    let tapped = run(
        Command::new(venv.join("tap-jsonl"))
            .arg("--config")
            .arg(&path),
        b"",
    );
    assert!(tapped.success(), "tap-jsonl failed:\n{}", tapped.stderr);
    tapped
}

/// (name, kind, required, secret) of each setting in an `--about` JSON document.
pub fn about_settings(about: &Value) -> Vec<(String, String, bool, bool)> {
    let required = about["settings"]["required"]
        .as_array()
        .expect("required settings");
    about["settings"]["properties"]
        .as_object()
        .expect("settings")
        .iter()
        .map(|(name, p)| {
            (
                name.clone(),
                p["type"][0].as_str().expect("a kind").to_string(),
                required.contains(&Value::from(name.as_str())),
                p["secret"] == true,
            )
        })
        .collect()
}

//! `compact` on a local landing: the current state (DuckDB, the README's query, every column) is
//! identical before and after, superseded rows and tombstones are gone, a second compaction does
//! nothing, later runs still compare correctly, and a pre-contract landing is migrated.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow_sink::{
    CompactOptions, FullScope, Landing, Lease, PageInput, RunId, RunInput, SinkOptions, SinkRun,
    StateInput, StreamSchema, WriteError, compact, state,
};
use bytes::Bytes;
use serde_json::{Value, json};
use test_support::duckdb_query;

mod support;

use support::{mail, users};

fn page(parent: Option<&str>, records: Value) -> PageInput {
    PageInput {
        parent: parent.map(stream_spec::ParentKey::top),
        body: Bytes::from(json!({ "value": records }).to_string()),
        chain_pages: Some(1),
    }
}

fn landing(root: &Path) -> Landing {
    Landing::open(root.to_str().unwrap()).unwrap()
}

async fn run(root: &Path, pages: Vec<(&str, PageInput)>, input: RunInput) -> arrow_sink::Manifest {
    let sink = SinkRun::start(&landing(root), &[users(), mail()], SinkOptions::default())
        .await
        .unwrap();
    for (stream, page) in pages {
        sink.sender(stream).unwrap().send(page).await.unwrap();
    }
    sink.finish(input).await.unwrap()
}

fn glob(root: &Path, stream: &str) -> String {
    format!(
        "read_parquet('{}/{stream}/**/*.parquet', hive_partitioning=true, union_by_name=true)",
        root.display()
    )
}

/// The README's current-state query, every column (data, `date`, `_run_id`, `_change`, `_hash`).
fn current(root: &Path, stream: &str, key: &str) -> Vec<Value> {
    duckdb_query(&format!(
        "SELECT * EXCLUDE (_rn) FROM (SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY _run_id DESC) AS _rn \
         FROM {}) WHERE _rn = 1 AND _change <> 'delete' ORDER BY ALL",
        glob(root, stream)
    ))
}

fn history_rows(root: &Path, stream: &str) -> u64 {
    duckdb_query(&format!("SELECT count(*) AS n FROM {}", glob(root, stream)))[0]["n"]
        .as_u64()
        .unwrap()
}

fn full(whole: bool, parents: &[&str]) -> FullScope {
    FullScope {
        whole,
        parents: parents.iter().map(|p| p.to_string()).collect(),
    }
}

fn counts(manifest: &arrow_sink::Manifest, stream: &str) -> (u64, u64, u64) {
    let c = manifest.streams[stream].changes;
    (c.inserts, c.updates, c.deletes)
}

#[tokio::test]
async fn compaction_keeps_the_current_state_and_drops_superseded_rows_and_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let first = run(
        root,
        vec![
            ("users", page(None, json!([{"id":"u1","displayName":"Ann"},{"id":"u2","displayName":"Bob"},{"id":"u3","displayName":"Cy"}]))),
            ("mail_messages", page(Some("u1"), json!([{"id":"m1","subject":"a"},{"id":"m2","subject":"b"}]))),
            ("mail_messages", page(Some("u2"), json!([{"id":"m3","subject":"c"}]))),
        ],
        RunInput {
            full_scopes: BTreeMap::from([
                ("users".into(), full(true, &[])),
                ("mail_messages".into(), full(false, &["u1", "u2", "u3"])),
            ]),
            state: Some(StateInput::Json(json!({"users": {"delta_link": "token-1"}}))),
            ..RunInput::default()
        },
    )
    .await;
    // u1 renamed, u2 removed (its mail m3 deleted with it), u4 added; m1 changed, m2 swept.
    let second = run(
        root,
        vec![
            ("users", page(None, json!([{"id":"u1","displayName":"Anne"},{"id":"u2","@removed":{"reason":"deleted"}},{"id":"u4","displayName":"Di"}]))),
            ("mail_messages", page(Some("u1"), json!([{"id":"m1","subject":"a2"}]))),
        ],
        RunInput {
            full_scopes: BTreeMap::from([("mail_messages".into(), full(false, &["u1"]))]),
            state: Some(StateInput::Json(json!({"users": {"delta_link": "token-2"}}))),
            ..RunInput::default()
        },
    )
    .await;
    assert_eq!(counts(&second, "users"), (1, 1, 1));
    assert_eq!(counts(&second, "mail_messages"), (0, 1, 2));
    // u1 renamed again; a run without state and one without changes (which writes no file).
    run(
        root,
        vec![(
            "users",
            page(None, json!([{"id":"u1","displayName":"Annie"}])),
        )],
        RunInput::default(),
    )
    .await;
    run(root, vec![], RunInput::default()).await;

    let users_before = current(root, "users", "id");
    let mail_before = current(root, "mail_messages", "id, user_id");
    assert_eq!(users_before.len(), 3, "{users_before:?}");
    assert_eq!(mail_before.len(), 1, "{mail_before:?}");
    assert_eq!(history_rows(root, "users"), 3 + 3 + 1);
    assert_eq!(history_rows(root, "mail_messages"), 3 + 3);

    let report = compact(
        &landing(root),
        &[users(), mail()],
        &CompactOptions::default(),
    )
    .await
    .unwrap();
    assert!(report.run_id.is_some());
    let u = &report.streams[0];
    assert_eq!(u.stream, "users");
    assert!(u.rewritten);
    assert_eq!((u.files_before, u.rows_before, u.rows_after), (3, 7, 3));
    assert_eq!((u.tombstones_dropped, u.superseded_removed), (1, 3));
    let m = &report.streams[1];
    assert_eq!(
        (m.rows_before, m.rows_after, m.tombstones_dropped),
        (6, 1, 2)
    );

    assert_eq!(
        current(root, "users", "id"),
        users_before,
        "identical state"
    );
    assert_eq!(current(root, "mail_messages", "id, user_id"), mail_before);
    assert_eq!(history_rows(root, "users"), 3, "history = live keys");
    assert_eq!(history_rows(root, "mail_messages"), 1);
    for file in first.streams["users"]
        .files
        .iter()
        .chain(&second.streams["mail_messages"].files)
    {
        assert!(!root.join(&file.path).exists(), "{} replaced", file.path);
    }
    assert!(
        !root.join("_compact").exists()
            || root.join("_compact").read_dir().unwrap().next().is_none()
    );
    assert_eq!(
        state::latest(&landing(root))
            .await
            .unwrap()
            .map(|json| serde_json::from_slice::<serde_json::Value>(&json).unwrap()),
        Some(json!({"users": {"delta_link": "token-2"}})),
        "the state in force is carried by the compaction"
    );

    let again = compact(
        &landing(root),
        &[users(), mail()],
        &CompactOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(again.run_id, None, "{again:?}");
    assert!(
        again
            .streams
            .iter()
            .all(|s| !s.rewritten && s.rows_after == s.rows_before)
    );
    assert_eq!(current(root, "users", "id"), users_before);

    // A run after compacting still compares: u1 unchanged lands nothing, the deleted u2 is back
    // as an insert, u3 changed is an update.
    let after = run(
        root,
        vec![("users", page(None, json!([{"id":"u1","displayName":"Annie"},{"id":"u2","displayName":"Bob"},{"id":"u3","displayName":"Cyd"}])))],
        RunInput::default(),
    )
    .await;
    assert_eq!(counts(&after, "users"), (1, 1, 0));
    assert_eq!(after.streams["users"].changes.unchanged, 1);
    assert_eq!(current(root, "users", "id").len(), 4);
}

#[tokio::test]
async fn a_compaction_killed_after_its_manifest_is_finished_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    run(
        root,
        vec![(
            "users",
            page(None, json!([{"id":"u1","displayName":"Ann"}])),
        )],
        RunInput::default(),
    )
    .await;
    let second = run(
        root,
        vec![(
            "users",
            page(None, json!([{"id":"u1","displayName":"Anne"},{"id":"u2"}])),
        )],
        RunInput::default(),
    )
    .await;
    let before = current(root, "users", "id");
    // Keep copies of the replaced files, put them back after compacting, and leave the marker:
    // what a compaction killed between its manifest and its deletes leaves.
    let saved: Vec<(std::path::PathBuf, Vec<u8>)> = walk(&root.join("users"))
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    let report = compact(&landing(root), &[users()], &CompactOptions::default())
        .await
        .unwrap();
    let run_id = report.run_id.unwrap();
    for (path, bytes) in &saved {
        std::fs::write(path, bytes).unwrap();
    }
    std::fs::create_dir_all(root.join("_compact")).unwrap();
    std::fs::write(root.join(format!("_compact/{run_id}.json")), "{}").unwrap();
    assert_eq!(
        current(root, "users", "id"),
        before,
        "duplicates are identical"
    );
    assert!(
        second.streams["users"]
            .files
            .iter()
            .all(|f| root.join(&f.path).exists())
    );

    let next = compact(&landing(root), &[users()], &CompactOptions::default())
        .await
        .unwrap();
    assert_eq!(next.finished_interrupted, saved.len());
    assert_eq!(next.run_id, None, "nothing left to rewrite");
    assert_eq!(history_rows(root, "users"), 2);
    assert_eq!(current(root, "users", "id"), before);
}

#[tokio::test]
async fn a_held_lease_stops_a_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    run(
        root,
        vec![("users", page(None, json!([{"id":"u1"}])))],
        RunInput::default(),
    )
    .await;
    let other = RunId::new();
    let lease = Lease::acquire(&landing(root), &other, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    let err = compact(&landing(root), &[users()], &CompactOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, WriteError::Lease(_)), "{err}");
    assert!(err.to_string().contains(other.as_str()), "{err}");
    lease.release().await.unwrap();
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// A file as landing contract 1 wrote it: the output columns only, and a format-1 manifest.
fn write_pre_contract(root: &Path, run: &RunId, rows: &[(&str, &str)]) {
    let schema = StreamSchema::new(&users()).unwrap();
    let batch = RecordBatch::try_new(
        schema.output().clone(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from(vec![None::<&str>; rows.len()])),
        ],
    )
    .unwrap();
    let date = run.date().format("%Y-%m-%d").to_string();
    let rel = format!("users/date={date}/part-{run}-00000.parquet");
    let path = root.join(&rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&path).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let bytes = std::fs::metadata(&path).unwrap().len();
    let report = json!({"pages": 1, "records": rows.len(), "rows": rows.len(), "rejected_null_key": 0,
        "duplicates": 0, "removed": 0, "type_conflicts": {}, "new_properties": {}, "ignored_annotations": {}});
    let manifest = json!({
        "format": 1, "run_id": run.as_str(), "status": "complete", "date": date,
        "started_at": run.started(), "finished_at": run.started(),
        "streams": {"users": {"schema_hash": schema.hash(), "rows": rows.len(), "bytes": bytes,
            "rejected": 0, "deduplicated": 0, "files": [{"path": rel, "rows": rows.len(), "bytes": bytes}],
            "report": report}},
        "skipped": [], "superseded": []
    });
    std::fs::create_dir_all(root.join("_runs")).unwrap();
    std::fs::write(root.join(format!("_runs/{run}.json")), manifest.to_string()).unwrap();
}

#[tokio::test]
async fn a_pre_contract_landing_is_refused_then_migrated_by_compact() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let day = |d: u32| {
        RunId::at(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, d, 3, 0, 0).unwrap())
    };
    let (old, newer) = (day(1), day(2));
    write_pre_contract(root, &old, &[("u1", "Ann"), ("u2", "Bob")]);
    write_pre_contract(root, &newer, &[("u1", "Anne"), ("u2", "Bob")]);
    let manifest = arrow_sink::Manifest::load(&landing(root), &old)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(manifest.format, 1, "format-1 manifests still read");

    let refused = SinkRun::start(&landing(root), &[users()], SinkOptions::default()).await;
    let err = refused.err().expect("refused");
    assert!(
        matches!(err, WriteError::PreContractLanding { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("msgraph-sync compact --output"),
        "{err}"
    );

    let report = compact(&landing(root), &[users()], &CompactOptions::default())
        .await
        .unwrap();
    let u = &report.streams[0];
    assert_eq!((u.migrated_files, u.rows_before, u.rows_after), (2, 4, 2));
    let state = current(root, "users", "id");
    let names: Vec<_> = state
        .iter()
        .map(|r| {
            (
                r["id"].clone(),
                r["display_name"].clone(),
                r["_run_id"].clone(),
                r["_change"].clone(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            (
                json!("u1"),
                json!("Anne"),
                json!(newer.as_str()),
                json!("insert")
            ),
            (
                json!("u2"),
                json!("Bob"),
                json!(newer.as_str()),
                json!("insert")
            ),
        ]
    );

    // A run works now, and its content hashes agree with the migrated ones.
    let after = run(
        root,
        vec![(
            "users",
            page(
                None,
                json!([{"id":"u1","displayName":"Anne"},{"id":"u2","displayName":"Bobby"}]),
            ),
        )],
        RunInput::default(),
    )
    .await;
    assert_eq!(counts(&after, "users"), (0, 1, 0));
    assert_eq!(after.streams["users"].changes.unchanged, 1);
}

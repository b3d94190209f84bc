//! Landing contract 2 through the real pipeline on a local directory: the first run inserts, later
//! runs land only changes, deletes come from tombstones, full reads and deleted parents, skipped
//! scopes keep their state, and the state travels with the manifest. Read back with DuckDB.

use std::collections::BTreeMap;
use std::path::Path;

use arrow_sink::{
    FullScope, Landing, PageInput, RunInput, SinkOptions, SinkRun, StateInput, state,
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

/// One run: `pages` per stream, then finish with `input`.
async fn run(root: &Path, pages: Vec<(&str, PageInput)>, input: RunInput) -> arrow_sink::Manifest {
    let landing = Landing::open(root.to_str().unwrap()).unwrap();
    let sink = SinkRun::start(&landing, &[users(), mail()], SinkOptions::default())
        .await
        .unwrap();
    for (stream, page) in pages {
        sink.sender(stream).unwrap().send(page).await.unwrap();
    }
    sink.finish(input).await.unwrap()
}

fn current(root: &Path, stream: &str, key: &str, columns: &str) -> Vec<Value> {
    duckdb_query(&format!(
        "SELECT {columns} FROM (SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY _run_id DESC) AS _rn \
         FROM read_parquet('{}/{stream}/**/*.parquet', hive_partitioning=true, union_by_name=true)) \
         WHERE _rn = 1 AND _change <> 'delete' ORDER BY ALL",
        root.display()
    ))
}

fn full(whole: bool, parents: &[&str]) -> FullScope {
    FullScope {
        whole,
        parents: parents.iter().map(|p| p.to_string()).collect(),
    }
}

async fn latest_state(landing: &Landing) -> Option<Value> {
    let json = state::latest(landing).await.unwrap()?;
    Some(serde_json::from_slice(&json).unwrap())
}

fn counts(manifest: &arrow_sink::Manifest, stream: &str) -> (u64, u64, u64) {
    let c = manifest.streams[stream].changes;
    (c.inserts, c.updates, c.deletes)
}

#[tokio::test]
async fn runs_append_changes_only_and_the_current_state_follows_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();

    // Run 1: everything is new.
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
    assert_eq!(counts(&first, "users"), (3, 0, 0));
    assert_eq!(counts(&first, "mail_messages"), (3, 0, 0));
    assert_eq!(first.streams["users"].method, "delta");

    // Run 2, a delta round: u1 renamed, u2 removed, u4 added, u3 replayed unchanged. u1's mailbox
    // is read in full (m2 gone, m1 changed); u3's mailbox is refused (not a full scope).
    let second = run(
        root,
        vec![
            ("users", page(None, json!([{"id":"u1","displayName":"Anne"},{"id":"u2","@removed":{"reason":"deleted"}},{"id":"u3","displayName":"Cy"},{"id":"u4","displayName":"Di"}]))),
            ("mail_messages", page(Some("u1"), json!([{"id":"m1","subject":"a2"}]))),
            ("mail_messages", page(Some("u4"), json!([{"id":"m9","subject":"z"}]))),
        ],
        RunInput {
            methods: BTreeMap::from([("users".into(), "delta".into())]),
            full_scopes: BTreeMap::from([("mail_messages".into(), full(false, &["u1", "u4"]))]),
            state: Some(StateInput::Json(json!({"users": {"delta_link": "token-2"}}))),
            ..RunInput::default()
        },
    )
    .await;
    assert_eq!(counts(&second, "users"), (1, 1, 1));
    assert_eq!(
        second.streams["users"].changes.unchanged, 1,
        "the replayed u3"
    );
    // m1 updated, m2 swept (u1 read in full), m3 deleted with its deleted parent u2, m9 new.
    assert_eq!(counts(&second, "mail_messages"), (1, 1, 2));

    let users = current(root, "users", "id", "id, display_name");
    assert_eq!(
        users,
        vec![
            json!({"id":"u1","display_name":"Anne"}),
            json!({"id":"u3","display_name":"Cy"}),
            json!({"id":"u4","display_name":"Di"}),
        ]
    );
    let mail = current(root, "mail_messages", "id, user_id", "id, user_id, subject");
    assert_eq!(
        mail,
        vec![
            json!({"id":"m1","user_id":"u1","subject":"a2"}),
            json!({"id":"m9","user_id":"u4","subject":"z"}),
        ]
    );
    // A tombstone keeps the key and parent columns, nothing else.
    let tombstones = duckdb_query(&format!(
        "SELECT id, user_id, subject, _hash FROM read_parquet('{}/mail_messages/**/*.parquet') \
         WHERE _change = 'delete' ORDER BY id",
        root.display()
    ));
    assert_eq!(
        tombstones,
        vec![
            json!({"id":"m2","user_id":"u1","subject":null,"_hash":null}),
            json!({"id":"m3","user_id":"u2","subject":null,"_hash":null}),
        ]
    );

    // Run 3: nothing read at all (every stream skipped): nothing changes, the state stays.
    let landing = Landing::open(root.to_str().unwrap()).unwrap();
    assert_eq!(
        latest_state(&landing).await,
        Some(json!({"users": {"delta_link": "token-2"}}))
    );
    let third = run(root, vec![], RunInput::default()).await;
    assert_eq!(counts(&third, "users"), (0, 0, 0));
    assert_eq!(current(root, "users", "id", "id").len(), 3);
    assert_eq!(
        latest_state(&landing).await,
        Some(json!({"users": {"delta_link": "token-2"}})),
        "a run without state leaves the last state in force"
    );

    // Every file of run 1 is still there: runs only append.
    for file in &first.streams["users"].files {
        assert!(root.join(&file.path).exists(), "{} kept", file.path);
    }
}

/// A state larger than one upload part (the caller's file, streamed up) commits byte for byte.
#[tokio::test]
async fn a_state_file_larger_than_a_part_commits_whole() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("landing");
    let links: serde_json::Map<String, Value> = (0..60_000)
        .map(|i| {
            (
                format!("u{i:05}/inbox"),
                json!(format!("https://g/delta?token={i:0>150}")),
            )
        })
        .collect();
    let state = json!({"streams": {"mail_messages": {"delta_links": links}}});
    let file = dir.path().join("state.json");
    std::fs::write(&file, serde_json::to_vec(&state).unwrap()).unwrap();
    assert!(
        std::fs::metadata(&file).unwrap().len() > 9 << 20,
        "spans several 4 MiB chunks"
    );
    let manifest = run(
        &root,
        vec![],
        RunInput {
            state: Some(StateInput::File(file.clone())),
            ..RunInput::default()
        },
    )
    .await;
    let landing = Landing::open(root.to_str().unwrap()).unwrap();
    let committed = state::latest(&landing).await.unwrap().unwrap();
    assert_eq!(committed, std::fs::read(&file).unwrap());
    assert_eq!(
        manifest.state.as_deref(),
        Some(format!("_state/{}.json", manifest.run_id).as_str())
    );

    // A state file that cannot be read fails the commit with its path, and commits nothing.
    let missing = dir.path().join("gone.json");
    let error = arrow_sink::SinkRun::start(&landing, &[], SinkOptions::default())
        .await
        .unwrap()
        .finish(RunInput {
            state: Some(StateInput::File(missing)),
            ..RunInput::default()
        })
        .await
        .unwrap_err();
    assert!(error.to_string().contains("gone.json"), "{error}");
    assert_eq!(
        latest_state(&landing).await,
        Some(state),
        "the last commit stays in force"
    );
}

#[tokio::test]
async fn a_full_read_that_lost_a_page_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let all = || RunInput {
        full_scopes: BTreeMap::from([("users".into(), full(true, &[]))]),
        ..RunInput::default()
    };
    run(
        root,
        vec![("users", page(None, json!([{"id":"u1"},{"id":"u2"}])))],
        all(),
    )
    .await;
    let broken = PageInput {
        parent: None,
        body: Bytes::from_static(b"<html>"),
        chain_pages: None,
    };
    let second = run(
        root,
        vec![
            ("users", page(None, json!([{"id":"u1"}]))),
            ("users", broken),
        ],
        all(),
    )
    .await;
    assert_eq!(counts(&second, "users"), (0, 0, 0));
    assert_eq!(current(root, "users", "id", "id").len(), 2);
}

#[tokio::test]
async fn a_failed_stream_lands_nothing_of_what_it_sent_and_the_others_commit() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let users_page = |names: Value| ("users", page(None, names));
    run(
        root,
        vec![users_page(json!([{"id":"u1","displayName":"Ann"}]))],
        RunInput {
            full_scopes: BTreeMap::from([("users".into(), full(true, &[]))]),
            ..RunInput::default()
        },
    )
    .await;
    // Run 2 sent a changed user and a new one, then the stream failed midway.
    let second = run(
        root,
        vec![
            users_page(json!([{"id":"u1","displayName":"Ann B"},{"id":"u9","displayName":"New"}])),
            (
                "mail_messages",
                page(Some("u1"), json!([{"id":"m1","subject":"a"}])),
            ),
        ],
        RunInput {
            full_scopes: BTreeMap::from([("users".into(), full(true, &[]))]),
            failed: BTreeMap::from([("users".into(), "Graph answered 500 six times".into())]),
            ..RunInput::default()
        },
    )
    .await;
    assert_eq!(
        second.failed,
        [arrow_sink::FailedStream {
            stream: "users".into(),
            reason: "Graph answered 500 six times".into()
        }]
    );
    assert_eq!(second.status, arrow_sink::RunStatus::Partial);
    assert!(!second.streams.contains_key("users"));
    assert_eq!(counts(&second, "mail_messages"), (1, 0, 0));
    // The failed stream's current state is run 1's, untouched; no staged file was left behind.
    assert_eq!(
        current(root, "users", "id", "id, display_name"),
        [json!({"id": "u1", "display_name": "Ann"})]
    );
    let leftovers: Vec<_> = walkdir(root)
        .into_iter()
        .filter(|p| p.contains("_staging") || p.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walkdir(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out
}

//! One conformance suite for landings, run against a local directory, a real S3 server (moto) and
//! Azurite. Every landing is read back with a real DuckDB (store files copied to a local directory
//! first: DuckDB's httpfs and azure extensions cannot be installed offline).

use std::path::Path;
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow_sink::{
    ChangeCounts, Landing, Manifest, PageInput, RunId, RunInput, RunStatus, SinkOptions, SinkRun,
    SkippedItem, StreamSchema, StreamWriter, WriterOptions, commit_run,
};
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use serde_json::{Value, json};
use stream_spec::Table;

mod support;
use test_support::{Azurite, S3Server, duckdb_query};

const USERS: &str = r#"[
    {"graph": "id", "name": "id", "type": "utf8", "nullable": false},
    {"graph": "displayName", "name": "display_name", "type": "utf8", "nullable": true},
    {"graph": "createdDateTime", "name": "created_date_time", "type": "timestamp_us_utc", "nullable": true},
    {"graph": "businessPhones", "name": "business_phones", "type": {"list": "utf8"}, "nullable": true},
    {"graph": "signInActivity", "name": "sign_in_activity", "type": {"struct": [
      {"graph": "lastSignInDateTime", "name": "last_sign_in_date_time", "type": "timestamp_us_utc", "nullable": true}
    ]}, "nullable": true}
]"#;

fn users_spec() -> Table {
    support::table("users", &["id"], USERS)
}

/// A Graph page of users `first..first+count`.
fn users_page(first: usize, count: usize) -> PageInput {
    let value: Vec<Value> = (first..first + count)
        .map(|i| {
            json!({
                "id": format!("u{i:04}"),
                "displayName": format!("User {i}"),
                "createdDateTime": "2024-03-01T10:20:30.1234567Z",
                "businessPhones": ["+1 555 0100", format!("+1 555 {i:04}")],
                "signInActivity": {"lastSignInDateTime": "2026-11-20T08:00:00Z"}
            })
        })
        .collect();
    let body = json!({"@odata.context": "x", "value": value});
    PageInput {
        parent: None,
        body: Bytes::from(serde_json::to_vec(&body).unwrap()),
        chain_pages: None,
    }
}

fn small_files() -> SinkOptions {
    SinkOptions {
        decode_threads: 2,
        pages_in_flight: 4,
        batches_per_stream: 2,
        writer: WriterOptions {
            // Tiny, so every page or two rolls a new file.
            target_file_bytes: 1,
            ..WriterOptions::default()
        },
        ..SinkOptions::default()
    }
}

/// Copies every object of the landing into `dir`, keeping paths relative to the root.
async fn download(landing: &Landing, dir: &Path) {
    let objects: Vec<_> = landing
        .store()
        .list(Some(landing.root()))
        .try_collect()
        .await
        .unwrap();
    for object in objects {
        let relative: Vec<String> = object
            .location
            .prefix_match(landing.root())
            .unwrap()
            .map(|p| p.as_ref().to_string())
            .collect();
        let target = relative
            .iter()
            .fold(dir.to_path_buf(), |p, part| p.join(part));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        let bytes = landing
            .store()
            .get(&object.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        std::fs::write(target, bytes).unwrap();
    }
}

fn read_users(dir: &Path, select: &str) -> Vec<Value> {
    duckdb_query(&format!(
        "{select} FROM read_parquet('{}/users/**/*.parquet', hive_partitioning=true, union_by_name=true)",
        dir.display()
    ))
}

fn column_types(dir: &Path) -> Vec<(String, String)> {
    read_users(dir, "DESCRIBE SELECT *")
        .into_iter()
        .map(|row| {
            (
                row["column_name"].as_str().unwrap().to_string(),
                row["column_type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn land(landing: &Landing, pages: &[(usize, usize)], skipped: Vec<SkippedItem>) -> Manifest {
    let run = SinkRun::start(landing, &[users_spec()], small_files())
        .await
        .unwrap();
    let sender = run.sender("users").unwrap();
    for &(first, count) in pages {
        sender.send(users_page(first, count)).await.unwrap();
    }
    run.finish(RunInput::skipped(skipped)).await.unwrap()
}

async fn conformance(landing: Landing) {
    // 1. A run lands typed, keyed rows; a repeated page is deduplicated and counted.
    let skip = SkippedItem {
        stream: "users".into(),
        parent_id: None,
        code: Some("Authorization_RequestDenied".into()),
        http_status: Some(403),
        reason: "test skip".into(),
    };
    let first = land(
        &landing,
        &[(0, 10), (10, 10), (10, 10), (20, 5)],
        vec![skip.clone()],
    )
    .await;
    assert_eq!(first.status, RunStatus::Partial);
    assert_eq!(first.skipped, vec![skip]);
    let users = &first.streams["users"];
    assert_eq!(users.rows, 25);
    assert_eq!(users.deduplicated, 10);
    assert_eq!(users.rejected, 0);
    assert!(
        users.files.len() >= 2,
        "tiny target size rolls files: {:?}",
        users.files
    );
    assert!(users.schema_hash.starts_with("sha256:"));

    let dir = tempfile::tempdir().unwrap();
    download(&landing, dir.path()).await;
    let types = column_types(dir.path());
    let type_of = |name: &str| {
        types
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no column {name} in {types:?}"))
            .1
            .clone()
    };
    assert_eq!(type_of("id"), "VARCHAR");
    assert_eq!(type_of("created_date_time"), "TIMESTAMP WITH TIME ZONE");
    assert_eq!(type_of("business_phones"), "VARCHAR[]");
    assert_eq!(
        type_of("sign_in_activity"),
        "STRUCT(last_sign_in_date_time TIMESTAMP WITH TIME ZONE)"
    );
    assert_eq!(type_of("date"), "DATE");
    let summary = read_users(
        dir.path(),
        "SELECT count(*) AS n, count(DISTINCT id) AS ids, min(id) AS lo, max(id) AS hi, \
         max(created_date_time) AS created, \
         any_value(business_phones[1]) AS phone, \
         any_value(sign_in_activity.last_sign_in_date_time) AS last_sign_in, max(date) AS day",
    );
    let row = &summary[0];
    assert_eq!(row["n"], 25);
    assert_eq!(row["ids"], 25);
    assert_eq!(row["lo"], "u0000");
    assert_eq!(row["hi"], "u0024");
    assert_eq!(row["created"], "2024-03-01 10:20:30.123456+00");
    assert_eq!(row["phone"], "+1 555 0100");
    assert_eq!(row["last_sign_in"], "2026-11-20 08:00:00+00");
    let run_id = RunId::parse(&first.run_id).unwrap();
    assert_eq!(row["day"], run_id.date().to_string());

    // 2. A run dropped mid-write leaves no manifest and nothing the reader glob sees.
    let killed = SinkRun::start(&landing, &[users_spec()], small_files())
        .await
        .unwrap();
    let killed_id = killed.run_id().clone();
    let sender = killed.sender("users").unwrap();
    for first in 0..4 {
        sender.send(users_page(100 + first * 10, 10)).await.unwrap();
    }
    wait_for_staged_file(&landing, &killed_id).await;
    drop(sender);
    // As a run stopped on an error does: nothing committed, the lease given back.
    killed.abort().await;
    assert!(
        Manifest::load(&landing, &killed_id)
            .await
            .unwrap()
            .is_none()
    );
    let dir = tempfile::tempdir().unwrap();
    download(&landing, dir.path()).await;
    let seen = read_users(dir.path(), "SELECT count(*) AS n");
    assert_eq!(seen[0]["n"], 25, "only the committed run is visible");

    // 3. The rerun succeeds and appends (runs never replace files of earlier runs): its new
    //    rows are inserts, the rows it saw again unchanged land nothing. It cleans the dead run's
    //    staging leftovers.
    let second = land(&landing, &[(20, 2), (500, 7)], vec![]).await;
    assert_eq!(second.status, RunStatus::Complete);
    assert_eq!(second.streams["users"].rows, 7);
    assert_eq!(second.streams["users"].changes.inserts, 7);
    assert_eq!(second.streams["users"].changes.unchanged, 2);
    let dir = tempfile::tempdir().unwrap();
    download(&landing, dir.path()).await;
    let seen = read_users(dir.path(), "SELECT count(*) AS n, min(id) AS lo");
    assert_eq!(seen[0]["n"], 32);
    assert_eq!(seen[0]["lo"], "u0000");
    for file in &users.files {
        assert!(dir.path().join(&file.path).exists(), "{} kept", file.path);
    }
    assert!(!dir.path().join("_staging").exists(), "staging cleaned up");
    // The strict reader of the README (only files of runs with a manifest) agrees.
    let strict = duckdb_query(&format!(
        "SELECT count(*) AS n FROM read_parquet('{root}/users/**/*.parquet', \
         hive_partitioning=true, union_by_name=true, filename=true) \
         WHERE regexp_extract(filename, 'part-(.*)-[0-9]+\\.parquet$', 1) IN \
         (SELECT run_id FROM read_json('{root}/_runs/*.json'))",
        root = dir.path().display()
    ));
    assert_eq!(strict[0]["n"], 32);
    let runs = Manifest::committed_runs(&landing).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        vec![first.run_id.clone(), second.run_id.clone()]
    );

    // 4. A file larger than the upload buffer goes up as a multipart upload and reads back whole.
    multipart(&landing).await;
}

async fn wait_for_staged_file(landing: &Landing, run: &RunId) {
    let staging = landing.path(["_staging", run.as_str()]);
    for _ in 0..200 {
        let found: Vec<_> = landing
            .store()
            .list(Some(&staging))
            .try_collect()
            .await
            .unwrap();
        if !found.is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("run {run} staged no file within 10 s");
}

/// Writes one file of random-looking text well above a 5 MiB upload buffer (S3's minimum part).
async fn multipart(landing: &Landing) {
    let schema = StreamSchema::new(&blobs_spec()).unwrap();
    let buffer = 5 * 1024 * 1024;
    let options = WriterOptions {
        upload_buffer_bytes: buffer,
        ..WriterOptions::default()
    };
    let run = RunId::new();
    let mut writer = StreamWriter::new(landing, &run, &schema, &options).unwrap();
    let rows = 200_000;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for chunk in 0..(rows / 10_000) {
        let ids: Vec<String> = (0..10_000)
            .map(|i| format!("b{:06}", chunk * 10_000 + i))
            .collect();
        // Incompressible noise (xorshift), so the file really exceeds the buffer.
        let noise: Vec<String> = (0..10_000)
            .map(|_| {
                (0..4)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        format!("{state:016x}")
                    })
                    .collect::<String>()
            })
            .collect();
        let batch = RecordBatch::try_new(
            schema.output().clone(),
            vec![
                Arc::new(StringArray::from(ids)),
                Arc::new(StringArray::from(noise)),
                Arc::new(StringArray::from(vec![None::<&str>; 10_000])),
            ],
        )
        .unwrap();
        let batch = schema.as_inserts(&batch, run.as_str()).unwrap();
        writer.write(&batch).await.unwrap();
    }
    let files = writer.finish().await.unwrap();
    assert_eq!(files.len(), 1);
    assert!(
        files[0].bytes > buffer as u64 + 1024 * 1024,
        "{:?}",
        files[0]
    );
    let outcome = arrow_sink::StreamOutcome {
        stream: "blobs".into(),
        schema_hash: schema.hash().to_string(),
        files: files.clone(),
        report: Default::default(),
        method: "compare".into(),
        changes: ChangeCounts::default(),
    };
    commit_run(
        landing,
        &run,
        chrono::Utc::now(),
        vec![outcome],
        vec![],
        vec![],
        None,
    )
    .await
    .unwrap();
    let meta = landing
        .store()
        .head(&landing.path(files[0].path.split('/')))
        .await
        .unwrap();
    assert_eq!(meta.size, files[0].bytes);
    let dir = tempfile::tempdir().unwrap();
    download(landing, dir.path()).await;
    let seen = duckdb_query(&format!(
        "SELECT count(*) AS n, count(DISTINCT id) AS ids, min(length(noise)) AS len \
         FROM read_parquet('{}/blobs/**/*.parquet', hive_partitioning=true)",
        dir.path().display()
    ));
    assert_eq!(seen[0], json!({"n": rows, "ids": rows, "len": 64}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_directory_landing_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance(Landing::open(dir.path().to_str().unwrap()).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_landing_conforms() {
    let server = S3Server::start();
    let landing =
        Landing::open_with_options(&server.url("graph/landing"), server.options()).unwrap();
    conformance(landing).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_landing_conforms() {
    let azurite = Azurite::start();
    let landing = Landing::open_with_options(&azurite.url("graph"), azurite.options()).unwrap();
    conformance(landing).await;
}

/// A declaration of one wide text column, for files that outgrow S3's 5 MiB minimum part.
fn blobs_spec() -> Table {
    support::table(
        "blobs",
        &["id"],
        r#"[{"graph": "id", "name": "id", "type": "utf8", "nullable": false},
            {"graph": "noise", "name": "noise", "type": "utf8", "nullable": true}]"#,
    )
}

/// A Graph page of `count` blobs of incompressible text (xorshift), about 64 bytes each.
fn blobs_page(first: usize, count: usize, state: &mut u64) -> PageInput {
    let value: Vec<Value> = (first..first + count)
        .map(|i| {
            let noise: String = (0..4)
                .map(|_| {
                    *state ^= *state << 13;
                    *state ^= *state >> 7;
                    *state ^= *state << 17;
                    format!("{state:016x}")
                })
                .collect();
            json!({"id": format!("b{i:07}"), "noise": noise})
        })
        .collect();
    PageInput {
        parent: None,
        body: Bytes::from(serde_json::to_vec(&json!({"value": value})).unwrap()),
        chain_pages: None,
    }
}

/// Issue 15, item 9: a run aborted while a file is going up in parts leaves no multipart upload
/// behind (S3 bills the parts of an upload never completed nor aborted) and nothing staged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_aborted_run_leaves_no_multipart_upload() {
    let server = S3Server::start();
    let landing =
        Landing::open_with_options(&server.url("graph/aborted"), server.options()).unwrap();
    let options = SinkOptions {
        decode_threads: 2,
        writer: WriterOptions {
            upload_buffer_bytes: 5 * 1024 * 1024,
            // Small row groups, so the Parquet writer hands bytes to the upload as they come.
            max_row_group_rows: 5_000,
            ..WriterOptions::default()
        },
        ..SinkOptions::default()
    };
    let run = SinkRun::start(&landing, &[blobs_spec()], options)
        .await
        .unwrap();
    let sender = run.sender("blobs").unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut sent = 0;
    // Send until S3 shows the file's multipart upload open (bounded: ~40 MiB of rows at most).
    while server.open_multipart_uploads().is_empty() {
        assert!(
            sent < 600_000,
            "no multipart upload began after {sent} rows"
        );
        sender
            .send(blobs_page(sent, 10_000, &mut state))
            .await
            .unwrap();
        sent += 10_000;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop(sender);
    run.abort().await;
    assert_eq!(server.open_multipart_uploads(), Vec::<String>::new());
    let left: Vec<_> = landing
        .store()
        .list(Some(landing.root()))
        .try_collect()
        .await
        .unwrap();
    let left: Vec<String> = left.iter().map(|o| o.location.to_string()).collect();
    assert!(
        left.iter()
            .all(|path| !path.contains("/blobs/") && !path.contains("_staging")),
        "an aborted run left data behind: {left:?}"
    );
}

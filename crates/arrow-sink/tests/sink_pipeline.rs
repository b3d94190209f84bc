//! The run pipeline on an in-memory store: bad pages become skips, unknown streams are refused,
//! and a run with no pages still lands its columns.

use arrow_sink::{
    Landing, Manifest, PageInput, RunInput, RunStatus, SinkOptions, SinkRun, WriteError,
};
use bytes::Bytes;
use stream_spec::Table;

mod support;

fn groups() -> Table {
    support::table(
        "groups",
        &["id"],
        r#"[{"graph": "id", "name": "id", "type": "utf8", "nullable": false},
            {"graph": "displayName", "name": "display_name", "type": "utf8", "nullable": true}]"#,
    )
}

fn page(body: &str) -> PageInput {
    PageInput {
        parent: None,
        body: Bytes::from(body.to_string()),
        chain_pages: None,
    }
}

#[tokio::test]
async fn malformed_pages_are_skipped_and_reported_not_fatal() {
    let landing = Landing::open("memory:///landing").unwrap();
    let options = SinkOptions {
        pages_in_flight: 1,
        ..SinkOptions::default()
    };
    let run = SinkRun::start(&landing, &[groups()], options)
        .await
        .unwrap();
    assert!(matches!(run.sender("users"), Err(WriteError::UnknownStream(s)) if s == "users"));
    let sender = run.sender("groups").unwrap();
    sender
        .send(page(
            r#"{"value":[{"id":"g1","displayName":"One"},{"id":"g2"}]}"#,
        ))
        .await
        .unwrap();
    sender.send(page("<html>not json</html>")).await.unwrap();
    sender
        .send(page(r#"{"value":[{"id":"g3","displayName":"Three"}]}"#))
        .await
        .unwrap();
    let manifest = run.finish(RunInput::default()).await.unwrap();
    assert_eq!(manifest.status, RunStatus::Partial);
    assert_eq!(manifest.skipped.len(), 1);
    assert_eq!(manifest.skipped[0].stream, "groups");
    assert_eq!(manifest.skipped[0].code.as_deref(), Some("decode_error"));
    let groups = &manifest.streams["groups"];
    assert_eq!(groups.rows, 3);
    assert_eq!(groups.report.pages, 2);
    let stored = Manifest::load(&landing, &manifest.run_id().unwrap())
        .await
        .unwrap()
        .expect("manifest written");
    assert_eq!(stored, manifest);
}

#[tokio::test]
async fn a_stream_without_pages_lands_one_empty_file() {
    let landing = Landing::open("memory:///landing").unwrap();
    let run = SinkRun::start(&landing, &[groups()], SinkOptions::default())
        .await
        .unwrap();
    let manifest = run.finish(RunInput::default()).await.unwrap();
    assert_eq!(manifest.status, RunStatus::Complete);
    let groups = &manifest.streams["groups"];
    assert_eq!(groups.rows, 0);
    assert_eq!(groups.files.len(), 1);
    assert!(groups.files[0].bytes > 0);
}

/// A stream that stops getting pages writes out its row group after `idle_flush`, so finished
/// streams stop holding memory while the others go on.
#[tokio::test]
async fn an_idle_stream_writes_out_its_row_group() {
    async fn row_groups(idle_flush: std::time::Duration) -> u64 {
        let dir = tempfile::tempdir().unwrap();
        let landing = Landing::local(dir.path()).unwrap();
        let options = SinkOptions {
            idle_flush,
            ..SinkOptions::default()
        };
        let run = SinkRun::start(&landing, &[groups()], options)
            .await
            .unwrap();
        let sender = run.sender("groups").unwrap();
        sender
            .send(page(r#"{"value":[{"id":"g1"}]}"#))
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        sender
            .send(page(r#"{"value":[{"id":"g2"}]}"#))
            .await
            .unwrap();
        run.finish(RunInput::default()).await.unwrap();
        let rows = test_support::duckdb_query(&format!(
            "SELECT count(DISTINCT row_group_id) AS groups FROM parquet_metadata('{}/groups/*/*.parquet')",
            dir.path().display()
        ));
        rows[0]["groups"].as_u64().unwrap()
    }
    assert_eq!(row_groups(std::time::Duration::from_millis(100)).await, 2);
    assert_eq!(row_groups(std::time::Duration::from_secs(60)).await, 1);
}

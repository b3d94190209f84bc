//! The run-wide buffer budget: past it, open row groups are written out early, so memory stays
//! flat however many rows a stream has; under it, row groups are as large as their caps allow.

use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow_sink::{BufferBudget, Landing, RunId, StreamSchema, StreamWriter, WriterOptions};
use stream_spec::StreamSpec;
use test_support::duckdb_query;

fn schema() -> StreamSchema {
    let spec = StreamSpec::from_json(
        "notes",
        r#"{"stream": "notes", "kind": "collection", "path": "/notes", "primary_key": ["id"],
            "page_size": {"cap": 999}, "permission": "x",
            "fields": [{"graph": "id", "name": "id", "type": "utf8", "nullable": false},
                       {"graph": "text", "name": "text", "type": "utf8", "nullable": true}]}"#,
    )
    .unwrap();
    StreamSchema::new(&spec).unwrap()
}

/// Writes 100k rows (~13 MB of distinct text) in batches; returns the row groups of the file.
async fn row_groups_with(budget: usize) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let landing = Landing::local(dir.path()).unwrap();
    let schema = schema();
    let options = WriterOptions {
        buffer_budget: Arc::new(BufferBudget::new(budget)),
        ..WriterOptions::default()
    };
    let run = RunId::new();
    let mut writer = StreamWriter::new(&landing, &run, &schema, &options).unwrap();
    for chunk in 0..10 {
        let ids: Vec<String> = (0..10_000).map(|i| format!("n{chunk}-{i}")).collect();
        let text: Vec<String> = (0..10_000)
            .map(|i| format!("{:0>120}", chunk * 10_000 + i))
            .collect();
        let batch = RecordBatch::try_new(
            schema.output().clone(),
            vec![
                Arc::new(StringArray::from(ids)),
                Arc::new(StringArray::from(text)),
                Arc::new(StringArray::from(vec![None::<&str>; 10_000])),
            ],
        )
        .unwrap();
        writer.write(&batch).await.unwrap();
    }
    let files = writer.finish().await.unwrap();
    assert_eq!(files.len(), 1);
    let staged = dir.path().join(files[0].staging.as_ref());
    let rows = duckdb_query(&format!(
        "SELECT count(DISTINCT row_group_id) AS groups, max(row_group_num_rows) AS biggest \
         FROM parquet_metadata('{}')",
        staged.display()
    ));
    rows[0]["groups"].as_u64().unwrap()
}

#[tokio::test]
async fn over_the_budget_row_groups_are_written_early() {
    assert_eq!(row_groups_with(64 * 1024 * 1024).await, 1, "under budget");
    let groups = row_groups_with(2 * 1024 * 1024).await;
    assert!(
        groups >= 3,
        "a 2 MiB budget splits ~13 MB of rows: {groups}"
    );
}

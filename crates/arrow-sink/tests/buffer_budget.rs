//! The run-wide buffer budget: past it, open row groups are written out early, so memory stays
//! flat however many rows a stream has; under it, row groups are as large as their caps allow.

use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow_sink::{BufferBudget, Landing, RunId, StreamSchema, StreamWriter, WriterOptions};

mod support;
use test_support::duckdb_query;

fn schema() -> StreamSchema {
    let table = support::table(
        "notes",
        &["id"],
        r#"[{"graph": "id", "name": "id", "type": "utf8", "nullable": false},
            {"graph": "text", "name": "text", "type": "utf8", "nullable": true}]"#,
    );
    StreamSchema::new(&table).unwrap()
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
        let batch = schema.as_inserts(&batch, run.as_str()).unwrap();
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

/// A wide stream (Graph's driveItem has 210 columns) whose child pages hold a few rows each.
fn wide_schema() -> StreamSchema {
    let fields: Vec<String> = (0..200)
        .map(|i| {
            format!(r#"{{"graph": "f{i}", "name": "f{i}", "type": "utf8", "nullable": true}}"#)
        })
        .collect();
    let table = support::table(
        "items",
        &["id"],
        &format!(
            r#"[{{"graph": "id", "name": "id", "type": "utf8", "nullable": false}}, {}]"#,
            fields.join(",")
        ),
    );
    StreamSchema::new(&table).unwrap()
}

/// A child page of 5 rows of [`wide_schema`].
fn wide_page(schema: &StreamSchema, page: usize) -> RecordBatch {
    let ids: Vec<String> = (0..5).map(|i| format!("item-{page}-{i}")).collect();
    let mut arrays: Vec<Arc<dyn arrow::array::Array>> = vec![Arc::new(StringArray::from(ids))];
    for _ in 1..schema.output().fields().len() {
        arrays.push(Arc::new(StringArray::from(vec![Some("x"); 5])));
    }
    let batch = RecordBatch::try_new(schema.output().clone(), arrays).unwrap();
    schema
        .as_inserts(&batch, "20260101T000000.000Z-000000")
        .unwrap()
}

/// What a row group holds beyond its rows (bloom filters, every column's buffers) comes back
/// right after a flush, so it must not count against the budget: counting it flushed a wide
/// stream after every page, landing row groups of 5 rows.
#[tokio::test]
async fn a_row_groups_setup_does_not_count_against_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let landing = Landing::local(dir.path()).unwrap();
    let schema = wide_schema();
    let options = WriterOptions {
        buffer_budget: Arc::new(BufferBudget::new(1024 * 1024)),
        // Bloom filters are sized for a full row group: 2 MiB of setup on the key column alone.
        max_row_group_rows: 1_000_000,
        ..WriterOptions::default()
    };
    let mut writer = StreamWriter::new(&landing, &RunId::new(), &schema, &options).unwrap();
    for page in 0..40 {
        writer.write(&wide_page(&schema, page)).await.unwrap();
    }
    let files = writer.finish().await.unwrap();
    let staged = dir.path().join(files[0].staging.as_ref());
    let rows = duckdb_query(&format!(
        "SELECT count(DISTINCT row_group_id) AS groups FROM parquet_metadata('{}')",
        staged.display()
    ));
    assert_eq!(
        rows[0]["groups"].as_u64().unwrap(),
        1,
        "200 rows in one row group"
    );
}

/// parquet keeps every written row group's metadata in memory until its file closes, so a file
/// is closed once its footer describes `max_file_column_chunks` column chunks; every row lands.
#[tokio::test]
async fn a_file_closes_once_its_footer_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let landing = Landing::local(dir.path()).unwrap();
    let schema = wide_schema();
    let columns = schema.landed().fields().len();
    let options = WriterOptions {
        // Each batch its own row group: 205 column chunks each, 4 row groups per file.
        max_row_group_rows: 5,
        max_file_column_chunks: 4 * columns,
        ..WriterOptions::default()
    };
    let mut writer = StreamWriter::new(&landing, &RunId::new(), &schema, &options).unwrap();
    for page in 0..10 {
        writer.write(&wide_page(&schema, page)).await.unwrap();
    }
    let files = writer.finish().await.unwrap();
    let mut shape = Vec::new();
    for file in &files {
        let staged = dir.path().join(file.staging.as_ref());
        let rows = duckdb_query(&format!(
            "SELECT count(*) AS groups, CAST(sum(row_group_num_rows) AS BIGINT) AS rows \
             FROM parquet_metadata('{}') WHERE column_id = 0",
            staged.display()
        ));
        shape.push((
            rows[0]["groups"].as_u64().unwrap(),
            rows[0]["rows"].as_u64().unwrap(),
            file.rows,
        ));
    }
    assert_eq!(
        shape,
        vec![(4, 20, 20), (4, 20, 20), (2, 10, 10)],
        "10 row groups of 5 rows in files of at most 4"
    );
}

//! Singer BATCH messages into our target: a third-party Meltano SDK tap (tap-jsonl from PyPI,
//! `batch_config` on) lands exactly what its RECORD lines land; Parquet and plain JSONL batch
//! files land too; a batch file that cannot be read writes nothing.
//!
//! tap-jsonl lives in `$MSGRAPH_SYNC_TOOLS/meltano-venv` (`cargo xtask test` installs it).
//! Without it the SDK test prints why and passes, unless `MSGRAPH_SYNC_REQUIRE_TOOLS` is set.

mod common;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use common::*;
use serde_json::{Value, json};

fn current_people(root: &Path) -> Vec<Value> {
    test_support::duckdb_query(&format!(
        "SELECT id, name, joined, score, profile FROM read_parquet('{}/people/**/*.parquet', \
         hive_partitioning=true) ORDER BY id",
        root.display()
    ))
}

#[test]
fn an_sdk_taps_batches_land_exactly_as_its_records_do() {
    let Some(venv) = venv_bin("tap-jsonl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    people_jsonl(&data);
    let batches = dir.path().join("batches");

    let records = tap_jsonl(&venv, dir.path(), &data, None);
    let batched = tap_jsonl(&venv, dir.path(), &data, Some(&batches));
    let kinds: Vec<String> = batched
        .lines()
        .iter()
        .map(|l| l["type"].as_str().unwrap().to_string())
        .collect();
    assert!(!kinds.contains(&"RECORD".to_string()), "{kinds:?}");
    let batch_messages = kinds.iter().filter(|k| *k == "BATCH").count();
    assert_eq!(batch_messages, 4, "1,000 records in batches of 300");

    let by_records = dir.path().join("by-records");
    let landed = target(&target_config(dir.path(), &by_records, ""), &records.stdout);
    assert!(landed.success(), "{}", landed.stderr);
    let by_batches = dir.path().join("by-batches");
    let landed = target(&target_config(dir.path(), &by_batches, ""), &batched.stdout);
    assert!(landed.success(), "{}", landed.stderr);
    let last_state = batched
        .lines()
        .into_iter()
        .rfind(|l| l["type"] == "STATE")
        .unwrap();
    assert_eq!(
        landed.lines(),
        vec![last_state["value"].clone()],
        "the state, after the commit"
    );

    assert_eq!(count(&by_batches, "people"), 1000);
    let rows = current_people(&by_batches);
    assert_eq!(
        rows,
        current_people(&by_records),
        "the same rows, values and types"
    );
    assert_eq!(rows[1]["name"], "person 1 ✓");
    assert_eq!(rows[7]["name"], Value::Null);
}

/// A batch file written by someone else's Parquet writer, and a plain JSONL one.
fn parquet_batch(path: &Path) {
    let ids: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
    let names: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None, Some("c")]));
    let batch = RecordBatch::try_from_iter([("id", ids), ("name", names)]).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

fn batch_input(files: &[(&str, &Path)]) -> Vec<u8> {
    let schema = json!({"type": "SCHEMA", "stream": "things", "key_properties": ["id"],
        "schema": {"type": "object", "properties": {
            "id": {"type": "integer"}, "name": {"type": ["null", "string"]}}}});
    let mut lines = vec![schema.to_string()];
    for (format, path) in files {
        let url = format!("file://{}", path.display());
        lines.push(
            json!({"type": "BATCH", "stream": "things", "encoding": {"format": format},
                   "manifest": [url]})
            .to_string(),
        );
    }
    lines.push(json!({"type": "STATE", "value": {"done": true}}).to_string());
    (lines.join("\n") + "\n").into_bytes()
}

#[test]
fn parquet_and_plain_jsonl_batches_land_and_a_bad_file_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("b-1.parquet");
    parquet_batch(&parquet);
    let jsonl = dir.path().join("b-2.jsonl");
    // id 3 again: the later record wins, as between RECORD lines.
    std::fs::write(
        &jsonl,
        "{\"id\":3,\"name\":\"c2\"}\n{\"id\":4,\"name\":\"d\"}\n",
    )
    .unwrap();
    let out = dir.path().join("landing");
    let config = target_config(dir.path(), &out, "");
    let landed = target(
        &config,
        &batch_input(&[("parquet", &parquet), ("jsonl", &jsonl)]),
    );
    assert!(landed.success(), "{}", landed.stderr);
    let rows = test_support::duckdb_query(&format!(
        "SELECT id, name FROM read_parquet('{}/things/**/*.parquet') ORDER BY id",
        out.display()
    ));
    assert_eq!(
        Value::Array(rows),
        json!([{"id": 1, "name": "a"}, {"id": 2, "name": null}, {"id": 3, "name": "c2"},
               {"id": 4, "name": "d"}])
    );

    // A manifest naming a missing file, and a file that is not what its encoding says: one
    // error naming the file and the line, exit non-zero, no new run.
    let missing = dir.path().join("b-9.jsonl");
    for (format, file) in [("jsonl", missing.as_path()), ("parquet", jsonl.as_path())] {
        let failed = target(&config, &batch_input(&[(format, file)]));
        assert!(!failed.success());
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(
            failed.stderr.contains("line 2") && failed.stderr.contains(name),
            "{}",
            failed.stderr
        );
        assert!(
            failed.lines().is_empty(),
            "no state for a run that did not land"
        );
        assert_eq!(manifests(&out).len(), 1, "nothing committed");
    }
}

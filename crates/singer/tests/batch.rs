//! Singer BATCH, both ends. Into our target: a third-party Meltano SDK tap (tap-jsonl from PyPI,
//! `batch_config` on) lands exactly what its RECORD lines land; Parquet and plain JSONL batch
//! files land too; a batch file that cannot be read writes nothing. Out of our tap: its Parquet
//! and JSONL batch files, read by the Meltano SDK's own batch reader (a minimal SDK target,
//! `sdk_batch_reader.py`), hold exactly its RECORDs, and land in our target as they do.
//!
//! tap-jsonl, the SDK and pyarrow live in `$MSGRAPH_SYNC_TOOLS/meltano-venv` (`cargo xtask test`
//! installs them). Without them the SDK tests print why and pass, unless
//! `MSGRAPH_SYNC_REQUIRE_TOOLS` is set.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
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

/// A value as the stream's JSON Schema declares it, so a RECORD's record and an SDK-read batch
/// row compare: undeclared properties and nulls left out, numbers as doubles where the schema
/// says `number`, and "any JSON" values parsed back from their text (`from_parquet`).
fn normalize(value: &Value, schema: &Value, from_parquet: bool) -> Value {
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    };
    match (types.as_slice(), value) {
        (_, Value::Null) => Value::Null,
        (["object"], Value::Object(map)) if schema["properties"].is_object() => Value::Object(
            map.iter()
                .filter_map(|(k, v)| {
                    let property = schema["properties"].get(k)?;
                    let v = normalize(v, property, from_parquet);
                    (!v.is_null()).then(|| (k.clone(), v))
                })
                .collect(),
        ),
        (["array"], Value::Array(items)) => Value::Array(
            items
                .iter()
                .map(|i| normalize(i, &schema["items"], from_parquet))
                .collect(),
        ),
        (["number"], Value::Number(n)) => json!(n.as_f64()),
        (["string" | "integer" | "boolean" | "number" | "array"], v) => v.clone(),
        (["object"], v) if schema["properties"].is_object() => v.clone(),
        // Any JSON: a batch file holds its text.
        (_, Value::String(text)) if from_parquet => serde_json::from_str(text).expect("JSON text"),
        (_, v) => v.clone(),
    }
}

/// Per stream, the normalized records as sorted JSON texts.
fn normalized(
    records: impl Iterator<Item = (String, Value)>,
    schemas: &BTreeMap<String, Value>,
    from_parquet: bool,
) -> BTreeMap<String, Vec<String>> {
    let mut by_stream: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (stream, record) in records {
        let text = normalize(&record, &schemas[&stream], from_parquet).to_string();
        by_stream.entry(stream).or_default().push(text);
    }
    by_stream.values_mut().for_each(|texts| texts.sort());
    by_stream
}

/// The tap's output with `batch_config` (and without, for `batch: None`), files in `dir`.
fn tap_run(mock: &graph_mock::MockServer, dir: &Path, batch: Option<Value>) -> Vec<Value> {
    std::fs::create_dir_all(dir).unwrap();
    let extra = batch
        .map(|b| format!(r#","batch_config":{b}"#))
        .unwrap_or_default();
    let config = tap_config(dir, mock, &extra);
    let mut catalog = discover(&config);
    select(&mut catalog, &TAP_STREAMS);
    sync(&config, &catalog, dir, None).lines()
}

/// The rows of `stream` a landing holds, without the run's own columns, sorted.
fn landed_rows(root: &Path, stream: &str) -> Vec<Value> {
    test_support::duckdb_query(&format!(
        "SELECT * EXCLUDE (_run_id, _extra, _hash) FROM read_parquet('{}/{stream}/**/*.parquet', \
         union_by_name=true) ORDER BY ALL",
        root.display()
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_taps_batches_read_by_the_sdk_hold_its_records_and_land_as_they_do() {
    let Some(venv) = venv_bin("python") else {
        return;
    };
    let mock = graph_mock::MockServer::start(graph_mock::MockConfig::default().users(24))
        .await
        .expect("mock starts");
    let dir = tempfile::tempdir().unwrap();
    let records = tap_run(&mock, &dir.path().join("records"), None);
    let schemas: BTreeMap<String, Value> = records
        .iter()
        .filter(|l| l["type"] == "SCHEMA")
        .map(|l| {
            (
                l["stream"].as_str().unwrap().to_string(),
                l["schema"].clone(),
            )
        })
        .collect();
    let expected = normalized(
        records.iter().filter(|l| l["type"] == "RECORD").map(|l| {
            (
                l["stream"].as_str().unwrap().to_string(),
                l["record"].clone(),
            )
        }),
        &schemas,
        false,
    );
    assert_eq!(
        expected.len(),
        TAP_STREAMS.len(),
        "every stream has records"
    );

    for (format, compression) in [("parquet", "gzip"), ("jsonl", "gzip"), ("parquet", "none")] {
        let case = dir.path().join(format!("{format}-{compression}"));
        let files = case.join("files");
        let batch = json!({
            "encoding": {"format": format, "compression": compression},
            "storage": {"root": format!("file://{}", files.display()), "prefix": "graph-"},
            "batch_size": 7,
        });
        let lines = tap_run(&mock, &case, Some(batch));
        let kinds: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
        assert!(
            !kinds.contains(&"RECORD"),
            "{format}: BATCH instead of RECORD"
        );
        assert_eq!(kinds.last(), Some(&"STATE"), "{format}: STATE last");
        // Files of at most 7 records: as many BATCH messages per stream as that takes.
        for (stream, texts) in &expected {
            let batches: Vec<&Value> = lines
                .iter()
                .filter(|l| l["type"] == "BATCH" && l["stream"] == stream.as_str())
                .collect();
            assert_eq!(batches.len(), texts.len().div_ceil(7), "{format}: {stream}");
            assert_eq!(
                batches[0]["encoding"],
                json!({"format": format, "compression": compression})
            );
            let url = batches[0]["manifest"][0].as_str().unwrap();
            assert!(
                url.starts_with("file:///") && url.contains("/graph-tap-msgraph--"),
                "{url}"
            );
        }

        // The SDK's own reader: every record, as the RECORD lines have it.
        let out = case.join("sdk-read.jsonl");
        let config = case.join("sdk-target.json");
        std::fs::write(&config, json!({"out": out}).to_string()).unwrap();
        let input: Vec<u8> = lines
            .iter()
            .flat_map(|l| format!("{l}\n").into_bytes())
            .collect();
        let read = run(
            Command::new(venv.join("python"))
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/sdk_batch_reader.py"
                ))
                .arg("--config")
                .arg(&config),
            &input,
        );
        assert!(read.success(), "the SDK target failed:\n{}", read.stderr);
        let text = std::fs::read_to_string(&out).expect("the SDK wrote records");
        let dumped = text.lines().map(|l| {
            let l: Value = serde_json::from_str(l).unwrap();
            (
                l["stream"].as_str().unwrap().to_string(),
                l["record"].clone(),
            )
        });
        // Parquet holds "any JSON" values as their text; JSONL as the values.
        let got = normalized(dumped, &schemas, format == "parquet");
        for (stream, texts) in &expected {
            assert_eq!(got[stream].len(), texts.len(), "{format}: {stream} rows");
            if let Some((a, b)) = got[stream].iter().zip(texts).find(|(a, b)| a != b) {
                let (a, b): (Value, Value) = (
                    serde_json::from_str(a).unwrap(),
                    serde_json::from_str(b).unwrap(),
                );
                let differ: Vec<String> = a
                    .as_object()
                    .unwrap()
                    .iter()
                    .filter(|(k, v)| b.get(k.as_str()) != Some(v))
                    .map(|(k, v)| format!("{k}: read {v}, sent {}", b[k.as_str()]))
                    .collect();
                panic!("{format}: {stream}: a record differs: {differ:?}");
            }
        }

        // Our target lands the batches as it lands the RECORD lines.
        let by_records = dir.path().join("by-records");
        if !by_records.exists() {
            let input: Vec<u8> = records
                .iter()
                .flat_map(|l| format!("{l}\n").into_bytes())
                .collect();
            let landed = target(&target_config(dir.path(), &by_records, ""), &input);
            assert!(landed.success(), "{}", landed.stderr);
        }
        let by_batches = case.join("landing");
        let landed = target(&target_config(&case, &by_batches, ""), &input);
        assert!(landed.success(), "{}", landed.stderr);
        for stream in TAP_STREAMS {
            assert_eq!(
                landed_rows(&by_batches, stream),
                landed_rows(&by_records, stream),
                "{format}: {stream}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_batch_config_stops_the_tap_before_it_reads() {
    let mock = graph_mock::MockServer::start(graph_mock::MockConfig::default().users(3))
        .await
        .expect("mock starts");
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let cases = [
        (
            json!({"encoding": {"format": "csv"}, "storage": {"root": "/tmp"}}),
            "unknown variant `csv`",
        ),
        (json!({"encoding": {"format": "parquet"}}), "storage"),
        (
            json!({"encoding": {"format": "parquet"}, "storage": {"root": blocker.join("sub")}}),
            "batch_config.storage.root",
        ),
    ];
    for (batch, expected) in cases {
        let config = tap_config(dir.path(), &mock, &format!(r#","batch_config":{batch}"#));
        let done = run(Command::new(TAP).arg("--config").arg(&config), b"");
        assert!(!done.success(), "{batch}");
        assert!(done.stderr.contains(expected), "{batch}: {}", done.stderr);
        assert!(done.stdout.is_empty(), "{batch}: nothing sent");
        assert_no_secret(&done.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_taps_batches_on_s3_land_through_our_target() {
    let server = test_support::S3Server::start();
    let mock = graph_mock::MockServer::start(graph_mock::MockConfig::default().users(12))
        .await
        .expect("mock starts");
    let dir = tempfile::tempdir().unwrap();
    let params = server.options_json();
    let batch = json!({
        "encoding": {"format": "parquet"},
        "storage": {"root": server.url("batches"), "params": params},
        "batch_size": 5,
    });
    let lines = tap_run(&mock, &dir.path().join("tap"), Some(batch));
    let manifests: Vec<&str> = lines
        .iter()
        .filter(|l| l["type"] == "BATCH")
        .map(|l| l["manifest"][0].as_str().unwrap())
        .collect();
    assert!(!manifests.is_empty());
    let prefix = format!("s3://{}/batches/tap-msgraph--", server.bucket());
    assert!(
        manifests.iter().all(|m| m.starts_with(&prefix)),
        "{manifests:?}"
    );
    let text = lines
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        !text.contains(test_support::S3Server::SECRET_KEY),
        "no store secret in the output"
    );

    let out = dir.path().join("landing");
    let config = target_config(
        dir.path(),
        &out,
        &format!(r#","store_options":{}"#, Value::Object(params)),
    );
    let landed = target(&config, format!("{text}\n").as_bytes());
    assert!(landed.success(), "{}", landed.stderr);
    assert_counts_are_the_truth(&mock, &out, &TAP_STREAMS);
}

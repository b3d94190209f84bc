//! target-parquet-arrow as a process: Singer lines in, a landing DuckDB reads, STATE out last.

mod common;

use common::*;
use serde_json::{Value, json};

fn lines(messages: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        out.extend(serde_json::to_vec(m).unwrap());
        out.push(b'\n');
    }
    out
}

fn people_schema(extra: Value) -> Value {
    let mut properties = json!({
        "id": {"type": "integer"},
        "displayName": {"type": ["null", "string"]},
        "createdAt": {"type": ["null", "string"], "format": "date-time"},
        "score": {"type": ["null", "integer"]},
        "tags": {"type": ["null", "array"], "items": {"type": "string"}},
        "address": {"type": ["null", "object"], "properties": {"cityName": {"type": ["null", "string"]}}},
        "blob": {}
    });
    for (k, v) in extra.as_object().unwrap() {
        properties[k] = v.clone();
    }
    json!({"type": "SCHEMA", "stream": "People-Stream", "key_properties": ["id"],
           "schema": {"type": "object", "properties": properties}})
}

fn person(id: i64, extra: Value) -> Value {
    let mut record = json!({"id": id, "displayName": format!("p{id}"),
        "createdAt": "2024-05-06T07:08:09.1234567Z", "score": id * 10, "tags": ["a", "b"],
        "address": {"cityName": "Zürich"}, "blob": {"k": [1, 2]}});
    for (k, v) in extra.as_object().unwrap() {
        record[k] = v.clone();
    }
    json!({"type": "RECORD", "stream": "People-Stream", "record": record,
           "time_extracted": "2024-05-06T07:08:09.000000Z"})
}

#[test]
fn schema_change_keys_keyless_streams_and_state_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("landing");
    let config = target_config(dir.path(), &out, r#","batch_records":"3""#);
    let mut messages = vec![people_schema(json!({}))];
    for id in 1..=5 {
        messages.push(person(id, json!({})));
    }
    // A repeated key lands once: the later record wins.
    messages.push(person(2, json!({"displayName": "p2 again"})));
    messages.push(json!({"type": "STATE", "value": {"bookmarks": {"People-Stream": {"n": 1}}}}));
    // Mid-stream: a new property, and `score` widens from integer to number.
    messages.push(people_schema(
        json!({"email": {"type": ["null", "string"]}, "score": {"type": ["null", "number"]}}),
    ));
    messages.push(person(6, json!({"email": "six@example.com", "score": 6.5})));
    messages.push(
        json!({"type": "SCHEMA", "stream": "events", "key_properties": [],
        "schema": {"properties": {"what": {"type": "string"}}}}),
    );
    messages.push(json!({"type": "RECORD", "stream": "events", "record": {"what": "x"}}));
    messages.push(json!({"type": "RECORD", "stream": "events", "record": {"what": "x"}}));
    messages.push(json!({"type": "STATE", "value": {"bookmarks": {"People-Stream": {"n": 2}}}}));
    let done = target(&config, &lines(&messages));
    assert!(done.success(), "{}", done.stderr);

    // Exactly the latest state, once, and only with a manifest on disk.
    assert_eq!(
        done.lines(),
        vec![json!({"bookmarks": {"People-Stream": {"n": 2}}})]
    );
    let manifests = manifests(&out);
    assert_eq!(manifests.len(), 1);
    let people = &manifests[0]["streams"]["people_stream"];
    assert_eq!(people["rows"], 6);

    assert_eq!(count(&out, "people_stream"), 6);
    let rows = test_support::duckdb_query(&format!(
        "SELECT id, display_name, score, email, typeof(created_at) AS ts_type, created_at,
                tags, address.city_name AS city, blob::VARCHAR AS blob
         FROM read_parquet('{}/people_stream/**/*.parquet', hive_partitioning=true, union_by_name=true)
         ORDER BY id",
        out.display()
    ));
    assert_eq!(rows[0]["display_name"], "p1");
    assert_eq!(rows[0]["ts_type"], "TIMESTAMP WITH TIME ZONE");
    assert_eq!(rows[0]["created_at"], "2024-05-06 07:08:09.123456+00");
    assert_eq!(rows[0]["tags"], json!(["a", "b"]));
    assert_eq!(rows[0]["city"], "Zürich");
    assert_eq!(rows[0]["blob"], r#"{"k":[1,2]}"#);
    assert_eq!(rows[0]["email"], Value::Null);
    assert_eq!(rows[5]["email"], "six@example.com");
    assert_eq!(rows[5]["score"], 6.5);
    assert_eq!(rows[1]["score"], 20.0);
    assert_eq!(rows[1]["display_name"], "p2 again");

    // A keyless stream keys on the input line: both identical records land.
    let events = test_support::duckdb_query(&format!(
        "SELECT _input_line FROM read_parquet('{}/events/**/*.parquet') ORDER BY 1",
        out.display()
    ));
    assert_eq!(
        events,
        vec![json!({"_input_line": 12}), json!({"_input_line": 13})]
    );
}

#[test]
fn activate_version_keeps_only_the_activated_version() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("landing");
    let config = target_config(dir.path(), &out, "");
    let schema = json!({"type": "SCHEMA", "stream": "t", "key_properties": ["id"],
        "schema": {"properties": {"id": {"type": "string"}}}});
    let record = |id: &str, version: i64| json!({"type": "RECORD", "stream": "t", "record": {"id": id}, "version": version});
    let messages = vec![
        schema,
        json!({"type": "ACTIVATE_VERSION", "stream": "t", "version": 1}),
        record("old-1", 1),
        record("old-2", 1),
        record("new-1", 2),
        record("new-2", 2),
        record("new-3", 2),
        json!({"type": "ACTIVATE_VERSION", "stream": "t", "version": 2}),
    ];
    let done = target(&config, &lines(&messages));
    assert!(done.success(), "{}", done.stderr);
    assert!(done.stdout.is_empty(), "no STATE came in, none goes out");
    let ids = test_support::duckdb_query(&format!(
        "SELECT list(id ORDER BY id) AS ids FROM read_parquet('{}/t/**/*.parquet')",
        out.display()
    ));
    assert_eq!(ids[0]["ids"], json!(["new-1", "new-2", "new-3"]));
}

/// `stream`'s manifest entry in the run that landed last.
fn last_run(out: &std::path::Path, stream: &str) -> Value {
    let mut manifests = manifests(out);
    manifests.sort_by_key(|m| m["run_id"].as_str().unwrap().to_string());
    manifests.last().unwrap()["streams"][stream].clone()
}

fn current(out: &std::path::Path, stream: &str, keys: &[&str], columns: &str) -> Vec<Value> {
    let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    let sql = test_support::current_state_sql(out, stream, &keys, columns);
    test_support::duckdb_query(&format!("{sql} ORDER BY ALL"))
}

#[test]
fn runs_append_changes_deletes_and_whole_versions() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("landing");
    let config = target_config(dir.path(), &out, "");
    let schema = json!({"type": "SCHEMA", "stream": "t", "key_properties": ["id"],
        "schema": {"properties": {"id": {"type": "string"}, "v": {"type": ["null", "integer"]},
                                  "_sdc_deleted_at": {"type": ["null", "string"], "format": "date-time"}}}});
    let events = json!({"type": "SCHEMA", "stream": "events", "key_properties": [],
        "schema": {"properties": {"what": {"type": "string"}}}});
    let record =
        |id: &str, v: i64| json!({"type": "RECORD", "stream": "t", "record": {"id": id, "v": v}});
    let versioned = |id: &str, v: i64, version: i64| json!({"type": "RECORD", "stream": "t", "record": {"id": id, "v": v}, "version": version});
    let event =
        |what: &str| json!({"type": "RECORD", "stream": "events", "record": {"what": what}});
    let activate =
        |version: i64| json!({"type": "ACTIVATE_VERSION", "stream": "t", "version": version});
    let land = |messages: Vec<Value>| {
        let done = target(&config, &lines(&messages));
        assert!(done.success(), "{}", done.stderr);
    };
    let state = |out: &std::path::Path| current(out, "t", &["id"], "id, v");

    land(vec![
        schema.clone(),
        events.clone(),
        record("a", 1),
        record("b", 1),
        record("c", 1),
        record("a", 2),
        event("x"),
        event("x"),
    ]);
    assert_eq!(
        state(&out),
        [
            json!({"id": "a", "v": 2}),
            json!({"id": "b", "v": 1}),
            json!({"id": "c", "v": 1})
        ]
    );

    // A delete, an update (its last record wins), an insert; nothing said about `a`.
    land(vec![
        schema.clone(),
        events.clone(),
        json!({"type": "RECORD", "stream": "t",
               "record": {"id": "b", "_sdc_deleted_at": "2026-12-01T00:00:00Z"}}),
        record("c", 2),
        record("d", 1),
        record("c", 3),
        event("x"),
    ]);
    assert_eq!(
        state(&out),
        [
            json!({"id": "a", "v": 2}),
            json!({"id": "c", "v": 3}),
            json!({"id": "d", "v": 1})
        ]
    );
    let run = last_run(&out, "t");
    assert_eq!(run["method"], "feed");
    assert_eq!(
        (
            &run["changes"]["inserts"],
            &run["changes"]["updates"],
            &run["changes"]["deletes"]
        ),
        (&json!(1), &json!(1), &json!(1))
    );
    // Keyless records are new rows in every load, never updates of an earlier load's line.
    assert_eq!(
        current(&out, "events", &["_input_load", "_input_line"], "what").len(),
        3
    );

    // A version opened but never closed (the tap died): nothing is deleted.
    land(vec![schema.clone(), activate(6), versioned("a", 2, 6)]);
    assert_eq!(state(&out).len(), 3);

    // A version sent whole: what it lacks is deleted, what it repeats lands nothing.
    land(vec![
        schema.clone(),
        versioned("a", 2, 7),
        versioned("d", 1, 7),
        activate(7),
    ]);
    assert_eq!(
        state(&out),
        [json!({"id": "a", "v": 2}), json!({"id": "d", "v": 1})]
    );
    let run = last_run(&out, "t");
    assert_eq!(run["method"], "full_table");
    assert_eq!(run["changes"]["deletes"], 1);
    assert_eq!(run["changes"]["unchanged"], 2);

    // An empty version (opened and closed) empties the stream.
    land(vec![schema, activate(8), activate(8)]);
    assert!(state(&out).is_empty());
}

#[test]
fn a_parents_delete_deletes_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("landing");
    let config = target_config(dir.path(), &out, "");
    let users = json!({"type": "SCHEMA", "stream": "users", "key_properties": ["id"],
        "schema": {"properties": {"id": {"type": "string"}, "_sdc_deleted_at": {"type": ["null", "string"]}}}});
    let mail = json!({"type": "SCHEMA", "stream": "mail", "key_properties": ["id", "user_id"],
        "schema": {"properties": {"user_id": {"type": "string"}, "id": {"type": "string"}},
                   "x-parent": {"stream": "users", "property": "user_id"}}});
    let user = |id: &str| json!({"type": "RECORD", "stream": "users", "record": {"id": id}});
    let message = |user: &str, id: &str| json!({"type": "RECORD", "stream": "mail", "record": {"user_id": user, "id": id}});
    let first = vec![
        users.clone(),
        mail.clone(),
        user("u1"),
        user("u2"),
        message("u1", "m1"),
        message("u1", "m2"),
        message("u2", "m3"),
    ];
    let done = target(&config, &lines(&first));
    assert!(done.success(), "{}", done.stderr);
    let second = vec![
        users,
        mail,
        json!({"type": "RECORD", "stream": "users",
               "record": {"id": "u1", "_sdc_deleted_at": "2026-12-01T00:00:00Z"}}),
    ];
    let done = target(&config, &lines(&second));
    assert!(done.success(), "{}", done.stderr);
    assert_eq!(
        current(&out, "mail", &["id", "user_id"], "user_id, id"),
        [json!({"user_id": "u2", "id": "m3"})]
    );
    assert_eq!(last_run(&out, "mail")["changes"]["deletes"], 2);
}

#[test]
fn malformed_input_names_the_line_and_lands_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("landing");
    let config = target_config(dir.path(), &out, "");
    let good = lines(&[
        json!({"type": "SCHEMA", "stream": "t", "key_properties": ["id"],
               "schema": {"properties": {"id": {"type": "string"}}}}),
        json!({"type": "RECORD", "stream": "t", "record": {"id": "1"}}),
        json!({"type": "STATE", "value": {"x": 1}}),
    ]);
    let cases: [(&[u8], &str); 5] = [
        (b"{\"type\":\"RECORD\",\"stream\":\"t\",\"record\":{\"id\":\n", "line 4"),
        (b"{\"type\":\"RECORD\",\"stream\":\"nope\",\"record\":{}}\n", "line 4: RECORD for stream `nope` before any SCHEMA"),
        (b"{\"type\":\"RECORD\",\"stream\":\"t\",\"record\":\"x\"}\n", "line 4: RECORD `record` must be a JSON object"),
        (b"{\"type\":\"SCHEMA\",\"stream\":\"t\",\"key_properties\":[\"other\"],\"schema\":{\"properties\":{\"other\":{}}}}\n",
         "line 4: SCHEMA for `t` changes key_properties"),
        (b"{\"type\":\"SCHEMA\",\"stream\":\"u\",\"key_properties\":[],\"schema\":{\"properties\":{},\"x-parent\":{\"stream\":\"t\",\"property\":\"nope\"}}}\n",
         "line 4: SCHEMA for `u`: `x-parent` must be"),
    ];
    for (bad, expected) in cases {
        let mut input = good.clone();
        input.extend_from_slice(bad);
        input.extend(lines(&[
            json!({"type": "RECORD", "stream": "t", "record": {"id": "2"}}),
        ]));
        let done = target(&config, &input);
        assert_eq!(done.code, Some(1), "{}", done.stderr);
        assert!(
            done.stderr.contains(expected),
            "expected `{expected}` in {}",
            done.stderr
        );
        assert!(done.stdout.is_empty(), "no STATE for a broken run");
        assert!(manifests(&out).is_empty(), "no manifest for a broken run");
        assert!(!out.join("t").exists(), "no data files either");
    }
}

#[test]
fn no_state_when_the_landing_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    // The landing root is a regular file: nothing can be written below it.
    let out = dir.path().join("not-a-dir");
    std::fs::write(&out, "x").unwrap();
    let config = target_config(dir.path(), &out, "");
    let input = lines(&[
        json!({"type": "SCHEMA", "stream": "t", "key_properties": ["id"],
               "schema": {"properties": {"id": {"type": "string"}}}}),
        json!({"type": "RECORD", "stream": "t", "record": {"id": "1"}}),
        json!({"type": "STATE", "value": {"x": 1}}),
    ]);
    let done = target(&config, &input);
    assert_ne!(done.code, Some(0));
    assert!(
        done.stdout.is_empty(),
        "STATE must wait for a committed run"
    );
}

#[test]
fn about_and_config_errors() {
    let about = run(std::process::Command::new(TARGET).arg("--about"), b"");
    assert!(about.success());
    let about: Value = serde_json::from_slice(&about.stdout).unwrap();
    assert_eq!(about["name"], "target-parquet-arrow");
    assert!(about["settings"]["properties"]["output"].is_object());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, r#"{"output": "/tmp/x", "batch_recods": 5}"#).unwrap();
    let done = target(&path, b"");
    assert_eq!(done.code, Some(2));
    assert!(done.stderr.contains("batch_recods"), "{}", done.stderr);
}

#[test]
fn line_numbers_stay_exact_across_read_blocks() {
    // More than one 8 MiB read block, keyless: `_input_line` must be each RECORD's own line.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("landing");
    let config = target_config(dir.path(), &out, "");
    let mut input = lines(&[
        json!({"type": "SCHEMA", "stream": "log", "key_properties": [],
        "schema": {"properties": {"n": {"type": "integer"}, "text": {"type": "string"}}}}),
    ]);
    let records = 60_000;
    let padding = "x".repeat(120);
    for n in 0..records {
        input.extend(
            format!(
                "{{\"type\":\"RECORD\",\"stream\":\"log\",\"record\":{{\"n\":{n},\"text\":\"{padding}\"}}}}\n"
            )
            .bytes(),
        );
    }
    assert!(input.len() > 8 << 20);
    let done = target(&config, &input);
    assert!(done.success(), "{}", done.stderr);
    let rows = test_support::duckdb_query(&format!(
        "SELECT count(*) AS rows, count(*) FILTER (WHERE _input_line <> n + 2) AS off
         FROM read_parquet('{}/log/**/*.parquet')",
        out.display()
    ));
    assert_eq!(rows[0], json!({"rows": records, "off": 0}));

    input.extend_from_slice(b"{\"type\":\"RECORD\",\"stream\":\"log\",\"record\":{\"n\":1}\n");
    let broken = dir.path().join("broken");
    let done = target(&target_config(dir.path(), &broken, ""), &input);
    assert_eq!(done.code, Some(1));
    let expected = format!("line {}:", records + 2);
    assert!(done.stderr.contains(&expected), "{}", done.stderr);
    assert!(manifests(&broken).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lands_on_s3_with_store_options_from_the_config() {
    let server = test_support::S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let options = server.options_json();
    let config = dir.path().join("s3.json");
    let url = server.url("singer");
    std::fs::write(
        &config,
        json!({"output": url, "store_options": options}).to_string(),
    )
    .unwrap();
    let mut messages = vec![
        json!({"type": "SCHEMA", "stream": "t", "key_properties": ["id"],
        "schema": {"properties": {"id": {"type": "integer"}}}}),
    ];
    for id in 0..50 {
        messages.push(json!({"type": "RECORD", "stream": "t", "record": {"id": id}}));
    }
    messages.push(json!({"type": "STATE", "value": {"done": true}}));
    let done = target(&config, &lines(&messages));
    assert!(done.success(), "{}", done.stderr);
    assert_eq!(done.lines(), vec![json!({"done": true})]);

    let landing = arrow_sink::Landing::open_with_options(&url, server.options()).unwrap();
    let runs = arrow_sink::Manifest::committed_runs(&landing)
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    let manifest = arrow_sink::Manifest::load(&landing, &runs[0])
        .await
        .unwrap()
        .expect("committed");
    assert_eq!(manifest.streams["t"].rows, 50);
    assert!(manifest.streams["t"].files[0].path.starts_with("t/date="));
}

#[test]
fn hostile_input_is_refused_by_line_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("landing");
    let config = target_config(dir.path(), &out, r#","max_line_bytes": 4096"#);
    let schema = lines(&[
        json!({"type": "SCHEMA", "stream": "t", "key_properties": ["id"],
               "schema": {"properties": {"id": {"type": "string"}}}}),
        json!({"type": "RECORD", "stream": "t", "record": {"id": "1"}}),
    ]);
    // A line that never ends: refused at the cap, naming its line, not read until memory runs out.
    let mut endless = schema.clone();
    endless.extend_from_slice(b"{\"type\":\"RECORD\",\"stream\":\"t\",\"record\":{\"id\":\"");
    endless.extend(std::iter::repeat_n(b'x', 1 << 20));
    let done = target(&config, &endless);
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    assert!(
        done.stderr.contains("line 3") && done.stderr.contains("longer than 4096 bytes"),
        "{}",
        done.stderr
    );
    assert!(manifests(&out).is_empty() && done.stdout.is_empty());
    // A line at the cap is accepted.
    let mut at_cap = schema.clone();
    let prefix = r#"{"type":"RECORD","stream":"t","record":{"id":""#;
    let suffix = r#""}}"#;
    let id = "y".repeat(4096 - prefix.len() - suffix.len());
    at_cap.extend(format!("{prefix}{id}{suffix}\n").bytes());
    let done = target(&config, &at_cap);
    assert!(done.success(), "{}", done.stderr);

    // Nested 10^5 deep: refused by line, never a stack overflow.
    let mut deep = schema.clone();
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    deep.extend(
        format!(r#"{{"type":"RECORD","stream":"t","record":{{"id":"d","v":{nested}}}}}"#).bytes(),
    );
    deep.push(b'\n');
    let nested_out = dir.path().join("nested");
    let done = target(&target_config(dir.path(), &nested_out, ""), &deep);
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    assert!(
        done.stderr.contains("line 3") && done.stderr.contains("deeper than 128"),
        "{}",
        done.stderr
    );
    assert!(manifests(&nested_out).is_empty());

    // One spool file per record version: a tap cycling versions is stopped, not given every fd.
    let versions = msgraph_singer::target::MAX_VERSIONS_PER_STREAM + 1;
    let mut cycling = schema.clone();
    for version in 0..versions {
        cycling.extend(lines(&[json!(
            {"type": "RECORD", "stream": "t", "version": version, "record": {"id": format!("{version}")}}
        )]));
    }
    let again = dir.path().join("again");
    let done = target(&target_config(dir.path(), &again, ""), &cycling);
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    // Line 2's unversioned record holds one of the spool files: the 256th version (line 258)
    // is one too many.
    let expected = format!("line {}:", versions + 1);
    assert!(
        done.stderr.contains(&expected) && done.stderr.contains("version"),
        "{}",
        done.stderr
    );
    assert!(manifests(&again).is_empty());
}

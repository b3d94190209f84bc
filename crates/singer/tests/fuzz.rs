//! Issue 15, item 11: Singer input as a broken or hostile tap sends it, and target configs as a
//! careless user writes them. Invariants: no panic, no hang, an input error names a line that
//! exists, a run either commits or leaves no manifest, and a secret never comes back in an
//! error. Sizes: `MSGRAPH_SYNC_FUZZ_CASES` (see RELIABILITY.md).

use std::time::Duration;

use arrow_sink::{Landing, SinkOptions};
use msgraph_singer::target::spool::PageLimits;
use msgraph_singer::target::{TargetConfig, TargetError, land, read_input};
use serde_json::{Value, json};
use test_support::fuzz::inputs::{deep, json_value, key, mutated, secret_still_in_place, text};
use test_support::fuzz::proptest::collection::vec;
use test_support::fuzz::proptest::prelude::*;
use test_support::fuzz::{fuzz, fuzz_cases};

/// A JSON-schema property of the kinds taps send.
fn property() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"type": "integer"})),
        Just(json!({"type": ["null", "string"]})),
        Just(json!({"type": ["null", "string"], "format": "date-time"})),
        Just(json!({"type": ["null", "number"]})),
        Just(json!({"type": "boolean"})),
        Just(json!({"type": ["null", "array"], "items": {"type": "string"}})),
        Just(json!({"type": "object", "properties": {"a": {"type": "string"}}})),
        Just(json!({})),
        Just(json!({"anyOf": [{"type": "string"}, {"type": "null"}]})),
    ]
}

/// One Singer message line (or a line that is none).
fn line() -> impl Strategy<Value = String> {
    let names = prop::sample::select(vec!["s", "t", "Odd-Stream"]);
    let schema = (
        names.clone(),
        vec((key(), property()), 0..6),
        prop_oneof![
            Just(json!([])),
            Just(json!(["id"])),
            Just(json!(["missing"]))
        ],
    )
        .prop_map(|(stream, props, keys)| {
            let mut properties: serde_json::Map<String, Value> = props.into_iter().collect();
            properties.insert("id".into(), json!({"type": ["string", "integer"]}));
            json!({"type": "SCHEMA", "stream": stream, "key_properties": keys,
                   "schema": {"type": "object", "properties": properties}})
            .to_string()
        });
    let record = (
        names.clone(),
        vec((key(), json_value()), 0..6),
        prop_oneof![Just(json!(1)), Just(json!("a")), json_value()],
        prop::option::of(any::<i64>()),
    )
        .prop_map(|(stream, pairs, id, version)| {
            let mut record: serde_json::Map<String, Value> = pairs.into_iter().collect();
            record.insert("id".into(), id);
            let mut message = json!({"type": "RECORD", "stream": stream, "record": record});
            if let Some(v) = version {
                message["version"] = json!(v);
            }
            message.to_string()
        });
    prop_oneof![
        // Mostly records, so that about half the inputs are whole enough to land.
        2 => schema,
        40 => record,
        2 => json_value().prop_map(|v| json!({"type": "STATE", "value": v}).to_string()),
        2 => (names, any::<i64>()).prop_map(|(s, v)| {
            json!({"type": "ACTIVATE_VERSION", "stream": s, "version": v}).to_string()
        }),
        1 => prop_oneof![Just(200usize), Just(5_000)].prop_map(|depth| {
            format!(r#"{{"type":"RECORD","stream":"s","record":{{"id":1,"x":{}}}}}"#, deep(depth))
        }),
        1 => text(),
        1 => Just(String::new()),
        // A schema of any shape at all.
        1 => json_value().prop_map(|schema| {
            json!({"type": "SCHEMA", "stream": "s", "key_properties": [], "schema": schema}).to_string()
        }),
    ]
}

/// Lines, most often after a valid SCHEMA for each stream so that records get landed.
fn singer_input() -> impl Strategy<Value = Vec<u8>> {
    (vec(line(), 0..24), any::<bool>(), prop::bool::weighted(0.7)).prop_map(
        |(mut lines, crlf, preamble)| {
            if preamble {
                for stream in ["s", "t", "Odd-Stream"] {
                    let schema = json!({"type": "SCHEMA", "stream": stream, "key_properties": ["id"],
                        "schema": {"type": "object", "properties": {"id": {"type": ["string", "integer"]}}}});
                    lines.insert(0, schema.to_string());
                }
            }
            lines
                .join(if crlf { "\r\n" } else { "\n" })
                .into_bytes()
        },
    )
}

#[test]
fn fuzz_singer_lines() {
    let runtime = test_support::fuzz::runtime();
    let handle = runtime.handle().clone();
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = runs.clone();
    fuzz(
        "Singer lines (target)",
        fuzz_cases(),
        Duration::from_millis(500),
        || mutated(singer_input(), 0..2),
        move |input| {
            let input = input.0;
            let lines = input.split(|&b| b == b'\n').count() as u64;
            let dir = tempfile::tempdir().unwrap();
            let limits = PageLimits {
                records: 5,
                bytes: 4096,
            };
            match read_input(
                &input[..],
                dir.path(),
                limits,
                64 * 1024,
                &Default::default(),
            ) {
                Err(TargetError::Input { line, message }) => {
                    prop_assert!(
                        (1..=lines).contains(&line),
                        "line {line} of {lines}: {message}"
                    );
                    prop_assert!(!message.is_empty());
                }
                Err(other) => prop_assert!(!other.to_string().is_empty()),
                Ok(spooled) => {
                    let root = dir.path().join("landing");
                    let landing = Landing::open(root.to_str().unwrap()).unwrap();
                    let options = SinkOptions {
                        decode_threads: 1,
                        ..SinkOptions::default()
                    };
                    let landed = handle.block_on(land(spooled, &landing, options));
                    let manifests = std::fs::read_dir(root.join("_runs"))
                        .map(|entries| entries.count())
                        .unwrap_or(0);
                    counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    match landed {
                        Ok(outcome) => {
                            prop_assert_eq!(manifests, usize::from(outcome.manifest.is_some()))
                        }
                        // A decode failure commits without the failed pages (and says so);
                        // anything else commits nothing.
                        Err(TargetError::Partial { .. }) => prop_assert_eq!(manifests, 1),
                        Err(e) => prop_assert_eq!(manifests, 0, "{}", e),
                    }
                }
            }
            Ok(())
        },
    );
    let runs = runs.load(std::sync::atomic::Ordering::Relaxed);
    println!("  of which {runs} spooled whole and went through a run");
    assert!(
        runs > 0,
        "no input got as far as a run: the generator is off"
    );
}

const SECRET: &str = "S3cr3t-Fuzz-7c41";

fn target_config() -> impl Strategy<Value = Vec<u8>> {
    let number = prop_oneof![
        any::<i64>().prop_map(|n| json!(n)),
        text().prop_map(Value::String),
        json_value(),
    ];
    (
        prop::option::of(number.clone()),
        prop::option::of(number),
        vec((key(), json_value()), 0..3),
        any::<bool>(),
    )
        .prop_map(|(batch_records, max_line_bytes, extra, s3)| {
            let mut config = json!({
                "output": if s3 { "s3://bucket/prefix?sig=x" } else { "/tmp/landing" },
                "store_options": {"aws_access_key_id": "AKIAFUZZ", "aws_secret_access_key": SECRET},
            });
            let object = config.as_object_mut().expect("an object");
            if let Some(v) = batch_records {
                object.insert("batch_records".into(), v);
            }
            if let Some(v) = max_line_bytes {
                object.insert("max_line_bytes".into(), v);
            }
            for (k, v) in extra {
                object.insert(k, v);
            }
            serde_json::to_vec_pretty(&config).expect("serializable")
        })
}

#[test]
fn fuzz_target_config() {
    fuzz(
        "config files (target)",
        fuzz_cases(),
        Duration::from_millis(50),
        || mutated(target_config(), 0..3),
        |bytes| {
            let bytes = bytes.0;
            let Ok(text) = std::str::from_utf8(&bytes) else {
                return Ok(()); // read as UTF-8 first, with its own error
            };
            let in_place = secret_still_in_place(&bytes, SECRET, &["aws_secret_access_key"]);
            match TargetConfig::from_json(text) {
                Ok(config) if in_place => {
                    let shown = format!("{config:?}");
                    prop_assert!(!shown.contains(SECRET), "Debug shows the secret: {shown}");
                }
                Ok(_) => {}
                Err(e) => {
                    let message = e.to_string();
                    if in_place {
                        prop_assert!(!message.contains(SECRET), "secret echoed: {message}");
                    }
                }
            }
            Ok(())
        },
    );
}

//! Records look like Graph JSON: declared names and types, 7-digit timestamps, ~20% nulls, unicode,
//! member @odata.type, one body over 1 MB, UPNs in several domains; drift adds what is not declared.

mod support;

use std::collections::BTreeSet;

use graph_mock::MockConfig;
use serde_json::Value;
use stream_spec::{Catalog, Field, FieldType, StreamKind};
use support::{Harness, parent_keys, stream_url};

/// Whether `value` fits the declared type (null only where nullable).
fn conforms(value: &Value, data_type: &FieldType, nullable: bool) -> bool {
    match (value, data_type) {
        (Value::Null, _) => nullable,
        (Value::String(s), FieldType::Utf8) => !s.is_empty(),
        (Value::Bool(_), FieldType::Boolean) => true,
        (Value::Number(n), FieldType::Int32 | FieldType::Int64) => n.is_i64(),
        (Value::Number(_), FieldType::Float64) => true,
        (Value::String(s), FieldType::Date) => {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
        }
        (Value::String(s), FieldType::TimestampUsUtc) => {
            // Graph: 2024-05-01T10:20:30.1234567Z
            s.len() == 28
                && s.ends_with('Z')
                && s.as_bytes()[19] == b'.'
                && chrono::DateTime::parse_from_rfc3339(s).is_ok()
        }
        (_, FieldType::Json) => true,
        (Value::Array(items), FieldType::List(item)) => {
            items.iter().all(|v| conforms(v, item, false))
        }
        (Value::Object(object), FieldType::Struct(fields)) => fields_conform(object, fields),
        _ => false,
    }
}

fn fields_conform(object: &serde_json::Map<String, Value>, fields: &[Field]) -> bool {
    fields.iter().all(|f| {
        object
            .get(&f.graph)
            .is_some_and(|v| conforms(v, &f.data_type, f.nullable))
    }) && object.keys().all(|k| fields.iter().any(|f| &f.graph == k))
}

#[tokio::test]
async fn every_stream_sends_declared_shapes() {
    let h = Harness::start(MockConfig::default()).await;
    let truth = h.server.truth();
    let (mut nulls, mut nullable_values) = (0u64, 0u64);
    let catalog = Catalog::embedded();
    for spec in catalog
        .streams()
        .iter()
        .filter(|s| s.kind != StreamKind::Report)
    {
        let parent = spec.parent.as_ref().map(|p| {
            let parent = catalog.get(&p.stream).unwrap();
            parent_keys(parent, truth.stream(&p.stream).unwrap()).remove(0)
        });
        let (rows, _) = h.walk(&stream_url(&h, spec, parent.as_ref(), None)).await;
        for row in &rows {
            let object = row.as_object().unwrap();
            assert!(
                fields_conform(object, &spec.fields),
                "{}: {row}",
                spec.stream
            );
            for field in spec.fields.iter().filter(|f| f.nullable) {
                nullable_values += 1;
                nulls += u64::from(object[&field.graph].is_null());
            }
        }
    }
    let share = nulls as f64 / nullable_values as f64;
    assert!((0.15..0.25).contains(&share), "null share {share}");
}

#[tokio::test]
async fn realistic_values() {
    let h = Harness::start(MockConfig::default()).await;
    let (users, _) = h.walk(&h.graph("/users")).await;
    let domains: BTreeSet<&str> = users
        .iter()
        .map(|u| {
            u["userPrincipalName"]
                .as_str()
                .unwrap()
                .split('@')
                .nth(1)
                .unwrap()
        })
        .collect();
    assert_eq!(domains.len(), 3);
    let text = serde_json::to_string(&users).unwrap();
    assert!(
        text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "CJK"
    );
    assert!(
        text.chars().any(|c| ('\u{0590}'..='\u{06ff}').contains(&c)),
        "right-to-left"
    );
    let (messages, _) = h
        .walk(&h.graph(&format!(
            "/users/{}/messages",
            users[0]["id"].as_str().unwrap()
        )))
        .await;
    let largest = messages
        .iter()
        .map(|m| m["body"]["content"].as_str().map_or(0, str::len))
        .max()
        .unwrap();
    assert!(largest > 1_000_000, "one body over 1 MB: {largest}");
    assert!(
        serde_json::to_string(&messages)
            .unwrap()
            .chars()
            .any(|c| c > '\u{1F000}'),
        "emoji"
    );
    let group = h
        .server
        .truth()
        .stream("groups")
        .unwrap()
        .keys
        .iter()
        .next()
        .unwrap()[0]
        .clone();
    let (members, _) = h
        .walk(&h.graph(&format!("/groups/{group}/members?$select=id")))
        .await;
    assert!(members.iter().all(|m| {
        m["@odata.type"]
            .as_str()
            .is_some_and(|t| t.starts_with("#microsoft.graph."))
    }));
}

#[tokio::test]
async fn drift_adds_undeclared_properties_and_wrong_types_but_keeps_keys() {
    let h = Harness::start(MockConfig::default().users(400).drift(true)).await;
    let spec = Catalog::embedded().get("users").unwrap().clone();
    let (users, _) = h.walk(&h.graph("/users?$top=999")).await;
    let undeclared = users
        .iter()
        .filter(|u| {
            u.as_object()
                .unwrap()
                .keys()
                .any(|k| spec.fields.iter().all(|f| &f.graph != k))
        })
        .count();
    let wrong = users
        .iter()
        .filter(|u| {
            spec.fields.iter().any(|f| {
                u.get(&f.graph)
                    .is_some_and(|v| !conforms(v, &f.data_type, f.nullable))
            })
        })
        .count();
    assert!(
        (80..160).contains(&undeclared),
        "undeclared on ~30%: {undeclared}"
    );
    assert!((1..40).contains(&wrong), "wrong types on ~3%: {wrong}");
    let keys: BTreeSet<Vec<String>> = users
        .iter()
        .map(|u| vec![u["id"].as_str().unwrap().to_string()])
        .collect();
    assert_eq!(keys, h.server.truth().stream("users").unwrap().keys);
}

/// A stream's `[mock]` hints are checked when the mock starts: a misspelt size names the
/// stream and the knob, and a declared stream sized by a knob gets that many rows.
#[tokio::test]
async fn mock_hints_are_checked_and_size_the_stream() {
    let printers = |size: &str| {
        let text = format!(
            r#"{{"stream": "printers", "kind": "collection", "path": "/print/printers",
                "primary_key": ["id"], "page_size": {{"cap": 999}}, "permission": "Printer.Read.All",
                "fields": [{{"graph": "id", "name": "id", "type": "utf8", "nullable": false}}],
                "mock": {{"size": "{size}"}}}}"#
        );
        let spec = stream_spec::StreamSpec::from_json("printers", &text).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("printers.json"),
            serde_json::to_string(&spec).unwrap(),
        )
        .unwrap();
        Catalog::embedded()
            .with(Catalog::from_dir(dir.path()).unwrap())
            .unwrap()
    };
    let err = graph_mock::MockServer::start(MockConfig::default().catalog(printers("printerz")))
        .await
        .err()
        .expect("a misspelt size is refused");
    let text = err.to_string();
    assert!(
        text.contains("printers") && text.contains("printerz"),
        "{text}"
    );

    let h = Harness::start(MockConfig::default().catalog(printers("applications"))).await;
    let truth = h.server.truth();
    let applications = truth.stream("applications").unwrap().rows;
    assert_eq!(truth.stream("printers").unwrap().rows, applications);
}

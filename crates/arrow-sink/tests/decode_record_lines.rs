//! Decoding record lines (one JSON object per line, no envelope): what a Singer target feeds.
//! The tables are declared without a path, a permission or a Graph page.

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use arrow_sink::{DecodeError, EXTRA_COLUMN, PageDecoder, PageInput};
use bytes::Bytes;
use serde_json::Value;
use stream_spec::{BodyFormat, ParentKey, Table};

mod support;

fn orders() -> Table {
    let mut table = support::table(
        "orders",
        &["id"],
        r#"[{"graph": "id", "name": "id", "type": "utf8", "nullable": false},
            {"graph": "itemCount", "name": "item_count", "type": "int64", "nullable": true},
            {"graph": "_sdc_deleted_at", "name": "sdc_deleted_at", "type": "utf8", "nullable": true}]"#,
    )
    .with_tombstone("_sdc_deleted_at")
    .with_method("feed");
    table.format = BodyFormat::RecordLines;
    table
}

fn lines(body: &str, parent: Option<ParentKey>) -> PageInput {
    PageInput {
        parent,
        body: Bytes::from(body.to_string()),
        chain_pages: None,
    }
}

fn strings(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
    let array = batch.column_by_name(column).unwrap().as_string::<i32>();
    array.iter().map(|v| v.map(str::to_string)).collect()
}

#[test]
fn each_line_is_a_record_typed_with_undeclared_properties_in_extra() {
    let decoder = PageDecoder::new(&orders()).unwrap();
    let body = "{\"id\":\"o1\",\"itemCount\":3}\n\n  {\"id\":\"o2\",\"itemCount\":\"many\",\"note\":\"x\"}\n\
                {\"id\":\"o3\",\"_sdc_deleted_at\":\"2024-01-01T00:00:00Z\"}";
    let out = decoder.decode(&lines(body, None)).unwrap();
    let batch = &out.batch;
    assert_eq!(batch.schema(), *decoder.schema().output());
    assert_eq!(
        strings(batch, "id"),
        [Some("o1".into()), Some("o2".into()), Some("o3".into())]
    );
    let counts = batch
        .column_by_name("item_count")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(counts.iter().collect::<Vec<_>>(), [Some(3), None, None]);
    let extra: Vec<Option<Value>> = strings(batch, EXTRA_COLUMN)
        .into_iter()
        .map(|t| t.map(|t| serde_json::from_str(&t).unwrap()))
        .collect();
    assert_eq!(extra[0], None);
    assert_eq!(
        extra[1],
        Some(serde_json::json!({"itemCount": "many", "note": "x"}))
    );
    assert_eq!(out.report.records, 3);
    assert_eq!(out.report.type_conflicts.get("item_count"), Some(&1));
    assert_eq!(out.report.new_properties.get("note"), Some(&1));
    assert_eq!(out.tombstones, [false, false, true]);
}

#[test]
fn records_sharing_a_line_more_than_a_flush_and_an_empty_body_decode_too() {
    let decoder = PageDecoder::new(&orders()).unwrap();
    let out = decoder
        .decode(&lines(
            "{\"id\":\"a\"} {\"id\":\"b\"}\n{\"id\":\"c\"}",
            None,
        ))
        .unwrap();
    assert_eq!(
        strings(&out.batch, "id"),
        [Some("a".into()), Some("b".into()), Some("c".into())]
    );
    // More records than one flush takes: the parts are joined in order, `_extra` with them.
    let body: String = (0..2500)
        .map(|i| format!("{{\"id\":\"o{i}\",\"n\":{i}}}\n"))
        .collect();
    let out = decoder.decode(&lines(&body, None)).unwrap();
    let ids = strings(&out.batch, "id");
    let extras = strings(&out.batch, EXTRA_COLUMN);
    assert_eq!((ids.len(), out.report.records), (2500, 2500));
    for i in [0, 1023, 1024, 2047, 2048, 2499] {
        assert_eq!(ids[i].as_deref(), Some(format!("o{i}").as_str()));
        assert_eq!(
            extras[i].as_deref(),
            Some(format!("{{\"n\":{i}}}").as_str())
        );
    }
    let empty = decoder.decode(&lines("\n", None)).unwrap();
    assert_eq!((empty.batch.num_rows(), empty.report.records), (0, 0));
}

#[test]
fn a_line_that_is_not_a_whole_object_fails_the_body() {
    let decoder = PageDecoder::new(&orders()).unwrap();
    for body in [
        "{\"id\":\"a\"}\n3\n",
        "{\"id\":\"a\"}\n{\"id\":",
        "{\"id\":\"a\"}\nnope",
    ] {
        let err = decoder.decode(&lines(body, None)).unwrap_err();
        assert!(
            matches!(err, DecodeError::Records { .. }),
            "{body:?}: {err:?}"
        );
    }
}

#[test]
fn a_child_table_gets_the_parent_key_columns_its_rows_do_not_carry() {
    // Outermost first: the team comes from the page's key, the channel is in the rows.
    let mut messages = support::table(
        "messages",
        &["id", "team_id", "channel_id"],
        r#"[{"graph": "id", "name": "id", "type": "utf8", "nullable": false},
            {"graph": "channelId", "name": "channel_id", "type": "utf8", "nullable": false}]"#,
    )
    .with_parent("channels", vec!["team_id".into(), "channel_id".into()]);
    messages.format = BodyFormat::RecordLines;
    let decoder = PageDecoder::new(&messages).unwrap();
    let key = ParentKey::top("t1").child("c1");
    let out = decoder
        .decode(&lines("{\"id\":\"m1\",\"channelId\":\"c1\"}\n", Some(key)))
        .unwrap();
    assert_eq!(strings(&out.batch, "team_id"), [Some("t1".into())]);
    assert_eq!(strings(&out.batch, "channel_id"), [Some("c1".into())]);
    let err = decoder
        .decode(&lines("{\"id\":\"m2\",\"channelId\":\"c1\"}\n", None))
        .unwrap_err();
    assert!(matches!(err, DecodeError::MissingParent { .. }), "{err}");
}

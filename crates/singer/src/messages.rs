//! Writing Singer messages, one JSON object per line (the Singer spec's SCHEMA, RECORD, STATE).
//!
//! RECORD lines are assembled from the record's raw JSON text, so a record is never parsed into a
//! value on its way from a Graph page to stdout.

use std::io::{self, Write};

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

/// `time_extracted` / `time` format: RFC 3339, UTC, microseconds.
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn write_schema(
    out: &mut impl Write,
    stream: &str,
    schema: &Value,
    key_properties: &[String],
) -> io::Result<()> {
    let message = json!({
        "type": "SCHEMA",
        "stream": stream,
        "schema": schema,
        "key_properties": key_properties,
    });
    serde_json::to_writer(&mut *out, &message)?;
    out.write_all(b"\n")
}

/// A RECORD from a record's JSON object text. `prefix` (`"user_id":"…"`) is put in as its first
/// property.
pub fn write_raw_record(
    out: &mut impl Write,
    stream: &str,
    record: &str,
    prefix: Option<&str>,
    time_extracted: &str,
) -> io::Result<()> {
    out.write_all(b"{\"type\":\"RECORD\",\"stream\":")?;
    serde_json::to_writer(&mut *out, stream)?;
    out.write_all(b",\"record\":")?;
    match prefix {
        Some(prefix) if record.starts_with('{') => {
            let rest = &record[1..];
            out.write_all(b"{")?;
            out.write_all(prefix.as_bytes())?;
            if !rest.trim_start().starts_with('}') {
                out.write_all(b",")?;
            }
            out.write_all(rest.as_bytes())?;
        }
        _ => out.write_all(record.as_bytes())?,
    }
    out.write_all(b",\"time_extracted\":\"")?;
    out.write_all(time_extracted.as_bytes())?;
    out.write_all(b"\"}\n")
}

pub fn write_state(out: &mut impl Write, value: &Value) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &json!({"type": "STATE", "value": value}))?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_records_get_the_parent_column_and_stay_valid_json() {
        let mut out = Vec::new();
        write_raw_record(
            &mut out,
            "s",
            r#"{"id":"1"}"#,
            Some(r#""user_id":"u""#),
            "T",
        )
        .unwrap();
        write_raw_record(&mut out, "s", "{ }", Some(r#""user_id":"u""#), "T").unwrap();
        write_raw_record(&mut out, "s", r#"{"id":"2"}"#, None, "T").unwrap();
        let lines: Vec<Value> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines[0]["record"], json!({"user_id": "u", "id": "1"}));
        assert_eq!(lines[1]["record"], json!({"user_id": "u"}));
        assert_eq!(lines[2]["record"], json!({"id": "2"}));
        assert_eq!(lines[2]["time_extracted"], "T");
    }
}

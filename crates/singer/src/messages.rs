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

/// Writes a SCHEMA line: the stream's JSON Schema and key properties.
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

/// How a RECORD line is assembled around the record's JSON object text.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordParts<'a> {
    /// Put in as the record's first property (`"user_id":"…"`).
    pub prefix: Option<&'a str>,
    /// Put in as its last property (`"_sdc_deleted_at":"…"`).
    pub suffix: Option<&'a str>,
    /// The table version (a stream sent whole, closed by ACTIVATE_VERSION).
    pub version: Option<i64>,
}

/// A RECORD from a record's JSON object text.
pub fn write_raw_record(
    out: &mut impl Write,
    stream: &str,
    record: &str,
    parts: RecordParts<'_>,
    time_extracted: &str,
) -> io::Result<()> {
    out.write_all(b"{\"type\":\"RECORD\",\"stream\":")?;
    serde_json::to_writer(&mut *out, stream)?;
    out.write_all(b",\"record\":")?;
    write_record_object(out, record, parts)?;
    if let Some(version) = parts.version {
        write!(out, ",\"version\":{version}")?;
    }
    out.write_all(b",\"time_extracted\":\"")?;
    out.write_all(time_extracted.as_bytes())?;
    out.write_all(b"\"}\n")
}

/// The record's JSON object text with `parts`' prefix and suffix properties put in (the record
/// as a RECORD carries it, and as a batch file holds it).
pub fn write_record_object(
    out: &mut impl Write,
    record: &str,
    parts: RecordParts<'_>,
) -> io::Result<()> {
    let record = record.trim();
    let is_object = record.starts_with('{') && record.ends_with('}') && record.len() >= 2;
    if !is_object || (parts.prefix.is_none() && parts.suffix.is_none()) {
        return out.write_all(record.as_bytes());
    }
    let inner = &record[1..record.len() - 1];
    let empty = inner.trim().is_empty();
    out.write_all(b"{")?;
    if let Some(prefix) = parts.prefix {
        out.write_all(prefix.as_bytes())?;
        if !empty {
            out.write_all(b",")?;
        }
    }
    out.write_all(inner.as_bytes())?;
    if let Some(suffix) = parts.suffix {
        if !empty || parts.prefix.is_some() {
            out.write_all(b",")?;
        }
        out.write_all(suffix.as_bytes())?;
    }
    out.write_all(b"}")
}

/// Writes a BATCH line (the Meltano SDK's): the stream's records are in the files of `manifest`,
/// written as `encoding` says (`{"format": "parquet", "compression": "gzip"}`). `version` is the
/// table version, as RECORDs carry it (our target reads it; SDK targets ignore it).
pub fn write_batch(
    out: &mut impl Write,
    stream: &str,
    encoding: &Value,
    manifest: &[String],
    version: Option<i64>,
) -> io::Result<()> {
    let mut message = json!({
        "type": "BATCH",
        "stream": stream,
        "encoding": encoding,
        "manifest": manifest,
    });
    if let Some(version) = version {
        message["version"] = json!(version);
    }
    serde_json::to_writer(&mut *out, &message)?;
    out.write_all(b"\n")
}

/// Writes an ACTIVATE_VERSION line: the stream's table `version` is now complete.
pub fn write_activate_version(out: &mut impl Write, stream: &str, version: i64) -> io::Result<()> {
    let message = json!({"type": "ACTIVATE_VERSION", "stream": stream, "version": version});
    serde_json::to_writer(&mut *out, &message)?;
    out.write_all(b"\n")
}

/// Writes a STATE line carrying `value`.
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
        let parent = RecordParts {
            prefix: Some(r#""user_id":"u""#),
            ..Default::default()
        };
        write_raw_record(&mut out, "s", r#"{"id":"1"}"#, parent, "T").unwrap();
        write_raw_record(&mut out, "s", "{ }", parent, "T").unwrap();
        write_raw_record(&mut out, "s", r#"{"id":"2"}"#, RecordParts::default(), "T").unwrap();
        let deleted = RecordParts {
            prefix: Some(r#""user_id":"u""#),
            suffix: Some(r#""_sdc_deleted_at":"D""#),
            version: Some(7),
        };
        write_raw_record(&mut out, "s", r#"{"id":"3"}"#, deleted, "T").unwrap();
        let suffix_only = RecordParts {
            suffix: Some(r#""x":1"#),
            ..Default::default()
        };
        write_raw_record(&mut out, "s", "{}", suffix_only, "T").unwrap();
        write_activate_version(&mut out, "s", 7).unwrap();
        let lines: Vec<Value> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines[0]["record"], json!({"user_id": "u", "id": "1"}));
        assert_eq!(lines[1]["record"], json!({"user_id": "u"}));
        assert_eq!(lines[2]["record"], json!({"id": "2"}));
        assert_eq!(lines[2]["time_extracted"], "T");
        assert_eq!(
            lines[3]["record"],
            json!({"user_id": "u", "id": "3", "_sdc_deleted_at": "D"})
        );
        assert_eq!(lines[3]["version"], 7);
        assert_eq!(lines[4]["record"], json!({"x": 1}));
        assert_eq!(
            lines[5],
            json!({"type": "ACTIVATE_VERSION", "stream": "s", "version": 7})
        );
    }
}

//! One Singer message line, parsed without building a value per record: the record stays a
//! borrowed `RawValue` span of the line.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// A message as read. Unknown fields (`time_extracted`, `bookmark_properties`, …) are ignored.
#[derive(Debug, Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    stream: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    record: Option<&'a RawValue>,
    #[serde(borrow, default)]
    schema: Option<&'a RawValue>,
    #[serde(default)]
    key_properties: Option<Vec<String>>,
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
    #[serde(default)]
    version: Option<serde_json::Number>,
    #[serde(default)]
    encoding: Option<BatchEncoding>,
    #[serde(default)]
    manifest: Option<Vec<String>>,
}

/// A BATCH message's `encoding`, as the Meltano SDK writes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct BatchEncoding {
    /// `jsonl` or `parquet`.
    pub format: BatchFormat,
    /// `gzip` or none; gzip is also recognised by its magic bytes (the SDK's JSONL batcher
    /// always compresses, whatever its config says).
    #[serde(default)]
    pub compression: Option<String>,
}

/// The file format of a BATCH message's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchFormat {
    /// One JSON record per line.
    Jsonl,
    /// A Parquet file of records.
    Parquet,
}

/// One Singer message, borrowing from its line.
#[derive(Debug)]
pub enum Message<'a> {
    /// A SCHEMA: a stream's JSON Schema and key.
    Schema {
        /// The stream it describes.
        stream: Cow<'a, str>,
        /// The JSON Schema, as its raw text.
        schema: &'a RawValue,
        /// The stream's key properties (empty when absent).
        key_properties: Vec<String>,
    },
    /// A RECORD: one row of a stream.
    Record {
        /// The record's stream.
        stream: Cow<'a, str>,
        /// The record's JSON text, always an object.
        record: &'a str,
        /// The table version it belongs to; `None` for a record outside any version.
        version: Option<i64>,
    },
    /// A STATE: the tap's bookmark to hand back on the next run.
    State {
        /// The state, as its raw JSON text.
        value: &'a RawValue,
    },
    /// An ACTIVATE_VERSION: the stream's table version has been sent whole.
    ActivateVersion {
        /// The stream sent whole.
        stream: Cow<'a, str>,
        /// The version now complete.
        version: i64,
    },
    /// A BATCH (Meltano SDK): the stream's records are in the files of `manifest`.
    Batch {
        /// The records' stream.
        stream: Cow<'a, str>,
        /// How the files are written.
        encoding: BatchEncoding,
        /// The files' URLs (`file://`, or a store URL the target can open).
        manifest: Vec<String>,
        /// The table version the records belong to, as a RECORD's.
        version: Option<i64>,
    },
    /// A type this target does not know; the caller logs and skips it.
    Other(String),
}

/// What is wrong with a line; the caller adds the line number.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InputError {
    /// The line is not UTF-8 JSON of a message (serde_json's or the UTF-8 check's text).
    #[error("not a JSON object: {0}")]
    Json(String),
    /// The message has no `type`.
    #[error("message has no `type`")]
    NoType,
    /// A field the message type requires is missing.
    #[error("{kind} message has no `{field}`")]
    Missing {
        /// The message type: `SCHEMA`, `RECORD`, ...
        kind: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// A RECORD's `record` is not a JSON object.
    #[error("RECORD `record` must be a JSON object")]
    RecordNotObject,
    /// `version` is not an integer.
    #[error("`version` must be an integer")]
    BadVersion,
    /// A BATCH's `encoding` is not one this target reads.
    #[error(
        "BATCH `encoding` must be {{\"format\": \"jsonl\" or \"parquet\", \"compression\": \"gzip\" or none}}: {0}"
    )]
    BadEncoding(String),
    /// A RECORD nests arrays and objects deeper than [`MAX_NESTING`].
    #[error("RECORD `record` nests arrays and objects deeper than {MAX_NESTING} levels")]
    TooDeep,
}

/// Deepest nesting of arrays and objects accepted in a record: the decoders that turn values
/// back into JSON text recurse, and a hostile tap must not overflow their stack.
pub const MAX_NESTING: usize = 128;

/// Whether `json` (valid JSON text) nests arrays and objects deeper than `max`.
pub(super) fn nests_deeper_than(json: &str, max: usize) -> bool {
    let bytes = json.as_bytes();
    // Nesting never exceeds the number of opening brackets: most records stop here, cheaply.
    if memchr::memchr2_iter(b'{', b'[', bytes).nth(max).is_none() {
        return false;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Parses one line (without its newline).
pub fn parse(line: &[u8]) -> Result<Message<'_>, InputError> {
    let line = std::str::from_utf8(line).map_err(|e| InputError::Json(e.to_string()))?;
    parse_str(line)
}

/// [`parse`] for a line already known to be UTF-8 (the reader validates whole blocks at once):
/// serde_json then skips its own UTF-8 check of every string and of the record span.
pub fn parse_str(line: &str) -> Result<Message<'_>, InputError> {
    let envelope: Envelope<'_> =
        serde_json::from_str(line).map_err(|e| InputError::Json(e.to_string()))?;
    let kind = envelope.kind.ok_or(InputError::NoType)?;
    let missing = |kind, field| InputError::Missing { kind, field };
    let version = match envelope.version {
        Some(n) => Some(n.as_i64().ok_or(InputError::BadVersion)?),
        None => None,
    };
    Ok(match kind.as_ref() {
        "SCHEMA" => Message::Schema {
            stream: envelope.stream.ok_or(missing("SCHEMA", "stream"))?,
            schema: envelope.schema.ok_or(missing("SCHEMA", "schema"))?,
            key_properties: envelope.key_properties.unwrap_or_default(),
        },
        "RECORD" => {
            let record = envelope.record.ok_or(missing("RECORD", "record"))?.get();
            if !record.starts_with('{') {
                return Err(InputError::RecordNotObject);
            }
            if nests_deeper_than(record, MAX_NESTING) {
                return Err(InputError::TooDeep);
            }
            Message::Record {
                stream: envelope.stream.ok_or(missing("RECORD", "stream"))?,
                record,
                version,
            }
        }
        "STATE" => Message::State {
            value: envelope.value.ok_or(missing("STATE", "value"))?,
        },
        "ACTIVATE_VERSION" => Message::ActivateVersion {
            stream: envelope
                .stream
                .ok_or(missing("ACTIVATE_VERSION", "stream"))?,
            version: version.ok_or(missing("ACTIVATE_VERSION", "version"))?,
        },
        "BATCH" => {
            let encoding = envelope.encoding.ok_or(missing("BATCH", "encoding"))?;
            if let Some(other) = encoding
                .compression
                .as_deref()
                .filter(|c| !matches!(*c, "gzip" | "none"))
                .filter(|_| encoding.format == BatchFormat::Jsonl)
            {
                return Err(InputError::BadEncoding(format!(
                    "compression `{other}` of JSONL files"
                )));
            }
            Message::Batch {
                stream: envelope.stream.ok_or(missing("BATCH", "stream"))?,
                encoding,
                manifest: envelope.manifest.ok_or(missing("BATCH", "manifest"))?,
                version,
            }
        }
        other => Message::Other(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_stay_raw_and_escaped_stream_names_decode() {
        let line = br#"{"type":"RECORD","stream":"a\"b","record":{"id": 1, "x":[1,2]},"version":3,"time_extracted":"2024-01-01T00:00:00Z"}"#;
        let Message::Record {
            stream,
            record,
            version,
        } = parse(line).unwrap()
        else {
            panic!("a record")
        };
        assert_eq!(stream, "a\"b");
        assert_eq!(record, r#"{"id": 1, "x":[1,2]}"#);
        assert_eq!(version, Some(3));
    }

    #[test]
    fn nesting_is_bounded_and_brackets_in_strings_do_not_count() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let record =
            |value: String| format!(r#"{{"type":"RECORD","stream":"s","record":{{"v":{value}}}}}"#);
        // The record object itself is one level.
        assert!(parse(record(deep(MAX_NESTING - 1)).as_bytes()).is_ok());
        assert_eq!(
            parse(record(deep(MAX_NESTING)).as_bytes()).unwrap_err(),
            InputError::TooDeep
        );
        assert_eq!(
            parse(record(deep(100_000)).as_bytes()).unwrap_err(),
            InputError::TooDeep
        );
        let brackets = format!(r#""{}\"{}""#, "[".repeat(500), "{".repeat(500));
        assert!(parse(record(brackets).as_bytes()).is_ok());
        let wide = format!("[{}]", vec!["[]"; 1000].join(","));
        assert!(parse(record(wide).as_bytes()).is_ok());
    }

    #[test]
    fn malformed_lines_say_what_is_wrong() {
        assert!(matches!(parse(b"{not json"), Err(InputError::Json(_))));
        assert_eq!(parse(br#"{"stream":"s"}"#).unwrap_err(), InputError::NoType);
        assert_eq!(
            parse(br#"{"type":"RECORD","stream":"s","record":[1]}"#).unwrap_err(),
            InputError::RecordNotObject
        );
        assert_eq!(
            parse(br#"{"type":"SCHEMA","stream":"s"}"#).unwrap_err(),
            InputError::Missing {
                kind: "SCHEMA",
                field: "schema"
            }
        );
        assert_eq!(
            parse(br#"{"type":"ACTIVATE_VERSION","stream":"s","version":1.5}"#).unwrap_err(),
            InputError::BadVersion
        );
        assert_eq!(
            parse(br#"{"type":"BATCH","stream":"s","manifest":[]}"#).unwrap_err(),
            InputError::Missing {
                kind: "BATCH",
                field: "encoding"
            }
        );
        assert!(matches!(
            parse(br#"{"type":"BATCH","stream":"s","encoding":{"format":"csv"},"manifest":[]}"#),
            Err(InputError::Json(_))
        ));
        assert!(matches!(
            parse(br#"{"type":"BATCH","stream":"s","encoding":{"format":"jsonl","compression":"zstd"},"manifest":[]}"#),
            Err(InputError::BadEncoding(_))
        ));
        let Message::Batch {
            encoding, manifest, ..
        } = parse(br#"{"type":"BATCH","stream":"s","encoding":{"format":"parquet","compression":"gzip"},"manifest":["file:///b/1.parquet"]}"#).unwrap()
        else {
            panic!("a batch")
        };
        assert_eq!(encoding.format, BatchFormat::Parquet);
        assert_eq!(manifest, ["file:///b/1.parquet"]);
    }
}

//! `batch_config` (the Meltano SDK's BATCH): a stream's records go into Parquet or JSONL files
//! under a storage root, and the tap sends one BATCH message per file instead of RECORD lines.
//!
//! A batch file holds the records exactly as RECORDs would carry them (same properties, parent
//! column and `_sdc_deleted_at`; date-times as their strings, as the SDK's own batches do). In
//! Parquet, the columns are the stream's SCHEMA: strings, integers (int64), numbers (double),
//! booleans, arrays as lists, objects as structs, and "any JSON" properties as their JSON text
//! under Parquet's JSON logical type. Properties the SCHEMA does not declare are left out of
//! Parquet files (JSONL files keep them, as RECORDs do).
//!
//! Files are written whole in memory and put create-only, so a reader never sees half a file and
//! a name is never reused; the root is a local directory, `file://`, or any store URL the landing
//! takes (`s3://`, `az://`, `gs://`), with `storage.params` as store options.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use arrow::json::reader::{Decoder, ReaderBuilder};
use arrow_schema::extension::Json;
use arrow_sink::{JsonTextFactory, Landing};
use bytes::Bytes;
use flate2::write::GzEncoder;
use object_store::{PutMode, PutOptions};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as ParquetCodec, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::Deserialize;
use serde_json::{Value, json};

/// The SDK's default number of records per file.
const DEFAULT_BATCH_SIZE: usize = 10_000;
/// Records decoded into Arrow at a time (bounds the decoder's buffer, not the file).
const DECODE_ROWS: usize = 2_048;

/// The config's `batch_config`, shaped as the Meltano SDK's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    encoding: Encoding,
    storage: Storage,
    #[serde(default)]
    batch_size: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Encoding {
    format: Format,
    #[serde(default)]
    compression: Option<Compression>,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Format {
    Jsonl,
    Parquet,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Compression {
    Gzip,
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Storage {
    root: String,
    #[serde(default)]
    prefix: Option<String>,
    /// Store options (object_store keys such as `aws_endpoint`), as the SDK's filesystem params.
    #[serde(default)]
    params: BTreeMap<String, String>,
}

impl BatchConfig {
    /// The config's `batch_config`, if it has one (`null` is none); the error says what is wrong.
    pub fn from_config(config_text: &str) -> Result<Option<Self>, String> {
        #[derive(Deserialize)]
        struct Outer {
            #[serde(default)]
            batch_config: Option<BatchConfig>,
        }
        let outer: Outer = serde_json::from_str(config_text).map_err(|e| {
            format!(
                "config field `batch_config`: {}; expected {{\"encoding\": {{\"format\": \
                 \"parquet\"|\"jsonl\", \"compression\": \"gzip\"|\"none\"}}, \"storage\": \
                 {{\"root\": \"file:///dir\", \"prefix\": \"…\"}}, \"batch_size\": 10000}}",
                graph_extract::config::redacted_json_error(&e)
            )
        })?;
        match &outer.batch_config {
            Some(c) if c.batch_size == Some(0) => {
                Err("config field `batch_config.batch_size` must be at least 1".into())
            }
            Some(c) if c.storage.root.trim().is_empty() => Err(
                "config field `batch_config.storage.root` is empty; give a directory, \
                     file:// URL or store URL for the batch files"
                    .into(),
            ),
            _ => Ok(outer.batch_config),
        }
    }

    fn batch_size(&self) -> usize {
        self.batch_size.unwrap_or(DEFAULT_BATCH_SIZE)
    }

    /// The `encoding` object BATCH messages carry.
    fn encoding_message(&self) -> Value {
        let format = match self.encoding.format {
            Format::Jsonl => "jsonl",
            Format::Parquet => "parquet",
        };
        let compression = match self.encoding.compression {
            Some(Compression::Gzip) => json!("gzip"),
            Some(Compression::None) => json!("none"),
            None => Value::Null,
        };
        json!({"format": format, "compression": compression})
    }

    fn extension(&self) -> &'static str {
        match (self.encoding.format, self.encoding.compression) {
            (Format::Jsonl, Some(Compression::Gzip)) => "jsonl.gz",
            (Format::Jsonl, _) => "jsonl",
            (Format::Parquet, _) => "parquet",
        }
    }

    fn parquet_properties(&self) -> WriterProperties {
        // Parquet compresses inside the file: gzip when asked, none when asked, zstd otherwise.
        let codec = match self.encoding.compression {
            Some(Compression::Gzip) => ParquetCodec::GZIP(GzipLevel::default()),
            Some(Compression::None) => ParquetCodec::UNCOMPRESSED,
            None => ParquetCodec::ZSTD(ZstdLevel::default()),
        };
        WriterProperties::builder().set_compression(codec).build()
    }
}

/// A file that is complete: the BATCH message to send for it.
#[derive(Debug, Clone, PartialEq)]
pub struct SentFile {
    /// The stream.
    pub stream: String,
    /// The file's URL (the BATCH manifest).
    pub url: String,
    /// The BATCH message's `encoding`.
    pub encoding: Value,
}

/// Why a stream's batch file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("stream `{stream}`: batch file: {message}")]
pub struct BatchFileError {
    /// The stream.
    pub stream: String,
    /// What went wrong.
    pub message: String,
}

fn for_stream(stream: &str) -> impl FnOnce(String) -> BatchFileError + '_ {
    move |message| BatchFileError {
        stream: stream.to_string(),
        message,
    }
}

/// The batch files of one tap run: one open file per stream at a time.
pub struct BatchFiles {
    config: BatchConfig,
    /// The `encoding` of this run's BATCH messages.
    encoding: Value,
    landing: Landing,
    /// The root as manifests name it, ending in `/`.
    root_url: String,
    /// Names this run's files apart from every other run's (the SDK's sync id).
    run: String,
    schemas: HashMap<String, SchemaRef>,
    open: HashMap<String, OpenFile>,
    numbers: HashMap<String, u32>,
    runtime: tokio::runtime::Handle,
}

enum Body {
    Parquet {
        decoder: Box<Decoder>,
        writer: Box<ArrowWriter<Vec<u8>>>,
    },
    Jsonl(Vec<u8>),
    JsonlGz(GzEncoder<Vec<u8>>),
}

struct OpenFile {
    body: Body,
    rows: usize,
}

impl BatchFiles {
    /// Opens the storage root (a local directory is created). Must be called on a thread that may
    /// block on `runtime` (the tap's writer thread).
    pub fn open(config: BatchConfig, runtime: tokio::runtime::Handle) -> Result<Self, String> {
        let root = config.storage.root.trim().to_string();
        let landing = Landing::open_with_options(&root, config.storage.params.clone())
            .map_err(|e| format!("batch_config.storage.root: {e}"))?;
        let root_url = match local_dir(&root) {
            Some(dir) => {
                let dir = dir
                    .canonicalize()
                    .map_err(|e| format!("batch_config.storage.root {}: {e}", dir.display()))?;
                url::Url::from_directory_path(&dir)
                    .map_err(|()| {
                        format!("batch_config.storage.root {}: not absolute", dir.display())
                    })?
                    .to_string()
            }
            None => format!("{}/", root.trim_end_matches('/')),
        };
        Ok(Self {
            encoding: config.encoding_message(),
            config,
            landing,
            root_url,
            run: uuid::Uuid::new_v4().to_string(),
            schemas: HashMap::new(),
            open: HashMap::new(),
            numbers: HashMap::new(),
            runtime,
        })
    }

    /// Declares a stream's records by its SCHEMA's JSON Schema (the Parquet columns).
    pub fn declare(&mut self, stream: &str, json_schema: &Value) {
        self.schemas
            .insert(stream.to_string(), Arc::new(parquet_schema(json_schema)));
    }

    /// Adds one record (a JSON object's text); returns the file it completed, if it did.
    pub fn push(
        &mut self,
        stream: &str,
        record: &[u8],
    ) -> Result<Option<SentFile>, BatchFileError> {
        self.append(stream, record).map_err(for_stream(stream))
    }

    /// Closes every open file, in stream order; returns them for their BATCH messages.
    pub fn finish(&mut self) -> Result<Vec<SentFile>, BatchFileError> {
        let mut streams: Vec<String> = self.open.keys().cloned().collect();
        streams.sort();
        streams
            .iter()
            .map(|s| self.close(s).map_err(for_stream(s)))
            .collect()
    }

    fn append(&mut self, stream: &str, record: &[u8]) -> Result<Option<SentFile>, String> {
        if !self.open.contains_key(stream) {
            let file = self.new_file(stream)?;
            self.open.insert(stream.to_string(), file);
        }
        let file = self.open.get_mut(stream).expect("opened above");
        match &mut file.body {
            Body::Parquet { decoder, writer } => {
                if decoder.len() >= DECODE_ROWS {
                    write_decoded(decoder, writer)?;
                }
                let read = decoder
                    .decode(record)
                    .map_err(|e| format!("record as the stream's schema: {e}"))?;
                if read != record.len() || decoder.has_partial_record() {
                    return Err("a record is not one whole JSON object".into());
                }
            }
            Body::Jsonl(out) => append_line(out, record),
            Body::JsonlGz(out) => {
                out.write_all(record)
                    .and_then(|()| out.write_all(b"\n"))
                    .map_err(|e| format!("compressing: {e}"))?;
            }
        }
        file.rows += 1;
        if file.rows < self.config.batch_size() {
            return Ok(None);
        }
        self.close(stream).map(Some)
    }

    fn new_file(&self, stream: &str) -> Result<OpenFile, String> {
        let body = match self.config.encoding.format {
            Format::Parquet => {
                let schema = self
                    .schemas
                    .get(stream)
                    .cloned()
                    .ok_or("no SCHEMA declared for the stream")?;
                let decoder = ReaderBuilder::new(schema.clone())
                    .with_batch_size(DECODE_ROWS)
                    // A number where the schema says string is kept as its text, as RECORDs keep it.
                    .with_coerce_primitive(true)
                    .with_decoder_factory(Arc::new(JsonTextFactory))
                    .build_decoder()
                    .map_err(|e| format!("a Parquet schema for the stream: {e}"))?;
                let writer = ArrowWriter::try_new(
                    Vec::new(),
                    schema,
                    Some(self.config.parquet_properties()),
                )
                .map_err(|e| format!("starting a Parquet file: {e}"))?;
                Body::Parquet {
                    decoder: Box::new(decoder),
                    writer: Box::new(writer),
                }
            }
            Format::Jsonl if self.config.encoding.compression == Some(Compression::Gzip) => {
                Body::JsonlGz(GzEncoder::new(Vec::new(), flate2::Compression::default()))
            }
            Format::Jsonl => Body::Jsonl(Vec::new()),
        };
        Ok(OpenFile { body, rows: 0 })
    }

    /// Finishes the stream's open file and puts it, create-only, under the root.
    fn close(&mut self, stream: &str) -> Result<SentFile, String> {
        let file = self.open.remove(stream).ok_or("no open batch file")?;
        let bytes = match file.body {
            Body::Parquet {
                mut decoder,
                mut writer,
            } => {
                write_decoded(&mut decoder, &mut writer)?;
                writer
                    .into_inner()
                    .map_err(|e| format!("finishing the Parquet file: {e}"))?
            }
            Body::Jsonl(bytes) => bytes,
            Body::JsonlGz(out) => out.finish().map_err(|e| format!("compressing: {e}"))?,
        };
        let number = self.numbers.entry(stream.to_string()).or_default();
        *number += 1;
        // As the SDK names its files: prefix, tap, stream, sync id, file number.
        let name = format!(
            "{}tap-msgraph--{stream}-{}={number}.{}",
            self.config.storage.prefix.as_deref().unwrap_or(""),
            self.run,
            self.config.extension()
        );
        let path = self.landing.path([name.as_str()]);
        let options = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let store = self.landing.store().clone();
        self.runtime
            .block_on(async move {
                store
                    .put_opts(&path, Bytes::from(bytes).into(), options)
                    .await
            })
            .map_err(|e| format!("writing batch file {name}: {e}"))?;
        Ok(SentFile {
            stream: stream.to_string(),
            url: format!("{}{name}", self.root_url),
            encoding: self.encoding.clone(),
        })
    }
}

fn append_line(out: &mut Vec<u8>, record: &[u8]) {
    out.extend_from_slice(record);
    out.push(b'\n');
}

fn write_decoded(decoder: &mut Decoder, writer: &mut ArrowWriter<Vec<u8>>) -> Result<(), String> {
    if let Some(batch) = decoder
        .flush()
        .map_err(|e| format!("record as the stream's schema: {e}"))?
    {
        writer
            .write(&batch)
            .map_err(|e| format!("writing Parquet: {e}"))?;
    }
    Ok(())
}

/// The local directory a root names (a path or `file://`), or `None` for a store URL.
fn local_dir(root: &str) -> Option<std::path::PathBuf> {
    match url::Url::parse(root) {
        Ok(url) if url.scheme() == "file" => url.to_file_path().ok(),
        Ok(_) => None,
        Err(_) => Some(std::path::PathBuf::from(root)),
    }
}

/// The Parquet columns of a stream's SCHEMA (its JSON Schema's properties, in order).
pub fn parquet_schema(json_schema: &Value) -> Schema {
    Schema::new(struct_fields(json_schema))
}

fn struct_fields(schema: &Value) -> Fields {
    schema["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, property)| parquet_field(name, property))
        .collect()
}

/// A property as a nullable column: its one non-null JSON Schema type, or JSON text when it has
/// none, several, or one Parquet cannot hold as declared (an object without properties).
fn parquet_field(name: &str, property: &Value) -> Field {
    let types: Vec<&str> = match &property["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let non_null: Vec<&str> = types.into_iter().filter(|t| *t != "null").collect();
    let data_type = match non_null.as_slice() {
        ["string"] => DataType::Utf8,
        ["integer"] => DataType::Int64,
        ["number"] => DataType::Float64,
        ["boolean"] => DataType::Boolean,
        ["array"] => DataType::List(Arc::new(parquet_field("item", &property["items"]))),
        ["object"] if property["properties"].is_object() => {
            DataType::Struct(struct_fields(property))
        }
        _ => return Field::new(name, DataType::Utf8, true).with_extension_type(Json::default()),
    };
    Field::new(name, data_type, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_types_map_to_columns_and_anything_else_is_json_text() {
        let schema = parquet_schema(&json!({"type": "object", "properties": {
            "id": {"type": "string"},
            "n": {"type": ["null", "integer"]},
            "at": {"type": ["null", "string"], "format": "date-time"},
            "tags": {"type": ["null", "array"], "items": {"type": ["null", "string"]}},
            "errors": {"type": ["null", "array"], "items": {}},
            "mail": {"type": ["null", "object"], "properties": {"address": {"type": ["null", "string"]}}},
            "any": {},
            "either": {"type": ["string", "integer"]},
        }}));
        let column = |name: &str| {
            let f = schema.field_with_name(name).unwrap();
            format!("{}:{:?}", f.data_type(), f.extension_type_name())
        };
        assert_eq!(column("id"), "Utf8:None");
        assert_eq!(column("n"), "Int64:None");
        assert_eq!(column("at"), "Utf8:None");
        assert!(column("tags").starts_with("List("), "{}", column("tags"));
        assert!(
            column("errors").contains("arrow.json"),
            "{}",
            column("errors")
        );
        assert!(column("mail").starts_with("Struct("), "{}", column("mail"));
        assert_eq!(column("any"), "Utf8:Some(\"arrow.json\")");
        assert_eq!(column("either"), "Utf8:Some(\"arrow.json\")");
    }

    #[test]
    fn bad_batch_configs_say_what_is_wrong() {
        let err = |text: &str| BatchConfig::from_config(text).unwrap_err();
        assert!(
            err(r#"{"batch_config": {"encoding": {"format": "csv"}, "storage": {"root": "/x"}}}"#)
                .contains("unknown variant `csv`")
        );
        assert!(err(r#"{"batch_config": {"encoding": {"format": "jsonl"}}}"#).contains("storage"));
        assert!(err(r#"{"batch_config": {"encoding": {"format": "jsonl"}, "storage": {"root": "/x"}, "batch_size": 0}}"#)
            .contains("at least 1"));
        assert!(err(r#"{"batch_config": {"encoding": {"format": "jsonl"}, "storage": {"root": "/x", "prefx": "a"}}}"#)
            .contains("prefx"));
        assert!(
            BatchConfig::from_config(r#"{"batch_config": null}"#)
                .unwrap()
                .is_none()
        );
        assert!(BatchConfig::from_config("{}").unwrap().is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn files_roll_at_the_batch_size_and_hold_the_records() {
        let dir = tempfile::tempdir().unwrap();
        let text = json!({"batch_config": {
            "encoding": {"format": "parquet", "compression": "gzip"},
            "storage": {"root": dir.path().display().to_string(), "prefix": "p-"},
            "batch_size": 3,
        }})
        .to_string();
        let config = BatchConfig::from_config(&text).unwrap().unwrap();
        let runtime = tokio::runtime::Handle::current();
        let sent = tokio::task::spawn_blocking(move || {
            let mut files = BatchFiles::open(config, runtime).unwrap();
            files.declare(
                "s",
                &json!({"properties": {"id": {"type": "string"}, "x": {}}}),
            );
            let mut sent = Vec::new();
            for i in 0..4 {
                let record = format!(r#"{{"id": "r{i}", "x": {{"a": [{i}]}}}}"#);
                sent.extend(files.push("s", record.as_bytes()).unwrap());
            }
            let half = files.push("s", b"{\"id\": ").unwrap_err();
            assert_eq!(
                half.stream, "s",
                "half a record is refused, naming the stream"
            );
            sent
        })
        .await
        .unwrap();
        assert_eq!(sent.len(), 1, "three records fill the first file");
        let url = &sent[0].url;
        assert!(
            url.starts_with("file:///") && url.ends_with("=1.parquet"),
            "{url}"
        );
        assert!(url.contains("/p-tap-msgraph--s-"), "{url}");
        let path = url::Url::parse(url).unwrap().to_file_path().unwrap();
        let bytes = Bytes::from(std::fs::read(path).unwrap());
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<_> = reader.map(Result::unwrap).collect();
        let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        assert_eq!(batch.num_rows(), 3);
        let x = batch.column_by_name("x").unwrap();
        let x = arrow::array::cast::AsArray::as_string::<i32>(x);
        assert_eq!(x.value(2), r#"{"a":[2]}"#);
        assert_eq!(
            batch
                .schema()
                .field_with_name("x")
                .unwrap()
                .extension_type_name(),
            Some("arrow.json"),
            "JSON text keeps Parquet's JSON logical type"
        );
    }
}

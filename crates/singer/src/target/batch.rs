//! The files of a Singer BATCH message (the Meltano SDK's): JSONL (gzipped or not) or Parquet,
//! on local disk (`file://`) or in a store the target can open (`s3://`, `az://`, `gs://`, …).
//! Each file's records come out as JSON object texts, validated as RECORD lines are, and take
//! the RECORD path from there: same spool, keys, last-record-wins and landing.

use std::collections::BTreeMap;
use std::io::Read;

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{Field, FieldRef};
use arrow::error::ArrowError;
use arrow::json::writer::{Encoder, EncoderFactory, EncoderOptions, NullableEncoder};
use arrow_sink::decode::is_json_text;
use bytes::Bytes;
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::value::RawValue;

use super::input::{BatchFormat, MAX_NESTING, nests_deeper_than};

/// Why a batch file's records stopped: the file itself (what is wrong with it), or `each`.
pub(super) enum BatchError<E> {
    /// The file is missing, unreadable or not what its encoding says.
    File(String),
    /// `each` refused a record.
    Record(E),
}

/// Calls `each(record, row)` for every record of the file at `url`, in file order (`row` from 1).
/// A file error names what is wrong; the caller adds the file and the line of the BATCH message.
pub(super) fn for_each_record<E>(
    url: &str,
    format: BatchFormat,
    store_options: &BTreeMap<String, String>,
    mut each: impl FnMut(&str, u64) -> Result<(), E>,
) -> Result<(), BatchError<E>> {
    let file = BatchError::File;
    let bytes = fetch(url, store_options).map_err(file)?;
    match format {
        BatchFormat::Jsonl => {
            let text = gunzip_if_gzipped(bytes).map_err(file)?;
            let text = std::str::from_utf8(&text)
                .map_err(|e| BatchError::File(format!("not UTF-8: {e}")))?;
            let mut row = 0;
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                row += 1;
                check_record(line).map_err(|e| BatchError::File(format!("record {row}: {e}")))?;
                each(line, row).map_err(BatchError::Record)?;
            }
        }
        BatchFormat::Parquet => {
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .and_then(|b| b.build())
                .map_err(|e| {
                    BatchError::File(format!("not a Parquet file this target reads: {e}"))
                })?;
            let mut row = 0;
            for batch in reader {
                let batch = batch.map_err(|e| BatchError::File(format!("reading Parquet: {e}")))?;
                check_json_columns(&batch).map_err(BatchError::File)?;
                // Rows as JSON objects, nulls left out, as a tap's RECORDs carry them; JSON
                // columns (Parquet's JSON logical type) as the values they hold, not as strings.
                let mut writer = arrow::json::WriterBuilder::new()
                    .with_encoder_factory(Arc::new(JsonTextEncoders))
                    .build::<_, arrow::json::writer::LineDelimited>(Vec::new());
                writer
                    .write(&batch)
                    .and_then(|()| writer.finish())
                    .map_err(|e| BatchError::File(format!("Parquet values as JSON: {e}")))?;
                let lines = writer.into_inner();
                let lines =
                    std::str::from_utf8(&lines).map_err(|e| BatchError::File(e.to_string()))?;
                for line in lines.lines().filter(|l| !l.is_empty()) {
                    row += 1;
                    each(line, row).map_err(BatchError::Record)?;
                }
            }
        }
    }
    Ok(())
}

/// Every value of a JSON column (at any depth) is JSON text, so writing it raw keeps the record
/// valid.
fn check_json_columns(batch: &RecordBatch) -> Result<(), String> {
    let schema = batch.schema();
    schema
        .fields()
        .iter()
        .zip(batch.columns())
        .try_for_each(|(field, column)| check_json_column(field, column.as_ref()))
}

fn check_json_column(field: &Field, column: &dyn Array) -> Result<(), String> {
    if is_json_text(field) {
        let Some(texts) = column.as_string_opt::<i32>() else {
            return Err(format!(
                "JSON column `{}` is not a string column",
                field.name()
            ));
        };
        for (row, text) in texts.iter().enumerate() {
            if let Some(text) = text
                && serde_json::from_str::<&RawValue>(text).is_err()
            {
                return Err(format!(
                    "JSON column `{}` row {}: not JSON",
                    field.name(),
                    row + 1
                ));
            }
        }
        return Ok(());
    }
    if let Some(structs) = column.as_struct_opt() {
        for (child, values) in structs.fields().iter().zip(structs.columns()) {
            check_json_column(child, values.as_ref())?;
        }
    }
    if let (Some(list), arrow::datatypes::DataType::List(item)) =
        (column.as_list_opt::<i32>(), field.data_type())
    {
        check_json_column(item, list.values().as_ref())?;
    }
    Ok(())
}

/// Writes JSON columns (Parquet's JSON logical type) raw: `{"a":1}`, not `"{\"a\":1}"`.
#[derive(Debug)]
struct JsonTextEncoders;

impl EncoderFactory for JsonTextEncoders {
    fn make_default_encoder<'a>(
        &self,
        field: &'a FieldRef,
        array: &'a dyn Array,
        _options: &'a EncoderOptions,
    ) -> Result<Option<NullableEncoder<'a>>, ArrowError> {
        // arrow-json encodes a list's values with the list's field, not the item's.
        let json = match field.data_type() {
            arrow::datatypes::DataType::List(item) => is_json_text(item),
            _ => is_json_text(field),
        };
        match array.as_string_opt::<i32>() {
            Some(texts) if json => Ok(Some(NullableEncoder::new(
                Box::new(RawJson(texts)),
                array.logical_nulls(),
            ))),
            _ => Ok(None),
        }
    }
}

struct RawJson<'a>(&'a StringArray);

impl Encoder for RawJson<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(self.0.value(idx).as_bytes());
    }
}

/// A record line as a RECORD's `record` must be: JSON, an object, not nested too deep.
fn check_record(line: &str) -> Result<(), String> {
    serde_json::from_str::<&RawValue>(line).map_err(|e| format!("not JSON: {e}"))?;
    if !line.starts_with('{') {
        return Err("a record must be a JSON object".into());
    }
    if nests_deeper_than(line, MAX_NESTING) {
        return Err(format!(
            "a record nests arrays and objects deeper than {MAX_NESTING} levels"
        ));
    }
    Ok(())
}

/// The gzip magic decides, not the message's `compression`: the SDK's JSONL batcher gzips always.
fn gunzip_if_gzipped(bytes: Bytes) -> Result<Vec<u8>, String> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes.to_vec());
    }
    let mut text = Vec::with_capacity(bytes.len() * 4);
    flate2::read::MultiGzDecoder::new(&bytes[..])
        .read_to_end(&mut text)
        .map_err(|e| format!("not a gzip file: {e}"))?;
    Ok(text)
}

/// The whole file: a `file://` URL or a path from the local disk, anything else through
/// object_store with the target's `store_options` and the environment.
fn fetch(url: &str, store_options: &BTreeMap<String, String>) -> Result<Bytes, String> {
    let local = match url::Url::parse(url) {
        Ok(parsed) if parsed.scheme() == "file" => Some(
            parsed
                .to_file_path()
                .map_err(|()| "a file:// URL must name an absolute local path".to_string())?,
        ),
        Ok(_) => None,
        // Not a URL: a path, as the SDK writes for a storage root without a scheme.
        Err(_) => Some(std::path::PathBuf::from(url)),
    };
    if let Some(path) = local {
        return std::fs::read(&path)
            .map(Bytes::from)
            .map_err(|e| format!("reading {}: {e}", path.display()));
    }
    let (dir, name) = url
        .rsplit_once('/')
        .filter(|(_, name)| !name.is_empty())
        .ok_or("the URL names no file")?;
    let landing = arrow_sink::Landing::open_with_options(dir, store_options.clone())
        .map_err(|e| e.to_string())?;
    let path = landing.path([name]);
    // Phase 1 runs in `block_in_place` on the target's runtime.
    tokio::runtime::Handle::current()
        .block_on(async { landing.store().get(&path).await?.bytes().await })
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn records(path: &std::path::Path, format: BatchFormat) -> Result<Vec<(String, u64)>, String> {
        let mut out = Vec::new();
        let url = url::Url::from_file_path(path).unwrap().to_string();
        let read = for_each_record(&url, format, &BTreeMap::new(), |record, row| {
            out.push((record.to_string(), row));
            Ok::<(), std::convert::Infallible>(())
        });
        match read {
            Ok(()) => Ok(out),
            Err(BatchError::File(why)) => Err(why),
            Err(BatchError::Record(never)) => match never {},
        }
    }

    #[test]
    fn jsonl_files_read_plain_or_gzipped_and_bad_records_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("b-1.jsonl");
        std::fs::write(&plain, "{\"id\":1}\n\n{\"id\":2}\n").unwrap();
        let zipped = dir.path().join("b-2.json.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"id\":3}\n{\"id\":4}\n").unwrap();
        std::fs::write(&zipped, gz.finish().unwrap()).unwrap();
        assert_eq!(
            records(&plain, BatchFormat::Jsonl).unwrap(),
            [("{\"id\":1}".into(), 1), ("{\"id\":2}".into(), 2)]
        );
        assert_eq!(records(&zipped, BatchFormat::Jsonl).unwrap().len(), 2);

        let bad = dir.path().join("b-3.jsonl");
        std::fs::write(&bad, "{\"id\":5}\n[1]\n").unwrap();
        let error = records(&bad, BatchFormat::Jsonl).unwrap_err();
        assert!(
            error.contains("record 2") && error.contains("object"),
            "{error}"
        );
        let error = records(&dir.path().join("gone.jsonl"), BatchFormat::Jsonl).unwrap_err();
        assert!(error.contains("gone.jsonl"), "{error}");
        let error = records(&plain, BatchFormat::Parquet).unwrap_err();
        assert!(error.contains("Parquet"), "{error}");
    }
}

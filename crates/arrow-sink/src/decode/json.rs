//! A Graph JSON page (`{"@odata.context":..,"value":[..],"@odata.nextLink":..}`) to columns.
//!
//! serde_json only locates the `value` array (borrowed from the body as one `RawValue`, no value
//! per record); arrow-json's tape decoder then reads that span with `with_flatten(true)`, which
//! makes each array element a row.

use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::concat_batches;
use arrow::json::ReaderBuilder;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::DecodeError;
use super::drift::ObjectShape;
use super::factory::{GraphDecoderFactory, Scratch, lock};
use super::report::DecodeReport;
use crate::schema::{StreamSchema, declared_output_fields, rename_columns};

/// Rows per arrow-json flush; Graph pages hold at most 1000 records, so one flush per page.
const BATCH_ROWS: usize = 1024;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    value: Option<&'a RawValue>,
}

/// Declared columns under output names, `_extra` per row, and the drift part of the report.
pub(crate) struct DecodedColumns {
    pub(crate) num_rows: usize,
    pub(crate) columns: Vec<ArrayRef>,
    pub(crate) extras: Vec<Option<String>>,
    pub(crate) report: DecodeReport,
}

pub(crate) fn decode_page(
    schema: &StreamSchema,
    shape: &Arc<ObjectShape>,
    body: &[u8],
) -> Result<DecodedColumns, DecodeError> {
    let stream = || schema.stream().to_string();
    let envelope: Envelope<'_> =
        serde_json::from_slice(body).map_err(|source| DecodeError::Envelope {
            stream: stream(),
            source,
        })?;
    let values = envelope
        .value
        .ok_or_else(|| DecodeError::MissingValue { stream: stream() })?
        .get()
        .as_bytes();

    let scratch = Arc::new(Mutex::new(Scratch::default()));
    let factory = GraphDecoderFactory::new(scratch.clone(), shape.clone());
    let json_error = |source| DecodeError::Json {
        stream: stream(),
        source,
    };
    let mut decoder = ReaderBuilder::new(schema.decode().clone())
        .with_flatten(true)
        // Numbers and booleans sent for a string property keep their text rather than
        // counting as conflicts: nothing is lost.
        .with_coerce_primitive(true)
        .with_ignore_type_conflicts(true)
        .with_batch_size(BATCH_ROWS)
        .with_decoder_factory(Arc::new(factory))
        .build_decoder()
        .map_err(json_error)?;

    let mut batches = Vec::new();
    let mut offset = 0;
    while offset < values.len() {
        let read = decoder.decode(&values[offset..]).map_err(json_error)?;
        offset += read;
        if offset < values.len() {
            // The decoder stopped at a full batch: flush it to make room.
            match decoder.flush().map_err(json_error)? {
                Some(batch) => batches.push(batch),
                None if read == 0 => {
                    return Err(json_error(arrow::error::ArrowError::JsonError(
                        "decoder made no progress".into(),
                    )));
                }
                None => {}
            }
        }
    }
    if let Some(batch) = decoder.flush().map_err(json_error)? {
        batches.push(batch);
    }
    let batch = match batches.len() {
        0 => RecordBatch::new_empty(schema.decode().clone()),
        1 => batches
            .pop()
            .unwrap_or_else(|| RecordBatch::new_empty(schema.decode().clone())),
        _ => concat_batches(schema.decode(), &batches).map_err(json_error)?,
    };
    let num_rows = batch.num_rows();
    let columns = rename_columns(batch.columns().to_vec(), &declared_output_fields(schema))
        .map_err(json_error)?;
    let Scratch {
        extras, mut report, ..
    } = std::mem::take(&mut *lock(&scratch));
    report.records = num_rows as u64;
    Ok(DecodedColumns {
        num_rows,
        columns,
        extras,
        report,
    })
}

//! A Graph JSON page (`{"@odata.context":..,"value":[..],"@odata.nextLink":..}`) to columns.
//!
//! The whole body is one arrow-json row of the envelope schema `{value: [record]}` (see
//! [`envelope_schema`]): arrow-json's tape pass is the only pass over the bytes, validating JSON
//! and UTF-8 once, and the `value` list's items are the records. Other envelope members
//! (`@odata.context`, `@odata.nextLink`, ...) are skipped as undeclared fields.

use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::json::ReaderBuilder;

use super::DecodeError;
use super::drift::ObjectShape;
use super::factory::{GraphDecoderFactory, Scratch, lock};
use super::report::DecodeReport;
use crate::schema::{META_RECORD, StreamSchema, declared_output_fields, rename_columns};

/// The envelope member holding the records.
const VALUE: &str = "value";

/// Declared columns under output names, `_extra` per row, and the drift part of the report.
pub(crate) struct DecodedColumns {
    pub(crate) num_rows: usize,
    pub(crate) columns: Vec<ArrayRef>,
    pub(crate) extras: Vec<Option<String>>,
    pub(crate) report: DecodeReport,
}

/// `{value: List<record>}` around the stream's decode schema. The record field is non-null, so a
/// record that is not an object fails the page, as a top-level row would; it carries
/// [`META_RECORD`] so the decoder factory hooks drift detection onto it.
pub(crate) fn envelope_schema(decode: &SchemaRef) -> SchemaRef {
    let record = Field::new("item", DataType::Struct(decode.fields().clone()), false)
        .with_metadata([(META_RECORD.to_string(), "true".to_string())]);
    Arc::new(Schema::new(vec![Field::new(
        VALUE,
        DataType::List(Arc::new(record)),
        true,
    )]))
}

pub(crate) fn decode_page(
    schema: &StreamSchema,
    envelope: &SchemaRef,
    shape: &Arc<ObjectShape>,
    body: &[u8],
) -> Result<DecodedColumns, DecodeError> {
    let stream = || schema.stream().to_string();
    let not_a_page = |source| DecodeError::Envelope {
        stream: stream(),
        source,
    };
    let json_error = |source| DecodeError::Json {
        stream: stream(),
        source,
    };

    let scratch = Arc::new(Mutex::new(Scratch::default()));
    let factory = GraphDecoderFactory::new(scratch.clone(), shape.clone());
    let mut decoder = ReaderBuilder::new(envelope.clone())
        // Numbers and booleans sent for a string property keep their text rather than
        // counting as conflicts: nothing is lost.
        .with_coerce_primitive(true)
        .with_ignore_type_conflicts(true)
        // One page is one row; a second top-level value stops the decoder (checked below).
        .with_batch_size(1)
        .with_decoder_factory(Arc::new(factory))
        .build_decoder()
        .map_err(json_error)?;

    let read = decoder.decode(body).map_err(not_a_page)?;
    if !body[read..].trim_ascii().is_empty() {
        return Err(not_a_page(ArrowError::JsonError(format!(
            "unexpected data after the page object at byte {read}"
        ))));
    }
    if decoder.has_partial_record() {
        return Err(not_a_page(ArrowError::JsonError(
            "the body ends inside the page object (truncated)".into(),
        )));
    }
    let missing = || DecodeError::MissingValue { stream: stream() };
    let batch = decoder.flush().map_err(json_error)?.ok_or_else(missing)?;
    // A body that is not an object, or whose `value` is absent, null or not an array, is null here.
    let list = batch.column(0).as_list::<i32>();
    if list.is_null(0) {
        return Err(missing());
    }
    let records = list.value(0);
    let records = records.as_struct();
    let num_rows = records.len();
    let columns = rename_columns(records.columns().to_vec(), &declared_output_fields(schema))
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

//! What the JSON adapters ([`super::graph_page`], [`super::record_lines`]) share: arrow-json set up
//! with the hooks of [`super::factory`], so its tape pass is the only pass over the bytes, and the
//! records it decoded as output columns with their `_extra` and report.

use std::sync::{Arc, Mutex};

use arrow::array::{Array, StructArray};
use arrow::datatypes::{DataType, Field, SchemaRef};
use arrow::error::ArrowError;
use arrow::json::ReaderBuilder;
use arrow::json::reader::Decoder;

use super::DecodedColumns;
use super::drift::ObjectShape;
use super::factory::{GraphDecoderFactory, Scratch, SharedScratch, lock};
use crate::schema::{META_RECORD, StreamSchema, declared_output_fields, rename_columns};

/// One record: a struct of the table's decode schema. Non-null, so a record that is not an object
/// fails the page; it carries [`META_RECORD`] so the decoder factory hooks drift detection onto it.
pub(crate) fn record_field(decode: &SchemaRef) -> Field {
    Field::new("item", DataType::Struct(decode.fields().clone()), false)
        .with_metadata([(META_RECORD.to_string(), "true".to_string())])
}

/// A decoder built from `builder` (its root schema or field) whose hooks write into `scratch`.
pub(crate) fn decoder(
    builder: ReaderBuilder,
    shape: &Arc<ObjectShape>,
    scratch: &SharedScratch,
    batch_size: usize,
) -> Result<Decoder, ArrowError> {
    builder
        // Numbers and booleans sent for a string property keep their text rather than
        // counting as conflicts: nothing is lost.
        .with_coerce_primitive(true)
        .with_ignore_type_conflicts(true)
        .with_batch_size(batch_size)
        .with_decoder_factory(Arc::new(GraphDecoderFactory::new(
            scratch.clone(),
            shape.clone(),
        )))
        .build_decoder()
}

pub(crate) fn new_scratch() -> SharedScratch {
    Arc::new(Mutex::new(Scratch::default()))
}

/// The decoded `records` under output names, with what the hooks collected while decoding them.
pub(crate) fn columns(
    schema: &StreamSchema,
    records: &StructArray,
    scratch: &SharedScratch,
) -> Result<DecodedColumns, ArrowError> {
    let num_rows = records.len();
    let columns = rename_columns(records.columns().to_vec(), &declared_output_fields(schema))?;
    let Scratch {
        extras, mut report, ..
    } = std::mem::take(&mut *lock(scratch));
    report.records = num_rows as u64;
    Ok(DecodedColumns {
        num_rows,
        columns,
        extras,
        report,
    })
}

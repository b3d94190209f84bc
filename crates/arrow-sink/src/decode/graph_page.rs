//! Input adapter: a Graph JSON page (`{"@odata.context":..,"value":[..],"@odata.nextLink":..}`).
//!
//! The whole body is one arrow-json row of the envelope schema `{value: [record]}` (see
//! [`envelope_schema`]): arrow-json's tape pass is the only pass over the bytes, validating JSON
//! and UTF-8 once, and the `value` list's items are the records. Other envelope members
//! (`@odata.context`, `@odata.nextLink`, ...) are skipped as undeclared fields.

use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::json::ReaderBuilder;

use super::drift::ObjectShape;
use super::{DecodeError, DecodedColumns, json};
use crate::schema::StreamSchema;

/// The envelope member holding the records.
const VALUE: &str = "value";

/// `{value: List<record>}` around the table's decode schema.
pub(crate) fn envelope_schema(decode: &SchemaRef) -> SchemaRef {
    let record = json::record_field(decode);
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

    let scratch = json::new_scratch();
    // One page is one row; a second top-level value stops the decoder (checked below).
    let mut decoder = json::decoder(ReaderBuilder::new(envelope.clone()), shape, &scratch, 1)
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
    json::columns(schema, records.as_struct(), &scratch).map_err(json_error)
}

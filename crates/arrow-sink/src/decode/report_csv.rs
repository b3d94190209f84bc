//! Input adapter: report CSVs (`getOffice365ActiveUserDetail` and friends) to columns.
//!
//! Columns are matched by header name, never position (Microsoft reorders and adds columns): a
//! declared field matches a header equal to its Graph name or whose normalised form equals its
//! output name. Everything is read as text by arrow's CSV reader, then cast to the declared type;
//! a cell the cast cannot read is a type conflict (null, counted, kept in `_extra`), and an
//! undeclared header lands in `_extra` and the report.

use std::io::Cursor;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, new_null_array};
use arrow::compute::{CastOptions, cast_with_options, concat_batches};
use arrow::csv::ReaderBuilder;
use arrow::csv::reader::Format;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use stream_spec::{FieldType, report_column_name};

use super::DecodeError;
use super::DecodedColumns;
use super::report::{DecodeReport, bump};
use super::tape_text::write_str;
use crate::schema::{StreamSchema, declared_output_fields};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

pub(crate) fn decode_report(
    schema: &StreamSchema,
    body: &[u8],
) -> Result<DecodedColumns, DecodeError> {
    let csv_error = |source| DecodeError::Csv {
        stream: schema.stream().to_string(),
        source,
    };
    let body = body.strip_prefix(UTF8_BOM).unwrap_or(body);
    let text = read_as_text(body).map_err(csv_error)?;
    let headers: Vec<String> = text
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let num_rows = text.num_rows();

    let mut report = DecodeReport {
        records: num_rows as u64,
        ..Default::default()
    };
    let mut extras = ExtraBuilder::new(num_rows);
    let mut used = vec![false; headers.len()];
    let output_fields = declared_output_fields(schema);
    let mut columns = Vec::with_capacity(output_fields.len());
    for (declared, output) in schema.table().fields.iter().zip(output_fields.iter()) {
        let found = headers
            .iter()
            .position(|h| *h == declared.graph || report_column_name(h) == declared.name);
        let Some(index) = found else {
            columns.push(new_null_array(output.data_type(), num_rows));
            continue;
        };
        used[index] = true;
        let raw = text.column(index).as_string::<i32>();
        let column =
            typed_column(raw, &declared.data_type, output.data_type()).map_err(csv_error)?;
        for row in 0..num_rows {
            if column.is_null(row) && !raw.is_null(row) {
                bump(&mut report.type_conflicts, &declared.name);
                extras.add(row, &headers[index], raw.value(row));
            }
        }
        columns.push(column);
    }
    for (index, header) in headers.iter().enumerate().filter(|(i, _)| !used[*i]) {
        report.new_properties.entry(header.clone()).or_default();
        let raw = text.column(index).as_string::<i32>();
        for row in (0..num_rows).filter(|&row| !raw.is_null(row)) {
            bump(&mut report.new_properties, header);
            extras.add(row, header, raw.value(row));
        }
    }
    Ok(DecodedColumns {
        num_rows,
        columns,
        extras: extras.finish(),
        report,
    })
}

/// The whole CSV with every column as nullable text (empty cells are null).
fn read_as_text(body: &[u8]) -> Result<RecordBatch, ArrowError> {
    let format = Format::default().with_header(true);
    let (header_schema, _) = format.infer_schema(Cursor::new(body), Some(0))?;
    let schema = Arc::new(Schema::new(
        header_schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let reader = ReaderBuilder::new(schema.clone())
        .with_format(format)
        .build(Cursor::new(body))?;
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    concat_batches(&schema, &batches)
}

fn typed_column(
    raw: &StringArray,
    declared: &FieldType,
    target: &DataType,
) -> Result<ArrayRef, ArrowError> {
    let raw: ArrayRef = Arc::new(raw.clone());
    if matches!(declared, FieldType::Json | FieldType::Utf8) {
        return Ok(raw);
    }
    let options = CastOptions {
        safe: true,
        ..Default::default()
    };
    // A type arrow cannot cast text to at all (a list in a CSV) is a conflict on every cell.
    cast_with_options(&raw, target, &options).or_else(|_| Ok(new_null_array(target, raw.len())))
}

/// `_extra` objects for CSV rows, built cell by cell.
struct ExtraBuilder {
    rows: Vec<String>,
}

impl ExtraBuilder {
    fn new(num_rows: usize) -> Self {
        Self {
            rows: vec![String::new(); num_rows],
        }
    }

    fn add(&mut self, row: usize, key: &str, value: &str) {
        let out = &mut self.rows[row];
        out.push(if out.is_empty() { '{' } else { ',' });
        write_str(key, out);
        out.push(':');
        write_str(value, out);
    }

    fn finish(self) -> Vec<Option<String>> {
        self.rows
            .into_iter()
            .map(|mut out| {
                if out.is_empty() {
                    return None;
                }
                out.push('}');
                Some(out)
            })
            .collect()
    }
}

//! A table (see [`stream_spec::Table`]) as Arrow: the output schema (snake_case names, keys non-null, parent column,
//! `_extra`), the decode schema arrow-json reads with (Graph names, column paths in field metadata),
//! a stable schema hash, and the zero-copy rename from one to the other.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, ListArray, RecordBatch, StringArray, StructArray};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use sha2::{Digest, Sha256};
use stream_spec::{FieldType, Table};

/// Column holding, per row, the JSON text of the properties the declaration does not know.
pub const EXTRA_COLUMN: &str = "_extra";

/// Landing contract 2: the run that landed the row (run ids sort in run start order).
pub const RUN_ID_COLUMN: &str = "_run_id";
/// Landing contract 2: `insert`, `update` or `delete`.
pub const CHANGE_COLUMN: &str = "_change";
/// A 64-bit hash of the row's content (every column before `_run_id`), so the next run can tell
/// an unchanged row from an update without holding rows; null on deletes.
pub const HASH_COLUMN: &str = "_hash";

/// Timezone of every `timestamp_us_utc` column. Parquet stores it as `isAdjustedToUTC=true`, which
/// DuckDB reads as `TIMESTAMP WITH TIME ZONE`.
pub const UTC: &str = "UTC";

/// Field metadata key carrying a column's output path (`to_recipients[].address`) on the decode schema.
pub(crate) const META_PATH: &str = "msgraph_sync.path";
/// Field metadata key marking a `json` field on the decode schema (kept as JSON text).
pub(crate) const META_JSON: &str = "msgraph_sync.json";
/// Field metadata key marking the record struct (the `value` list's item) of a page envelope.
pub(crate) const META_RECORD: &str = "msgraph_sync.record";

/// Why a table cannot be given a landed schema.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// Two output columns (fields, added parent-key columns, `_extra`) have one name.
    #[error("stream `{stream}`: column `{column}` is declared twice")]
    DuplicateColumn {
        /// The table's name.
        stream: String,
        /// The repeated output name.
        column: String,
    },
    /// A primary-key column is not a top-level column of the table.
    #[error("stream `{stream}`: primary key `{column}` is not a top-level column")]
    UnknownKey {
        /// The table's name.
        stream: String,
        /// The key column not found.
        column: String,
    },
}

/// Everything arrow-sink derives from one table. Cheap to share (`Arc` inside).
#[derive(Debug, Clone)]
pub struct StreamSchema {
    table: Arc<Table>,
    output: SchemaRef,
    decode: SchemaRef,
    key_indices: Vec<usize>,
    landed: SchemaRef,
    hash: String,
}

impl StreamSchema {
    /// Derives the schemas and key columns of `table`.
    pub fn new(table: &Table) -> Result<Self, SchemaError> {
        let output = Arc::new(arrow_schema(table)?);
        let key_indices = table
            .primary_key
            .iter()
            .map(|key| {
                output.index_of(key).map_err(|_| SchemaError::UnknownKey {
                    stream: table.name.clone(),
                    column: key.clone(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            table: Arc::new(table.clone()),
            decode: Arc::new(decode_schema(table)),
            landed: Arc::new(landed_schema(&output)),
            output,
            key_indices,
            hash: schema_hash(table),
        })
    }

    /// The table it was derived from.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// The table's name.
    pub fn stream(&self) -> &str {
        &self.table.name
    }

    /// The schema of every batch this stream lands.
    pub fn output(&self) -> &SchemaRef {
        &self.output
    }

    /// What the files hold: [`Self::output`] then `_run_id`, `_change` and `_hash`.
    pub fn landed(&self) -> &SchemaRef {
        &self.landed
    }

    /// `batch` (in [`Self::output`]) as rows landed by `run` as inserts, with their content
    /// hashes: what a first run lands, and what migrating a pre-contract file writes.
    pub fn as_inserts(&self, batch: &RecordBatch, run: &str) -> Result<RecordBatch, ArrowError> {
        let n = batch.num_rows();
        let hashes = crate::change::content_hashes(batch.columns())?;
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n(run, n),
        )));
        columns.push(Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n("insert", n),
        )));
        columns.push(Arc::new(Int64Array::from_iter_values(
            hashes.into_iter().map(|h| h as i64),
        )));
        RecordBatch::try_new(self.landed.clone(), columns)
    }

    /// Declared fields only, Graph names, all nullable, output paths in field metadata: what
    /// arrow-json decodes into before the zero-copy rename to [`Self::output`].
    pub fn decode(&self) -> &SchemaRef {
        &self.decode
    }

    /// Positions of the primary-key columns in [`Self::output`].
    pub fn key_indices(&self) -> &[usize] {
        &self.key_indices
    }

    /// `sha256:<hex>` of the canonical declaration (see [`schema_hash`]).
    pub fn hash(&self) -> &str {
        &self.hash
    }
}

/// The output Arrow schema: declared fields in order with their output names, then the parent-key
/// columns the rows do not carry (outermost first), then [`EXTRA_COLUMN`]. Only primary-key
/// columns (and the added parent-key columns) are non-null: Graph does not honour
/// `nullable: false` on ordinary properties, and one such row must not fail a page.
pub fn arrow_schema(table: &Table) -> Result<Schema, SchemaError> {
    let keys: HashSet<&str> = table.primary_key.iter().map(String::as_str).collect();
    let mut fields: Vec<Field> = table
        .fields
        .iter()
        .map(|f| {
            let data_type = output_type(&f.data_type);
            Field::new(&f.name, data_type, !keys.contains(f.name.as_str()))
        })
        .collect();
    for column in table.parent_columns() {
        if !table.carries(column) {
            fields.push(Field::new(column, DataType::Utf8, false));
        }
    }
    fields.push(Field::new(EXTRA_COLUMN, DataType::Utf8, true));
    let mut seen = HashSet::new();
    for f in &fields {
        if !seen.insert(f.name().as_str()) {
            return Err(SchemaError::DuplicateColumn {
                stream: table.name.clone(),
                column: f.name().clone(),
            });
        }
    }
    Ok(Schema::new(fields))
}

/// The landed schema: the decoded columns, then the change-log columns of landing contract 2.
fn landed_schema(output: &Schema) -> Schema {
    let mut fields: Vec<FieldRef> = output.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(RUN_ID_COLUMN, DataType::Utf8, false)));
    fields.push(Arc::new(Field::new(CHANGE_COLUMN, DataType::Utf8, false)));
    fields.push(Arc::new(Field::new(HASH_COLUMN, DataType::Int64, true)));
    Schema::new(fields)
}

/// A stable hash of what shapes the landed table: kind, fields, parent-key columns, primary key
/// and the layout version of the extra columns. Changes exactly when a reader may see a different
/// table; the same for a table derived from a declaration as before tables were split out of them.
pub fn schema_hash(table: &Table) -> String {
    #[derive(serde::Serialize)]
    struct Canonical<'a> {
        layout: u32,
        kind: &'a str,
        fields: &'a [stream_spec::Field],
        parent_column: Option<&'a str>,
        /// A grandchild's ancestors' columns; absent before there were grandchildren.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        ancestor_columns: Vec<&'a str>,
        primary_key: &'a [String],
    }
    // The direct parent's column, and the ancestors' above it, as declarations named them.
    let (parent_column, ancestors) = match table.parent_columns().split_last() {
        Some((parent, ancestors)) => (Some(parent.as_str()), ancestors),
        None => (None, &[][..]),
    };
    let canonical = Canonical {
        layout: 2,
        kind: table.hash_kind,
        fields: &table.fields,
        parent_column,
        ancestor_columns: ancestors.iter().map(String::as_str).collect(),
        primary_key: &table.primary_key,
    };
    // Serialising plain structs, vectors and strings cannot fail.
    let text = serde_json::to_vec(&canonical).unwrap_or_default();
    let digest = Sha256::digest(&text);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn output_type(t: &FieldType) -> DataType {
    match t {
        FieldType::Utf8 | FieldType::Json => DataType::Utf8,
        FieldType::Boolean => DataType::Boolean,
        FieldType::Int32 => DataType::Int32,
        FieldType::Int64 => DataType::Int64,
        FieldType::Float64 => DataType::Float64,
        FieldType::Date => DataType::Date32,
        FieldType::TimestampUsUtc => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        FieldType::List(item) => {
            DataType::List(Arc::new(Field::new_list_field(output_type(item), true)))
        }
        FieldType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|f| Field::new(&f.name, output_type(&f.data_type), true))
                .collect(),
        ),
    }
}

/// The schema arrow-json decodes into: Graph names (so its name matching works), everything
/// nullable (nulls in keys are counted by the key guard, not an error for the whole page), and each
/// field tagged with its output path for type-conflict reports.
fn decode_schema(table: &Table) -> Schema {
    Schema::new(
        table
            .fields
            .iter()
            .map(|f| decode_field(&f.graph, &f.data_type, f.name.clone()))
            .collect::<Vec<_>>(),
    )
}

fn decode_field(graph_name: &str, t: &FieldType, path: String) -> Field {
    let data_type = match t {
        FieldType::List(item) => {
            DataType::List(Arc::new(decode_field("item", item, format!("{path}[]"))))
        }
        FieldType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|f| decode_field(&f.graph, &f.data_type, format!("{path}.{}", f.name)))
                .collect(),
        ),
        other => output_type(other),
    };
    let mut metadata = HashMap::from([(META_PATH.to_string(), path)]);
    if matches!(t, FieldType::Json) {
        metadata.insert(META_JSON.to_string(), "true".to_string());
    }
    Field::new(graph_name, data_type, true).with_metadata(metadata)
}

/// Rebuilds `columns` (decoded under Graph names) under the output fields without copying any
/// buffer: struct and list arrays are re-assembled around the same children, offsets and validity.
pub fn rename_columns(
    columns: Vec<ArrayRef>,
    output_fields: &Fields,
) -> Result<Vec<ArrayRef>, ArrowError> {
    columns
        .into_iter()
        .zip(output_fields.iter())
        .map(|(column, field)| rename_array(column, field.data_type()))
        .collect()
}

fn rename_array(array: ArrayRef, target: &DataType) -> Result<ArrayRef, ArrowError> {
    if array.data_type() == target {
        return Ok(array);
    }
    match target {
        DataType::Struct(fields) => {
            let (_, children, nulls) = downcast::<StructArray>(&array)?.clone().into_parts();
            let children = children
                .into_iter()
                .zip(fields.iter())
                .map(|(child, f)| rename_array(child, f.data_type()))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Arc::new(StructArray::try_new(
                fields.clone(),
                children,
                nulls,
            )?))
        }
        DataType::List(item) => {
            let (_, offsets, values, nulls) = downcast::<ListArray>(&array)?.clone().into_parts();
            let values = rename_array(values, item.data_type())?;
            Ok(Arc::new(ListArray::try_new(
                item.clone(),
                offsets,
                values,
                nulls,
            )?))
        }
        // Leaves only differ in field metadata, which is carried by the parent, not the array.
        _ => Ok(array),
    }
}

fn downcast<T: 'static>(array: &ArrayRef) -> Result<&T, ArrowError> {
    array.as_any().downcast_ref::<T>().ok_or_else(|| {
        ArrowError::SchemaError(format!("cannot rename a {} column", array.data_type()))
    })
}

/// The output field list of `schema` without the columns decode adds itself.
pub(crate) fn declared_output_fields(schema: &StreamSchema) -> Fields {
    let n = schema.table().fields.len();
    schema
        .output()
        .fields()
        .iter()
        .take(n)
        .cloned()
        .collect::<Vec<FieldRef>>()
        .into()
}

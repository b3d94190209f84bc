//! Raw page bytes to a typed, keyed `RecordBatch` in the table's output schema.
//!
//! One input adapter per [`BodyFormat`], side by side: [`graph_page`] (the Graph envelope),
//! [`record_lines`] (JSON objects, one per line) and [`report_csv`]. Each turns a body into the
//! declared columns, `_extra` and a report; the rest (parent-key columns, keys, hashes,
//! tombstones) is the same whatever the format.
//!
//! Pure CPU, no tokio: a [`PageDecoder`] is `Send + Sync` and meant to be shared (`Arc`) by the
//! rayon workers decoding one stream's pages; its [`KeyGuard`] deduplicates across all of them.

mod drift;
mod factory;
mod graph_page;
mod json;
mod record_lines;
mod report;
mod report_csv;
mod tape_text;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::compute::filter;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use bytes::Bytes;
use stream_spec::{BodyFormat, ParentKey, Table};

pub use factory::{JsonTextFactory, is_json_text};
pub use report::DecodeReport;

use crate::keys::KeyGuard;
use crate::schema::{EXTRA_COLUMN, SchemaError, StreamSchema};
use drift::ObjectShape;

/// One page as fetched: the raw body, in the table's [`BodyFormat`], and for child tables the
/// parent's key.
#[derive(Debug, Clone)]
pub struct PageInput {
    /// The ids the page's rows hang under, outermost first (one per parent-key column).
    pub parent: Option<ParentKey>,
    /// The page's raw bytes, as the source sent them.
    pub body: Bytes,
    /// Set on the last page of a chain (one parent's pages, or a top-level stream's): how many
    /// pages the chain had. The chain's primary keys are then forgotten once all its pages are
    /// decoded; `None` everywhere keeps every key to the end of the run.
    pub chain_pages: Option<u32>,
}

/// Declared columns under output names, `_extra` per row, and the drift part of the report: what
/// an input adapter makes of a body.
pub(crate) struct DecodedColumns {
    pub(crate) num_rows: usize,
    pub(crate) columns: Vec<ArrayRef>,
    pub(crate) extras: Vec<Option<String>>,
    pub(crate) report: DecodeReport,
}

/// A decoded page: rows in [`StreamSchema::output`] and what decoding saw.
#[derive(Debug, Clone)]
pub struct DecodedPage {
    /// The page's rows that were kept (non-null, first-seen keys).
    pub batch: RecordBatch,
    /// What decoding this page saw: rows, rejected keys, drift.
    pub report: DecodeReport,
    /// Per row of `batch`: the key hash (see [`crate::change::key_hashes`]).
    pub key_hashes: Vec<u128>,
    /// Per row of `batch`: the content hash of all its columns.
    pub content_hashes: Vec<u64>,
    /// Per row of `batch`: whether it is a tombstone (its declared tombstone property is
    /// present); empty when the stream declares none.
    pub tombstones: Vec<bool>,
}

/// Why a page could not be decoded (the page only; the run goes on or stops as the caller says).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The table cannot be given a schema (see [`SchemaError`]).
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// A Graph page body is not a Graph collection response.
    #[error("stream `{stream}`: page is not a Graph collection response: {source}")]
    Envelope {
        /// The page's stream.
        stream: String,
        /// arrow-json's error.
        #[source]
        source: ArrowError,
    },
    /// A Graph page body has no `value` array.
    #[error("stream `{stream}`: page has no `value` array")]
    MissingValue {
        /// The page's stream.
        stream: String,
    },
    /// A record-lines body is not JSON objects, one per line.
    #[error("stream `{stream}`: body is not JSON records, one object per line: {source}")]
    Records {
        /// The page's stream.
        stream: String,
        /// arrow-json's error.
        #[source]
        source: ArrowError,
    },
    /// The records (of a Graph page or record lines) could not be decoded.
    #[error("stream `{stream}`: decoding records: {source}")]
    Json {
        /// The page's stream.
        stream: String,
        /// arrow-json's error.
        #[source]
        source: ArrowError,
    },
    /// A report CSV body could not be decoded.
    #[error("stream `{stream}`: decoding report CSV: {source}")]
    Csv {
        /// The page's stream.
        stream: String,
        /// arrow-csv's error.
        #[source]
        source: ArrowError,
    },
    /// The page's parent key does not give one id per parent-key column the rows lack.
    #[error(
        "stream `{stream}`: the page's parent key has {got} ids, but the stream's parent-key columns are [{columns}]"
    )]
    MissingParent {
        /// The page's stream.
        stream: String,
        /// Ids in the page's parent key (0 without one).
        got: usize,
        /// The stream's parent-key columns, comma-separated.
        columns: String,
    },
    /// The decoded columns could not be put together into the output batch.
    #[error("stream `{stream}`: assembling the batch: {source}")]
    Assemble {
        /// The page's stream.
        stream: String,
        /// Arrow's error.
        #[source]
        source: ArrowError,
    },
}

/// Which rows carry the stream's tombstone property: a declared top-level field that is not null
/// (drive items' `deleted` facet), or an undeclared top-level property kept in `_extra`
/// (`@removed`).
fn tombstones(schema: &StreamSchema, batch: &RecordBatch) -> Vec<bool> {
    let Some(property) = schema.table().tombstone.as_deref() else {
        return Vec::new();
    };
    if let Some(at) = schema
        .table()
        .fields
        .iter()
        .position(|f| f.graph == property)
    {
        let column = batch.column(at);
        return (0..batch.num_rows()).map(|i| column.is_valid(i)).collect();
    }
    let Some(extra) = batch
        .column_by_name(EXTRA_COLUMN)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
    else {
        return vec![false; batch.num_rows()];
    };
    let quoted = format!("\"{property}\"");
    (0..batch.num_rows())
        .map(|i| {
            // Cheap test first; parse only the rare rows that mention the property.
            extra.is_valid(i)
                && extra.value(i).contains(&quoted)
                && serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(
                    extra.value(i),
                )
                .is_ok_and(|object| object.get(property).is_some_and(|v| !v.is_null()))
        })
        .collect()
}

/// Decodes pages of one table for one run.
#[derive(Debug)]
pub struct PageDecoder {
    schema: StreamSchema,
    /// `{value: [record]}`: what arrow-json reads a whole Graph page as.
    envelope: SchemaRef,
    shape: Arc<ObjectShape>,
    guard: KeyGuard,
}

impl PageDecoder {
    /// A decoder for `table`; fails when the table cannot be given a schema.
    pub fn new(table: &Table) -> Result<Self, DecodeError> {
        Ok(Self::with_schema(StreamSchema::new(table)?))
    }

    /// A decoder for a schema already built, with a fresh [`KeyGuard`].
    pub fn with_schema(schema: StreamSchema) -> Self {
        Self {
            shape: Arc::new(ObjectShape::new(&schema.table().fields)),
            envelope: graph_page::envelope_schema(schema.decode()),
            schema,
            guard: KeyGuard::new(),
        }
    }

    /// The table's schema the pages are decoded into.
    pub fn schema(&self) -> &StreamSchema {
        &self.schema
    }

    /// The guard deduplicating keys across all pages this decoder sees.
    pub fn key_guard(&self) -> &KeyGuard {
        &self.guard
    }

    /// Decodes one page. A malformed body is an error for this page only; wrong-typed values,
    /// undeclared properties, null and repeated keys are not errors (see [`DecodeReport`]).
    pub fn decode(&self, page: &PageInput) -> Result<DecodedPage, DecodeError> {
        let decoded = self.decode_inner(page);
        self.guard
            .page_done(self.chain_of(page).as_deref(), page.chain_pages);
        decoded
    }

    /// Which chain a page's keys belong to: its parent's scope for child streams (whose keys
    /// hold the parent-key columns), the whole stream otherwise.
    fn chain_of(&self, page: &PageInput) -> Option<String> {
        self.schema
            .table()
            .parent
            .as_ref()
            .and(page.parent.as_ref())
            .map(ParentKey::scope)
    }

    fn decode_inner(&self, page: &PageInput) -> Result<DecodedPage, DecodeError> {
        let stream = self.schema.stream();
        let table = self.schema.table();
        // The parent-key columns the rows do not carry themselves come from the page's key.
        let parent_columns = table.parent_columns();
        let added: Vec<&str> = match &page.parent {
            _ if parent_columns.iter().all(|c| table.carries(c)) => Vec::new(),
            Some(key) if key.ids().len() == parent_columns.len() => parent_columns
                .iter()
                .zip(key.ids())
                .filter(|(c, _)| !table.carries(c))
                .map(|(_, id)| id.as_str())
                .collect(),
            parent => {
                return Err(DecodeError::MissingParent {
                    stream: stream.to_string(),
                    got: parent.as_ref().map_or(0, |k| k.ids().len()),
                    columns: parent_columns.join(", "),
                });
            }
        };
        let decoded = match table.format {
            BodyFormat::GraphPage => {
                graph_page::decode_page(&self.schema, &self.envelope, &self.shape, &page.body)?
            }
            BodyFormat::RecordLines => {
                record_lines::decode_lines(&self.schema, &self.shape, &page.body)?
            }
            BodyFormat::ReportCsv => report_csv::decode_report(&self.schema, &page.body)?,
        };
        let assemble = |source| DecodeError::Assemble {
            stream: stream.to_string(),
            source,
        };

        let mut columns = decoded.columns;
        for id in added {
            let parent = StringArray::from_iter_values(std::iter::repeat_n(id, decoded.num_rows));
            columns.push(Arc::new(parent));
        }
        columns.push(Arc::new(StringArray::from(decoded.extras)));

        let key_columns: Vec<ArrayRef> = self
            .schema
            .key_indices()
            .iter()
            .map(|&i| columns[i].clone())
            .collect();
        let verdict = self
            .guard
            .check(self.chain_of(page).as_deref(), &key_columns)
            .map_err(assemble)?;
        if let Some(keep) = &verdict.keep {
            columns = columns
                .iter()
                .map(|c| filter(c, keep))
                .collect::<Result<_, _>>()
                .map_err(assemble)?;
        }
        let batch =
            RecordBatch::try_new(self.schema.output().clone(), columns).map_err(assemble)?;

        let content_hashes = crate::change::content_hashes(batch.columns()).map_err(assemble)?;
        let tombstones = tombstones(&self.schema, &batch);

        let mut report = decoded.report;
        report.pages = 1;
        report.rejected_null_key = verdict.rejected_null_key;
        report.duplicates = verdict.duplicates;
        report.rows = batch.num_rows() as u64;
        Ok(DecodedPage {
            batch,
            report,
            key_hashes: verdict.kept,
            content_hashes,
            tombstones,
        })
    }
}

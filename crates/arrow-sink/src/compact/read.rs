//! Reading a data file whole for a compaction, contract 2 or not, into a fixed schema.

use std::collections::BTreeSet;

use arrow::array::{RecordBatch, new_null_array};
use arrow::compute::cast;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use object_store::ObjectMeta;
use parquet::arrow::ProjectionMask;
use parquet::arrow::async_reader::{ParquetRecordBatchStream, ParquetRecordBatchStreamBuilder};

use crate::change::ObjectReader;
use crate::schema::RUN_ID_COLUMN;
use crate::write_error::WriteError;

/// Rows per batch read: small enough for wide rows (mail bodies), large enough to be cheap.
const BATCH_ROWS: usize = 8192;

/// One file's batches, and whether it predates landing contract 2 (no `_run_id` column).
pub(crate) struct FileBatches {
    pub pre_contract: bool,
    pub batches: ParquetRecordBatchStream<ObjectReader>,
}

/// Opens `file`, reading only the columns of `columns` it has (all columns when `None`).
pub(crate) async fn open(
    store: &std::sync::Arc<dyn object_store::ObjectStore>,
    stream: &str,
    file: &ObjectMeta,
    columns: Option<&[&str]>,
) -> Result<FileBatches, WriteError> {
    let parquet_error = |source| WriteError::CurrentState {
        stream: stream.to_string(),
        path: file.location.clone(),
        source,
    };
    let reader = ObjectReader::new(store.clone(), file.location.clone(), file.size);
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(parquet_error)?;
    let schema = builder.schema().clone();
    let pre_contract = schema.index_of(RUN_ID_COLUMN).is_err();
    let builder = match columns {
        Some(names) => {
            let roots = names.iter().filter_map(|n| schema.index_of(n).ok());
            let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
            builder.with_projection(mask)
        }
        None => builder,
    };
    let batches = builder
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(parquet_error)?;
    Ok(FileBatches {
        pre_contract,
        batches,
    })
}

/// `batch` in `target`: columns matched by name and cast where the file's type differs (a
/// pre-contract file's timestamps, an older declaration), missing ones null. Columns `target`
/// lacks are named in `dropped`.
pub(crate) fn conform(
    batch: &RecordBatch,
    target: &SchemaRef,
    dropped: &mut BTreeSet<String>,
) -> Result<RecordBatch, ArrowError> {
    for field in batch.schema().fields() {
        if target.index_of(field.name()).is_err() {
            dropped.insert(field.name().clone());
        }
    }
    let columns = target
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) if column.data_type() == field.data_type() => Ok(column.clone()),
            Some(column) => cast(column, field.data_type()),
            None => Ok(new_null_array(field.data_type(), batch.num_rows())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(target.clone(), columns)
}

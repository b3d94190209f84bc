//! One stream's Parquet files for one run: `AsyncArrowWriter` over object_store's `BufWriter`,
//! written under the run's staging prefix and rolled at a size threshold.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{BloomFilterPosition, EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};

use crate::layout::{self, RunId};
use crate::schema::StreamSchema;
use crate::store::Landing;
use crate::upload::Upload;
use crate::write_error::WriteError;

/// Key-value metadata keys in every file's footer.
pub const META_STREAM: &str = "msgraph_sync.stream";
/// Footer key of the stream's [`schema_hash`](crate::schema_hash).
pub const META_SCHEMA_HASH: &str = "msgraph_sync.schema_hash";
/// Footer key of the id of the run that wrote the file.
pub const META_RUN_ID: &str = "msgraph_sync.run_id";

/// How files are encoded, sized and uploaded.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Rows per row group. DuckDB parallelises per row group and its own writer uses 122,880.
    pub max_row_group_rows: usize,
    /// Bytes per row group, so wide rows (mail bodies) do not hold huge row groups in memory.
    pub max_row_group_bytes: usize,
    /// A file is closed and the next one started once it reaches this size.
    pub target_file_bytes: usize,
    /// A file is also closed once its footer describes this many column chunks (row groups ×
    /// leaf columns): parquet keeps every written row group's metadata and page index in memory
    /// until the file closes, ~1 KB per column chunk, which grew with the tenant (a 20k-user
    /// drive_items file: 32 row groups × 210 columns).
    pub max_file_column_chunks: usize,
    /// `BufWriter` capacity: smaller files are one PUT, larger ones a multipart upload in parts
    /// of this size, raised to the store's minimum part size (5 MiB on S3 and GCS). Kept small:
    /// every open file holds up to this much, times `upload_concurrency` parts in flight, and only
    /// a big tenant's files outgrow it (at 2 MiB, the 20k-user run held ~15 MB more than at 512 KiB).
    pub upload_buffer_bytes: usize,
    /// Parts uploaded concurrently per file.
    pub upload_concurrency: usize,
    /// Zstandard compression level of every column.
    pub zstd_level: i32,
    /// False-positive rate of the bloom filters on primary-key columns.
    pub bloom_filter_fpp: f64,
    /// What flushing would free in the unfinished row groups of the writers sharing these options
    /// (a run's streams): their data and dictionaries, not each row group's fixed setup.
    pub buffer_budget: Arc<BufferBudget>,
}

/// Bytes the open row groups of several writers may hold together. Each stream alone stays far
/// under its row-group cap on a big tenant, but 29 streams each buffering a whole stream until
/// the end grow with the tenant; past the budget, the writer that just wrote flushes its row group.
#[derive(Debug)]
pub struct BufferBudget {
    limit: usize,
    used: AtomicUsize,
}

impl BufferBudget {
    /// A budget of `limit` bytes, none of it used.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// Moves one writer's share from `*reported` to `now`; true when the total is over the limit.
    fn report(&self, reported: &mut usize, now: usize) -> bool {
        let total = if now >= *reported {
            self.used.fetch_add(now - *reported, Ordering::Relaxed) + (now - *reported)
        } else {
            self.used.fetch_sub(*reported - now, Ordering::Relaxed) - (*reported - now)
        };
        *reported = now;
        total > self.limit
    }
}

/// A row group this small is not worth flushing early (tiny row groups slow readers down).
const MIN_EARLY_FLUSH_BYTES: usize = 1024 * 1024;

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            max_row_group_rows: 122_880,
            max_row_group_bytes: 128 * 1024 * 1024,
            target_file_bytes: 512 * 1024 * 1024,
            max_file_column_chunks: 1024,
            upload_buffer_bytes: 512 * 1024,
            upload_concurrency: 2,
            zstd_level: 3,
            bloom_filter_fpp: 0.01,
            buffer_budget: Arc::new(BufferBudget::new(4 * 1024 * 1024)),
        }
    }
}

/// A file the run wrote: where it is staged, where it goes on commit, and what it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WrittenFile {
    /// Final path, relative to the landing root: `<stream>/date=…/part-….parquet`.
    pub path: String,
    /// Rows in the file.
    pub rows: u64,
    /// The file's size in bytes.
    pub bytes: u64,
    /// Where the file is staged until commit; empty once published (never in a manifest).
    #[serde(skip)]
    pub staging: Path,
}

struct OpenFile {
    writer: AsyncArrowWriter<Upload>,
    seq: u32,
    staging: Path,
    rows: u64,
    /// Memory the open row group held beyond its data when it began.
    group_setup: usize,
}

/// Writes one stream's batches for one run. Call [`StreamWriter::finish`] to close the last file,
/// or [`StreamWriter::abort`] to discard everything; dropping it leaves only staging leftovers.
pub struct StreamWriter {
    landing: Landing,
    run: RunId,
    stream: String,
    schema: SchemaRef,
    properties: WriterProperties,
    options: WriterOptions,
    next_seq: u32,
    /// The date partition the files go to: the run's date, unless [`Self::in_partition`].
    date: chrono::NaiveDate,
    current: Option<OpenFile>,
    files: Vec<WrittenFile>,
    /// This writer's share of `options.buffer_budget`.
    buffered: usize,
    /// Leaf columns of the Parquet schema: column chunks per row group.
    leaf_columns: usize,
    /// Whether a writer that saw no rows still writes one empty file.
    empty_file: bool,
}

impl StreamWriter {
    /// No file at all when no row comes: the stream has files already (an incremental run that
    /// found nothing changed), so readers find its columns there.
    pub fn without_empty_file(mut self) -> Self {
        self.empty_file = false;
        self
    }

    /// A writer of `schema`'s stream for `run`; [`WriteError::BadStreamName`] for a name that
    /// cannot be a landing folder. Nothing is written before the first batch.
    pub fn new(
        landing: &Landing,
        run: &RunId,
        schema: &StreamSchema,
        options: &WriterOptions,
    ) -> Result<Self, WriteError> {
        let stream = schema.stream().to_string();
        if !layout::is_valid_stream_name(&stream) {
            return Err(WriteError::BadStreamName(stream));
        }
        let output = schema.landed().clone();
        let keys: Vec<&str> = schema
            .key_indices()
            .iter()
            .map(|&i| output.field(i).name().as_str())
            .collect();
        let properties = properties(&stream, schema.hash(), run, &keys, options);
        let leaf_columns = leaf_columns(&output);
        Ok(Self {
            landing: landing.clone(),
            run: run.clone(),
            stream,
            schema: output,
            properties,
            options: options.clone(),
            next_seq: 0,
            date: run.date(),
            current: None,
            files: Vec::new(),
            buffered: 0,
            leaf_columns,
            empty_file: true,
        })
    }

    /// The stream written.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Writes into the partition of `date` instead of the run's own: a compaction keeps each
    /// row in its run's partition, so the `date` column readers see does not change.
    pub fn in_partition(mut self, date: chrono::NaiveDate) -> Self {
        self.date = date;
        self
    }

    /// Appends a batch; rolls to a new file once the current one reaches the size threshold.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), WriteError> {
        if batch.schema().fields() != self.schema.fields() {
            return Err(WriteError::SchemaMismatch {
                stream: self.stream.clone(),
                detail: format!("expected {:?}, got {:?}", self.schema, batch.schema()),
            });
        }
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.current.is_none() {
            let file = self.open()?;
            self.current = Some(file);
        }
        let file = self.current.as_mut().expect("opened above");
        let written = file.writer.write(batch).await;
        if let Err(source) = written {
            return Err(self.fail(source).await);
        }
        let file = self.current.as_mut().expect("still open");
        file.rows += batch.num_rows() as u64;
        let rows = file.writer.in_progress_rows();
        let memory = file.writer.memory_size();
        if rows > 0 && rows <= batch.num_rows() {
            // A row group began with this batch: what it holds beyond its data is setup.
            file.group_setup = memory.saturating_sub(file.writer.in_progress_size());
        }
        // Only what a flush frees counts: a new row group's setup (bloom filters, dictionary
        // tables, page buffers of every column) comes back with the next batch, so counting it
        // made wide streams flush every page (row groups of 5 rows).
        let data = match rows {
            0 => 0,
            _ => memory.saturating_sub(file.group_setup),
        };
        let over = self.options.buffer_budget.report(&mut self.buffered, data);
        if over && data >= MIN_EARLY_FLUSH_BYTES {
            self.flush_row_group().await?;
        }
        // An early flush may have closed the file already (its footer was full).
        let size = self.current.as_ref().map_or(0, |file| {
            file.writer.bytes_written() + file.writer.in_progress_size()
        });
        if size >= self.options.target_file_bytes || self.footer_is_full() {
            self.close_current().await?;
        }
        Ok(())
    }

    /// Whether the open file's footer holds `max_file_column_chunks` column chunks.
    fn footer_is_full(&self) -> bool {
        self.current.as_ref().is_some_and(|file| {
            let leaves = self.leaf_columns.max(1);
            file.writer.flushed_row_groups().len() * leaves >= self.options.max_file_column_chunks
        })
    }

    /// Writes out the open row group, if any, freeing its column writers, codec contexts and
    /// dictionaries: used past the budget and for a stream that has gone idle.
    pub async fn flush_row_group(&mut self) -> Result<(), WriteError> {
        let Some(file) = self.current.as_mut() else {
            return Ok(());
        };
        if file.writer.in_progress_rows() == 0 {
            return Ok(());
        }
        if let Err(source) = file.writer.flush().await {
            return Err(self.fail(source).await);
        }
        self.options.buffer_budget.report(&mut self.buffered, 0);
        if self.footer_is_full() {
            self.close_current().await?;
        }
        Ok(())
    }

    /// Closes the last file and returns every file written, all still under staging. A stream that
    /// saw no rows gets one empty file, so readers still find its columns (unless
    /// [`Self::without_empty_file`]).
    pub async fn finish(mut self) -> Result<Vec<WrittenFile>, WriteError> {
        if self.current.is_none() && self.files.is_empty() && self.empty_file {
            self.current = Some(self.open()?);
        }
        self.close_current().await?;
        Ok(std::mem::take(&mut self.files))
    }

    /// Aborts the open upload and deletes the files already staged.
    pub async fn abort(mut self) {
        self.options.buffer_budget.report(&mut self.buffered, 0);
        if let Some(file) = self.current.take() {
            let upload = file.writer.into_inner();
            if let Err(e) = upload.abort().await {
                tracing::warn!(stream = %self.stream, error = %e, "aborting upload");
            }
        }
        for file in &self.files {
            if let Err(e) = self.landing.store().delete(&file.staging).await {
                tracing::warn!(path = %file.staging, error = %e, "deleting staged file");
            }
        }
    }

    fn open(&mut self) -> Result<OpenFile, WriteError> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let staging =
            layout::staging_file_in(&self.landing, &self.stream, &self.run, self.date, seq);
        let upload = self.landing.upload(
            staging.clone(),
            self.options.upload_buffer_bytes,
            self.options.upload_concurrency,
        );
        let writer = AsyncArrowWriter::try_new(
            Upload::new(upload),
            self.schema.clone(),
            Some(self.properties.clone()),
        )
        .map_err(|source| WriteError::Parquet {
            stream: self.stream.clone(),
            path: staging.clone(),
            source,
        })?;
        Ok(OpenFile {
            writer,
            seq,
            staging,
            rows: 0,
            group_setup: 0,
        })
    }

    async fn close_current(&mut self) -> Result<(), WriteError> {
        let Some(mut file) = self.current.take() else {
            return Ok(());
        };
        self.options.buffer_budget.report(&mut self.buffered, 0);
        if let Err(source) = file.writer.finish().await {
            // Aborted in `fail`, unless the completion itself failed (it aborted its upload).
            self.current = Some(file);
            return Err(self.fail(source).await);
        }
        let path =
            layout::data_file_in(&self.landing, &self.stream, &self.run, self.date, file.seq);
        self.files.push(WrittenFile {
            path: relative(&self.landing, &path),
            rows: file.rows,
            bytes: file.writer.bytes_written() as u64,
            staging: file.staging,
        });
        Ok(())
    }

    /// Aborts the open multipart upload so no partial object is left, and returns the error.
    async fn fail(&mut self, source: parquet::errors::ParquetError) -> WriteError {
        self.options.buffer_budget.report(&mut self.buffered, 0);
        let path = match self.current.take() {
            Some(file) => {
                let upload = file.writer.into_inner();
                if let Err(e) = upload.abort().await {
                    tracing::warn!(stream = %self.stream, error = %e, "aborting upload");
                }
                file.staging
            }
            None => Path::default(),
        };
        WriteError::Parquet {
            stream: self.stream.clone(),
            path,
            source,
        }
    }
}

impl Drop for StreamWriter {
    /// A writer dropped mid-run (a failed run) gives its share back to writers that go on.
    fn drop(&mut self) {
        self.options.buffer_budget.report(&mut self.buffered, 0);
    }
}

fn properties(
    stream: &str,
    schema_hash: &str,
    run: &RunId,
    keys: &[&str],
    options: &WriterOptions,
) -> WriterProperties {
    let zstd = ZstdLevel::try_new(options.zstd_level).unwrap_or_default();
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(zstd))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(options.max_row_group_rows))
        .set_max_row_group_bytes(Some(options.max_row_group_bytes))
        // Each row group's filters go out with it instead of piling up in memory until the file
        // closes (a 20k-user run writes hundreds of row groups).
        .set_bloom_filter_position(BloomFilterPosition::AfterRowGroup)
        .set_key_value_metadata(Some(vec![
            KeyValue::new(META_STREAM.into(), stream.to_string()),
            KeyValue::new(META_SCHEMA_HASH.into(), schema_hash.to_string()),
            KeyValue::new(META_RUN_ID.into(), run.to_string()),
        ]));
    for key in keys {
        let column = ColumnPath::from(*key);
        builder = builder
            .set_column_bloom_filter_enabled(column.clone(), true)
            // Sized for one row group (the default assumes a million distinct values: 1.2 MB).
            .set_column_bloom_filter_max_ndv(column.clone(), options.max_row_group_rows as u64)
            .set_column_bloom_filter_fpp(column, options.bloom_filter_fpp);
    }
    builder.build()
}

/// Leaf columns of `schema` as Parquet stores it (a struct is one per leaf field).
fn leaf_columns(schema: &SchemaRef) -> usize {
    parquet::arrow::ArrowSchemaConverter::new()
        .convert(schema)
        .map_or(schema.fields().len(), |s| s.num_columns())
}

/// A path below the landing root, as manifests record it.
pub(crate) fn relative(landing: &Landing, path: &Path) -> String {
    path.prefix_match(landing.root())
        .map(|parts| {
            parts
                .map(|p| p.as_ref().to_string())
                .collect::<Vec<_>>()
                .join("/")
        })
        .unwrap_or_else(|| path.to_string())
}

//! `tap-msgraph`: graph-extract pages -> Singer SCHEMA / RECORD / STATE lines on stdout.
//!
//! Records go out as Graph sent them: each element of a page's `value` is copied as its raw JSON
//! text (never built as a value), with the parent column (`user_id`, …) put in front for fan-out
//! streams. With `field_names: snake_case`, and for report streams (CSV), pages are decoded by
//! arrow-sink's decoder and written back as JSON rows under the landing's column names.
//!
//! Incremental (STATE carries graph-extract's delta links and bookmarks): delta and bookmark
//! streams send only what changed since the state's run, a delta tombstone as a RECORD with
//! `_sdc_deleted_at`. A stream read whole (a reload-and-compare stream, or a delta stream's first
//! run) carries a table `version` and ends with ACTIVATE_VERSION, so a target may delete what it
//! no longer lists. Child streams name their parent in their SCHEMA (`x-parent`), so a target
//! can delete a deleted parent's children.

pub mod batch;
pub mod discover;
pub mod selection;
pub mod state;

use std::collections::{HashMap, HashSet};
use std::io::Write;

use arrow_sink::{PageDecoder, PageInput};
use graph_extract::{Config, ExtractError, ExtractState, Extractor, Page, PageFormat, RunStats};
use serde::Deserialize;
use serde_json::value::RawValue;
use stream_spec::{Incremental, StreamSpec};
use tokio::sync::mpsc;

use crate::messages::{self, RecordParts};
pub use discover::FieldNames;
pub use selection::Selection;

/// Why the tap stopped.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// The config, catalog, state or streams directory is invalid (the text says which).
    #[error("{0}")]
    Config(String),
    /// graph-extract could not read Graph.
    #[error(transparent)]
    Extract(#[from] graph_extract::ExtractError),
    /// A page could not be turned into RECORD lines.
    #[error("stream `{stream}`: {message}")]
    Page {
        /// The page's stream.
        stream: String,
        /// What was wrong with the page.
        message: String,
    },
    /// Writing Singer messages to stdout failed (stdout closed, ...).
    #[error("writing to stdout: {0}")]
    Stdout(#[source] std::io::Error),
    /// A batch file could not be written (`batch_config`); the text names the stream and why.
    #[error(transparent)]
    Batch(#[from] batch::BatchFileError),
    /// Some streams failed; the others were sent whole, with a STATE that resumes all of them.
    #[error("{0}")]
    StreamsFailed(String),
}

/// Our options read from the same config file as graph-extract's `Config`.
#[derive(Debug, Default, Deserialize)]
struct TapOptions {
    #[serde(default)]
    field_names: Option<String>,
    #[serde(default)]
    streams_dir: Option<std::path::PathBuf>,
}

fn tap_options(config_text: &str) -> Result<TapOptions, TapError> {
    serde_json::from_str(config_text).map_err(|e| {
        TapError::Config(format!(
            "config: {}",
            graph_extract::config::redacted_json_error(&e)
        ))
    })
}

/// The streams a config declares: the shipped ones plus those of its `streams_dir` (relative
/// to the config file). For `--discover`, which needs no credentials.
pub fn catalog_for(
    config_path: &std::path::Path,
    config_text: &str,
) -> Result<stream_spec::Catalog, TapError> {
    let Some(dir) = tap_options(config_text)?
        .streams_dir
        .filter(|d| !d.as_os_str().is_empty())
    else {
        return Ok(stream_spec::Catalog::embedded());
    };
    let dir = match (dir.is_relative(), config_path.parent()) {
        (true, Some(base)) => base.join(dir),
        _ => dir,
    };
    stream_spec::Catalog::embedded_with(Some(&dir))
        .map_err(|e| TapError::Config(format!("streams_dir {}: {e}", dir.display())))
}

/// The config's `field_names` (Graph's names by default); [`TapError::Config`] for another value.
pub fn field_names(config_text: &str) -> Result<FieldNames, TapError> {
    let options = tap_options(config_text)?;
    match options.field_names.as_deref() {
        None | Some("") => Ok(FieldNames::default()),
        Some(value) => FieldNames::parse(value).ok_or_else(|| {
            TapError::Config(format!(
                "config field `field_names` is `{value}`; allowed: {}",
                FieldNames::ALLOWED
            ))
        }),
    }
}

/// Pages between the fetch and the writer thread.
const PAGE_CHANNEL: usize = 16;

/// How records go out: their property names, and RECORD lines or batch files.
#[derive(Debug, Default)]
pub struct Output {
    /// Property names.
    pub names: FieldNames,
    /// With a `batch_config`: batch files and BATCH messages instead of RECORD lines.
    pub batch: Option<batch::BatchConfig>,
}

impl Output {
    /// The config's `field_names` and `batch_config`; [`TapError::Config`] for a bad one.
    pub fn from_config(config_text: &str) -> Result<Self, TapError> {
        Ok(Self {
            names: field_names(config_text)?,
            batch: batch::BatchConfig::from_config(config_text).map_err(TapError::Config)?,
        })
    }
}

/// Syncs `selection`, writing messages to `out`; returns `out` after the last STATE.
pub async fn sync<W: Write + Send + 'static>(
    config: Config,
    selection: Selection,
    output: Output,
    prior_state: Option<serde_json::Value>,
    out: W,
) -> Result<W, TapError> {
    let Output {
        names,
        batch: batch_config,
    } = output;
    let full = config
        .catalog()
        .map_err(|e| TapError::Config(format!("streams_dir: {e}")))?;
    let (catalog, _dir) = selection
        .catalog(&full)
        .map_err(|e| TapError::Config(format!("preparing the selected fields: {e}")))?;
    let prior_extract = state::extract_state(prior_state.as_ref()).map_err(TapError::Config)?;
    let extractor = Extractor::from_config(config, catalog)?;
    let started = chrono::Utc::now();
    let specs: HashMap<String, StreamSpec> = selection
        .streams
        .iter()
        .map(|s| (s.stream.clone(), s.clone()))
        .collect();
    // A table version (the run's start) on the records of streams that will be read whole.
    let version = started.timestamp_millis();
    let versioned: HashSet<String> = selection
        .streams
        .iter()
        .filter(|s| read_whole(s, &prior_extract))
        .map(|s| s.stream.clone())
        .collect();

    let (tx, rx) = mpsc::channel::<Page>(PAGE_CHANNEL);
    let selected = selection.names();
    let schemas: Vec<StreamSpec> = selection.streams.clone();
    // Writing and (snake_case/report) decoding are blocking CPU work: off the async workers.
    let runtime = tokio::runtime::Handle::current();
    let writer = tokio::task::spawn_blocking(move || {
        let batch = match batch_config {
            Some(config) => {
                Some(batch::BatchFiles::open(config, runtime).map_err(TapError::Config)?)
            }
            None => None,
        };
        let mut writer = RecordWriter::new(out, names, specs, versioned, version, batch);
        for spec in &schemas {
            writer.schema(spec)?;
        }
        let mut rx = rx;
        while let Some(page) = rx.blocking_recv() {
            writer.page(&page)?;
        }
        writer.finish_batches()?;
        Ok::<_, TapError>(writer)
    });
    let extracted = extractor.run(&selected, tx, prior_extract, &[]).await;
    let writer = writer
        .await
        .map_err(|e| TapError::Config(format!("writer thread: {e}")))?;
    // A writer that stopped (stdout closed) makes the extractor fail on its channel: report the
    // writer's error then; otherwise the extractor's.
    let mut writer = writer?;
    // Failed streams sent no ACTIVATE_VERSION and keep their prior state: the STATE below is
    // still right for every stream, so it is sent before the run reports the failure.
    let (stats, failed) = match extracted {
        // Strict: what was read is sent with its STATE, then the run fails.
        Ok(stats) if stats.strict_violated => {
            let message = format!(
                "{} stream(s)/parent(s) skipped under strict mode",
                stats.skips.len()
            );
            (stats, Some(message))
        }
        Ok(stats) => (stats, None),
        Err(ExtractError::StreamsFailed(stats)) => {
            let message = stats.failure_summary();
            (*stats, Some(message))
        }
        Err(e) => return Err(e.into()),
    };
    for skip in &stats.skips {
        tracing::warn!(stream = %skip.stream, parent = ?skip.parent_id, code = %skip.code,
            "skipped: {} (needs {})", skip.message, skip.permission);
    }
    // Singer's STATE is one JSON message: the state is read into memory here.
    let next = stats
        .state
        .read()
        .map_err(|e| TapError::Extract(graph_extract::ExtractError::StateFile(e)))?;
    writer.activate_versions(&stats, &next)?;
    let state = state::next_state(prior_state, &selected, started, &next);
    messages::write_state(&mut writer.out, &state).map_err(TapError::Stdout)?;
    writer.out.flush().map_err(TapError::Stdout)?;
    for (stream, rows) in &writer.counts {
        tracing::info!(stream = %stream, records = rows, "synced");
    }
    match failed {
        Some(message) => Err(TapError::StreamsFailed(message)),
        None => Ok(writer.out),
    }
}

/// Whether a stream is read in full this run: reload-and-compare streams always; delta streams
/// without a prior state. Bookmark and append streams are history, never sent whole.
fn read_whole(spec: &StreamSpec, prior: &ExtractState) -> bool {
    match spec.incremental {
        Incremental::Compare | Incremental::Feed(_) => true,
        Incremental::Delta(_) => prior
            .streams
            .get(&spec.stream)
            .is_none_or(|s| s.delta_links.is_empty()),
        Incremental::Bookmark(_) | Incremental::Append => false,
    }
}

/// Whether `stream` was read whole and without a skip: every scope of it in full (for a child
/// stream of a delta parent, every live parent).
fn sent_whole(spec: &StreamSpec, stats: &RunStats, next: &ExtractState) -> bool {
    let skipped = |name: &str| stats.skips.iter().any(|s| s.stream == name);
    let Some(scope) = stats.full_scopes.get(&spec.stream) else {
        return false;
    };
    match &spec.parent {
        None => scope.whole,
        Some(parent) => {
            if skipped(&spec.stream) || skipped(&parent.stream) {
                return false;
            }
            match next
                .streams
                .get(&parent.stream)
                .and_then(|s| s.ids.as_ref())
            {
                // Delta children are read only where the parent changed, unless read in full.
                Some(live) if matches!(spec.incremental, Incremental::Delta(_)) => {
                    live.iter().all(|id| scope.parents.contains(id))
                }
                _ => true,
            }
        }
    }
}

struct RecordWriter<W: Write> {
    out: W,
    names: FieldNames,
    specs: HashMap<String, StreamSpec>,
    decoders: HashMap<String, PageDecoder>,
    counts: std::collections::BTreeMap<String, u64>,
    /// Streams whose records carry `version`.
    versioned: HashSet<String>,
    version: i64,
    /// With `batch_config`: records go to batch files, announced by BATCH messages.
    batch: Option<batch::BatchFiles>,
    /// One record's object text, reused (batch files).
    record: Vec<u8>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    value: Vec<&'a RawValue>,
}

impl<W: Write> RecordWriter<W> {
    fn new(
        out: W,
        names: FieldNames,
        specs: HashMap<String, StreamSpec>,
        versioned: HashSet<String>,
        version: i64,
        batch: Option<batch::BatchFiles>,
    ) -> Self {
        Self {
            out,
            names,
            specs,
            decoders: HashMap::new(),
            counts: Default::default(),
            versioned,
            version,
            batch,
            record: Vec::new(),
        }
    }

    /// One record: a RECORD line, or (with `batch_config`) a row of the stream's batch file and
    /// a BATCH message when that file is full.
    fn record(
        &mut self,
        stream: &str,
        text: &str,
        parts: RecordParts<'_>,
        time: &str,
    ) -> Result<(), TapError> {
        let Some(batch) = &mut self.batch else {
            return messages::write_raw_record(&mut self.out, stream, text, parts, time)
                .map_err(TapError::Stdout);
        };
        self.record.clear();
        messages::write_record_object(&mut self.record, text, parts).map_err(TapError::Stdout)?;
        match batch.push(stream, &self.record)? {
            Some(file) => self.write_batch(&file),
            None => Ok(()),
        }
    }

    /// Closes the open batch files (after the last page) and sends their BATCH messages.
    fn finish_batches(&mut self) -> Result<(), TapError> {
        let Some(batch) = &mut self.batch else {
            return Ok(());
        };
        let files = batch.finish()?;
        files.iter().try_for_each(|file| self.write_batch(file))
    }

    fn write_batch(&mut self, file: &batch::SentFile) -> Result<(), TapError> {
        let version = self
            .versioned
            .contains(&file.stream)
            .then_some(self.version);
        messages::write_batch(
            &mut self.out,
            &file.stream,
            &file.encoding,
            std::slice::from_ref(&file.url),
            version,
        )
        .map_err(TapError::Stdout)
    }

    /// ACTIVATE_VERSION for each versioned stream that was sent whole. A version without records
    /// gets two (opening and closing it), so a target knows the stream is now empty.
    fn activate_versions(&mut self, stats: &RunStats, next: &ExtractState) -> Result<(), TapError> {
        let mut streams: Vec<&String> = self.versioned.iter().collect();
        streams.sort();
        for stream in streams {
            if !sent_whole(&self.specs[stream], stats, next) {
                continue;
            }
            let times = if self.counts.get(stream).copied().unwrap_or(0) == 0 {
                2
            } else {
                1
            };
            for _ in 0..times {
                messages::write_activate_version(&mut self.out, stream, self.version)
                    .map_err(TapError::Stdout)?;
            }
        }
        Ok(())
    }

    fn parts<'a>(&self, stream: &str, prefix: Option<&'a str>) -> RecordParts<'a> {
        RecordParts {
            prefix,
            suffix: None,
            version: self.versioned.contains(stream).then_some(self.version),
        }
    }

    fn schema(&mut self, spec: &StreamSpec) -> Result<(), TapError> {
        let schema = discover::json_schema(spec, self.names);
        let keys = discover::key_properties(spec, self.names);
        if let Some(batch) = &mut self.batch {
            batch.declare(&spec.stream, &schema);
        }
        messages::write_schema(&mut self.out, &spec.stream, &schema, &keys)
            .map_err(TapError::Stdout)
    }

    fn page(&mut self, page: &Page) -> Result<(), TapError> {
        let Some(spec) = self.specs.get(page.stream.as_ref()).cloned() else {
            return Ok(()); // a parent pulled in only for its ids
        };
        let time = messages::now();
        let stream = spec.stream.clone();
        let raw =
            self.names.for_stream(&spec) == FieldNames::Graph && page.format == PageFormat::Json;
        let rows = if raw {
            self.raw_page(spec, page, &time)?
        } else {
            self.decoded_page(page, &time)?
        };
        *self.counts.entry(stream).or_default() += rows;
        Ok(())
    }

    fn raw_page(&mut self, spec: StreamSpec, page: &Page, time: &str) -> Result<u64, TapError> {
        let envelope: Envelope<'_> =
            serde_json::from_slice(&page.body).map_err(|e| TapError::Page {
                stream: spec.stream.clone(),
                message: format!("page is not a Graph collection: {e}"),
            })?;
        // Each parent-key column with its id from the page's key, outermost first.
        let parent = page.parent.as_ref().map(|key| {
            let pairs: Vec<String> = spec
                .parent_columns()
                .iter()
                .zip(key.ids())
                .map(|(column, id)| {
                    format!(
                        "{}:{}",
                        serde_json::to_string(column).unwrap_or_default(),
                        serde_json::to_string(id).unwrap_or_default()
                    )
                })
                .collect();
            pairs.join(",")
        });
        let parent = parent.filter(|p| !p.is_empty());
        let deleted = format!("\"{}\":\"{time}\"", crate::target::schema::DELETED_AT);
        let tombstone = spec.incremental.tombstone();
        let mut rows = 0;
        for record in envelope.value {
            let text = record.get();
            let mut parts = self.parts(&spec.stream, parent.as_deref());
            if tombstone.is_some_and(|t| is_tombstone(text, t)) {
                parts.suffix = Some(&deleted);
            }
            self.record(&spec.stream, text, parts, time)?;
            rows += 1;
        }
        Ok(rows)
    }

    fn decoded_page(&mut self, page: &Page, time: &str) -> Result<u64, TapError> {
        let stream = page.stream.to_string();
        let page_error = |message: String| TapError::Page {
            stream: stream.clone(),
            message,
        };
        if !self.decoders.contains_key(&stream) {
            let spec = &self.specs[&stream];
            let decoder = PageDecoder::new(&spec.table()).map_err(|e| page_error(e.to_string()))?;
            self.decoders.insert(stream.clone(), decoder);
        }
        let decoded = self.decoders[&stream]
            .decode(&PageInput {
                parent: page.parent.clone(),
                body: page.body.clone(),
                chain_pages: page.chain_pages,
            })
            .map_err(|e| page_error(e.to_string()))?;
        // `_extra` (undeclared properties) is the landing's; records carry the declared columns.
        let batch = &decoded.batch;
        let keep: Vec<usize> = (0..batch.num_columns())
            .filter(|&i| batch.schema().field(i).name() != arrow_sink::EXTRA_COLUMN)
            .collect();
        let batch = batch
            .project(&keep)
            .map_err(|e| page_error(e.to_string()))?;
        let mut lines = Vec::new();
        {
            let mut json = arrow::json::LineDelimitedWriter::new(&mut lines);
            json.write(&batch).map_err(|e| page_error(e.to_string()))?;
            json.finish().map_err(|e| page_error(e.to_string()))?;
        }
        let deleted = format!("\"{}\":\"{time}\"", crate::target::schema::DELETED_AT);
        let mut rows = 0;
        for (i, line) in lines
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            let text = std::str::from_utf8(line).map_err(|e| page_error(e.to_string()))?;
            let mut parts = self.parts(&stream, None);
            if decoded.tombstones.get(i).copied().unwrap_or(false) {
                parts.suffix = Some(&deleted);
            }
            self.record(&stream, text, parts, time)?;
            rows += 1;
        }
        Ok(rows)
    }
}

/// Whether a Graph record marks a deletion: its `tombstone` property (`@removed`, drive items'
/// `deleted` facet) is present and not null. Only records that mention it are parsed.
fn is_tombstone(record: &str, tombstone: &str) -> bool {
    if !record.contains(&format!("\"{tombstone}\"")) {
        return false;
    }
    serde_json::from_str::<HashMap<String, &RawValue>>(record)
        .is_ok_and(|object| object.get(tombstone).is_some_and(|v| v.get() != "null"))
}

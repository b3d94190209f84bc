//! `target-parquet-arrow`: Singer messages on stdin -> arrow-sink -> partitioned Parquet.
//!
//! Two phases, so a broken input never leaves a manifest and a late or changed SCHEMA still gets
//! one table shape per stream:
//! 1. read every line, keep each stream's (merged) schema, spool RECORDs as page bodies, remember
//!    the latest STATE; any malformed line stops here with its line number (nothing written);
//! 2. one arrow-sink run over all streams: pages decoded on rayon, Parquet written, manifest last.
//!
//! The latest STATE is printed on stdout only after the run has committed (its manifest exists),
//! so a state Meltano stores never points past data that is not durably landed.

pub mod config;
pub mod input;
pub mod ordered;
pub mod schema;
pub mod spool;

use std::collections::BTreeMap;
use std::io::BufRead;

use arrow_sink::{Landing, Manifest, PageInput, SinkOptions, SinkRun};
use stream_spec::{Field, StreamSpec};

pub use config::TargetConfig;
use input::Message;
use spool::{PageLimits, Segment};

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("line {line}: {message}")]
    Input { line: u64, message: String },
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("opening output `{output}`: {source}")]
    Store {
        output: String,
        #[source]
        source: arrow_sink::StoreError,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the landing: {0}")]
    Write(#[from] arrow_sink::WriteError),
}

/// What a finished run did.
#[derive(Debug)]
pub struct TargetOutcome {
    /// `None` when the input had no SCHEMA at all (nothing to land, no run).
    pub manifest: Option<Manifest>,
    /// The latest STATE `value` (JSON text), printed after the commit.
    pub state: Option<String>,
    pub lines: u64,
}

struct StreamInput {
    table: String,
    fields: Vec<Field>,
    key_properties: Vec<String>,
    segments: Vec<Segment>,
}

/// Everything read in phase 1.
pub struct Spooled {
    streams: BTreeMap<String, StreamInput>,
    state: Option<String>,
    lines: u64,
}

/// Phase 1: reads Singer messages until EOF.
pub fn read_input(
    input: impl BufRead,
    spool_dir: &std::path::Path,
    limits: PageLimits,
) -> Result<Spooled, TargetError> {
    let mut reader = input;
    let mut streams: BTreeMap<String, StreamInput> = BTreeMap::new();
    let mut state = None;
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let read = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| TargetError::Io {
                what: format!("reading stdin after line {line_no}"),
                source,
            })?;
        if read == 0 {
            break;
        }
        line_no += 1;
        let line = buf.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let bad = |message: String| TargetError::Input {
            line: line_no,
            message,
        };
        match input::parse(line).map_err(|e| bad(e.to_string()))? {
            Message::Schema {
                stream,
                schema,
                key_properties,
            } => {
                let schema: ordered::Json = serde_json::from_str(schema.get())
                    .map_err(|e| bad(format!("SCHEMA `schema`: {e}")))?;
                let fields = schema::fields_of(&schema)
                    .map_err(|e| bad(format!("SCHEMA for `{stream}`: {e}")))?;
                let table = schema::table_name(&stream).map_err(|e| bad(e.to_string()))?;
                // Validate keys now, so the error names this line.
                schema::stream_spec(&table, &fields, &key_properties)
                    .map_err(|e| bad(format!("SCHEMA for `{stream}`: {e}")))?;
                match streams.get_mut(stream.as_ref()) {
                    Some(known) => {
                        if known.key_properties != key_properties {
                            return Err(bad(format!(
                                "SCHEMA for `{stream}` changes key_properties from {:?} to {:?}; \
                                 a stream's key cannot change within one run",
                                known.key_properties, key_properties
                            )));
                        }
                        if known.fields != fields {
                            tracing::info!(stream = %stream, line = line_no, "schema changed; merging");
                            known.fields = schema::merge_fields(&known.fields, &fields);
                        }
                    }
                    None => {
                        if let Some(other) = streams.values().find(|s| s.table == table) {
                            return Err(bad(format!(
                                "streams `{stream}` and another one both map to table `{}`",
                                other.table
                            )));
                        }
                        streams.insert(
                            stream.to_string(),
                            StreamInput {
                                table,
                                fields,
                                key_properties,
                                segments: Vec::new(),
                            },
                        );
                    }
                }
            }
            Message::Record {
                stream,
                record,
                version,
            } => {
                let known = streams.get_mut(stream.as_ref()).ok_or_else(|| {
                    bad(format!(
                        "RECORD for stream `{stream}` before any SCHEMA for it (a tap must send SCHEMA first)"
                    ))
                })?;
                let keyless = known.key_properties.is_empty();
                let segment = match known.segments.iter().position(|s| s.version == version) {
                    Some(i) => &mut known.segments[i],
                    None => {
                        let segment = Segment::create(spool_dir, version).map_err(|source| {
                            TargetError::Io {
                                what: format!("creating a spool file in {}", spool_dir.display()),
                                source,
                            }
                        })?;
                        known.segments.push(segment);
                        known.segments.last_mut().expect("just pushed")
                    }
                };
                segment
                    .push(record, keyless.then_some(line_no), limits)
                    .map_err(|source| TargetError::Io {
                        what: format!("spooling line {line_no}"),
                        source,
                    })?;
            }
            Message::State { value } => state = Some(value.get().to_string()),
            Message::ActivateVersion { stream, version } => {
                // Only that version of the table is to be visible: drop the others spooled so far.
                if let Some(known) = streams.get_mut(stream.as_ref()) {
                    known.segments.retain(|s| s.version == Some(version));
                }
            }
            Message::Other(kind) => {
                tracing::warn!(line = line_no, kind = %kind, "skipping a message type this target does not know");
            }
        }
    }
    Ok(Spooled {
        streams,
        state,
        lines: line_no,
    })
}

/// Phase 2: lands what was spooled in one arrow-sink run and returns its manifest.
pub async fn land(
    spooled: Spooled,
    landing: &Landing,
    options: SinkOptions,
) -> Result<TargetOutcome, TargetError> {
    let Spooled {
        streams,
        state,
        lines,
    } = spooled;
    if streams.is_empty() {
        return Ok(TargetOutcome {
            manifest: None,
            state,
            lines,
        });
    }
    let specs: Vec<StreamSpec> = streams
        .values()
        .map(|s| schema::stream_spec(&s.table, &s.fields, &s.key_properties))
        .collect::<Result<_, _>>()
        .map_err(|e| TargetError::Input {
            line: lines,
            message: e.to_string(),
        })?;
    let run = SinkRun::start(landing, &specs, options).await?;
    for input in streams.into_values() {
        let sender = run.sender(&input.table)?;
        let mut records = 0;
        for segment in input.segments {
            records += segment.records();
            let pages = segment.finish().map_err(|source| TargetError::Io {
                what: format!("finishing the spool of `{}`", input.table),
                source,
            })?;
            for i in 0..pages.len() {
                let body = pages.page(i).await.map_err(|source| TargetError::Io {
                    what: format!("reading the spool of `{}`", input.table),
                    source,
                })?;
                sender
                    .send(PageInput {
                        parent_id: None,
                        body,
                    })
                    .await?;
            }
        }
        tracing::info!(stream = %input.table, records, "queued");
    }
    let manifest = run.finish(Vec::new()).await?;
    Ok(TargetOutcome {
        manifest: Some(manifest),
        state,
        lines,
    })
}

/// Both phases with the config's landing and options.
pub async fn run(config: &TargetConfig, input: impl BufRead) -> Result<TargetOutcome, TargetError> {
    let landing = Landing::open_with_options(
        &config.output,
        config
            .store_options
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone())),
    )
    .map_err(|source| TargetError::Store {
        output: config.output.clone(),
        source,
    })?;
    let spool_dir = config.spool_dir();
    let spooled =
        tokio::task::block_in_place(|| read_input(input, &spool_dir, config.page_limits()))?;
    let threads = config.decode_threads.unwrap_or(0) as usize;
    let options = SinkOptions {
        decode_threads: threads,
        // Each page is up to `batch_bytes` of JSON: a few per decode thread keep every core busy.
        pages_in_flight: 2 * threads.max(available_cores()) + 2,
        ..SinkOptions::default()
    };
    land(spooled, &landing, options).await
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

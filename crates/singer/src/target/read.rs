//! Phase 1: Singer lines from stdin into per-stream schemas and spooled pages.
//!
//! Lines are read in blocks of a few MiB; each block's lines are parsed in parallel (rayon: JSON
//! validation is the costly part), then applied in input order, so the first error reported is
//! the first bad line and SCHEMA/RECORD ordering rules hold exactly as in a sequential read.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use stream_spec::Field;

use super::input::{self, Message};
use super::spool::{PageLimits, Segment};
use super::{TargetError, ordered, schema};

/// Bytes of input parsed per parallel step.
const BLOCK_BYTES: usize = 8 << 20;

pub(super) struct StreamInput {
    pub(super) table: String,
    pub(super) fields: Vec<Field>,
    pub(super) key_properties: Vec<String>,
    pub(super) segments: Vec<Segment>,
}

/// Everything read in phase 1.
pub struct Spooled {
    pub(super) streams: BTreeMap<String, StreamInput>,
    pub(super) state: Option<String>,
    pub(super) lines: u64,
}

/// Reads Singer messages until EOF. A malformed line is an error naming its line number.
pub fn read_input(
    mut input: impl BufRead,
    spool_dir: &Path,
    limits: PageLimits,
) -> Result<Spooled, TargetError> {
    let mut reader = Reader {
        spooled: Spooled {
            streams: BTreeMap::new(),
            state: None,
            lines: 0,
        },
        spool_dir: spool_dir.to_path_buf(),
        limits,
    };
    let mut block = Vec::with_capacity(BLOCK_BYTES + (1 << 20));
    let mut lines: Vec<(usize, usize)> = Vec::new();
    loop {
        block.clear();
        lines.clear();
        while block.len() < BLOCK_BYTES {
            let start = block.len();
            let read = input
                .read_until(b'\n', &mut block)
                .map_err(|source| TargetError::Io {
                    what: format!("reading stdin after line {}", reader.spooled.lines),
                    source,
                })?;
            if read == 0 {
                break;
            }
            lines.push((start, block.len()));
        }
        if lines.is_empty() {
            break;
        }
        // UTF-8 checked once per block (SIMD); a block that fails is parsed line by line below,
        // so the error still names the first bad line.
        let text = simdutf8::basic::from_utf8(&block).ok();
        let parsed: Vec<Option<Result<Message<'_>, input::InputError>>> = lines
            .par_iter()
            .map(|&(start, end)| match text {
                Some(text) => {
                    let line = text[start..end].trim_ascii();
                    (!line.is_empty()).then(|| input::parse_str(line))
                }
                None => {
                    let line = block[start..end].trim_ascii();
                    (!line.is_empty()).then(|| input::parse(line))
                }
            })
            .collect();
        for message in parsed {
            reader.spooled.lines += 1;
            let line = reader.spooled.lines;
            match message {
                None => {}
                Some(Ok(message)) => reader.apply(message, line)?,
                Some(Err(e)) => {
                    return Err(TargetError::Input {
                        line,
                        message: e.to_string(),
                    });
                }
            }
        }
    }
    Ok(reader.spooled)
}

struct Reader {
    spooled: Spooled,
    spool_dir: PathBuf,
    limits: PageLimits,
}

impl Reader {
    fn apply(&mut self, message: Message<'_>, line: u64) -> Result<(), TargetError> {
        let bad = |message: String| TargetError::Input { line, message };
        let streams = &mut self.spooled.streams;
        match message {
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
                // Validate the keys now, so the error names this line.
                schema::stream_spec(&table, &fields, &key_properties)
                    .map_err(|e| bad(format!("SCHEMA for `{stream}`: {e}")))?;
                if let Some(known) = streams.get_mut(stream.as_ref()) {
                    if known.key_properties != key_properties {
                        return Err(bad(format!(
                            "SCHEMA for `{stream}` changes key_properties from {:?} to {:?}; \
                             a stream's key cannot change within one run",
                            known.key_properties, key_properties
                        )));
                    }
                    if known.fields != fields {
                        tracing::info!(stream = %stream, line, "schema changed; merging");
                        known.fields = schema::merge_fields(&known.fields, &fields);
                    }
                    return Ok(());
                }
                if streams.values().any(|s| s.table == table) {
                    return Err(bad(format!(
                        "stream `{stream}` maps to table `{table}`, as another stream does"
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
                let index = match known.segments.iter().position(|s| s.version == version) {
                    Some(i) => i,
                    None => {
                        let segment =
                            Segment::create(&self.spool_dir, version).map_err(|source| {
                                TargetError::Io {
                                    what: format!(
                                        "creating a spool file in {}",
                                        self.spool_dir.display()
                                    ),
                                    source,
                                }
                            })?;
                        known.segments.push(segment);
                        known.segments.len() - 1
                    }
                };
                known.segments[index]
                    .push(record, keyless.then_some(line), self.limits)
                    .map_err(|source| TargetError::Io {
                        what: format!("spooling line {line}"),
                        source,
                    })?;
            }
            Message::State { value } => self.spooled.state = Some(value.get().to_string()),
            Message::ActivateVersion { stream, version } => {
                // Only that version of the table is to be visible: drop the others spooled so far.
                if let Some(known) = streams.get_mut(stream.as_ref()) {
                    known.segments.retain(|s| s.version == Some(version));
                }
            }
            Message::Other(kind) => {
                tracing::warn!(line, kind = %kind, "skipping a message type this target does not know");
            }
        }
        Ok(())
    }
}

//! Phase 1: Singer lines from stdin into per-stream schemas and spooled pages.
//!
//! Lines are read in blocks of a few MiB; each block's lines are parsed in parallel (rayon: JSON
//! validation is the costly part), then applied in input order, so the first error reported is
//! the first bad line and SCHEMA/RECORD ordering rules hold exactly as in a sequential read.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use stream_spec::Field;

use super::batch::BatchError;
use super::input::{self, Message};
use super::spool::{LineKey, PageLimits, Segment};
use super::{TargetError, keys, ordered, schema};

/// One non-empty line parsed, and its RECORD's key hash when the stream's keys were known.
type ParsedLine<'a> = (Result<Message<'a>, input::InputError>, Option<u128>);

/// Bytes of input parsed per parallel step.
const BLOCK_BYTES: usize = 8 << 20;

pub(super) struct StreamInput {
    pub(super) table: String,
    pub(super) fields: Vec<Field>,
    pub(super) key_properties: Vec<String>,
    pub(super) parent: Option<schema::ParentLink>,
    pub(super) segments: Vec<Segment>,
    /// An ACTIVATE_VERSION closed a version: the stream was sent whole, so keys it no longer has
    /// are deletes.
    pub(super) activated: bool,
    /// Versions an ACTIVATE_VERSION has opened.
    opened_versions: std::collections::HashSet<i64>,
}

/// Everything read in phase 1.
pub struct Spooled {
    pub(super) streams: BTreeMap<String, StreamInput>,
    pub(super) state: Option<String>,
    pub(super) lines: u64,
}

impl Spooled {
    /// Settles last-record-wins across each stream's segments (a later segment's record of a key
    /// replaces an earlier one's); within a segment it is settled as records are spooled.
    fn settle(&mut self) {
        for stream in self.streams.values_mut() {
            if stream.key_properties.is_empty() || stream.segments.len() < 2 {
                continue;
            }
            let mut later = std::collections::HashSet::new();
            for segment in stream.segments.iter_mut().rev() {
                segment.replaced_by_later(&mut later);
            }
        }
    }
}

/// Record versions spooled per stream at once: each is an open spool file, and a tap sends one
/// per full sync of the stream (ACTIVATE_VERSION drops the older ones).
pub const MAX_VERSIONS_PER_STREAM: usize = 256;

/// One id per target run for the key of keyless streams: sorts by time, unique across runs.
fn load_id() -> String {
    let at = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{at}-{}", &random[..8])
}

/// Reads Singer messages until EOF. A malformed line is an error naming its line number.
/// `max_line_bytes`: the longest line accepted, so input without newlines cannot fill memory.
/// `store_options`: for BATCH files in a store, as for the output.
pub fn read_input(
    mut input: impl BufRead,
    spool_dir: &Path,
    limits: PageLimits,
    max_line_bytes: u64,
    store_options: &BTreeMap<String, String>,
) -> Result<Spooled, TargetError> {
    let mut reader = Reader {
        spooled: Spooled {
            streams: BTreeMap::new(),
            state: None,
            lines: 0,
        },
        spool_dir: spool_dir.to_path_buf(),
        limits,
        load: load_id(),
        store_options: store_options.clone(),
    };
    let mut block = Vec::with_capacity(BLOCK_BYTES + (1 << 20));
    let mut lines: Vec<(usize, usize)> = Vec::new();
    loop {
        block.clear();
        lines.clear();
        while block.len() < BLOCK_BYTES {
            let start = block.len();
            let line = reader.spooled.lines + lines.len() as u64 + 1;
            // One byte over the cap tells a line at the cap from a longer one.
            let read = (&mut input)
                .take(max_line_bytes.saturating_add(1))
                .read_until(b'\n', &mut block)
                .map_err(|source| TargetError::Io {
                    what: format!("reading stdin at line {line}"),
                    source,
                })?;
            if read == 0 {
                break;
            }
            let content = block[start..].strip_suffix(b"\n").map_or(read, <[u8]>::len);
            if content as u64 > max_line_bytes {
                return Err(TargetError::Input {
                    line,
                    message: format!(
                        "the line is longer than {max_line_bytes} bytes (`max_line_bytes` in \
                         the target config raises the limit)"
                    ),
                });
            }
            lines.push((start, block.len()));
        }
        if lines.is_empty() {
            break;
        }
        // UTF-8 checked once per block (SIMD); a block that fails is parsed line by line below,
        // so the error still names the first bad line.
        let text = simdutf8::basic::from_utf8(&block).ok();
        // Keys of the streams known so far, so records' keys are hashed in parallel too.
        let known_keys: HashMap<&str, &[String]> = reader
            .spooled
            .streams
            .iter()
            .filter(|(_, s)| !s.key_properties.is_empty())
            .map(|(name, s)| (name.as_str(), s.key_properties.as_slice()))
            .collect();
        let parsed: Vec<Option<ParsedLine<'_>>> = lines
            .par_iter()
            .map(|&(start, end)| {
                let message = match text {
                    Some(text) => {
                        let line = text[start..end].trim_ascii();
                        (!line.is_empty()).then(|| input::parse_str(line))
                    }
                    None => {
                        let line = block[start..end].trim_ascii();
                        (!line.is_empty()).then(|| input::parse(line))
                    }
                }?;
                let key = match &message {
                    Ok(Message::Record { stream, record, .. }) => known_keys
                        .get(stream.as_ref())
                        .and_then(|keys| keys::record_key(record, keys)),
                    _ => None,
                };
                Some((message, key))
            })
            .collect();
        drop(known_keys);
        for message in parsed {
            reader.spooled.lines += 1;
            let line = reader.spooled.lines;
            match message {
                None => {}
                Some((Ok(message), key)) => reader.apply(message, key, line)?,
                Some((Err(e), _)) => {
                    return Err(TargetError::Input {
                        line,
                        message: e.to_string(),
                    });
                }
            }
        }
    }
    reader.spooled.settle();
    Ok(reader.spooled)
}

struct Reader {
    spooled: Spooled,
    spool_dir: PathBuf,
    limits: PageLimits,
    load: String,
    store_options: BTreeMap<String, String>,
}

/// Where one record came from, for its error messages and, in a keyless stream, its key.
struct Origin<'a> {
    /// The input line of its RECORD or BATCH message.
    line: u64,
    /// `_input_load`: the load id, with `/<line>.<file>` for a record of a BATCH file.
    load: &'a str,
    /// `_input_line`: the RECORD's line, or the record's row in its BATCH file.
    row: u64,
}

impl Reader {
    fn apply(
        &mut self,
        message: Message<'_>,
        key: Option<u128>,
        line: u64,
    ) -> Result<(), TargetError> {
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
                let parent = schema::parent_of(&schema)
                    .map_err(|e| bad(format!("SCHEMA for `{stream}`: {e}")))?;
                // Validate the keys and the parent now, so the error names this line.
                schema::table(&table, &fields, &key_properties, parent.as_ref())
                    .map_err(|e| bad(format!("SCHEMA for `{stream}`: {e}")))?;
                if let Some(known) = streams.get_mut(stream.as_ref()) {
                    if known.key_properties != key_properties {
                        return Err(bad(format!(
                            "SCHEMA for `{stream}` changes key_properties from {:?} to {:?}; \
                             a stream's key cannot change within one run",
                            known.key_properties, key_properties
                        )));
                    }
                    if known.parent != parent {
                        return Err(bad(format!(
                            "SCHEMA for `{stream}` changes its `x-parent` within one run"
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
                        parent,
                        segments: Vec::new(),
                        activated: false,
                        opened_versions: Default::default(),
                    },
                );
            }
            Message::Record {
                stream,
                record,
                version,
            } => {
                let origin = Origin {
                    line,
                    load: &self.load,
                    row: line,
                };
                push(
                    streams,
                    (&self.spool_dir, self.limits),
                    &stream,
                    record,
                    version,
                    key,
                    origin,
                )?;
            }
            Message::Batch {
                stream,
                encoding,
                manifest,
                version,
            } => {
                if !streams.contains_key(stream.as_ref()) {
                    return Err(bad(format!(
                        "BATCH for stream `{stream}` before any SCHEMA for it (a tap must send SCHEMA first)"
                    )));
                }
                for (file, url) in manifest.iter().enumerate() {
                    let load = format!("{}/{line}.{}", self.load, file + 1);
                    let spool = (self.spool_dir.as_path(), self.limits);
                    let read = super::batch::for_each_record(
                        url,
                        encoding.format,
                        &self.store_options,
                        |record, row| {
                            let origin = Origin {
                                line,
                                load: &load,
                                row,
                            };
                            push(streams, spool, &stream, record, version, None, origin)
                        },
                    );
                    match read {
                        Ok(()) => {}
                        Err(BatchError::Record(error)) => return Err(error),
                        Err(BatchError::File(why)) => {
                            let url = arrow_sink::redact_location(url);
                            return Err(bad(format!("BATCH file {url}: {why}")));
                        }
                    }
                }
            }
            Message::State { value } => self.spooled.state = Some(value.get().to_string()),
            Message::ActivateVersion { stream, version } => {
                let Some(known) = streams.get_mut(stream.as_ref()) else {
                    tracing::warn!(line, stream = %stream, "ACTIVATE_VERSION for a stream without SCHEMA; ignored");
                    return Ok(());
                };
                // Only that version of the table is to be visible: drop the others spooled so far.
                known.segments.retain(|s| s.version == Some(version));
                // Taps send it before a version's records and again after the last one. Only the
                // second says the stream was sent whole (a tap that dies midway never sends it),
                // so only then are keys the version lacks deleted.
                if !known.opened_versions.insert(version) || !known.segments.is_empty() {
                    known.activated = true;
                }
            }
            Message::Other(kind) => {
                tracing::warn!(line, kind = %kind, "skipping a message type this target does not know");
            }
        }
        Ok(())
    }
}

/// Spools one record of `stream` (a RECORD's, or a row of a BATCH file): its key hashed unless
/// `key` already is, into the segment of its table version.
fn push(
    streams: &mut BTreeMap<String, StreamInput>,
    (spool_dir, limits): (&Path, PageLimits),
    stream: &str,
    record: &str,
    version: Option<i64>,
    key: Option<u128>,
    origin: Origin<'_>,
) -> Result<(), TargetError> {
    let line = origin.line;
    let bad = |message: String| TargetError::Input { line, message };
    let known = streams.get_mut(stream).ok_or_else(|| {
        bad(format!(
            "RECORD for stream `{stream}` before any SCHEMA for it (a tap must send SCHEMA first)"
        ))
    })?;
    let keyless = known.key_properties.is_empty();
    // A stream whose SCHEMA came in this block: its keys were not known in parallel.
    let key = match key {
        Some(key) => Some(key),
        None if keyless => None,
        None => Some(
            keys::record_key(record, &known.key_properties)
                .ok_or_else(|| bad("RECORD `record` must be a JSON object".into()))?,
        ),
    };
    let index = match known.segments.iter().position(|s| s.version == version) {
        Some(i) => i,
        None if known.segments.len() >= MAX_VERSIONS_PER_STREAM => {
            return Err(bad(format!(
                "RECORD for `{stream}` opens a version beyond the {MAX_VERSIONS_PER_STREAM} \
                 this target holds per stream in one run (each is a spool file); a tap \
                 sends one `version` per full sync of a stream"
            )));
        }
        None => {
            let segment =
                Segment::create(spool_dir, version).map_err(|source| TargetError::Io {
                    what: format!("creating a spool file in {}", spool_dir.display()),
                    source,
                })?;
            known.segments.push(segment);
            known.segments.len() - 1
        }
    };
    let line_key = keyless.then_some(LineKey {
        load: origin.load,
        line: origin.row,
    });
    known.segments[index]
        .push(record, line_key, key, limits)
        .map_err(|source| TargetError::Io {
            what: format!("spooling line {line}"),
            source,
        })
}

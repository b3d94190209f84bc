//! Phase 1: Singer lines from stdin into per-stream schemas and spooled pages.
//!
//! Lines are read in blocks of a few MiB, in a pipeline of three stages that overlap: while
//! block N is applied (spooled, in input order, on the calling thread), block N+1 is parsed in
//! parallel (rayon: JSON validation and key hashing are the costly part) and block N+2 is read.
//! Blocks are applied in input order, so the first error reported is the first bad line and
//! SCHEMA/RECORD ordering rules hold exactly as in a sequential read.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use stream_spec::Field;

use super::batch::BatchError;
use super::input::{self, Message};
use super::spool::{LineKey, PageLimits, Segment};
use super::{TargetError, keys, ordered, schema};

/// Bytes of input per block: three blocks are in the pipeline at once.
const BLOCK_BYTES: usize = 4 << 20;

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

/// Whole lines of input, as read.
struct Block {
    /// The block's text; the raw bytes when it is not all UTF-8 (then it is parsed line by line
    /// as it is applied, so the error names the first bad line).
    text: Result<String, Vec<u8>>,
    /// Each line's span, its newline included.
    lines: Vec<(usize, usize)>,
}

impl Block {
    /// The block's buffer, emptied, for reading another block into.
    fn into_buffer(self) -> Vec<u8> {
        let mut buffer = match self.text {
            Ok(text) => text.into_bytes(),
            Err(bytes) => bytes,
        };
        buffer.clear();
        buffer
    }
}

/// What one read gave: the lines read, and the error that stopped it (raised once the lines
/// before it have been applied, so an earlier bad line is still the one named).
#[derive(Default)]
struct ReadOutcome {
    block: Option<Block>,
    error: Option<TargetError>,
}

/// Reads the lines after line `lines_before` into `buffer` until it holds `block_bytes`;
/// no block at EOF.
fn read_block(
    input: &mut impl BufRead,
    mut buffer: Vec<u8>,
    lines_before: u64,
    (max_line_bytes, block_bytes): (u64, usize),
) -> ReadOutcome {
    buffer.clear();
    buffer.reserve(block_bytes + (1 << 20));
    let mut lines = Vec::new();
    let mut error = None;
    while buffer.len() < block_bytes {
        let start = buffer.len();
        let line = lines_before + lines.len() as u64 + 1;
        // One byte over the cap tells a line at the cap from a longer one.
        let read = (&mut *input)
            .take(max_line_bytes.saturating_add(1))
            .read_until(b'\n', &mut buffer);
        let read = match read {
            Ok(0) => break,
            Ok(read) => read,
            Err(source) => {
                buffer.truncate(start);
                error = Some(TargetError::Io {
                    what: format!("reading stdin at line {line}"),
                    source,
                });
                break;
            }
        };
        let content = buffer[start..]
            .strip_suffix(b"\n")
            .map_or(read, <[u8]>::len);
        if content as u64 > max_line_bytes {
            buffer.truncate(start);
            error = Some(TargetError::Input {
                line,
                message: format!(
                    "the line is longer than {max_line_bytes} bytes (`max_line_bytes` in \
                     the target config raises the limit)"
                ),
            });
            break;
        }
        lines.push((start, buffer.len()));
    }
    let block = (!lines.is_empty()).then(|| Block {
        text: String::from_utf8(buffer).map_err(|e| e.into_bytes()),
        lines,
    });
    ReadOutcome { block, error }
}

/// A span of a block's text.
#[derive(Debug, Clone, Copy)]
struct Span(usize, usize);

impl Span {
    /// Where `part`, a slice of `text`, sits in it.
    fn of(text: &str, part: &str) -> Self {
        let start = part.as_ptr() as usize - text.as_ptr() as usize;
        Span(start, start + part.len())
    }

    fn get(self, text: &str) -> &str {
        &text[self.0..self.1]
    }
}

/// One line of a block, parsed: RECORDs (nearly every line) as spans of the block's text with
/// their key hash when the stream's keys were known; other messages are parsed again when
/// applied (they are few).
enum Parsed {
    Empty,
    Record {
        /// The stream's name as written, or unescaped when it holds escapes.
        stream: Result<Span, String>,
        record: Span,
        version: Option<i64>,
        key: Option<u128>,
    },
    Other,
    Error(input::InputError),
}

/// Parses a block's lines in parallel; nothing for a block that is not UTF-8.
fn parse_block(block: &Block, known_keys: &HashMap<String, Vec<String>>) -> Vec<Parsed> {
    let Ok(text) = &block.text else {
        return Vec::new();
    };
    block
        .lines
        .par_iter()
        .map(|&(start, end)| {
            let line = text[start..end].trim_ascii();
            if line.is_empty() {
                return Parsed::Empty;
            }
            match input::parse_str(line) {
                Ok(Message::Record {
                    stream,
                    record,
                    version,
                }) => {
                    let key = known_keys
                        .get(stream.as_ref())
                        .and_then(|keys| keys::record_key(record, keys));
                    let stream = match stream {
                        std::borrow::Cow::Borrowed(name) => Ok(Span::of(text, name)),
                        std::borrow::Cow::Owned(name) => Err(name),
                    };
                    Parsed::Record {
                        stream,
                        record: Span::of(text, record),
                        version,
                        key,
                    }
                }
                Ok(_) => Parsed::Other,
                Err(e) => Parsed::Error(e),
            }
        })
        .collect()
}

/// Reads Singer messages until EOF. A malformed line is an error naming its line number.
/// `max_line_bytes`: the longest line accepted, so input without newlines cannot fill memory.
/// `store_options`: for BATCH files in a store, as for the output.
pub fn read_input(
    input: impl BufRead + Send,
    spool_dir: &Path,
    limits: PageLimits,
    max_line_bytes: u64,
    store_options: &BTreeMap<String, String>,
) -> Result<Spooled, TargetError> {
    let read = (max_line_bytes, BLOCK_BYTES);
    read_in_blocks(input, spool_dir, limits, read, store_options)
}

/// [`read_input`] with blocks of `block_bytes` (tests make them a line or two).
fn read_in_blocks(
    mut input: impl BufRead + Send,
    spool_dir: &Path,
    limits: PageLimits,
    read_limits: (u64, usize),
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
    let mut lines_read = 0;
    let mut next = read_block(&mut input, Vec::new(), lines_read, read_limits);
    let mut parsed: Option<(Block, Vec<Parsed>)> = None;
    // The error that stopped the read right after the `parsed` block.
    let mut error_after_parsed = None;
    let mut spare = Vec::new();
    loop {
        let ReadOutcome {
            block: to_parse,
            error: read_error,
        } = std::mem::take(&mut next);
        if to_parse.is_none() && parsed.is_none() && read_error.is_none() {
            break;
        }
        if let Some(block) = &to_parse {
            lines_read += block.lines.len() as u64;
        }
        // Keys of the streams known so far, so records' keys are hashed in parallel too (a
        // SCHEMA in the block being applied is not seen: its records are hashed when applied).
        let known_keys: HashMap<String, Vec<String>> = reader
            .spooled
            .streams
            .iter()
            .filter(|(_, s)| !s.key_properties.is_empty())
            .map(|(name, s)| (name.clone(), s.key_properties.clone()))
            .collect();
        let mut parsed_next = Vec::new();
        let buffer = std::mem::take(&mut spare);
        let applied = rayon::in_place_scope(|scope| {
            if let Some(block) = &to_parse {
                scope.spawn(|_| parsed_next = parse_block(block, &known_keys));
                if read_error.is_none() {
                    scope.spawn(|_| next = read_block(&mut input, buffer, lines_read, read_limits));
                }
            }
            // Applied here, on the caller's thread (inside the runtime: BATCH files are
            // fetched through it).
            parsed.take().map(|(block, lines)| {
                let applied = reader.apply_block(&block, lines);
                (applied, block.into_buffer())
            })
        });
        if let Some((applied, buffer)) = applied {
            applied?;
            spare = buffer;
        }
        if let Some(e) = error_after_parsed.take() {
            return Err(e);
        }
        match to_parse {
            Some(block) => {
                parsed = Some((block, parsed_next));
                error_after_parsed = read_error;
            }
            None => {
                if let Some(e) = read_error {
                    return Err(e);
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
    /// Applies a block's lines in order: `parsed` as [`parse_block`] gave them.
    fn apply_block(&mut self, block: &Block, parsed: Vec<Parsed>) -> Result<(), TargetError> {
        let text = match &block.text {
            Ok(text) => text,
            Err(bytes) => {
                for &(start, end) in &block.lines {
                    self.spooled.lines += 1;
                    let line = self.spooled.lines;
                    let bytes = bytes[start..end].trim_ascii();
                    if bytes.is_empty() {
                        continue;
                    }
                    let message = input::parse(bytes).map_err(|e| TargetError::Input {
                        line,
                        message: e.to_string(),
                    })?;
                    self.apply(message, None, line)?;
                }
                return Ok(());
            }
        };
        for (parsed, &(start, end)) in parsed.into_iter().zip(&block.lines) {
            self.spooled.lines += 1;
            let line = self.spooled.lines;
            let message = match parsed {
                Parsed::Empty => continue,
                Parsed::Record {
                    stream,
                    record,
                    version,
                    key,
                } => {
                    let stream = match stream {
                        Ok(span) => std::borrow::Cow::Borrowed(span.get(text)),
                        Err(name) => std::borrow::Cow::Owned(name),
                    };
                    let record = Message::Record {
                        stream,
                        record: record.get(text),
                        version,
                    };
                    self.apply(record, key, line)?;
                    continue;
                }
                Parsed::Other => input::parse_str(text[start..end].trim_ascii()),
                Parsed::Error(e) => Err(e),
            };
            let message = message.map_err(|e| TargetError::Input {
                line,
                message: e.to_string(),
            })?;
            self.apply(message, None, line)?;
        }
        Ok(())
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: PageLimits = PageLimits {
        records: 3,
        bytes: 1 << 20,
    };

    fn schema(stream: &str) -> String {
        format!(
            r#"{{"type":"SCHEMA","stream":"{stream}","key_properties":["id"],"schema":{{"type":"object","properties":{{"id":{{"type":"string"}},"v":{{"type":"integer"}}}}}}}}"#
        )
    }

    fn record(stream: &str, id: u32, v: u32) -> String {
        format!(r#"{{"type":"RECORD","stream":"{stream}","record":{{"id":"{id}","v":{v}}}}}"#)
    }

    /// Each stream's landing records, in spool order, and the state.
    async fn landed(spooled: Spooled) -> (BTreeMap<String, Vec<String>>, Option<String>, u64) {
        let mut out = BTreeMap::new();
        for (name, stream) in spooled.streams {
            let mut lines = Vec::new();
            for segment in stream.segments {
                let pages = segment.finish().unwrap();
                for i in 0..pages.len() {
                    if let Some(body) = pages.page(i).await.unwrap() {
                        let text = String::from_utf8(body.to_vec()).unwrap();
                        lines.extend(text.lines().map(str::to_string));
                    }
                }
            }
            out.insert(name, lines);
        }
        (out, spooled.state, spooled.lines)
    }

    fn read(input: &str, block_bytes: usize) -> Result<Spooled, TargetError> {
        let dir = std::env::temp_dir();
        let limits = (1024, block_bytes);
        read_in_blocks(input.as_bytes(), &dir, LIMITS, limits, &BTreeMap::new())
    }

    #[tokio::test]
    async fn blocks_of_a_line_or_two_spool_what_one_block_does() {
        // A second stream whose SCHEMA comes mid-input (its keys unknown to the parse of the
        // next block), keys repeated across blocks, escapes in a stream name, blank lines, a
        // STATE between records.
        let mut lines = vec![schema("a")];
        for i in 0..40 {
            lines.push(record("a", i % 7, i));
            if i == 11 {
                lines.push(schema("b"));
                lines.push(String::new());
                lines.push(r#"{"type":"STATE","value":{"at":11}}"#.to_string());
            }
            if i > 11 {
                lines.push(record("b", i % 5, i));
                lines.push(
                    record(r"b", i % 3, i).replace(r#""stream":"b""#, r#""stream":"\u0062""#),
                );
            }
        }
        let input = lines.join("\n") + "\n";
        let whole = landed(read(&input, 1 << 20).unwrap()).await;
        for block_bytes in [1, 60, 200] {
            let piecewise = landed(read(&input, block_bytes).unwrap()).await;
            assert_eq!(piecewise, whole, "blocks of {block_bytes} bytes");
        }
        assert_eq!(whole.0["a"].len(), 7, "the last record of each key");
        assert_eq!(whole.0["b"].len(), 5);
        assert_eq!(whole.1.as_deref(), Some(r#"{"at":11}"#));
    }

    #[test]
    fn the_first_bad_line_is_named_whatever_the_blocks() {
        let good = record("a", 1, 1);
        let long = format!(
            r#"{{"type":"RECORD","stream":"a","record":{{"id":"{}"}}}}"#,
            "x".repeat(2000)
        );
        let cases = [
            // (lines, the line the error names)
            (
                vec![schema("a"), good.clone(), "{not json".into(), long.clone()],
                3,
            ),
            (
                vec![schema("a"), good.clone(), long.clone(), "{not json".into()],
                3,
            ),
            (
                vec![schema("a"), good.clone(), good.clone(), good.clone(), long],
                5,
            ),
            (vec![schema("a"), good.clone(), record("c", 1, 1)], 3),
        ];
        for (lines, bad) in cases {
            let input = lines.join("\n") + "\n";
            for block_bytes in [1, 100, 1 << 20] {
                match read(&input, block_bytes) {
                    Err(TargetError::Input { line, .. }) => {
                        assert_eq!(line, bad, "blocks of {block_bytes} bytes: {lines:?}")
                    }
                    Err(other) => panic!("{other}"),
                    Ok(_) => panic!("blocks of {block_bytes} bytes read {lines:?}"),
                }
            }
        }
    }
}

//! RECORDs of one stream (and one table version) spooled to an unnamed temporary file, already
//! grouped into page bodies of record lines (one JSON object per line) that arrow-sink decodes as
//! they are, with no envelope around them.
//!
//! Spooling lets the run start once every stream's final schema is known (a SCHEMA may arrive
//! late or change mid-stream) and keeps memory flat however long the input is; the pages are then
//! read back with positional reads and decoded many records at a time on the sink's rayon pool.
//!
//! Within a run the last record for a key wins: a segment remembers each key's latest record
//! (16-byte key hash and its ordinal) and marks the ones it replaces; pages holding a replaced
//! record are rewritten without it as they are read back.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

/// Ends each record: a RECORD's text came from one input line, so it holds no raw newline.
const LINE_END: &[u8] = b"\n";

/// When a page is closed: whichever limit is reached first.
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    /// Records per page at most.
    pub records: usize,
    /// Bytes of record lines per page: the page closes once it reaches this.
    pub bytes: u64,
}

/// Where a keyless record's key comes from: the target run's load id and the input line.
#[derive(Debug, Clone, Copy)]
pub struct LineKey<'a> {
    /// The target run's load id (`_input_load`).
    pub load: &'a str,
    /// The record's input line number (`_input_line`).
    pub line: u64,
}

/// One stream's (and table version's) spooled RECORDs, being written.
pub struct Segment {
    /// The table version its RECORDs carried (`None`: no version).
    pub version: Option<i64>,
    writer: BufWriter<File>,
    written: u64,
    page_start: u64,
    page_records: usize,
    pages: Vec<PageSpan>,
    records: u64,
    /// Per key hash, the ordinal of the key's latest record (keyed streams).
    latest: HashMap<u128, u64>,
    replaced: Replaced,
}

#[derive(Debug, Clone, Copy)]
struct PageSpan {
    offset: u64,
    len: u64,
    first_record: u64,
    records: u64,
}

/// Ordinals of records a later record with the same key replaced: one bit per record.
#[derive(Debug, Default, Clone)]
pub struct Replaced {
    words: Vec<u64>,
    count: u64,
}

impl Replaced {
    fn insert(&mut self, ordinal: u64) {
        let (word, bit) = ((ordinal / 64) as usize, ordinal % 64);
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        if self.words[word] & (1 << bit) == 0 {
            self.words[word] |= 1 << bit;
            self.count += 1;
        }
    }

    /// Whether the record of this ordinal (from 0, in push order) was replaced.
    pub fn contains(&self, ordinal: u64) -> bool {
        let (word, bit) = ((ordinal / 64) as usize, ordinal % 64);
        self.words.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    fn any_in(&self, first: u64, count: u64) -> bool {
        self.count > 0 && (first..first + count).any(|o| self.contains(o))
    }
}

impl Segment {
    /// A segment in a fresh unnamed temporary file under `dir` (removed when dropped).
    pub fn create(dir: &Path, version: Option<i64>) -> io::Result<Self> {
        Ok(Self {
            version,
            writer: BufWriter::with_capacity(1 << 20, tempfile::tempfile_in(dir)?),
            written: 0,
            page_start: 0,
            page_records: 0,
            pages: Vec::new(),
            records: 0,
            latest: HashMap::new(),
            replaced: Replaced::default(),
        })
    }

    /// Records pushed so far, replaced ones included.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Appends one record (a JSON object's text). With `line`, the record gets the key columns
    /// of keyless streams (`"_input_load": …, "_input_line": …`) as its first properties; with
    /// `key` (the hash of a keyed record's key), it replaces the segment's earlier record of
    /// that key.
    pub fn push(
        &mut self,
        record: &str,
        line: Option<LineKey<'_>>,
        key: Option<u128>,
        limits: PageLimits,
    ) -> io::Result<()> {
        if let Some(key) = key
            && let Some(earlier) = self.latest.insert(key, self.records)
        {
            self.replaced.insert(earlier);
        }
        if self.page_records == 0 {
            self.page_start = self.written;
        }
        match line {
            None => self.write(record.as_bytes())?,
            Some(LineKey { load, line }) => {
                let rest = &record[1..];
                let sep = if rest.trim_start().starts_with('}') {
                    ""
                } else {
                    ","
                };
                let head = format!(
                    "{{\"{}\":\"{load}\",\"{}\":{line}{sep}",
                    super::schema::LOAD_COLUMN,
                    super::schema::LINE_COLUMN
                );
                self.write(head.as_bytes())?;
                self.write(rest.as_bytes())?;
            }
        }
        self.write(LINE_END)?;
        self.page_records += 1;
        self.records += 1;
        if self.page_records >= limits.records || self.written - self.page_start >= limits.bytes {
            self.close_page()?;
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn close_page(&mut self) -> io::Result<()> {
        if self.page_records == 0 {
            return Ok(());
        }
        self.pages.push(PageSpan {
            offset: self.page_start,
            len: self.written - self.page_start,
            first_record: self.records - self.page_records as u64,
            records: self.page_records as u64,
        });
        self.page_records = 0;
        Ok(())
    }

    /// Marks this segment's records of keys a later segment also holds as replaced, and adds
    /// this segment's keys to `later` (call on segments last to first).
    pub fn replaced_by_later(&mut self, later: &mut HashSet<u128>) {
        for (key, &ordinal) in &self.latest {
            if !later.insert(*key) {
                self.replaced.insert(ordinal);
            }
        }
    }

    /// Records that land: spooled, less those replaced by a later record of the same key.
    pub fn landing_records(&self) -> u64 {
        self.records - self.replaced.count
    }

    /// Closes the last page and hands the file over for reading.
    pub fn finish(mut self) -> io::Result<SpooledPages> {
        self.close_page()?;
        let file = self.writer.into_inner().map_err(|e| e.into_error())?;
        Ok(SpooledPages {
            file: Arc::new(file),
            pages: self.pages,
            replaced: Arc::new(self.replaced),
        })
    }
}

/// A finished segment: page bodies by position.
pub struct SpooledPages {
    file: Arc<File>,
    pages: Vec<PageSpan>,
    replaced: Arc<Replaced>,
}

impl SpooledPages {
    /// Pages spooled.
    pub fn len(&self) -> usize {
        self.pages.len()
    }

    /// Whether no page was spooled.
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    /// Reads page `i` on a blocking thread, without the records later ones replaced; `None`
    /// when every record of the page was replaced.
    pub async fn page(&self, i: usize) -> io::Result<Option<Bytes>> {
        let span = self.pages[i];
        let file = Arc::clone(&self.file);
        let replaced = Arc::clone(&self.replaced);
        tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; span.len as usize];
            file.read_exact_at(&mut buf, span.offset)?;
            if !replaced.any_in(span.first_record, span.records) {
                return Ok(Some(Bytes::from(buf)));
            }
            without_replaced(&buf, span.first_record, &replaced)
        })
        .await
        .map_err(io::Error::other)?
    }
}

/// The page's lines less those of replaced records (line `i` is record `first + i`).
fn without_replaced(body: &[u8], first: u64, replaced: &Replaced) -> io::Result<Option<Bytes>> {
    let mut out = Vec::with_capacity(body.len());
    let records = body.strip_suffix(LINE_END).unwrap_or(body);
    for (i, record) in records.split(|&b| b == b'\n').enumerate() {
        if !replaced.contains(first + i as u64) {
            out.extend_from_slice(record);
            out.extend_from_slice(LINE_END);
        }
    }
    Ok((!out.is_empty()).then(|| Bytes::from(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pages_are_record_lines_split_at_the_limits() {
        let dir = tempfile::tempdir().unwrap();
        let mut segment = Segment::create(dir.path(), None).unwrap();
        let limits = PageLimits {
            records: 2,
            bytes: 1 << 20,
        };
        let line = |line| Some(LineKey { load: "L", line });
        segment.push(r#"{"a":1}"#, None, None, limits).unwrap();
        segment.push(r#"{"a":2}"#, line(7), None, limits).unwrap();
        segment.push(r#"{ }"#, line(9), None, limits).unwrap();
        assert_eq!(segment.records(), 3);
        let pages = segment.finish().unwrap();
        assert_eq!(pages.len(), 2);
        let first = pages.page(0).await.unwrap().unwrap();
        assert_eq!(
            &first[..],
            b"{\"a\":1}\n{\"_input_load\":\"L\",\"_input_line\":7,\"a\":2}\n"
        );
        let second = pages.page(1).await.unwrap().unwrap();
        assert_eq!(&second[..], b"{\"_input_load\":\"L\",\"_input_line\":9 }\n");
        let parsed: serde_json::Value = serde_json::from_slice(&second).unwrap();
        assert_eq!(parsed["_input_line"], 9);
    }

    #[tokio::test]
    async fn the_last_record_of_a_key_wins_within_and_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let limits = PageLimits {
            records: 2,
            bytes: 1 << 20,
        };
        let mut first = Segment::create(dir.path(), Some(1)).unwrap();
        first
            .push(r#"{"k":1,"v":"a"}"#, None, Some(1), limits)
            .unwrap();
        first
            .push(r#"{"k":2,"v":"b"}"#, None, Some(2), limits)
            .unwrap();
        first
            .push(r#"{"k":1,"v":"c"}"#, None, Some(1), limits)
            .unwrap();
        first
            .push(r#"{"k":3,"v":"d"}"#, None, Some(3), limits)
            .unwrap();
        let mut second = Segment::create(dir.path(), Some(2)).unwrap();
        second
            .push(r#"{"k":3,"v":"e"}"#, None, Some(3), limits)
            .unwrap();
        let mut later = HashSet::new();
        second.replaced_by_later(&mut later);
        first.replaced_by_later(&mut later);
        assert_eq!((first.landing_records(), second.landing_records()), (2, 1));
        let pages = first.finish().unwrap();
        let page = pages.page(0).await.unwrap().unwrap();
        assert_eq!(&page[..], b"{\"k\":2,\"v\":\"b\"}\n");
        let page = pages.page(1).await.unwrap().unwrap();
        assert_eq!(&page[..], b"{\"k\":1,\"v\":\"c\"}\n");
        let pages = second.finish().unwrap();
        assert!(pages.page(0).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_byte_limit_closes_pages_early() {
        let dir = tempfile::tempdir().unwrap();
        let mut segment = Segment::create(dir.path(), Some(1)).unwrap();
        let limits = PageLimits {
            records: 1000,
            bytes: 10,
        };
        for _ in 0..3 {
            segment
                .push(r#"{"long":"xxxxxxxx"}"#, None, None, limits)
                .unwrap();
        }
        assert_eq!(segment.finish().unwrap().len(), 3);
    }
}

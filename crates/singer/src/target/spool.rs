//! RECORDs of one stream (and one table version) spooled to an unnamed temporary file, already
//! grouped into page bodies `{"value":[r1,r2,…]}` that arrow-sink decodes as Graph pages.
//!
//! Spooling lets the run start once every stream's final schema is known (a SCHEMA may arrive
//! late or change mid-stream) and keeps memory flat however long the input is; the pages are then
//! read back with positional reads and decoded many records at a time on the sink's rayon pool.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

const PAGE_OPEN: &[u8] = b"{\"value\":[";
const PAGE_CLOSE: &[u8] = b"]}";

/// When a page is closed: whichever limit is reached first.
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    pub records: usize,
    pub bytes: u64,
}

pub struct Segment {
    /// The table version its RECORDs carried (`None`: no version).
    pub version: Option<i64>,
    writer: BufWriter<File>,
    written: u64,
    page_start: u64,
    page_records: usize,
    pages: Vec<(u64, u64)>,
    records: u64,
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
        })
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    /// Appends one record (a JSON object's text). With `line`, the record gets the key column
    /// of keyless streams (`"_input_line": line`) as its first property.
    pub fn push(&mut self, record: &str, line: Option<u64>, limits: PageLimits) -> io::Result<()> {
        if self.page_records == 0 {
            self.page_start = self.written;
            self.write(PAGE_OPEN)?;
        } else {
            self.write(b",")?;
        }
        match line {
            None => self.write(record.as_bytes())?,
            Some(line) => {
                let rest = &record[1..];
                let sep = if rest.trim_start().starts_with('}') {
                    ""
                } else {
                    ","
                };
                let head = format!("{{\"{}\":{line}{sep}", super::schema::LINE_COLUMN);
                self.write(head.as_bytes())?;
                self.write(rest.as_bytes())?;
            }
        }
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
        self.write(PAGE_CLOSE)?;
        self.pages
            .push((self.page_start, self.written - self.page_start));
        self.page_records = 0;
        Ok(())
    }

    /// Closes the last page and hands the file over for reading.
    pub fn finish(mut self) -> io::Result<SpooledPages> {
        self.close_page()?;
        let file = self.writer.into_inner().map_err(|e| e.into_error())?;
        Ok(SpooledPages {
            file: Arc::new(file),
            pages: self.pages,
        })
    }
}

/// A finished segment: page bodies by position.
pub struct SpooledPages {
    file: Arc<File>,
    pages: Vec<(u64, u64)>,
}

impl SpooledPages {
    pub fn len(&self) -> usize {
        self.pages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    /// Reads page `i` on a blocking thread.
    pub async fn page(&self, i: usize) -> io::Result<Bytes> {
        let (offset, len) = self.pages[i];
        let file = Arc::clone(&self.file);
        tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; len as usize];
            file.read_exact_at(&mut buf, offset)?;
            Ok(Bytes::from(buf))
        })
        .await
        .map_err(io::Error::other)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pages_are_valid_collection_bodies_split_at_the_limits() {
        let dir = tempfile::tempdir().unwrap();
        let mut segment = Segment::create(dir.path(), None).unwrap();
        let limits = PageLimits {
            records: 2,
            bytes: 1 << 20,
        };
        segment.push(r#"{"a":1}"#, None, limits).unwrap();
        segment.push(r#"{"a":2}"#, Some(7), limits).unwrap();
        segment.push(r#"{ }"#, Some(9), limits).unwrap();
        assert_eq!(segment.records(), 3);
        let pages = segment.finish().unwrap();
        assert_eq!(pages.len(), 2);
        let first = pages.page(0).await.unwrap();
        assert_eq!(
            &first[..],
            br#"{"value":[{"a":1},{"_input_line":7,"a":2}]}"#
        );
        let second = pages.page(1).await.unwrap();
        assert_eq!(&second[..], br#"{"value":[{"_input_line":9 }]}"#);
        let parsed: serde_json::Value = serde_json::from_slice(&second).unwrap();
        assert_eq!(parsed["value"][0]["_input_line"], 9);
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
                .push(r#"{"long":"xxxxxxxx"}"#, None, limits)
                .unwrap();
        }
        assert_eq!(segment.finish().unwrap().len(), 3);
    }
}

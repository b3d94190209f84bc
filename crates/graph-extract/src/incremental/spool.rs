//! Where a run keeps what each parent's scopes ended with until the run ends: a local temporary
//! file, not memory. A mailbox has a dozen delta links (one per mail and contact folder, one
//! calendar view) of a few hundred bytes each, so at 20,000 users they are ~150 MB of strings that
//! would otherwise stay resident until the state is written (BENCHMARKS figure 4).

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::tracker::ScopeEnd;

/// One scope's end as spooled: what the next state needs of a [`ScopeEnd`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SpooledEnd {
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greatest: Option<DateTime<Utc>>,
    pub full: bool,
}

/// Where one parent's ends lie in the spool, and the facts the run needs without reading them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpoolRef {
    offset: u64,
    len: u64,
    /// Every scope was read in full (no scopes at all counts: a mailbox without folders).
    pub all_full: bool,
    /// Some scope ended with a delta link.
    pub has_link: bool,
    /// Some scope ended with a bookmark value.
    pub has_greatest: bool,
}

/// An append-only file of parents' ends, deleted when dropped.
pub(crate) struct Spool {
    file: BufWriter<File>,
    written: u64,
}

impl Spool {
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            file: BufWriter::with_capacity(64 * 1024, tempfile::tempfile()?),
            written: 0,
        })
    }

    /// Appends one parent's ends (their order kept) and says where they lie.
    pub fn append(&mut self, ends: &[ScopeEnd]) -> io::Result<SpoolRef> {
        let spooled: Vec<SpooledEnd> = ends
            .iter()
            .map(|end| SpooledEnd {
                scope: end.scope.clone(),
                delta_link: end.delta_link.clone(),
                greatest: end.greatest,
                full: end.full,
            })
            .collect();
        let bytes = serde_json::to_vec(&spooled)?;
        self.file.write_all(&bytes)?;
        let at = SpoolRef {
            offset: self.written,
            len: bytes.len() as u64,
            all_full: ends.iter().all(|e| e.full),
            has_link: ends.iter().any(|e| e.delta_link.is_some()),
            has_greatest: ends.iter().any(|e| e.greatest.is_some()),
        };
        self.written += at.len;
        Ok(at)
    }

    /// Done appending: a reader of what was written.
    pub fn into_reader(self) -> io::Result<SpoolReader> {
        let file = self.file.into_inner().map_err(|e| e.into_error())?;
        Ok(SpoolReader {
            file,
            buffer: Vec::new(),
        })
    }
}

/// Reads spooled parents back, one at a time.
pub(crate) struct SpoolReader {
    file: File,
    buffer: Vec<u8>,
}

impl SpoolReader {
    pub fn read(&mut self, at: SpoolRef) -> io::Result<Vec<SpooledEnd>> {
        self.file.seek(SeekFrom::Start(at.offset))?;
        self.buffer.resize(at.len as usize, 0);
        self.file.read_exact(&mut self.buffer)?;
        Ok(serde_json::from_slice(&self.buffer)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::ChainEnd;

    fn end(scope: &str, link: Option<&str>, full: bool) -> ScopeEnd {
        let chain = ChainEnd {
            delta_link: link.map(str::to_string),
            ..ChainEnd::default()
        };
        ScopeEnd::new(chain, full).at(scope.into())
    }

    #[test]
    fn parents_read_back_as_spooled_in_any_order() {
        let mut spool = Spool::new().unwrap();
        let first = spool
            .append(&[
                end("u1/inbox", Some("l1"), true),
                end("u1/sent", None, true),
            ])
            .unwrap();
        let second = spool.append(&[end("u2", Some("l2"), false)]).unwrap();
        let empty = spool.append(&[]).unwrap();
        assert!(first.all_full && !second.all_full && empty.all_full);
        assert!(first.has_link && !first.has_greatest && !empty.has_link);
        let mut reader = spool.into_reader().unwrap();
        let back = reader.read(second).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(
            (back[0].scope.as_str(), back[0].delta_link.as_deref()),
            ("u2", Some("l2"))
        );
        let back = reader.read(first).unwrap();
        assert_eq!(back[1].scope, "u1/sent");
        assert_eq!(back[1].delta_link, None);
        assert!(reader.read(empty).unwrap().is_empty());
    }
}

//! Names in a landing: run ids, data files, staging files and manifests.
//!
//! ```text
//! <root>/<stream>/date=YYYY-MM-DD/part-<run_id>-<seq>.parquet   data (visible to readers)
//! <root>/_staging/<run_id>/<stream>/date=…/part-…parquet          a run's files before it commits
//! <root>/_state/<run_id>.json                                     incremental state, with the manifest
//! <root>/_runs/<run_id>.json                                      the manifest, written last
//! <root>/_compact/<run_id>.json                                   a compaction still deleting
//! ```
//! Directories starting with `_` never match a reader's `<stream>/**/*.parquet` glob, and stream
//! names never start with `_`.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, NaiveDate, Utc};
use object_store::path::Path;
use rand::Rng;

use crate::store::Landing;

/// Run manifests (`<run_id>.json`); a run is committed once its manifest is here.
pub const RUNS_DIR: &str = "_runs";
/// Runs' files before they commit, under `<run_id>/<stream>/`.
pub const STAGING_DIR: &str = "_staging";
/// Incremental state of each run that wrote one (`<run_id>.json`).
pub const STATE_DIR: &str = "_state";
/// Markers of compactions whose replaced files may not all be deleted yet.
pub const COMPACT_DIR: &str = "_compact";
const RUN_TIME_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";
const RUN_TIME_PARSE: &str = "%Y%m%dT%H%M%S%.3fZ%z";

/// Last run start handed out in this process (ms), so ids made in one millisecond still sort.
static LAST_START_MS: AtomicI64 = AtomicI64::new(0);

/// A run id that sorts by start time: `20261122T235959.123Z-a1b2c3` (UTC, milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId {
    id: String,
    started: DateTime<Utc>,
}

impl RunId {
    /// A run id for now, later than every run id made before in this process.
    pub fn new() -> Self {
        let now = Utc::now().timestamp_millis();
        let ms = LAST_START_MS
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(now.max(last + 1))
            })
            .map_or(now, |last| now.max(last + 1));
        Self::at(DateTime::from_timestamp_millis(ms).unwrap_or_else(Utc::now))
    }

    /// A run id for a run started at `started` (millisecond precision) with a random suffix, so
    /// runs on different machines started in the same millisecond still get distinct names.
    pub fn at(started: DateTime<Utc>) -> Self {
        let suffix: u32 = rand::rng().random_range(0..0x100_0000);
        Self::from_parts(started, &format!("{suffix:06x}"))
    }

    fn from_parts(started: DateTime<Utc>, suffix: &str) -> Self {
        let stamp = started.format(RUN_TIME_FORMAT).to_string();
        let started = DateTime::parse_from_str(&format!("{stamp}+0000"), RUN_TIME_PARSE)
            .expect("formatted run time parses")
            .with_timezone(&Utc);
        Self {
            id: format!("{stamp}-{suffix}"),
            started,
        }
    }

    /// Parses `20261122T235959.123Z-a1b2c3`.
    pub fn parse(id: &str) -> Option<Self> {
        let (stamp, suffix) = id.split_once('-')?;
        if suffix.is_empty() || !suffix.chars().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        let started = DateTime::parse_from_str(&format!("{stamp}+0000"), RUN_TIME_PARSE)
            .ok()?
            .with_timezone(&Utc);
        Some(Self {
            id: id.to_string(),
            started,
        })
    }

    /// The id as written in file names and manifests.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// When the run started (UTC, millisecond precision).
    pub fn started(&self) -> DateTime<Utc> {
        self.started
    }

    /// The UTC date partition this run writes.
    pub fn date(&self) -> NaiveDate {
        self.started.date_naive()
    }
}

impl Default for RunId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id)
    }
}

/// `date=YYYY-MM-DD`, the hive partition DuckDB reads as a DATE column.
pub fn partition_dir(date: NaiveDate) -> String {
    format!("date={}", date.format("%Y-%m-%d"))
}

/// `part-<run_id>-<seq>.parquet`; `seq` is zero-padded so files list in write order.
pub fn part_file_name(run: &RunId, seq: u32) -> String {
    format!("part-{run}-{seq:05}.parquet")
}

/// The run id in a part file name, for superseding and cleanup.
pub fn run_of_part_file(file_name: &str) -> Option<RunId> {
    let stem = file_name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let (run, seq) = stem.rsplit_once('-')?;
    seq.parse::<u32>().ok()?;
    RunId::parse(run)
}

/// `<root>/<stream>/date=…`
pub fn partition_path(landing: &Landing, stream: &str, date: NaiveDate) -> Path {
    landing.path([stream, &partition_dir(date)])
}

/// Where a data file becomes visible when its run commits.
pub fn data_file(landing: &Landing, stream: &str, run: &RunId, seq: u32) -> Path {
    data_file_in(landing, stream, run, run.date(), seq)
}

/// [`data_file`] in the partition of `date` (a compaction keeps rows in their run's partition).
pub fn data_file_in(
    landing: &Landing,
    stream: &str,
    run: &RunId,
    date: NaiveDate,
    seq: u32,
) -> Path {
    landing.path([stream, &partition_dir(date), &part_file_name(run, seq)])
}

/// Where a data file is written while its run is in progress.
pub fn staging_file(landing: &Landing, stream: &str, run: &RunId, seq: u32) -> Path {
    staging_file_in(landing, stream, run, run.date(), seq)
}

/// [`staging_file`] for a file of the partition of `date`.
pub fn staging_file_in(
    landing: &Landing,
    stream: &str,
    run: &RunId,
    date: NaiveDate,
    seq: u32,
) -> Path {
    landing.path([
        STAGING_DIR,
        run.as_str(),
        stream,
        &partition_dir(date),
        &part_file_name(run, seq),
    ])
}

/// The date of a `date=YYYY-MM-DD` partition a data file is in.
pub fn partition_of(path: &Path) -> Option<NaiveDate> {
    path.parts()
        .filter_map(|p| {
            let dir = p.as_ref().strip_prefix("date=")?;
            NaiveDate::parse_from_str(dir, "%Y-%m-%d").ok()
        })
        .next_back()
}

/// `<root>/_compact/<run_id>.json`
pub fn compaction_marker(landing: &Landing, run: &RunId) -> Path {
    landing.path([COMPACT_DIR, &format!("{run}.json")])
}

/// `<root>/_staging/<run_id>`
pub fn staging_dir(landing: &Landing, run: &RunId) -> Path {
    landing.path([STAGING_DIR, run.as_str()])
}

/// `<root>/_runs/<run_id>.json`
pub fn manifest_path(landing: &Landing, run: &RunId) -> Path {
    landing.path([RUNS_DIR, &format!("{run}.json")])
}

/// `<root>/_state/<run_id>.json`
pub fn state_path(landing: &Landing, run: &RunId) -> Path {
    landing.path([STATE_DIR, &format!("{run}.json")])
}

/// Stream names that would collide with the landing's own directories or escape the layout.
pub fn is_valid_stream_name(stream: &str) -> bool {
    !stream.is_empty()
        && !stream.starts_with('_')
        && stream
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn run_ids_sort_by_time_and_round_trip() {
        let early = RunId::at(Utc.with_ymd_and_hms(2026, 11, 22, 23, 59, 59).unwrap());
        let late = RunId::at(Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 1).unwrap());
        assert!(early.as_str().starts_with("20261122T235959.000Z-"));
        assert!(early.as_str() < late.as_str());
        assert_eq!(RunId::parse(early.as_str()).unwrap(), early);
        assert_eq!(early.date(), NaiveDate::from_ymd_opt(2026, 11, 22).unwrap());
        assert!(RunId::parse("yesterday-abc").is_none());
        let (a, b) = (RunId::new(), RunId::new());
        assert!(a.as_str() < b.as_str(), "{a} then {b}");
    }

    #[test]
    fn paths_follow_the_documented_layout() {
        let landing = Landing::open("memory:///root").unwrap();
        let run = RunId::from_parts(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(), "abc123");
        assert_eq!(
            data_file(&landing, "users", &run, 7).as_ref(),
            "root/users/date=2026-01-02/part-20260102T030405.000Z-abc123-00007.parquet"
        );
        assert_eq!(
            staging_file(&landing, "users", &run, 0).as_ref(),
            "root/_staging/20260102T030405.000Z-abc123/users/date=2026-01-02/part-20260102T030405.000Z-abc123-00000.parquet"
        );
        assert_eq!(
            manifest_path(&landing, &run).as_ref(),
            "root/_runs/20260102T030405.000Z-abc123.json"
        );
        assert_eq!(
            run_of_part_file("part-20260102T030405.000Z-abc123-00007.parquet"),
            Some(run)
        );
        assert_eq!(run_of_part_file("part-x.parquet"), None);
    }

    #[test]
    fn stream_names_cannot_shadow_landing_directories() {
        assert!(is_valid_stream_name("mail_messages"));
        assert!(!is_valid_stream_name("_runs"));
        assert!(!is_valid_stream_name("../x"));
        assert!(!is_valid_stream_name(""));
    }
}

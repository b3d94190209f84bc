//! The target's `--config` JSON.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::spool::PageLimits;

/// Graph-sized pages: arrow-sink decodes a page in one tape pass, which stays in cache at this
/// size (16 MiB pages measured ~25% more CPU and twice the memory for the same rows).
pub const DEFAULT_BATCH_RECORDS: usize = 1000;
/// Bytes of record lines per page when `batch_bytes` is not set.
pub const DEFAULT_BATCH_BYTES: u64 = 2 * 1024 * 1024;
/// Longest input line (one Singer message) accepted.
pub const DEFAULT_MAX_LINE_BYTES: u64 = 64 * 1024 * 1024;

/// Why the target's config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("reading target config {path}: {source}")]
    Io {
        /// The config file's path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Without the values serde_json quotes (see `redacted_json_error`); not a `#[source]`,
    /// so error chains cannot print them either.
    #[error(
        "target config is not valid JSON or has a wrong field: {}",
        graph_extract::config::redacted_json_error(.0)
    )]
    Parse(serde_json::Error),
    /// A field has a value the target cannot use.
    #[error("target config field `{field}` is `{value}`; allowed: {allowed}")]
    Invalid {
        /// The field's name.
        field: &'static str,
        /// The value given.
        value: String,
        /// What the field accepts.
        allowed: &'static str,
    },
}

/// Settings; numbers may arrive as strings (Meltano passes some settings that way).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Landing root: a directory, `file://`, `s3://bucket/prefix`, `az://…`, `abfss://…`, `gs://…`.
    /// `destination_path` (target-parquet's and target-csv's name) is accepted too, so their
    /// configs work unchanged.
    #[serde(alias = "destination_path")]
    pub output: String,
    /// singer-io targets' opt-out of usage collection; this target collects nothing.
    #[serde(default)]
    pub disable_collection: Option<bool>,
    /// object_store options overriding the environment (`aws_endpoint`, `aws_allow_http`, …).
    #[serde(default)]
    pub store_options: BTreeMap<String, String>,
    /// Where RECORDs are spooled until the input ends (default: the system temp dir).
    #[serde(default)]
    pub spool_dir: Option<PathBuf>,
    /// RECORDs per decoded batch.
    #[serde(default, deserialize_with = "number")]
    pub batch_records: Option<u64>,
    /// Bytes of RECORD JSON per decoded batch.
    #[serde(default, deserialize_with = "number")]
    pub batch_bytes: Option<u64>,
    /// Decode threads (0 or absent: one per core).
    #[serde(default, deserialize_with = "number")]
    pub decode_threads: Option<u64>,
    /// Longest input line in bytes (default 64 MiB): a longer one fails the run naming it.
    #[serde(default, deserialize_with = "number")]
    pub max_line_bytes: Option<u64>,
}

/// Store options hold account keys and SAS tokens: Debug shows their names only, and the output
/// without its user info and query.
impl std::fmt::Debug for TargetConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let options: BTreeMap<&str, &str> = self
            .store_options
            .keys()
            .map(|k| (k.as_str(), "<redacted>"))
            .collect();
        f.debug_struct("TargetConfig")
            .field("output", &arrow_sink::redact_location(&self.output))
            .field("store_options", &options)
            .field("spool_dir", &self.spool_dir)
            .field("batch_records", &self.batch_records)
            .field("batch_bytes", &self.batch_bytes)
            .field("decode_threads", &self.decode_threads)
            .field("max_line_bytes", &self.max_line_bytes)
            .finish_non_exhaustive()
    }
}

fn number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Number(u64),
        Text(String),
    }
    match Option::<N>::deserialize(d)? {
        None => Ok(None),
        Some(N::Number(n)) => Ok(Some(n)),
        Some(N::Text(t)) if t.trim().is_empty() => Ok(None),
        Some(N::Text(t)) => t
            .trim()
            .parse()
            .map(Some)
            // The value is not repeated: a secret pasted into the wrong setting must not be.
            .map_err(|_| serde::de::Error::custom("a text that is not a whole number")),
    }
}

impl TargetConfig {
    /// Reads and checks the config file at `path`.
    pub fn from_path(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text)
    }

    /// Parses and checks a config's JSON text.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let config: Self = serde_json::from_str(text).map_err(ConfigError::Parse)?;
        if config.output.trim().is_empty() {
            return Err(ConfigError::Invalid {
                field: "output",
                value: config.output,
                allowed: "a directory or an object store URL",
            });
        }
        if config.batch_records == Some(0) {
            return Err(ConfigError::Invalid {
                field: "batch_records",
                value: "0".into(),
                allowed: "1 or more",
            });
        }
        Ok(config)
    }

    /// Records and bytes per spooled page: `batch_records` and `batch_bytes`, or the defaults.
    pub fn page_limits(&self) -> PageLimits {
        PageLimits {
            records: self
                .batch_records
                .map_or(DEFAULT_BATCH_RECORDS, |n| n as usize),
            bytes: self.batch_bytes.unwrap_or(DEFAULT_BATCH_BYTES).max(1),
        }
    }

    /// Longest input line accepted: `max_line_bytes`, or [`DEFAULT_MAX_LINE_BYTES`].
    pub fn max_line_bytes(&self) -> u64 {
        self.max_line_bytes.unwrap_or(DEFAULT_MAX_LINE_BYTES).max(1)
    }

    /// Where spool files go: `spool_dir`, or the system's temporary directory.
    pub fn spool_dir(&self) -> PathBuf {
        self.spool_dir.clone().unwrap_or_else(std::env::temp_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_store_secret() {
        let c = TargetConfig::from_json(
            r#"{"output": "az://acct:k3y@c/p?sig=s1gn", "store_options": {"azure_storage_account_key": "hunter2"}}"#,
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("azure_storage_account_key"), "{shown}");
        for secret in ["hunter2", "k3y", "s1gn"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn stringified_numbers_are_accepted_and_typos_refused() {
        let c =
            TargetConfig::from_json(r#"{"output":"/x","batch_records":"500","decode_threads":2}"#)
                .unwrap();
        assert_eq!(c.page_limits().records, 500);
        assert_eq!(c.decode_threads, Some(2));
        let err = TargetConfig::from_json(r#"{"output":"/x","ouptut":"/y"}"#).unwrap_err();
        assert!(err.to_string().contains("ouptut"), "{err}");
        let err = TargetConfig::from_json(r#"{"output":" "}"#).unwrap_err();
        assert!(err.to_string().contains("`output`"), "{err}");
        // target-parquet's config as it is.
        let c = TargetConfig::from_json(r#"{"destination_path":"/d","disable_collection":true}"#)
            .unwrap();
        assert_eq!(c.output, "/d");
        let err = TargetConfig::from_json(r#"{}"#).unwrap_err();
        assert!(err.to_string().contains("`output`"), "{err}");
    }
}

//! Errors from writing, committing and reading back a landing.

use object_store::path::Path;

/// Why writing, committing or reading back a landing failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The landing's URL or store options are invalid.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// An object store call failed.
    #[error("{action} {path}: {source}")]
    Object {
        /// What was being done: "reading", "listing", "publishing", ...
        action: &'static str,
        /// The object or prefix it was done on.
        path: Path,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// Writing a Parquet file failed.
    #[error("stream `{stream}`: writing Parquet {path}: {source}")]
    Parquet {
        /// The stream being written.
        stream: String,
        /// The file being written.
        path: Path,
        /// Parquet's error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A batch's schema does not match the stream's schema.
    #[error("stream `{stream}`: batch schema does not match the stream's schema: {detail}")]
    SchemaMismatch {
        /// The stream written to.
        stream: String,
        /// The two schemas, or how they differ.
        detail: String,
    },
    /// The stream name (held) cannot name a landing folder.
    #[error(
        "`{0}` cannot be a stream name in a landing (lowercase letters, digits and `_`, not starting with `_`)"
    )]
    BadStreamName(String),
    /// The stream (held) was written twice in one run.
    #[error("stream `{0}` was written twice in one run")]
    DuplicateStream(String),
    /// A run manifest could not be serialized or parsed.
    #[error("manifest {path}: {source}")]
    Manifest {
        /// The manifest's path.
        path: Path,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// A page could not be decoded.
    #[error("stream `{stream}`: decoding a page: {source}")]
    Decode {
        /// The page's stream.
        stream: String,
        /// The decoder's error.
        #[source]
        source: crate::decode::DecodeError,
    },
    /// The stream (held) is not one of the run's tables.
    #[error("stream `{0}` is not part of this run")]
    UnknownStream(String),
    /// Boxed: a lease error names its holder, and every `Result` of this crate carries the enum.
    #[error(transparent)]
    Lease(Box<crate::lease::LeaseError>),
    /// The pipeline stopped (finished, aborted, or a worker died); the text says which.
    #[error("the sink pipeline stopped: {0}")]
    PipelineStopped(String),
    /// A file was landed before landing contract 2, so changes cannot be told; compact once.
    #[error(
        "{path} was landed before landing contract 2 (it has no `_run_id`/`_change` columns), so this run cannot tell what changed since; migrate the landing once with `msgraph-sync compact --output <the same output>` and run again"
    )]
    PreContractLanding {
        /// The pre-contract file.
        path: Path,
    },
    /// Reading a landed Parquet file back for the current state failed.
    #[error("stream `{stream}`: reading the current state from {path}: {source}")]
    CurrentState {
        /// The stream read.
        stream: String,
        /// The file read.
        path: Path,
        /// Parquet's error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Hashing rows to compare them with the current state failed.
    #[error("stream `{stream}`: comparing with the current state: {source}")]
    Compare {
        /// The stream compared.
        stream: String,
        /// Arrow's error.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// Compacting a stream's files failed.
    #[error("stream `{stream}`: compacting {path}: {source}")]
    Compact {
        /// The stream compacted.
        stream: String,
        /// The file being read or written.
        path: Path,
        /// Arrow's error.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// A run's state could not be serialized or parsed.
    #[error("state {path}: {source}")]
    State {
        /// The state file's path.
        path: Path,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// The caller's state file could not be read to commit it.
    #[error("reading the run's state file {}: {source}", .file.display())]
    StateFile {
        /// The local file.
        file: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl From<crate::lease::LeaseError> for WriteError {
    fn from(e: crate::lease::LeaseError) -> Self {
        WriteError::Lease(Box::new(e))
    }
}

impl WriteError {
    pub(crate) fn object(
        action: &'static str,
        path: &Path,
    ) -> impl FnOnce(object_store::Error) -> Self {
        let path = path.clone();
        move |source| WriteError::Object {
            action,
            path,
            source,
        }
    }
}

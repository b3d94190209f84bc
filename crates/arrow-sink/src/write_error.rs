//! Errors from writing, committing and reading back a landing.

use object_store::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{action} {path}: {source}")]
    Object {
        action: &'static str,
        path: Path,
        #[source]
        source: object_store::Error,
    },
    #[error("stream `{stream}`: writing Parquet {path}: {source}")]
    Parquet {
        stream: String,
        path: Path,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("stream `{stream}`: batch schema does not match the stream's schema: {detail}")]
    SchemaMismatch { stream: String, detail: String },
    #[error(
        "`{0}` cannot be a stream name in a landing (lowercase letters, digits and `_`, not starting with `_`)"
    )]
    BadStreamName(String),
    #[error("stream `{0}` was written twice in one run")]
    DuplicateStream(String),
    #[error("manifest {path}: {source}")]
    Manifest {
        path: Path,
        #[source]
        source: serde_json::Error,
    },
    #[error("stream `{stream}`: decoding a page: {source}")]
    Decode {
        stream: String,
        #[source]
        source: crate::decode::DecodeError,
    },
    #[error("stream `{0}` is not part of this run")]
    UnknownStream(String),
    /// Boxed: a lease error names its holder, and every `Result` of this crate carries the enum.
    #[error(transparent)]
    Lease(Box<crate::lease::LeaseError>),
    #[error("the sink pipeline stopped: {0}")]
    PipelineStopped(String),
    #[error(
        "{path} was landed before landing contract 2 (it has no `_run_id`/`_change` columns), so this run cannot tell what changed since; migrate the landing once with `msgraph-sync compact --output <the same output>` and run again"
    )]
    PreContractLanding { path: Path },
    #[error("stream `{stream}`: reading the current state from {path}: {source}")]
    CurrentState {
        stream: String,
        path: Path,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("stream `{stream}`: comparing with the current state: {source}")]
    Compare {
        stream: String,
        #[source]
        source: arrow::error::ArrowError,
    },
    #[error("stream `{stream}`: compacting {path}: {source}")]
    Compact {
        stream: String,
        path: Path,
        #[source]
        source: arrow::error::ArrowError,
    },
    #[error("state {path}: {source}")]
    State {
        path: Path,
        #[source]
        source: serde_json::Error,
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

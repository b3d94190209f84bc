//! Declared schema -> Arrow -> partitioned Parquet on any object store. Knows nothing about HTTP.

pub mod allocator;
pub mod change;
pub mod commit;
pub mod compact;
pub mod decode;
pub mod keys;
pub mod layout;
pub mod lease;
pub mod manifest;
pub mod pipeline;
pub mod schema;
pub mod signal;
pub mod state;
pub mod store;
mod upload;
mod write_error;
pub mod writer;

pub use change::{Change, ChangeCounts, FullScope};
pub use commit::{StreamOutcome, clean_dead_runs, commit_run};
pub use compact::{CompactOptions, CompactReport, StreamCompaction, compact, finish_compactions};
pub use decode::{DecodeError, DecodeReport, DecodedPage, PageDecoder, PageInput};
pub use keys::KeyGuard;
pub use layout::RunId;
pub use lease::{Lease, LeaseError, LeaseHolder};
pub use manifest::{Compaction, FailedStream, Manifest, RunStatus, SkippedItem, StreamManifest};
pub use pipeline::{PageSender, RunInput, SinkOptions, SinkRun};
pub use schema::{
    CHANGE_COLUMN, EXTRA_COLUMN, HASH_COLUMN, RUN_ID_COLUMN, SchemaError, StreamSchema,
    arrow_schema, schema_hash,
};
pub use store::{Landing, StoreError, keep_local_files_private, redact_location};
pub use write_error::WriteError;
pub use writer::{BufferBudget, StreamWriter, WriterOptions, WrittenFile};

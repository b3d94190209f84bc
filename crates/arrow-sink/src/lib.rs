//! Declared schema -> Arrow -> partitioned Parquet on any object store. Knows nothing about HTTP.
//!
//! A run: [`SinkRun::start`] on a [`Landing`], pages in through [`SinkRun::sender`], then
//! [`SinkRun::finish`], which commits the run's files, state and [`Manifest`] (the landing
//! contract: rows carry `_run_id` and `_change`, runs only append).
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use arrow_sink::{Landing, PageInput, RunInput, SinkOptions, SinkRun};
//!
//! let landing = Landing::open("memory:///lake")?; // or a directory, s3://, az://, gs://
//! let users = stream_spec::StreamSpec::from_json("users", r#"{
//!     "stream": "users", "kind": "collection", "path": "/users", "primary_key": ["id"],
//!     "page_size": {"cap": 999}, "permission": "User.Read.All",
//!     "fields": [{"graph": "id", "name": "id", "type": "utf8", "nullable": false},
//!                {"graph": "displayName", "name": "display_name", "type": "utf8", "nullable": true}]
//! }"#)?;
//! let run = SinkRun::start(&landing, &[users], SinkOptions::default()).await?;
//! let page = r#"{"value": [{"id": "u1", "displayName": "Ada"}, {"id": "u2", "extra": 1}]}"#;
//! run.sender("users")?
//!     .send(PageInput { parent_id: None, body: page.into(), chain_pages: None })
//!     .await?;
//! let manifest = run.finish(RunInput::default()).await?;
//! let users = &manifest.streams["users"];
//! assert_eq!((users.rows, users.changes.inserts), (2, 2));
//! assert_eq!(users.report.new_properties.get("extra"), Some(&1)); // kept in `_extra`
//! # Ok(()) }
//! ```

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

//! Declared tables -> Arrow -> partitioned Parquet on any object store. Knows nothing about HTTP
//! and nothing of where rows come from.
//!
//! The sink reads a [`stream_spec::Table`] only: name, primary key, parent-key columns, fields,
//! body format, tombstone. A Graph stream's table is [`stream_spec::StreamSpec::table`]; its source
//! (path, query, permission, paging) is the extractor's. Bodies come in through input adapters,
//! one per [`stream_spec::BodyFormat`] (see [`decode`]): Graph pages, record lines, report CSV.
//!
//! A run: [`SinkRun::start`] on a [`Landing`], pages in through [`SinkRun::sender`], then
//! [`SinkRun::finish`], which commits the run's files, state and [`Manifest`] (the landing
//! contract: rows carry `_run_id` and `_change`, runs only append).
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use arrow_sink::{Landing, PageInput, RunInput, SinkOptions, SinkRun};
//! use stream_spec::{BodyFormat, Field, FieldType, Table};
//!
//! let landing = Landing::open("memory:///lake")?; // or a directory, s3://, az://, gs://
//! let field = |graph: &str, name: &str| Field {
//!     graph: graph.into(), name: name.into(), data_type: FieldType::Utf8, nullable: true,
//! };
//! let users = Table::new(
//!     "users",
//!     BodyFormat::GraphPage,
//!     vec!["id".into()],
//!     vec![field("id", "id"), field("displayName", "display_name")],
//! );
//! // Rows that do not come from Graph: one JSON object per line, deletes marked by a property.
//! let notes = Table::new("notes", BodyFormat::RecordLines, vec!["id".into()], vec![field("id", "id")])
//!     .with_tombstone("_sdc_deleted_at");
//! let run = SinkRun::start(&landing, &[users, notes], SinkOptions::default()).await?;
//! let page = r#"{"value": [{"id": "u1", "displayName": "Ada"}, {"id": "u2", "extra": 1}]}"#;
//! run.sender("users")?
//!     .send(PageInput { parent: None, body: page.into(), chain_pages: None })
//!     .await?;
//! let lines = "{\"id\": \"n1\"}\n{\"id\": \"n2\"}\n";
//! run.sender("notes")?
//!     .send(PageInput { parent: None, body: lines.into(), chain_pages: None })
//!     .await?;
//! let manifest = run.finish(RunInput::default()).await?;
//! let users = &manifest.streams["users"];
//! assert_eq!((users.rows, users.changes.inserts), (2, 2));
//! assert_eq!(users.report.new_properties.get("extra"), Some(&1)); // kept in `_extra`
//! assert_eq!(manifest.streams["notes"].rows, 2);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

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
pub use decode::{DecodeError, DecodeReport, DecodedPage, JsonTextFactory, PageDecoder, PageInput};
pub use keys::KeyGuard;
pub use layout::RunId;
pub use lease::{Lease, LeaseError, LeaseHolder};
pub use manifest::{Compaction, FailedStream, Manifest, RunStatus, SkippedItem, StreamManifest};
pub use pipeline::{PageSender, RunInput, SinkOptions, SinkRun};
pub use schema::{
    CHANGE_COLUMN, EXTRA_COLUMN, HASH_COLUMN, RUN_ID_COLUMN, SchemaError, StreamSchema,
    arrow_schema, schema_hash,
};
pub use state::StateInput;
pub use store::{Landing, StoreError, keep_local_files_private, redact_location};
pub use write_error::WriteError;
pub use writer::{BufferBudget, StreamWriter, WriterOptions, WrittenFile};

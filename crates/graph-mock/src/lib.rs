//! graph-mock: a faithful fake Microsoft Graph v1.0 tenant for tests, benchmarks and `--demo`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let server = graph_mock::MockServer::start(graph_mock::MockConfig::default()).await?;
//! println!("{}", server.graph_url()); // http://127.0.0.1:PORT/v1.0
//! let truth = server.truth(); // rows and primary keys per stream
//! let before = server.snapshot();
//! server.apply(&graph_mock::Mutation::new("users").changed(2).removed(1).added(1)).unwrap();
//! let changes = graph_mock::diff(&before, &server.snapshot()); // inserts/updates/deletes per stream
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//! See README.md for every option.

#![warn(missing_docs)]

pub mod auth;
pub mod cli;
pub mod scenario;

mod admin;
mod batch;
mod budget;
mod changes;
mod config;
mod delta;
mod delta_query;
mod faults;
mod filter;
mod folder_list;
mod graph;
mod ids;
mod mailbox;
mod mutate;
mod paging;
mod reports;
mod response;
mod server;
mod state;
mod tenant;
mod truth;

pub use budget::IdentitySpend;
pub use changes::{ChangeCounts, ExpectedChanges, Snapshot, diff};
pub use config::{Faults, MockConfig, Sizes, today_utc};
pub use mutate::MutateError;
pub use server::MockServer;
pub use tenant::{Mutation, MutationOutcome};
pub use truth::{RequestCounts, StreamRequests, StreamTruth, Truth, TruthFilter};

/// Graph's default page size.
pub const DEFAULT_PAGE_SIZE: u64 = paging::DEFAULT_PAGE;
/// At most this many requests in one `$batch`.
pub const MAX_BATCH_REQUESTS: usize = batch::MAX_BATCH;
/// Generated events start within this many days either side of `MockConfig::reference_time`.
pub const EVENT_SPREAD_DAYS: i64 = tenant::EVENT_SPREAD_DAYS;
/// Outlook delta pages hold this many items unless `Prefer: odata.maxpagesize` says otherwise.
pub const OUTLOOK_DELTA_PAGE_SIZE: u64 = delta_query::OUTLOOK_DEFAULT_PAGE;
/// Outlook's concurrent requests per mailbox.
pub const MAILBOX_CONCURRENCY: u32 = faults::MAILBOX_CONCURRENCY;

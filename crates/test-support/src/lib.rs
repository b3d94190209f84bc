//! Shared test helpers: a real DuckDB, a real S3 server (moto) and Azurite, on loopback.
//!
//! The tools live in `$MSGRAPH_SYNC_TOOLS` (default `<workspace>/.tools`), installed by
//! `cargo xtask test` or `cargo xtask tools`.

#![warn(missing_docs)]

mod azurite;
mod duckdb;
pub mod fuzz;
mod process;
mod s3;
mod tools;

pub use azurite::Azurite;
pub use duckdb::{current_state_sql, duckdb_query, duckdb_query_in, duckdb_store_query};
pub use s3::S3Server;
pub use tools::{tools_dir, workspace_root};

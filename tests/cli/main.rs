//! End-to-end tests of the `msgraph-sync` binary against graph-mock on 127.0.0.1, with the landing
//! read back by a real DuckDB.

mod util;

mod check;
mod compact;
mod config_errors;
mod demo;
mod duckdb;
mod grandchild;
mod incremental;
mod killed;
mod login;
mod streams_dir;
mod streams_new;
mod sync;

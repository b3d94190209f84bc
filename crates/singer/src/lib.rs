//! Singer modes for msgraph-sync: a tap (`tap-msgraph`) that reads Microsoft Graph through
//! graph-extract and speaks tap-ms-graph's catalog, and a target (`target-parquet-arrow`) that lands
//! any tap's messages as partitioned Parquet through arrow-sink.

#![warn(missing_docs)]

pub mod about;
pub mod messages;
pub mod tap;
pub mod target;

/// Logs go to stderr (stdout carries Singer messages); `RUST_LOG` filters, `info` by default.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

//! `msgraph-sync`: land Microsoft Graph data as partitioned Parquet.
//!
//! Exit codes: 0 success, 1 failure, 2 bad configuration or authentication,
//! 3 finished with skipped streams or parents under `--strict`, 130/143 stopped by SIGINT/SIGTERM.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check;
mod compact;
mod connect;
mod demo;
mod duckdb;
mod failure;
mod login;
mod mock;
mod progress;
mod streams;
mod streams_new;
mod summary;
mod sync;
mod table;

use failure::Failure;

#[derive(Parser)]
#[command(name = "msgraph-sync", version, about, long_about = None)]
struct Cli {
    /// Logs as JSON lines on stderr (for log shippers).
    #[arg(long, global = true, env = "MSGRAPH_SYNC_JSON_LOGS")]
    json_logs: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum Command {
    /// Extract the selected streams and land them as Parquet.
    Sync(sync::Args),
    /// Authenticate and probe every stream with one small request: which ones this app may read.
    Check(check::Args),
    /// Delegated auth: sign in once in a browser and keep the refresh token for later runs.
    Login(login::Args),
    /// List every stream with its keys, parent and required permission; `streams new` writes a
    /// declaration for `sync --streams-dir DIR`, `streams check DIR` validates them.
    Streams(streams::Args),
    /// Rewrite each stream's change log to its current state (also migrates a pre-contract landing).
    Compact(compact::Args),
    /// Print a DuckDB script with a current-state view and a history view per landed stream.
    Duckdb(duckdb::Args),
    /// Serve the mock Graph tenant on 127.0.0.1 for manual use and other tools.
    Mock(mock::Args),
}

fn main() -> ExitCode {
    arrow_sink::allocator::limit_retained_memory();
    arrow_sink::keep_local_files_private();
    let cli = Cli::parse();
    init_logs(cli.json_logs);
    let result = match cli.command {
        Command::Sync(args) => runtime().and_then(|rt| rt.block_on(sync::run(args, cli.json_logs))),
        Command::Login(args) => runtime().and_then(|rt| rt.block_on(login::run(args))),
        Command::Check(args) => runtime().and_then(|rt| rt.block_on(check::run(args))),
        Command::Streams(args) => streams::run(args),
        Command::Compact(args) => runtime().and_then(|rt| rt.block_on(compact::run(args))),
        Command::Duckdb(args) => runtime().and_then(|rt| rt.block_on(duckdb::run(args))),
        Command::Mock(args) => runtime().and_then(|rt| rt.block_on(mock::run(args))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Other(e.into()))
}

fn init_logs(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("MSGRAPH_SYNC_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,msgraph_sync=info"));
    // Colour only for a person at a terminal: CI logs and files get plain text (NO_COLOR too).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

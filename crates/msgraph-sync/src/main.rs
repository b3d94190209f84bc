//! `msgraph-sync`: land Microsoft Graph data as partitioned Parquet.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod streams;

#[derive(Parser)]
#[command(name = "msgraph-sync", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every stream with its keys, parent and required permission.
    Streams(streams::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Streams(args) => streams::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

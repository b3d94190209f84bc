//! The Rust side of `cargo xtask bench`: the workloads the xtask times as child processes (so
//! peak RSS and CPU time are per workload). Prints one JSON object on stdout per command.

use clap::{Parser, Subcommand};

mod extract;
mod gen_pages;
mod identity;
mod incremental;
mod rusage;
mod sink;
mod soak;

#[derive(Parser)]
#[command(
    name = "bench-helper",
    about = "Workloads timed by `cargo xtask bench`"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch mail_messages pages from an in-process graph-mock and store them (pages + NDJSON).
    GenPages(gen_pages::Args),
    /// Stored pages -> Parquet through arrow-sink's SinkRun on a local directory.
    Sink(sink::Args),
    /// The extractor against an in-process graph-mock with latency; pages are counted, not landed.
    Extract(extract::Args),
    /// Users, groups and members against an in-process graph-mock enforcing the identity budget.
    Identity(identity::Args),
    /// A full sync, an incremental one after a mutation, and a full-refresh compare.
    Incremental(incremental::Args),
    /// A full sync of every stream under every fault at once, compared with the mock's truth.
    Soak(soak::Args),
    /// Run a workload and write its own peak RSS and CPU time (see rusage.rs for why).
    Rusage(rusage::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let value = match cli.command {
        // The workload owns stdout; the figures go to the file.
        Command::Rusage(args) => std::process::exit(rusage::run(args)?),
        Command::GenPages(args) => runtime(0)?.block_on(gen_pages::run(args))?,
        Command::Sink(args) => runtime(args.threads)?.block_on(sink::run(args))?,
        Command::Extract(args) => runtime(0)?.block_on(extract::run(args))?,
        Command::Identity(args) => runtime(0)?.block_on(identity::run(args))?,
        Command::Incremental(args) => runtime(0)?.block_on(incremental::run(args))?,
        Command::Soak(args) => runtime(0)?.block_on(soak::run(args))?,
    };
    println!("{value}");
    Ok(())
}

/// `workers` 0: tokio's default (one per core).
fn runtime(workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if workers > 0 {
        builder.worker_threads(workers);
    }
    Ok(builder.build()?)
}

/// The mock's test app, as graph-extract's config file spells it.
fn config_json(mock: &graph_mock::MockServer, extra: serde_json::Value) -> String {
    mock.client_config(extra).to_string()
}

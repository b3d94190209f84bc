//! `target-parquet-arrow`: a Singer target landing any tap's streams as partitioned Parquet.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use msgraph_singer::target::{self, TargetConfig, TargetError};

#[derive(Parser)]
#[command(
    name = "target-parquet-arrow",
    version,
    about = "Singer target: messages on stdin -> partitioned Parquet with a run manifest"
)]
struct Args {
    /// JSON with `output` (a directory or object store URL) and options.
    #[arg(long, required_unless_present = "about")]
    config: Option<PathBuf>,
    /// Print name, version, capabilities and settings and exit.
    #[arg(long)]
    about: bool,
    /// Format of --about: json, markdown, or hub-yaml (the Meltano Hub plugin definition).
    #[arg(long, default_value = "json")]
    format: String,
}

fn main() -> ExitCode {
    // A bulk load: fewer page faults matter more than the last MiB (arrow_sink::allocator).
    arrow_sink::allocator::trim_periodically();
    arrow_sink::keep_local_files_private();
    let args = Args::parse();
    msgraph_singer::init_logging();
    if args.about {
        return match msgraph_singer::about::TARGET.render(&args.format) {
            Ok(text) => {
                println!("{}", text.trim_end());
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("target-parquet-arrow: {message}");
                ExitCode::from(2)
            }
        };
    }
    let Some(path) = args.config else {
        eprintln!("target-parquet-arrow: --config is required");
        return ExitCode::from(2);
    };
    let config = match TargetConfig::from_path(&path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("target-parquet-arrow: --config {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("target-parquet-arrow: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Unlocked: the reader runs on a thread of its own (a lock guard cannot move there), and
    // each 1 MiB read takes the lock once.
    let input = std::io::BufReader::with_capacity(1 << 20, std::io::stdin());
    match runtime.block_on(target::run(&config, input)) {
        Ok(outcome) => {
            if let Some(manifest) = &outcome.manifest {
                let rows: u64 = manifest.streams.values().map(|s| s.rows).sum();
                tracing::info!(run_id = %manifest.run_id, streams = manifest.streams.len(), rows,
                    lines = outcome.lines, "landed and committed");
            }
            // Only now, with the manifest written, may the state be stored by the caller.
            if let Some(state) = outcome.state {
                let mut out = std::io::stdout().lock();
                if let Err(e) = writeln!(out, "{state}").and_then(|()| out.flush()) {
                    eprintln!("target-parquet-arrow: writing state to stdout: {e}");
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("target-parquet-arrow: {e}");
            match e {
                TargetError::Config(_) | TargetError::Store { .. } => ExitCode::from(2),
                TargetError::Interrupted(signal) => ExitCode::from(signal.exit_code()),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

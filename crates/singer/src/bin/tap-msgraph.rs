//! `tap-msgraph`: a Singer tap for Microsoft Graph (drop-in for singer-io/tap-ms-graph).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use graph_extract::{Config, ExtractError};
use msgraph_singer::tap::{self, Selection, TapError, discover};
use stream_spec::Catalog;

#[derive(Parser)]
#[command(
    name = "tap-msgraph",
    version,
    about = "Singer tap for Microsoft Graph"
)]
struct Args {
    /// tap-ms-graph's config.json (tenant_id, client_id, client_secret, scope, page_size,
    /// start_date) plus our options (field_names, streams, graph_base_url, ...).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print the catalog of every stream and exit.
    #[arg(long)]
    discover: bool,
    /// Singer catalog with `selected` metadata: which streams and fields to sync.
    #[arg(long, conflicts_with = "properties")]
    catalog: Option<PathBuf>,
    /// Legacy name of --catalog (properties.json).
    #[arg(long)]
    properties: Option<PathBuf>,
    /// State from an earlier run (bookmarks are carried forward).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Print name, version, capabilities and settings and exit.
    #[arg(long)]
    about: bool,
    /// Format of --about: json, markdown, or hub-yaml (the Meltano Hub plugin definition).
    #[arg(long, default_value = "json")]
    format: String,
}

/// 2: configuration or usage, 1: anything else.
enum Failure {
    Config(String),
    Other(String),
}

fn main() -> ExitCode {
    let args = Args::parse();
    msgraph_singer::init_logging();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(message)) => {
            tracing::error!("{message}");
            eprintln!("tap-msgraph: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Other(message)) => {
            tracing::error!("{message}");
            eprintln!("tap-msgraph: {message}");
            ExitCode::from(1)
        }
    }
}

fn read_json(flag: &str, path: &Path) -> Result<serde_json::Value, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Config(format!("--{flag} {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| Failure::Config(format!("--{flag} {}: not valid JSON: {e}", path.display())))
}

fn print_json(value: &serde_json::Value) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::Other(format!("rendering JSON: {e}")))?;
    writeln!(out, "{text}").map_err(|e| Failure::Other(format!("writing to stdout: {e}")))
}

fn run(args: Args) -> Result<(), Failure> {
    if args.about {
        let text = msgraph_singer::about::TAP
            .render(&args.format)
            .map_err(Failure::Config)?;
        let mut out = std::io::stdout().lock();
        return writeln!(out, "{}", text.trim_end())
            .map_err(|e| Failure::Other(format!("writing to stdout: {e}")));
    }
    let config_text = match &args.config {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| Failure::Config(format!("--config {}: {e}", path.display())))?,
        ),
        None => None,
    };
    let output = match &config_text {
        Some(text) => tap::Output::from_config(text).map_err(|e| Failure::Config(e.to_string()))?,
        None => tap::Output::default(),
    };
    let names = output.names;
    let catalog = match (&args.config, &config_text) {
        (Some(path), Some(text)) => {
            tap::catalog_for(path, text).map_err(|e| Failure::Config(e.to_string()))?
        }
        _ => Catalog::embedded(),
    };
    if args.discover {
        return print_json(&discover::catalog(&catalog, names));
    }
    let Some(path) = &args.config else {
        return Err(Failure::Config(
            "--config is required (tap-ms-graph's config.json: tenant_id, client_id, client_secret, ...)".into(),
        ));
    };
    let config = Config::from_path(path)
        .map_err(|e| Failure::Config(format!("--config {}: {e}", path.display())))?;
    let selection = match args
        .catalog
        .as_ref()
        .map(|p| ("catalog", p))
        .or(args.properties.as_ref().map(|p| ("properties", p)))
    {
        Some((flag, path)) => {
            let singer = read_json(flag, path)?;
            Selection::from_catalog(&catalog, &singer, names)
                .map_err(|e| Failure::Config(format!("--{flag} {}: {e}", path.display())))?
        }
        None => Selection::default_for(&catalog, &config.streams)
            .map_err(|e| Failure::Config(format!("config `streams`: {e}")))?,
    };
    if selection.streams.is_empty() {
        tracing::warn!("no stream is selected; nothing to sync");
    }
    let state = match &args.state {
        Some(path) => Some(read_json("state", path)?),
        None => None,
    };
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| Failure::Other(format!("starting the runtime: {e}")))?;
    let out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout());
    runtime
        .block_on(tap::sync(config, selection, output, state, out))
        .map(drop)
        .map_err(|e| match e {
            TapError::Config(m) => Failure::Config(m),
            TapError::Extract(e @ (ExtractError::Config(_) | ExtractError::Auth(_))) => {
                Failure::Config(e.to_string())
            }
            other => Failure::Other(other.to_string()),
        })
}

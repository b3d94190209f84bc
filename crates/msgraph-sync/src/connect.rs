//! What `sync` and `check` share: the config (file or demo tenant) with flag overrides, and a
//! token fetched up front so bad credentials fail before anything else happens.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use graph_extract::auth::{self, TokenProvider};
use graph_extract::{Config, HttpSettings, build_http_client};
use stream_spec::Catalog;

use crate::demo::Demo;
use crate::failure::Failure;

/// Where the config comes from; flattened into `sync` and `check`.
#[derive(clap::Args, Debug)]
pub struct Source {
    /// Config file (singer-io/tap-ms-graph's config.json works unchanged).
    #[arg(
        long,
        env = "MSGRAPH_SYNC_CONFIG",
        required_unless_present = "demo",
        conflicts_with = "demo"
    )]
    pub config: Option<PathBuf>,
    /// Use the built-in demo tenant (graph-mock, in-process): no Microsoft credentials needed.
    #[arg(long)]
    pub demo: bool,
    /// Streams to use (comma-separated); default: the config's `streams`, else every stream.
    #[arg(long, value_delimiter = ',')]
    pub streams: Vec<String>,
    /// Concurrent Graph requests (overrides the config's `concurrency`, 1..=64).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Extra or overriding stream declarations (`<stream>.json`, as `msgraph-sync streams new`
    /// writes them), no rebuild needed; overrides the config's `streams_dir`.
    #[arg(long, env = "MSGRAPH_SYNC_STREAMS_DIR", value_name = "DIR")]
    pub streams_dir: Option<PathBuf>,
}

pub struct Connection {
    pub config: Config,
    /// The shipped streams plus those of `--streams-dir` / `streams_dir`.
    pub catalog: Catalog,
    pub tokens: Arc<dyn TokenProvider>,
    pub http: reqwest::Client,
    /// Keeps the demo tenant serving for as long as the connection lives.
    pub demo: Option<Demo>,
}

/// The shipped declarations with those of `dir` added, or a configuration error naming it.
pub fn load_catalog(dir: Option<&std::path::Path>) -> Result<Catalog, Failure> {
    Catalog::embedded_with(dir)
        .with_context(|| {
            let dir = dir.map_or_else(String::new, |d| d.display().to_string());
            format!("--streams-dir {dir} (check it with `msgraph-sync streams check {dir}`)")
        })
        .map_err(Failure::Config)
}

pub async fn connect(source: &Source) -> Result<Connection, Failure> {
    let from_file = match (&source.config, source.demo) {
        (Some(path), false) => Some(
            Config::from_path(path)
                .with_context(|| format!("config file {}", path.display()))
                .map_err(Failure::Config)?,
        ),
        _ => None,
    };
    // Read before any request: a bad declaration fails first, and the demo tenant serves the
    // extra streams too.
    let streams_dir = source
        .streams_dir
        .clone()
        .or_else(|| from_file.as_ref().and_then(|c| c.streams_dir.clone()));
    let catalog = load_catalog(streams_dir.as_deref())?;
    let demo = if source.demo {
        Some(Demo::start(catalog.clone()).await.map_err(Failure::Other)?)
    } else {
        None
    };
    let mut config = match (&demo, from_file) {
        (Some(demo), _) => demo.config(),
        (None, Some(config)) => config,
        (None, None) => unreachable!("clap requires --config or --demo"),
    };
    if !source.streams.is_empty() {
        config.streams = source.streams.clone();
    }
    if let Some(n) = source.concurrency {
        config.concurrency = n;
    }
    config.validate().map_err(|e| Failure::Config(e.into()))?;

    let http = build_http_client(&HttpSettings::default()).map_err(|e| Failure::Other(e.into()))?;
    let context = config
        .auth_context(http.clone())
        .map_err(|e| Failure::Config(e.into()))?;
    let tokens = auth::provider(&config.auth, context).map_err(|e| Failure::Config(e.into()))?;
    // A refusal is a credentials problem (exit 2); an identity endpoint still down after the
    // retries is an outage, which a scheduler should retry (exit 1).
    tokens.token().await.map_err(|e| match e.is_permanent() {
        true => Failure::Config(e.into()),
        false => Failure::Other(e.into()),
    })?;
    Ok(Connection {
        config,
        catalog,
        tokens,
        http,
        demo,
    })
}

//! The extractor against graph-mock (in-process, or the binary in its own process) with a fixed latency and the 4-per-mailbox rule. Pages are
//! counted and dropped (the sink has its own benchmark); the mock's request log comes back with
//! the wall time so the xtask can compute the lower bound Graph's limits allow.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use graph_extract::{Config, Extractor, Page};
use graph_mock::{Faults, MockConfig, MockServer};
use stream_spec::Catalog;
use tokio::sync::mpsc;
use xtask::mock_process::MockProcess;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    users: u64,
    #[arg(long)]
    latency_ms: u64,
    /// Global concurrent requests (the config's `concurrency`).
    #[arg(long)]
    concurrency: usize,
    /// Fetch first pages of child streams through `$batch`.
    #[arg(long)]
    batch: bool,
    #[arg(long, value_delimiter = ',')]
    streams: Vec<String>,
    /// Serve the tenant from this `graph-mock` binary, in its own process, instead of in-process
    /// (where the mock shares the extractor's tokio runtime and cores).
    #[arg(long)]
    mock_bin: Option<PathBuf>,
}

/// The tenant: the same mock either way, its request log read back the same way.
enum Mock {
    InProcess(MockServer),
    Process(MockProcess),
}

impl Mock {
    async fn start(args: &Args) -> anyhow::Result<Self> {
        let Some(bin) = &args.mock_bin else {
            let faults = Faults::default()
                .latency(Duration::from_millis(args.latency_ms))
                .mailbox_concurrency(true);
            let config = MockConfig::default().users(args.users).faults(faults);
            return Ok(Self::InProcess(MockServer::start(config).await?));
        };
        let flags = [
            "--users".to_string(),
            args.users.to_string(),
            "--latency-ms".to_string(),
            args.latency_ms.to_string(),
            "--mailbox-concurrency".to_string(),
        ];
        Ok(Self::Process(MockProcess::start(bin, &flags)?))
    }

    fn client_config(&self, extra: serde_json::Value) -> serde_json::Value {
        match self {
            Self::InProcess(mock) => mock.client_config(extra),
            Self::Process(mock) => mock.client_config(extra),
        }
    }

    /// graph-mock's `RequestCounts`, as JSON.
    async fn requests_and_stop(self) -> anyhow::Result<serde_json::Value> {
        match self {
            Self::InProcess(mock) => {
                let requests = serde_json::to_value(mock.requests())?;
                mock.shutdown().await;
                Ok(requests)
            }
            Self::Process(mock) => {
                let url = mock.admin_url("requests");
                let answer = reqwest::get(&url).await?.error_for_status()?;
                Ok(answer.json().await?)
            }
        }
    }
}

pub async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    let mock = Mock::start(&args).await?;
    let config = Config::from_json(
        &mock
            .client_config(serde_json::json!({
                "page_size": 999,
                "concurrency": args.concurrency,
                "use_batch": args.batch,
                "streams": args.streams,
            }))
            .to_string(),
    )?;
    let catalog = Catalog::embedded();
    let outlook: Vec<String> = catalog
        .streams()
        .iter()
        .filter(|s| s.outlook_mailbox_limit && args.streams.contains(&s.stream))
        .map(|s| s.stream.clone())
        .collect();
    let extractor = Extractor::from_config(config, catalog)?;
    let (tx, mut rx) = mpsc::channel::<Page>(64);
    let drain = async move {
        let (mut pages, mut bytes) = (0u64, 0u64);
        while let Some(page) = rx.recv().await {
            pages += 1;
            bytes += page.body.len() as u64;
        }
        (pages, bytes)
    };
    let started = Instant::now();
    // A first run: no state, every stream read in full.
    let fresh = graph_extract::ExtractState::default();
    let (stats, (pages, bytes)) = tokio::join!(extractor.run(&[], tx, fresh, &[]), drain);
    let wall = started.elapsed();
    let stats = stats?;
    let requests = mock.requests_and_stop().await?;
    Ok(serde_json::json!({
        "wall_s": wall.as_secs_f64(),
        "pages": pages,
        "bytes": bytes,
        "rows": stats.streams.values().map(|s| s.rows).sum::<u64>(),
        // Per-stream counts only: the run's delta links and full-scope parent lists are
        // tenant-sized (~8 KB per user) and no figure reads them.
        "stats": {"streams": &stats.streams, "batch": &stats.batch},
        "requests": requests,
        "outlook_streams": outlook,
    }))
}

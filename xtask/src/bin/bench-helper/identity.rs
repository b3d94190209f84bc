//! Issue 17, goal 5: users + groups + group members against graph-mock enforcing Graph's identity
//! budget (resource units per app and tenant over a window). The extractor paces itself from the
//! throttle headers; the mock counts what the run spent and how many requests it refused.

use std::time::{Duration, Instant};

use graph_extract::{Config, Extractor, Page};
use graph_mock::{Faults, MockConfig, MockServer, Sizes};
use stream_spec::Catalog;
use tokio::sync::mpsc;

/// The streams the directory budget covers in this figure.
pub const STREAMS: [&str; 3] = ["users", "groups", "group_member"];

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    users: u64,
    #[arg(long)]
    groups: u64,
    /// Resource units per window (Graph: 3,500 per 10 s for a tenant under 50 users).
    #[arg(long)]
    budget: u32,
    #[arg(long, default_value_t = 10_000)]
    window_ms: u64,
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
    /// Global concurrent requests (the config's `concurrency`).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Fetch first pages of child streams through `$batch`.
    #[arg(long)]
    batch: bool,
}

pub async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    let faults = Faults {
        identity_budget: Some(args.budget),
        identity_window: Duration::from_millis(args.window_ms),
        ..Faults::default().latency(Duration::from_millis(args.latency_ms))
    };
    let sizes = Sizes {
        users: args.users,
        groups: args.groups,
        ..Sizes::default()
    };
    let mock = MockServer::start(MockConfig::default().sizes(sizes).faults(faults)).await?;
    let config = Config::from_json(&crate::config_json(
        &mock,
        serde_json::json!({
            "page_size": 999,
            "concurrency": args.concurrency,
            "use_batch": args.batch,
            "streams": STREAMS,
        }),
    ))?;
    let extractor = Extractor::from_config(config, Catalog::embedded())?;
    let (tx, mut rx) = mpsc::channel::<Page>(64);
    let drain = async move { while rx.recv().await.is_some() {} };
    let started = Instant::now();
    let fresh = graph_extract::ExtractState::default();
    let (stats, ()) = tokio::join!(extractor.run(&[], tx, fresh, &[]), drain);
    let wall = started.elapsed();
    let stats = stats?;
    let truth = mock.truth();
    let requests = mock.requests();
    let spend = mock
        .identity_spend()
        .ok_or_else(|| anyhow::anyhow!("the mock kept no identity budget"))?;
    mock.shutdown().await;
    let mut total = 0;
    let mut throttled = 0;
    let mut streams = serde_json::Map::new();
    for stream in STREAMS {
        let rows = stats.streams.get(stream).map_or(0, |s| s.rows);
        let expected = truth.stream(stream).map_or(0, |t| t.rows);
        anyhow::ensure!(
            rows == expected,
            "{stream}: {rows} rows read, the mock holds {expected}"
        );
        total += requests.requests(stream);
        throttled += requests.count(stream, 429);
        streams.insert(stream.into(), serde_json::json!({"rows": rows}));
    }
    Ok(serde_json::json!({
        "wall_s": wall.as_secs_f64(),
        "spend": spend,
        "offered_units": spend.offered(),
        "used": spend.used(),
        "requests": total,
        "throttled": throttled,
        "streams": streams,
    }))
}

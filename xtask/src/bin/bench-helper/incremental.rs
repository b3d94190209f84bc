//! A full `msgraph-sync sync` vs an incremental one after changing a fraction of the tenant, and
//! a `--full-refresh` rerun (reload and compare against the whole current state, nothing changed).
//! The syncs run as child processes (each under `bench-helper rusage`, so its peak RSS is its
//! own) against an in-process graph-mock, which is mutated between the runs and counts what it
//! served.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use graph_mock::{MockConfig, MockServer, Mutation, Sizes};
use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    users: u64,
    #[arg(long, default_value_t = 1000)]
    messages_per_user: u64,
    #[arg(long, default_value_t = 200)]
    events_per_user: u64,
    #[arg(long, default_value_t = 200)]
    drive_items_per_user: u64,
    /// Percent of users changed, and of the mailbox items (mail, events, drive items) changed:
    /// the items in a tenth of the users' mailboxes, a tenth of each.
    #[arg(long, default_value_t = 1.0)]
    change_percent: f64,
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "users,mail_messages,calendar_events,drive_items"
    )]
    streams: Vec<String>,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Leave out the third run (`--full-refresh`): at tenant scale it costs as long as the first.
    #[arg(long)]
    skip_compare: bool,
    /// The `msgraph-sync` binary.
    #[arg(long)]
    sync_bin: PathBuf,
    /// Scratch directory: config, landing, logs.
    #[arg(long)]
    work: PathBuf,
}

const ITEM_STREAMS: [&str; 3] = ["mail_messages", "calendar_events", "drive_items"];

pub async fn run(args: Args) -> anyhow::Result<Value> {
    let sizes = Sizes {
        users: args.users,
        messages_per_user: args.messages_per_user,
        events_per_user: args.events_per_user,
        drive_items_per_user: args.drive_items_per_user,
        ..Sizes::default()
    };
    let mock = MockServer::start(MockConfig::default().sizes(sizes)).await?;
    std::fs::create_dir_all(&args.work)?;
    let landing = args.work.join("landing");
    let _ = std::fs::remove_dir_all(&landing);
    let config = args.work.join("config.json");
    std::fs::write(
        &config,
        crate::config_json(
            &mock,
            json!({"page_size": 999, "concurrency": args.concurrency, "streams": args.streams}),
        ),
    )?;

    let full = sync(&args, &mock, &config, &landing, "full", &[])?;
    let changed = mutate(&args, &mock)?;
    let incremental = sync(&args, &mock, &config, &landing, "incremental", &[])?;
    let compare = match args.skip_compare {
        true => Value::Null,
        false => sync(
            &args,
            &mock,
            &config,
            &landing,
            "compare",
            &["--full-refresh"],
        )?,
    };
    Ok(json!({
        "users": args.users,
        "messages_per_user": args.messages_per_user,
        "events_per_user": args.events_per_user,
        "drive_items_per_user": args.drive_items_per_user,
        "streams": args.streams,
        "changed": changed,
        "full": full,
        "incremental": incremental,
        "compare": compare,
    }))
}

/// Changes `change_percent` of the users, and as much of the mailbox items.
fn mutate(args: &Args, mock: &MockServer) -> anyhow::Result<Value> {
    let share = args.change_percent / 100.0;
    let users = ((args.users as f64 * share).ceil() as u64).max(1);
    mock.apply(&Mutation::new("users").changed(users))?;
    let mailboxes = ((args.users as f64 * share * 10.0).ceil() as u64).clamp(1, args.users);
    let ids = mock.live_ids("users");
    let mut items = 0;
    for stream in ITEM_STREAMS
        .iter()
        .filter(|s| args.streams.iter().any(|w| w == *s))
    {
        let per_user = match *stream {
            "mail_messages" => args.messages_per_user,
            "calendar_events" => args.events_per_user,
            _ => args.drive_items_per_user,
        };
        let each = per_user.div_ceil(10).max(1);
        for id in ids.iter().take(mailboxes as usize) {
            let done = mock.apply(&Mutation::new(*stream).parent(id.clone()).changed(each))?;
            items += done.changed.len() as u64;
        }
    }
    Ok(json!({"users": users, "mailboxes": mailboxes, "items": items}))
}

fn sync(
    args: &Args,
    mock: &MockServer,
    config: &Path,
    landing: &Path,
    name: &str,
    extra: &[&str],
) -> anyhow::Result<Value> {
    let rusage = args.work.join(format!("{name}.rusage.json"));
    let log = std::fs::File::create(args.work.join(format!("{name}.log")))?;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("rusage")
        .arg("--out")
        .arg(&rusage)
        .arg("--")
        .arg(&args.sync_bin)
        .arg("sync")
        .arg("--config")
        .arg(config)
        .arg("--output")
        .arg(landing)
        .args(extra)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let before = mock.requests();
    let started = Instant::now();
    // The mock answers on this runtime's other workers meanwhile.
    let status = tokio::task::block_in_place(|| command.status())
        .with_context(|| format!("running the {name} sync"))?;
    let wall_s = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!(
            "the {name} sync failed ({status}); see {}",
            args.work.join(format!("{name}.log")).display()
        );
    }
    let after = mock.requests();
    let records: u64 = after
        .by_stream
        .keys()
        .map(|s| after.records(s) - before.records(s))
        .sum();
    let usage: Value = serde_json::from_str(&std::fs::read_to_string(&rusage)?)?;
    let manifest = newest_manifest(landing)?;
    let streams = manifest["streams"].as_object().cloned().unwrap_or_default();
    let sum = |field: &str| -> u64 { streams.values().filter_map(|s| s[field].as_u64()).sum() };
    let changes = |field: &str| -> u64 {
        streams
            .values()
            .filter_map(|s| s["changes"][field].as_u64())
            .sum()
    };
    Ok(json!({
        "wall_s": wall_s,
        "requests": after.total - before.total,
        "bytes_received": after.bytes - before.bytes,
        "records_received": records,
        "rows_landed": sum("rows"),
        "bytes_landed": sum("bytes"),
        "inserts": changes("inserts"),
        "updates": changes("updates"),
        "deletes": changes("deletes"),
        "unchanged": changes("unchanged"),
        "peak_rss_mib": usage["maxrss_kib"].as_f64().unwrap_or(0.0) / 1024.0,
    }))
}

fn newest_manifest(landing: &Path) -> anyhow::Result<Value> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(landing.join("_runs"))?
        .flatten()
        .map(|e| e.path())
        .collect();
    runs.sort();
    let newest = runs.last().context("the sync committed no manifest")?;
    Ok(serde_json::from_str(&std::fs::read_to_string(newest)?)?)
}

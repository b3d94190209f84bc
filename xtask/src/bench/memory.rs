//! Figure 4: peak RSS of the real `msgraph-sync sync` process against a separately started
//! `graph-mock`, at a small and a large tenant. Issue 3's target: large within 10% of small.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use xtask::mock_process::MockProcess;

use super::Ctx;
use super::measure::{self, Spread, shell_line};

pub fn users(quick: bool) -> [u64; 2] {
    match quick {
        true => [50, 500],
        false => [1_000, 20_000],
    }
}

pub fn run(ctx: &Ctx) -> anyhow::Result<(Value, String)> {
    let mock_bin = ctx.bin("graph-mock")?;
    let cli = ctx.bin("msgraph-sync")?;
    let mut results = Vec::new();
    let mut commands = Vec::new();
    let mut medians = Vec::new();
    for users in users(ctx.quick) {
        let mock = MockProcess::start(&mock_bin, &["--users".into(), users.to_string()])?;
        let config = ctx.work.join(format!("memory-{users}.json"));
        std::fs::write(&config, mock.client_config(json!({})).to_string())?;
        let output = ctx.work.join(format!("memory-landing-{users}"));
        let mut cmd = Command::new(&cli);
        cmd.arg("sync")
            .arg("--config")
            .arg(&config)
            .arg("--output")
            .arg(&output);
        commands.push(format!(
            "{} --port 0 --users {users} &   # config: its URLs and test credentials\n{}",
            ctx.rel(&mock_bin),
            shell_line(&cmd, &ctx.root)
        ));
        let mut runs = Vec::new();
        for round in 0..ctx.runs {
            let _ = std::fs::remove_dir_all(&output);
            let log = ctx.work.join(format!("memory-{users}.log"));
            let m = measure::run(&mut cmd, &log, Some(Duration::from_millis(50)))?;
            eprintln!(
                "xtask bench: memory {users} users round {}/{}: peak {:.0} MiB in {:.1} s",
                round + 1,
                ctx.runs,
                m.peak_rss_mib,
                m.wall_s
            );
            runs.push(m);
        }
        drop(mock);
        let rss = Spread::of(runs.iter().map(|m| m.peak_rss_mib));
        let wall = Spread::of(runs.iter().map(|m| m.wall_s));
        let rows = landed_rows(&output);
        medians.push((users, rss, wall, rows));
        // One timeline is enough to see where memory grows; keep the median run's, thinned.
        let mut runs_json = serde_json::to_value(&runs)?;
        if let Some(all) = runs_json.as_array_mut() {
            for run in all.iter_mut() {
                if let Some(t) = run.get_mut("rss_timeline").and_then(Value::as_array_mut) {
                    let step = (t.len() / 400).max(1);
                    *t = t.iter().step_by(step).cloned().collect();
                }
            }
        }
        results.push(json!({"users": users, "peak_rss_mib": rss, "wall_s": wall,
                            "rows_landed": rows, "runs": runs_json}));
    }
    let mut table = String::from(
        "| users | peak RSS MiB, median (min–max) | wall s, median (min–max) | rows landed |\n|---:|---:|---:|---:|\n",
    );
    for (users, rss, wall, rows) in &medians {
        table.push_str(&format!(
            "| {users} | {} | {} | {rows} |\n",
            rss.show(1),
            wall.show(2)
        ));
    }
    let ratio = medians[1].1.median / medians[0].1.median;
    let verdict = if ratio <= 1.10 { "meets" } else { "misses" };
    let markdown = format!(
        "`msgraph-sync sync` (every stream, default options) against the `graph-mock` binary \
         (default sizes per user), peak RSS of the sync process alone (`wait4` in `bench-helper rusage`, which starts it). {} runs each.\n\n\
         {table}\nPeak RSS at {} users / at {} users = **{ratio:.2}** ({verdict} issue 3's target of ≤ 1.10).\n\n\
         Commands:\n\n```sh\n{}\n```\n",
        ctx.runs,
        medians[1].0,
        medians[0].0,
        commands.join("\n")
    );
    Ok((
        json!({"results": results, "ratio": ratio, "commands": commands}),
        markdown,
    ))
}

/// Rows per the landing's manifest (one run per landing directory).
fn landed_rows(landing: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(landing.join("_runs")) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|t| serde_json::from_str::<Value>(&t).ok())
        .map(|m| {
            m["streams"]
                .as_object()
                .map(|s| s.values().filter_map(|v| v["rows"].as_u64()).sum())
                .unwrap_or(0)
        })
        .sum()
}

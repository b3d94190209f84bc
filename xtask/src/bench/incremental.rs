//! Figure 5: a full sync vs an incremental one after changing 1% of the tenant (issue 14), and
//! the peak RSS of reload-and-compare (`--full-refresh` against the whole current state).

use std::process::Command;

use serde_json::{Value, json};

use super::Ctx;
use super::measure::{self, shell_line};

/// (users, messages, events, drive items per user).
pub fn sizes(quick: bool) -> (u64, u64, u64, u64) {
    match quick {
        true => (20, 50, 10, 10),
        false => (1_000, 1_000, 200, 200),
    }
}

pub fn run(ctx: &Ctx) -> anyhow::Result<(Value, String)> {
    let helper = ctx.bin("bench-helper")?;
    let cli = ctx.bin("msgraph-sync")?;
    let (users, messages, events, drive_items) = sizes(ctx.quick);
    let work = ctx.work.join("incremental");
    let mut cmd = Command::new(&helper);
    cmd.arg("incremental")
        .args(["--users", &users.to_string()])
        .args(["--messages-per-user", &messages.to_string()])
        .args(["--events-per-user", &events.to_string()])
        .args(["--drive-items-per-user", &drive_items.to_string()])
        .args(["--change-percent", "1"])
        .arg("--sync-bin")
        .arg(&cli)
        .arg("--work")
        .arg(&work);
    let command = shell_line(&cmd, &ctx.root);
    // One round: each is three whole syncs of a large tenant.
    let m = measure::run(&mut cmd, &ctx.work.join("incremental.log"), None)?;
    let out = m.output;
    let (full, incremental, compare) = (&out["full"], &out["incremental"], &out["compare"]);
    let mut table = String::from(
        "| run | wall s | Graph requests | bytes received | records received | rows landed (inserts / updates / deletes) | bytes landed | peak RSS MiB |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (name, run) in [
        ("full (first run)", full),
        ("incremental (after the change)", incremental),
        ("`--full-refresh` (reload and compare)", compare),
    ] {
        table.push_str(&format!(
            "| {name} | {:.2} | {} | {} | {} | {} ({} / {} / {}) | {} | {:.1} |\n",
            run["wall_s"].as_f64().unwrap_or(f64::NAN),
            run["requests"],
            run["bytes_received"],
            run["records_received"],
            run["rows_landed"],
            run["inserts"],
            run["updates"],
            run["deletes"],
            run["bytes_landed"],
            run["peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
        ));
    }
    let ratio = |field: &str| {
        incremental[field].as_f64().unwrap_or(f64::NAN) / full[field].as_f64().unwrap_or(f64::NAN)
    };
    let (wall, bytes, requests) = (ratio("wall_s"), ratio("bytes_received"), ratio("requests"));
    let verdict = |value: f64, goal: f64| if value <= goal { "meets" } else { "misses" };
    let changed = &out["changed"];
    let markdown = format!(
        "`msgraph-sync sync` (streams `users,mail_messages,calendar_events,drive_items`, `concurrency` 32) \
         as a child process against an in-process graph-mock without latency: {users} users with \
         {messages} messages, {events} events and {drive_items} drive items each. Between the first \
         and the second run the mock changes {} users and {} mailbox items (a tenth of the items in \
         {} mailboxes); the third run rereads everything with `--full-refresh` and compares it with \
         the current state ({} keys held as key and content hash). Requests, bytes and records are \
         the mock's counts; peak RSS is the sync process's own (`bench-helper rusage`). One round.\n\n\
         {table}\n\
         Incremental / full: wall time **{wall:.3}** ({} the goal ≤ 0.10), bytes received **{bytes:.4}** \
         ({} the goal ≤ 0.05), requests {requests:.3}. Per-folder delta costs requests, not bytes: \
         every mailbox folder is one delta request per run even when nothing in it changed, so an \
         incremental run makes a fixed number of requests per mailbox (folder listing plus one per \
         folder) while its bytes follow the changes.\n\n\
         Command:\n\n```sh\n{command}\n```\n",
        changed["users"],
        changed["items"],
        changed["mailboxes"],
        compare["unchanged"],
        verdict(wall, 0.10),
        verdict(bytes, 0.05),
    );
    Ok((
        json!({"result": out, "ratios": {"wall": wall, "bytes_received": bytes, "requests": requests}, "command": command}),
        markdown,
    ))
}

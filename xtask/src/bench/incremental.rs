//! Figure 5: a full sync vs an incremental one after changing 1% of the tenant (issue 14), and
//! the peak RSS of reload-and-compare (`--full-refresh` against the whole current state).

use std::process::Command;

use serde_json::{Value, json};

use super::Ctx;
use super::measure::{self, shell_line};

/// One tenant of the figure.
#[derive(Clone, Copy)]
pub struct Tenant {
    pub users: u64,
    pub messages: u64,
    pub events: u64,
    pub drive_items: u64,
    /// Whether a third run rereads everything and compares (as long again as the first run).
    pub compare: bool,
}

/// The tenants measured: the goal's figure at 10k users (full vs incremental), then
/// reload-and-compare at 1k users, where `mail_messages` is a 1M-row stream.
pub fn tenants(quick: bool) -> Vec<Tenant> {
    let mailbox = |users, compare| Tenant {
        users,
        messages: 1_000,
        events: 200,
        drive_items: 200,
        compare,
    };
    match quick {
        true => vec![Tenant {
            users: 20,
            messages: 50,
            events: 10,
            drive_items: 10,
            compare: true,
        }],
        false => vec![mailbox(10_000, false), mailbox(1_000, true)],
    }
}

pub fn run(ctx: &Ctx) -> anyhow::Result<(Value, String)> {
    let mut results = Vec::new();
    let mut markdown = String::from(SETUP);
    let mut ratios = Value::Null;
    for tenant in tenants(ctx.quick) {
        let (result, command) = measure_tenant(ctx, tenant)?;
        markdown.push_str(&describe(tenant, &result, &command));
        // The goals are judged on the first (largest) tenant.
        if ratios.is_null() {
            ratios = goal_ratios(&result);
            markdown.push_str(&verdicts(&ratios));
        }
        results.push(json!({"result": result, "command": command}));
    }
    Ok((json!({"runs": results, "ratios": ratios}), markdown))
}

fn measure_tenant(ctx: &Ctx, tenant: Tenant) -> anyhow::Result<(Value, String)> {
    let helper = ctx.bin("bench-helper")?;
    let cli = ctx.bin("msgraph-sync")?;
    let work = ctx.work.join(format!("incremental-{}", tenant.users));
    let mut cmd = Command::new(&helper);
    cmd.arg("incremental")
        .args(["--users", &tenant.users.to_string()])
        .args(["--messages-per-user", &tenant.messages.to_string()])
        .args(["--events-per-user", &tenant.events.to_string()])
        .args(["--drive-items-per-user", &tenant.drive_items.to_string()])
        .args(["--change-percent", "1"]);
    if !tenant.compare {
        cmd.arg("--skip-compare");
    }
    cmd.arg("--sync-bin").arg(&cli).arg("--work").arg(&work);
    let command = shell_line(&cmd, &ctx.root);
    // One round: each is two or three whole syncs of a large tenant.
    let log = ctx.work.join(format!("incremental-{}.log", tenant.users));
    let m = measure::run(&mut cmd, &log, None)?;
    // The landing is gigabytes at tenant scale and only the counts are kept.
    let _ = std::fs::remove_dir_all(work.join("landing"));
    Ok((m.output, command))
}

fn describe(tenant: Tenant, out: &Value, command: &str) -> String {
    let Tenant {
        users,
        messages,
        events,
        drive_items,
        compare,
    } = tenant;
    let changed = &out["changed"];
    let mut rows = vec![
        ("full (first run)", &out["full"]),
        ("incremental (after the change)", &out["incremental"]),
    ];
    let third = match compare {
        true => {
            rows.push(("`--full-refresh` (reload and compare)", &out["compare"]));
            format!(
                " The third run rereads everything with `--full-refresh` and compares it with the \
                 current state ({} keys held as key and content hash).",
                out["compare"]["unchanged"]
            )
        }
        false => String::new(),
    };
    let mut table = String::from(
        "| run | wall s | Graph requests | bytes received | records received | rows landed (inserts / updates / deletes) | bytes landed | peak RSS MiB |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (name, run) in rows {
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
    format!(
        "**{users} users** with {messages} messages, {events} events and {drive_items} drive items \
         each. Between the first and the second run the mock changes {} users and {} mailbox items \
         (a tenth of the items in {} mailboxes).{third}\n\n{table}\nCommand:\n\n```sh\n{command}\n```\n\n",
        changed["users"], changed["items"], changed["mailboxes"],
    )
}

fn goal_ratios(out: &Value) -> Value {
    let ratio = |field: &str| {
        out["incremental"][field].as_f64().unwrap_or(f64::NAN)
            / out["full"][field].as_f64().unwrap_or(f64::NAN)
    };
    json!({
        "users": out["users"],
        "wall": ratio("wall_s"),
        "bytes_received": ratio("bytes_received"),
        "requests": ratio("requests"),
    })
}

fn verdicts(ratios: &Value) -> String {
    let get = |field: &str| ratios[field].as_f64().unwrap_or(f64::NAN);
    let verdict = |value: f64, goal: f64| if value <= goal { "meets" } else { "misses" };
    let (wall, bytes) = (get("wall"), get("bytes_received"));
    format!(
        "Incremental / full at {} users: wall time **{wall:.3}** ({} the goal ≤ 0.10), bytes \
         received **{bytes:.4}** ({} the goal ≤ 0.05), requests {:.3}. Per-folder delta costs \
         requests, not bytes: every mailbox folder is one delta request per run even when nothing \
         in it changed, so an incremental run makes a fixed number of requests per mailbox (folder \
         listing plus one per folder) while its bytes follow the changes.\n\n",
        ratios["users"],
        verdict(wall, 0.10),
        verdict(bytes, 0.05),
        get("requests"),
    )
}

/// The figure's opening: what runs, the same for every tenant.
const SETUP: &str = "`msgraph-sync sync` (streams `users,mail_messages,calendar_events,drive_items`, \
    `concurrency` 32) as a child process against an in-process graph-mock without latency. \
    Requests, bytes and records are the mock's counts; peak RSS is the sync process's own \
    (`bench-helper rusage`). One round each.\n\n";

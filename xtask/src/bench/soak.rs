//! The soak (issue 15, item 12), written to RELIABILITY.md: one full sync of every stream under
//! every fault at once, the landing compared key by key with the mock's truth.

use std::process::Command;

use serde_json::{Value, json};

use super::Ctx;
use super::measure::{self, shell_line};

pub fn users(quick: bool) -> u64 {
    match quick {
        true => 50,
        false => 5_000,
    }
}

pub fn run(ctx: &Ctx) -> anyhow::Result<(Value, String)> {
    let helper = ctx.bin("bench-helper")?;
    let cli = ctx.bin("msgraph-sync")?;
    let users = users(ctx.quick);
    let work = ctx.work.join(format!("soak-{users}"));
    let mut cmd = Command::new(&helper);
    cmd.arg("soak")
        .args(["--users", &users.to_string()])
        .arg("--sync-bin")
        .arg(&cli)
        .arg("--work")
        .arg(&work);
    let command = shell_line(&cmd, &ctx.root);
    let log = ctx.work.join(format!("soak-{users}.log"));
    let m = measure::run(&mut cmd, &log, None)?;
    let out = m.output;
    let _ = std::fs::remove_dir_all(work.join("landing"));
    let exact = out["exit_code"] == json!(0)
        && out["lost"] == json!(0)
        && out["extra"] == json!(0)
        && out["duplicates"] == json!(0);
    if !exact {
        // A benchmark, not a test: the figure says what happened either way, but a soak that
        // loses rows must not pass silently in CI's smoke run.
        anyhow::bail!("the soak did not land exactly: {out}");
    }
    let markdown = describe(&out, &command);
    Ok((json!({"result": out, "command": command}), markdown))
}

fn describe(out: &Value, command: &str) -> String {
    let faults = &out["faults"];
    let percent = |v: &Value| v.as_f64().unwrap_or(f64::NAN) * 100.0;
    format!(
        "graph-mock in-process with every fault at once: {:.0}% of Graph requests answered 429 \
         (Retry-After in seconds, as an HTTP date, or absent), {:.0}% 503/504, {:.0}% dropped \
         connections, {:.0}% truncated bodies, Outlook's 4 concurrent requests per mailbox, and \
         access tokens that expire after {} s. `msgraph-sync sync` as a child process, every \
         stream, `concurrency` 32, `use_batch` {}, one run on a fresh landing; then every \
         stream's landed keys are compared with the mock's truth.\n\n\
         | users | streams | exit | wall s | Graph requests | 429 | 503 | 504 | dropped | truncated | 401 | tokens issued | rows landed | **lost** | **extra** | **duplicates** |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n\
         | {} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} | **{}** | **{}** | **{}** |\n\n\
         Command:\n\n```sh\n{command}\n```\n",
        percent(&faults["throttle"]),
        percent(&faults["unavailable"]),
        percent(&faults["drop"]),
        percent(&faults["truncate"]),
        faults["token_ttl_s"],
        out["batch"],
        out["users"],
        out["streams_compared"],
        out["exit_code"],
        out["wall_s"].as_f64().unwrap_or(f64::NAN),
        out["requests"],
        out["answered_429"],
        out["answered_503"],
        out["answered_504"],
        out["dropped"],
        out["truncated"],
        out["answered_401"],
        out["tokens_issued"],
        out["rows_landed"],
        out["lost"],
        out["extra"],
        out["duplicates"],
    )
}

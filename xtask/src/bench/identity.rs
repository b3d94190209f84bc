//! Figure 6: a users + groups + members run on a mock enforcing Graph's identity budget: the
//! share of the budget the run used and the share of its requests answered 429.

use std::process::Command;

use serde_json::{Value, json};

use super::Ctx;
use super::measure::{self, Spread, shell_line};

/// One budget to run against.
struct Case {
    label: &'static str,
    users: u64,
    groups: u64,
    budget: u32,
    window_ms: u64,
    batch: bool,
}

fn cases(quick: bool) -> Vec<Case> {
    // Graph's budget for a tenant over 500 users (8,000 units per 10 s), and a tight one whose
    // bucket holds little more than the requests in flight, where pacing is hardest.
    let graph = |groups, batch| Case {
        label: "Graph's, over 500 users",
        users: 1_000,
        groups,
        budget: 8_000,
        window_ms: 10_000,
        batch,
    };
    let tight = |groups| Case {
        label: "tight",
        users: 100,
        groups,
        budget: 600,
        window_ms: 1_000,
        batch: false,
    };
    match quick {
        true => vec![tight(1_500)],
        false => vec![graph(24_000, false), graph(24_000, true), tight(6_000)],
    }
}

pub const LATENCY_MS: u64 = 20;
pub const CONCURRENCY: usize = 32;

pub fn run(ctx: &Ctx) -> anyhow::Result<(Value, String)> {
    let helper = ctx.bin("bench-helper")?;
    let mut results = Vec::new();
    let mut commands = Vec::new();
    let mut table = String::from(
        "| budget | users | groups | `$batch` | wall s, median (min–max) | units spent | units offered (bucket + refill over the run) | budget used, median (min–max) | requests | 429s | 429 share |\n\
         |---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for case in cases(ctx.quick) {
        let mut cmd = Command::new(&helper);
        cmd.arg("identity")
            .args(["--users", &case.users.to_string()])
            .args(["--groups", &case.groups.to_string()])
            .args(["--budget", &case.budget.to_string()])
            .args(["--window-ms", &case.window_ms.to_string()])
            .args(["--latency-ms", &LATENCY_MS.to_string()])
            .args(["--concurrency", &CONCURRENCY.to_string()]);
        if case.batch {
            cmd.arg("--batch");
        }
        commands.push(shell_line(&cmd, &ctx.root));
        let mut runs = Vec::new();
        for round in 0..ctx.runs {
            let log = ctx
                .work
                .join(format!("identity-{}-{}.log", case.groups, case.batch));
            let m = measure::run(&mut cmd, &log, None)?;
            eprintln!(
                "xtask bench: identity {} / {} groups batch={} round {}/{}: {:.2} s, {:.1}% used, {} of {} answered 429",
                case.label,
                case.groups,
                case.batch,
                round + 1,
                ctx.runs,
                m.output["wall_s"].as_f64().unwrap_or(f64::NAN),
                m.output["used"].as_f64().unwrap_or(f64::NAN) * 100.0,
                m.output["throttled"],
                m.output["requests"],
            );
            runs.push(m);
        }
        let wall = Spread::of(runs.iter().filter_map(|m| m.output["wall_s"].as_f64()));
        let used = Spread::of(
            runs.iter()
                .filter_map(|m| m.output["used"].as_f64().map(|u| u * 100.0)),
        );
        let requests: u64 = runs
            .iter()
            .filter_map(|m| m.output["requests"].as_u64())
            .sum();
        let throttled: u64 = runs
            .iter()
            .filter_map(|m| m.output["throttled"].as_u64())
            .sum();
        let last = &runs[runs.len() - 1].output;
        table.push_str(&format!(
            "| {} ({} per {} s) | {} | {} | {} | {} | {} | {:.0} | {} % | {} | {} | {:.2} % |\n",
            case.label,
            case.budget,
            case.window_ms as f64 / 1e3,
            case.users,
            case.groups,
            if case.batch { "on" } else { "off" },
            wall.show(2),
            last["spend"]["units"],
            last["offered_units"].as_f64().unwrap_or(f64::NAN),
            used.show(1),
            last["requests"],
            last["throttled"],
            throttled as f64 * 100.0 / requests.max(1) as f64,
        ));
        results.push(json!({
            "case": case.label, "users": case.users, "groups": case.groups,
            "budget": case.budget, "window_ms": case.window_ms, "batch": case.batch,
            "wall_s": wall, "used_percent": used, "requests": requests, "throttled": throttled,
            "runs": runs,
        }));
    }
    let markdown = format!(
        "Streams `users`, `groups` and `group_member` (users cost 2 resource units, members 3, \
         each 1 less with `$select`, as Graph charges) against graph-mock in-process with {LATENCY_MS} ms \
         latency and the identity budget on: a token bucket of units per app and tenant that \
         refills over its window, answers carrying `x-ms-resource-unit`, `x-ms-throttle-scope` \
         and, past 80%, `x-ms-throttle-limit-percentage`, and 429 with `Retry-After` when empty. \
         The extractor runs with `concurrency` {CONCURRENCY} and its default retry policy and \
         paces each throttle scope from those headers. Budget used = units the mock charged / \
         units it offered from the first charge to the last (the full bucket it starts with plus \
         what refilled meanwhile), so 100% is the fastest any client could go. Every run is checked \
         against the mock's truth (rows of each stream). The 429 share sums every run's requests. \
         {} runs each.\n\n{table}\nCommands:\n\n```sh\n{}\n```\n",
        ctx.runs,
        commands.join("\n")
    );
    Ok((json!({"results": results, "commands": commands}), markdown))
}

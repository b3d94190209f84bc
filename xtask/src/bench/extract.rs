//! Figure 3: extraction wall time against the lower bound Graph's limits allow, computed from the
//! mock's request log, with and without `$batch`.

use std::process::Command;

use serde::Serialize;
use serde_json::{Value, json};

use super::Ctx;
use super::measure::{self, Spread, shell_line};

/// The Outlook streams (4 concurrent requests per mailbox) and the users they fan out over.
pub const STREAMS: &str = "users,mail_messages,calendar_events,contacts";
pub const LATENCY_MS: u64 = 20;
/// Global concurrent requests; stated in the report.
pub const CONCURRENCY: usize = 32;
pub const PER_MAILBOX: u64 = 4;

pub fn users(quick: bool) -> Vec<u64> {
    match quick {
        true => vec![50, 200],
        false => vec![1_000, 10_000],
    }
}

/// What the request log says a perfect client needs, and the time that takes at best.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bound {
    /// Successful Graph requests (`$batch` items counted one by one, envelopes not).
    pub needed: u64,
    pub http_requests: u64,
    pub batch_envelopes: u64,
    pub throttled_429: u64,
    pub users_pages: u64,
    pub outlook_per_mailbox: f64,
    /// needed × latency / concurrency: every answer holds one of `concurrency` slots for one
    /// latency. The same with `$batch`: the mock, like Graph, serves a batch's items in parallel,
    /// each paying the latency once, and the extractor counts items, not envelopes, as requests.
    pub global_s: f64,
    /// ceil(requests per mailbox / 4) × latency.
    pub mailbox_s: f64,
    /// The users chain is sequential, and its last page's children need one more round trip.
    pub chain_s: f64,
    pub lower_bound_s: f64,
}

/// `requests` is graph-mock's `RequestCounts` as JSON; `outlook` the Outlook streams selected.
pub fn lower_bound(
    requests: &Value,
    outlook: &[String],
    users: u64,
    latency_s: f64,
    concurrency: usize,
) -> Bound {
    let by_stream = requests["by_stream"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let status_sum = |stream: &str, ok: bool| -> u64 {
        by_stream
            .get(stream)
            .and_then(|s| s["by_status"].as_object())
            .map(|m| {
                m.iter()
                    .filter(|(code, _)| match ok {
                        true => code.starts_with('2'),
                        false => code.as_str() == "429",
                    })
                    .map(|(_, n)| n.as_u64().unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0)
    };
    let streams: Vec<&String> = by_stream
        .keys()
        .filter(|s| !s.starts_with(['$', '_']))
        .collect();
    let needed: u64 = streams.iter().map(|s| status_sum(s, true)).sum();
    let throttled: u64 = streams.iter().map(|s| status_sum(s, false)).sum();
    let outlook_needed: u64 = outlook.iter().map(|s| status_sum(s, true)).sum();
    let users_pages = status_sum("users", true);
    let per_mailbox = outlook_needed as f64 / users.max(1) as f64;
    let global_s = needed as f64 * latency_s / concurrency.max(1) as f64;
    let mailbox_s = (per_mailbox / PER_MAILBOX as f64).ceil() * latency_s;
    let chain_s = (users_pages + 1) as f64 * latency_s;
    Bound {
        needed,
        http_requests: requests["total"].as_u64().unwrap_or(0),
        batch_envelopes: status_sum("$batch", true),
        throttled_429: throttled,
        users_pages,
        outlook_per_mailbox: per_mailbox,
        global_s,
        mailbox_s,
        chain_s,
        lower_bound_s: global_s.max(mailbox_s).max(chain_s),
    }
}

pub fn run(ctx: &Ctx) -> anyhow::Result<(Value, String)> {
    let helper = ctx.bin("bench-helper")?;
    let mock_bin = ctx.bin("graph-mock")?;
    let mut results = Vec::new();
    let mut commands = Vec::new();
    let mut table = String::from(
        "| users | `$batch` | wall s, median (min–max) | lower bound s = max(2xx × latency / concurrency, ⌈per mailbox / 4⌉ × latency, (users pages + 1) × latency) | wall / bound | HTTP requests | `$batch` envelopes | requests answered 2xx | 429s | rows |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for users in users(ctx.quick) {
        for batch in [false, true] {
            let mut cmd = Command::new(&helper);
            cmd.arg("extract")
                .args(["--users", &users.to_string()])
                .args(["--latency-ms", &LATENCY_MS.to_string()])
                .args(["--concurrency", &CONCURRENCY.to_string()])
                .args(["--streams", STREAMS])
                .arg("--mock-bin")
                .arg(&mock_bin);
            if batch {
                cmd.arg("--batch");
            }
            commands.push(shell_line(&cmd, &ctx.root));
            let mut runs = Vec::new();
            for round in 0..ctx.runs {
                let log = ctx.work.join(format!("extract-{users}-{batch}.log"));
                let m = measure::run(&mut cmd, &log, None)?;
                eprintln!(
                    "xtask bench: extract {users} users batch={batch} round {}/{}: {:.2} s",
                    round + 1,
                    ctx.runs,
                    m.output["wall_s"].as_f64().unwrap_or(f64::NAN)
                );
                runs.push(m);
            }
            let last = &runs[runs.len() - 1].output;
            let outlook: Vec<String> = serde_json::from_value(last["outlook_streams"].clone())?;
            let bound = lower_bound(
                &last["requests"],
                &outlook,
                users,
                LATENCY_MS as f64 / 1e3,
                CONCURRENCY,
            );
            let wall = Spread::of(runs.iter().filter_map(|m| m.output["wall_s"].as_f64()));
            table.push_str(&format!(
                "| {users} | {} | {} | {:.2} | {:.2} | {} | {} | {} | {} | {} |\n",
                if batch { "on" } else { "off" },
                wall.show(2),
                bound.lower_bound_s,
                wall.median / bound.lower_bound_s,
                bound.http_requests,
                bound.batch_envelopes,
                bound.needed,
                bound.throttled_429,
                last["rows"],
            ));
            results.push(json!({
                "users": users, "batch": batch, "wall_s": wall, "bound": bound,
                "wall_over_bound": wall.median / bound.lower_bound_s,
                "peak_rss_mib": Spread::of(runs.iter().map(|m| m.peak_rss_mib)),
                "runs": runs,
            }));
        }
    }
    let markdown = format!(
        "The `graph-mock` binary in its own process (so it does not share the extractor's tokio \
         runtime; it still shares the machine's cores) with {LATENCY_MS} ms latency on every Graph answer and Outlook's \
         {PER_MAILBOX} concurrent requests per mailbox enforced; the extractor with `concurrency` \
         {CONCURRENCY}, `page_size` 999, streams `{STREAMS}` (mock default sizes per user); pages are \
         counted, not landed. Wall time is the extractor's `run` (token included, mock start excluded). \
         Lower bound = max(2xx answers × latency / concurrency, ⌈requests per mailbox / {PER_MAILBOX}⌉ × \
         latency, (users pages + 1) × latency), from the mock's request log of the last run; \
         `$batch` items count one by one (envelopes not), because the mock, like Graph, serves a \
         batch's items in parallel, each paying the latency once and each holding one of the \
         `concurrency` slots, so the same bound holds with and without `$batch`. \
         {} runs each.\n\n{table}\nCommands:\n\n```sh\n{}\n```\n",
        ctx.runs,
        commands.join("\n")
    );
    Ok((json!({"results": results, "commands": commands}), markdown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_is_the_tightest_of_global_mailbox_and_chain() {
        let requests = json!({
            "total": 130,
            "by_stream": {
                "users": {"by_status": {"200": 2}},
                "mail_messages": {"by_status": {"200": 100, "429": 3}},
                "contacts": {"by_status": {"200": 100}},
                "$batch": {"by_status": {"200": 10}},
                "_unauthenticated": {"by_status": {"401": 1}}
            }
        });
        let outlook = vec!["mail_messages".to_string(), "contacts".to_string()];
        let b = lower_bound(&requests, &outlook, 100, 0.02, 4);
        assert_eq!(b.needed, 202);
        assert_eq!(b.throttled_429, 3);
        assert_eq!(b.batch_envelopes, 10);
        assert_eq!(b.http_requests, 130);
        assert!((b.global_s - 202.0 * 0.02 / 4.0).abs() < 1e-9);
        assert!(
            (b.mailbox_s - 0.02).abs() < 1e-9,
            "2 per mailbox fit in one round"
        );
        assert!((b.chain_s - 0.06).abs() < 1e-9);
        assert_eq!(b.lower_bound_s, b.global_s);
        // One user with 9 Outlook requests: three rounds of 4 on that mailbox dominate.
        let one = json!({"total": 10, "by_stream": {
            "users": {"by_status": {"200": 1}}, "mail_messages": {"by_status": {"200": 9}}}});
        let b = lower_bound(&one, &outlook[..1], 1, 0.02, 64);
        assert!((b.lower_bound_s - 0.06).abs() < 1e-9, "{b:?}");
    }
}

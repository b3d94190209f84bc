//! Figure 1: the same mail_messages rows to Parquet (zstd) by arrow-sink, DuckDB and pyarrow at N
//! threads, and ours at 1 thread for scaling; runs interleaved so drift on a shared machine hits
//! all tools alike.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use serde_json::json;

use super::Ctx;
use super::measure::{self, Measured, Spread, shell_line};

pub struct Sizes {
    pub users: u64,
    pub messages_per_user: u64,
}

pub fn sizes(quick: bool) -> Sizes {
    match quick {
        true => Sizes {
            users: 5,
            messages_per_user: 1000,
        },
        false => Sizes {
            users: 1000,
            messages_per_user: 1000,
        },
    }
}

/// The generated pages for these sizes, made once and reused by later runs.
pub fn data(ctx: &Ctx, sizes: &Sizes) -> anyhow::Result<(PathBuf, serde_json::Value)> {
    let dir = ctx.work.join(format!(
        "data-mail-{}x{}",
        sizes.users, sizes.messages_per_user
    ));
    let meta_path = dir.join("meta.json");
    if let Ok(text) = std::fs::read_to_string(&meta_path) {
        return Ok((dir, serde_json::from_str(&text)?));
    }
    let mut cmd = Command::new(ctx.bin("bench-helper")?);
    cmd.arg("gen-pages")
        .args(["--users", &sizes.users.to_string()])
        .args(["--messages-per-user", &sizes.messages_per_user.to_string()])
        .arg("--out")
        .arg(&dir);
    eprintln!(
        "xtask bench: generating pages: {}",
        shell_line(&cmd, &ctx.root)
    );
    let m = measure::run(&mut cmd, &ctx.work.join("gen-pages.log"), None)?;
    eprintln!("xtask bench: generated in {:.1} s", m.wall_s);
    Ok((dir, m.output))
}

/// Builds a tool's command line for a thread count and an output path.
type CommandFor = Box<dyn Fn(usize, &Path) -> Command>;

struct Tool {
    name: &'static str,
    command: CommandFor,
}

pub fn run(ctx: &Ctx) -> anyhow::Result<(serde_json::Value, String)> {
    let sizes = sizes(ctx.quick);
    let (data, meta) = data(ctx, &sizes)?;
    let tools = ctx.tools()?;
    let [duck_py, arrow_py, _] = &ctx.scripts;
    let ndjson = data.join("records.ndjson");
    let helper = ctx.bin("bench-helper")?;
    let tools_list = [
        Tool {
            name: "arrow-sink (ours)",
            command: Box::new({
                let data = data.clone();
                move |threads, out| {
                    let mut c = Command::new(&helper);
                    c.arg("sink")
                        .arg("--data")
                        .arg(&data)
                        .arg("--out")
                        .arg(out)
                        .args(["--threads", &threads.to_string()]);
                    c
                }
            }),
        },
        Tool {
            name: "DuckDB",
            command: python_tool(&tools.python, duck_py, &ndjson),
        },
        Tool {
            name: "pyarrow",
            command: python_tool(&tools.python, arrow_py, &ndjson),
        },
    ];
    let all = ctx.nproc;
    // (tool index, threads): everyone at N, ours at 1 too.
    let mut plan: Vec<(usize, usize)> = (0..tools_list.len()).map(|i| (i, all)).collect();
    if all > 1 {
        plan.insert(0, (0, 1));
    }
    let mut runs: Vec<(String, usize, Vec<Measured>)> = Vec::new();
    let mut commands = Vec::new();
    for &(i, t) in &plan {
        let tool = &tools_list[i];
        runs.push((tool.name.to_string(), t, Vec::new()));
        let out = ctx.work.join("sink-out").join(match i {
            0 => "landing",
            _ => "out.parquet",
        });
        commands.push(shell_line(&(tool.command)(t, &out), &ctx.root));
    }
    for round in 0..ctx.runs {
        for (k, &(i, t)) in plan.iter().enumerate() {
            let tool = &tools_list[i];
            let out_dir = ctx.work.join("sink-out");
            let _ = std::fs::remove_dir_all(&out_dir);
            std::fs::create_dir_all(&out_dir)?;
            let out = match i {
                0 => out_dir.join("landing"),
                _ => out_dir.join("out.parquet"),
            };
            let log = ctx.work.join(format!("sink-{i}-{t}.log"));
            let m = measure::run(&mut (tool.command)(t, &out), &log, None)
                .with_context(|| format!("{} at {t} thread(s)", tool.name))?;
            eprintln!(
                "xtask bench: sink round {}/{}: {} x{t}: {:.2} s, {:.0} MiB",
                round + 1,
                ctx.runs,
                tool.name,
                m.wall_s,
                m.peak_rss_mib
            );
            runs[k].2.push(m);
        }
    }
    let rows = meta["rows"].as_u64().unwrap_or(0);
    let mb = meta["ndjson_bytes"].as_u64().unwrap_or(0) as f64 / 1e6;
    let ours_at = |t: usize| {
        runs.iter()
            .find(|(name, th, _)| name.contains("ours") && *th == t)
            .map(|(_, _, m)| Spread::of(m.iter().map(|m| m.wall_s)).median)
    };
    let mut table = String::from(
        "| tool | threads | wall s, median (min–max) | rows/s | MB/s | CPU s | peak RSS MiB | Parquet MB | ours is × faster |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut summary = Vec::new();
    for (name, t, ms) in &runs {
        let wall = Spread::of(ms.iter().map(|m| m.wall_s));
        let cpu = Spread::of(ms.iter().map(Measured::cpu_s));
        let rss = Spread::of(ms.iter().map(|m| m.peak_rss_mib));
        let out_mb = ms
            .last()
            .and_then(|m| m.output["bytes_out"].as_u64())
            .unwrap_or(0) as f64
            / 1e6;
        let out_rows = ms.last().and_then(|m| m.output["rows"].as_u64());
        let ratio = ours_at(*t).map(|o| wall.median / o).unwrap_or(f64::NAN);
        table.push_str(&format!(
            "| {name} | {t} | {} | {:.0} | {:.1} | {:.1} | {} | {out_mb:.1} | {ratio:.2} |\n",
            wall.show(2),
            rows as f64 / wall.median,
            mb / wall.median,
            cpu.median,
            rss.show(0),
        ));
        summary.push(json!({
            "tool": name, "threads": t, "wall_s": wall, "cpu_s": cpu, "peak_rss_mib": rss,
            "rows_per_s": rows as f64 / wall.median, "mb_per_s": mb / wall.median,
            "rows_out": out_rows, "parquet_mb": out_mb, "other_over_ours": ratio,
            "runs": ms,
        }));
    }
    let scaling = match (ours_at(1), ours_at(ctx.nproc)) {
        (Some(one), Some(n)) if ctx.nproc > 1 => format!(
            "Ours from 1 to {} threads: {:.2}× faster (wall {one:.2} s -> {n:.2} s).\n",
            ctx.nproc,
            one / n
        ),
        _ => String::new(),
    };
    let markdown = format!(
        "Input: {rows} `mail_messages` rows ({} users × {} messages, nested fields, one body over 1 MB) \
         as {} Graph pages ({:.1} MB) for ours and the same records as NDJSON ({mb:.1} MB) for the peers. \
         MB/s is NDJSON MB per wall second for every tool; wall time is the whole process \
         (Python start and imports included for the peers). {} runs each, interleaved.\n\n{table}\n{scaling}\n\
         Commands (pages and NDJSON made once by `{}`):\n\n```sh\n{}\n```\n",
        sizes.users,
        sizes.messages_per_user,
        meta["pages"],
        meta["page_bytes"].as_u64().unwrap_or(0) as f64 / 1e6,
        ctx.runs,
        format_args!(
            "{} gen-pages --users {} --messages-per-user {} --out {}",
            ctx.rel(&ctx.bin("bench-helper")?),
            sizes.users,
            sizes.messages_per_user,
            ctx.rel(&data)
        ),
        commands.join("\n"),
    );
    Ok((
        json!({"input": meta, "threads": all, "results": summary, "commands": commands}),
        markdown,
    ))
}

fn python_tool(python: &Path, script: &Path, src: &Path) -> CommandFor {
    let (python, script, src) = (
        python.to_path_buf(),
        script.to_path_buf(),
        src.to_path_buf(),
    );
    Box::new(move |threads, out| {
        let mut c = Command::new(&python);
        c.arg(&script).arg(&src).arg(out).arg(threads.to_string());
        c
    })
}

//! Figure 2: the same mail_messages rows as a Singer stream (SCHEMA, then RECORD lines) into our
//! target and into PyPI's `target-parquet`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use serde_json::{Value, json};
use stream_spec::{Catalog, Field, FieldType};

use super::Ctx;
use super::measure::{self, Measured, Spread, shell_line};
use super::sink::Sizes;

/// Issue 17 compares the target with DuckDB at 2 threads each.
const DUCKDB_THREADS: usize = 2;

/// Fewer rows than the sink figure: the Python target holds every record in memory until EOF.
pub fn sizes(quick: bool) -> Sizes {
    match quick {
        true => Sizes {
            users: 2,
            messages_per_user: 1000,
        },
        false => Sizes {
            users: 100,
            messages_per_user: 1000,
        },
    }
}

/// JSON Schema of one declared field, as a tap would send it in SCHEMA.
fn json_schema(t: &FieldType, nullable: bool) -> Value {
    let mut schema = match t {
        FieldType::Utf8 => json!({"type": ["string"]}),
        FieldType::Boolean => json!({"type": ["boolean"]}),
        FieldType::Int32 | FieldType::Int64 => json!({"type": ["integer"]}),
        FieldType::Float64 => json!({"type": ["number"]}),
        FieldType::Date => json!({"type": ["string"], "format": "date"}),
        FieldType::TimestampUsUtc => json!({"type": ["string"], "format": "date-time"}),
        FieldType::Json => json!({}),
        FieldType::List(item) => json!({"type": ["array"], "items": json_schema(item, true)}),
        FieldType::Struct(fields) => object_schema(fields),
    };
    if nullable && let Some(types) = schema["type"].as_array_mut() {
        types.insert(0, json!("null"));
    }
    schema
}

fn object_schema(fields: &[Field]) -> Value {
    let properties: serde_json::Map<String, Value> = fields
        .iter()
        .map(|f| (f.graph.clone(), json_schema(&f.data_type, f.nullable)))
        .collect();
    json!({"type": ["object"], "properties": properties})
}

/// SCHEMA + one RECORD per NDJSON line, written once next to the data.
fn singer_lines(data: &Path) -> anyhow::Result<PathBuf> {
    let path = data.join("singer.jsonl");
    if path.exists() {
        return Ok(path);
    }
    let spec = Catalog::embedded().get("mail_messages")?.clone();
    let schema = json!({"type": "SCHEMA", "stream": "mail_messages",
                        "schema": object_schema(&spec.fields), "key_properties": ["id"]});
    let records = std::fs::read_to_string(data.join("records.ndjson"))?;
    let mut out = schema.to_string();
    out.push('\n');
    for record in records.lines() {
        out.push_str(r#"{"type":"RECORD","stream":"mail_messages","record":"#);
        out.push_str(record);
        out.push_str("}\n");
    }
    let partial = path.with_extension("partial");
    std::fs::write(&partial, out)?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

pub fn run(ctx: &Ctx) -> anyhow::Result<(Value, String)> {
    let sizes = sizes(ctx.quick);
    let (data, meta) = super::sink::data(ctx, &sizes)?;
    let lines = singer_lines(&data)?;
    let tools = ctx.tools()?;
    let out = ctx.work.join("singer-out");
    let config = ctx.work.join("target-parquet.json");
    std::fs::write(
        &config,
        json!({"destination_path": out, "disable_collection": true}).to_string(),
    )?;
    let mut peer = Command::new(&tools.python);
    peer.arg(&ctx.scripts[2]).arg("-c").arg(&config);
    // DuckDB reads the same records as NDJSON (no Singer envelope), as figure 1 runs it.
    let mut duckdb = Command::new(&tools.python);
    duckdb
        .arg(&ctx.scripts[0])
        .arg(data.join("records.ndjson"))
        .arg(out.join("duckdb.parquet"))
        .arg(DUCKDB_THREADS.to_string());
    // (name, command, reads the Singer lines on stdin, runs)
    let mut runs: Vec<(String, Command, bool, Vec<Measured>)> = vec![
        (
            format!("DuckDB, {DUCKDB_THREADS} threads (NDJSON of the records)"),
            duckdb,
            false,
            Vec::new(),
        ),
        ("target-parquet (PyPI)".into(), peer, true, Vec::new()),
    ];
    let ours = ctx.bins.get("target-parquet-arrow");
    if let Some(ours) = ours {
        let mut cmd = Command::new(ours);
        cmd.arg("--config").arg(&config);
        runs.insert(
            0,
            ("target-parquet-arrow (ours)".into(), cmd, true, Vec::new()),
        );
    }
    for round in 0..ctx.runs {
        for (i, (name, cmd, singer, ms)) in runs.iter_mut().enumerate() {
            let _ = std::fs::remove_dir_all(&out);
            std::fs::create_dir_all(&out)?;
            let log = ctx.work.join(format!("singer-{i}.log"));
            let m = match singer {
                true => measure::run_with_stdin(cmd, std::fs::File::open(&lines)?, &log),
                false => measure::run(cmd, &log, None),
            }
            .with_context(|| name.clone())?;
            eprintln!(
                "xtask bench: singer round {}/{}: {name}: {:.2} s",
                round + 1,
                ctx.runs,
                m.wall_s
            );
            ms.push(m);
        }
    }
    let rows = meta["rows"].as_u64().unwrap_or(0);
    let ours_median = ours
        .and(runs.first())
        .map(|(_, _, _, ms)| Spread::of(ms.iter().map(|m| m.wall_s)).median);
    let mut table = String::from(
        "| target | wall s, median (min–max) | rows/s | CPU s | peak RSS MiB | ours is × faster |\n|---|---:|---:|---:|---:|---:|\n",
    );
    let mut results = Vec::new();
    let mut commands = Vec::new();
    for (name, cmd, singer, ms) in &runs {
        let wall = Spread::of(ms.iter().map(|m| m.wall_s));
        let ratio = ours_median.map(|o| wall.median / o).unwrap_or(f64::NAN);
        table.push_str(&format!(
            "| {name} | {} | {:.0} | {:.1} | {} | {ratio:.2} |\n",
            wall.show(2),
            rows as f64 / wall.median,
            Spread::of(ms.iter().map(Measured::cpu_s)).median,
            Spread::of(ms.iter().map(|m| m.peak_rss_mib)).show(0),
        ));
        let line = match singer {
            true => format!("{} < {}", shell_line(cmd, &ctx.root), ctx.rel(&lines)),
            false => shell_line(cmd, &ctx.root),
        };
        results.push(json!({"target": name, "wall_s": wall, "ours_faster": ratio, "runs": ms, "command": line}));
        commands.push(line);
    }
    let pending = if ours.is_none() {
        "\n**Our target is pending**: `crates/singer` (binary `target-parquet-arrow`) is not in the \
         workspace yet; the peer's figure stands alone until `cargo xtask bench singer` is rerun.\n"
    } else {
        ""
    };
    let markdown = format!(
        "{rows} `mail_messages` rows ({} users × {} messages, the sink figure's generator) as one \
         SCHEMA line (JSON Schema from the declaration) and {rows} RECORD lines ({:.1} MB) on stdin. \
         PyPI's `target-parquet` 0.0.1 runs unchanged under a two-line compatibility shim \
         (`collections.MutableMapping`, `pkg_resources`) with current pandas/pyarrow, because its \
         2019 pins do not install on Python 3.11; it validates each record, flattens it, and writes \
         one Parquet file through pandas at EOF. DuckDB (`read_json` of the same records as \
         NDJSON -> `COPY … (FORMAT parquet, COMPRESSION zstd)`, {DUCKDB_THREADS} threads, Python start \
         included) is the bar issue 17 sets: our target at least as fast. Ours decodes on as many \
         threads as the machine has ({}). {} runs each.\n\n{table}{pending}\nCommands:\n\n```sh\n{}\n```\n",
        sizes.users,
        sizes.messages_per_user,
        std::fs::metadata(&lines).map(|m| m.len()).unwrap_or(0) as f64 / 1e6,
        ctx.nproc,
        ctx.runs,
        commands.join("\n")
    );
    Ok((
        json!({"input": meta, "results": results, "pending": ours.is_none()}),
        markdown,
    ))
}

//! `cargo xtask bench [sink|extract|memory|singer|incremental|identity|soak|all ...] [--quick]`: side-by-side
//! figures written to BENCHMARKS.md (the soak to RELIABILITY.md; each section between its markers,
//! hand-written text kept) and `bench/*.json`.
//!
//! The full run builds release binaries and writes into the repository; `--quick` (CI smoke)
//! builds with the dev profile, uses small sizes and writes under `<target>/bench-quick/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Context;

pub(crate) mod build;
mod extract;
mod identity;
mod incremental;
mod measure;
mod memory;
mod report;
mod singer;
mod sink;
mod soak;
mod tools;

use crate::test::workspace_root;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Section {
    Sink,
    Singer,
    Extract,
    Memory,
    Incremental,
    Identity,
    Soak,
    All,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which figures to measure, in this order (several may be named).
    #[arg(value_enum, default_value = "all")]
    sections: Vec<Section>,
    /// Small sizes, dev profile, results under <target>/bench-quick/ (CI smoke run).
    #[arg(long)]
    quick: bool,
    /// Runs per measurement (default 5; 3 with --quick).
    #[arg(long)]
    runs: Option<usize>,
    /// Skip `cargo build`: use the binaries already under the target dir for this profile.
    #[arg(long)]
    prebuilt: bool,
}

/// What every section needs: where to work, the binaries, the peers.
pub struct Ctx {
    pub root: PathBuf,
    pub work: PathBuf,
    pub quick: bool,
    pub runs: usize,
    pub nproc: usize,
    pub bins: BTreeMap<String, PathBuf>,
    pub scripts: [PathBuf; 3],
    tools: OnceLock<tools::Tools>,
}

impl Ctx {
    pub fn bin(&self, name: &str) -> anyhow::Result<PathBuf> {
        self.bins
            .get(name)
            .cloned()
            .with_context(|| format!("cargo build did not report the `{name}` binary"))
    }

    /// The Python peers, installed on first use (sections that need none never install them).
    pub fn tools(&self) -> anyhow::Result<&tools::Tools> {
        if let Some(t) = self.tools.get() {
            return Ok(t);
        }
        let t = tools::install_bench_tools()?;
        Ok(self.tools.get_or_init(|| t))
    }

    /// `path` relative to the repository root, for printed commands.
    pub fn rel(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let root = workspace_root();
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    let (work, out_docs, out_json) = match args.quick {
        true => {
            let out = target.join("bench-quick");
            (target.join("bench-work-quick"), out.clone(), out)
        }
        false => (target.join("bench-work"), root.clone(), root.join("bench")),
    };
    std::fs::create_dir_all(&work)?;
    std::fs::create_dir_all(&out_json)?;
    let mut sections: Vec<Section> = Vec::new();
    for section in &args.sections {
        let named = match section {
            Section::All => vec![
                Section::Sink,
                Section::Singer,
                Section::Extract,
                Section::Memory,
                Section::Incremental,
                Section::Identity,
                Section::Soak,
            ],
            s => vec![*s],
        };
        for s in named {
            if !sections.contains(&s) {
                sections.push(s);
            }
        }
    }
    let profile = match args.quick {
        true => build::Profile::Dev,
        false => build::Profile::Release,
    };
    let mut wanted = vec!["bench-helper"];
    if sections.contains(&Section::Memory) {
        wanted.extend(["graph-mock", "msgraph-sync"]);
    }
    if sections.contains(&Section::Extract) && !wanted.contains(&"graph-mock") {
        wanted.push("graph-mock");
    }
    if (sections.contains(&Section::Incremental) || sections.contains(&Section::Soak))
        && !wanted.contains(&"msgraph-sync")
    {
        wanted.push("msgraph-sync");
    }
    let mut bins = match args.prebuilt {
        true => build::prebuilt(&target, profile, &wanted)?,
        false => build::binaries(profile, &wanted)?,
    };
    // Our Singer target is another engineer's crate: while it is missing or does not build, the
    // Singer figure shows the peer alone and says ours is pending.
    if sections.contains(&Section::Singer) && build::singer_crate_exists() {
        let singer = ["target-parquet-arrow"];
        let found = match args.prebuilt {
            true => build::prebuilt(&target, profile, &singer),
            false => build::binaries(profile, &singer),
        };
        match found {
            Ok(found) => bins.extend(found),
            Err(e) => eprintln!("xtask bench: our Singer target is not available: {e:#}"),
        }
    }
    if let Some(helper) = bins.get("bench-helper") {
        measure::use_rusage_wrapper(helper.clone());
    }
    let ctx = Ctx {
        scripts: tools::write_scripts(&work.join("py"))?,
        root: root.clone(),
        work,
        quick: args.quick,
        runs: args.runs.unwrap_or(if args.quick { 3 } else { 5 }).max(1),
        nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
        bins,
        tools: OnceLock::new(),
    };
    let started = std::time::Instant::now();
    let mut machine = report::machine(&ctx, profile);
    for section in sections {
        let name = report::section_name(section);
        let out_md = out_docs.join(report::document(section));
        let doc = std::fs::read_to_string(&out_md).unwrap_or_default();
        eprintln!("xtask bench: {name}");
        let (data, markdown) = match section {
            Section::Sink => sink::run(&ctx)?,
            Section::Singer => singer::run(&ctx)?,
            Section::Extract => extract::run(&ctx)?,
            Section::Memory => memory::run(&ctx)?,
            Section::Incremental => incremental::run(&ctx)?,
            Section::Identity => identity::run(&ctx)?,
            Section::Soak => soak::run(&ctx)?,
            Section::All => unreachable!("expanded above"),
        };
        if machine["peers"].as_str().is_none_or(str::is_empty) {
            machine["peers"] = report::peers().into();
        }
        let json = serde_json::json!({"machine": machine, "quick": ctx.quick, "runs": ctx.runs, "data": data});
        let path = out_json.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&json)?)?;
        let doc = report::splice(&doc, name, &report::stamp(&machine, &markdown));
        // Written after every section, so a long run that fails late keeps what it measured.
        std::fs::write(&out_md, &doc)?;
        eprintln!("xtask bench: {name} -> {}", path.display());
    }
    eprintln!(
        "xtask bench: done in {:.0} s; reports in {}",
        started.elapsed().as_secs_f64(),
        out_docs.display()
    );
    Ok(())
}

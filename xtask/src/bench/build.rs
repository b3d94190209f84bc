//! Builds the measured binaries and finds them through cargo's JSON messages (any target dir).
//!
//! `--quick` builds with the dev profile, which `cargo xtask test` has already built the
//! dependencies for, so a CI smoke run only compiles the helper; the full run uses release.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::test::workspace_root;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Dev,
    Release,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Dev => "dev",
            Profile::Release => "release",
        }
    }
}

/// The binaries the chosen sections run, by name (`bench-helper`, `graph-mock`, `msgraph-sync`,
/// `target-parquet-arrow`).
pub fn binaries(profile: Profile, bins: &[&str]) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let mut args: Vec<String> = Vec::new();
    match profile {
        // Exactly `cargo test --workspace` plus the helper's feature: after the tests every unit
        // is fresh except xtask's (a `-p` build would resolve features differently and recompile
        // arrow, parquet and reqwest; `--profile dev` would rebuild the test targets). It also
        // builds the binaries of packages with integration tests, which are the ones we run.
        Profile::Dev => args.extend(
            ["test", "--no-run", "--locked", "--workspace"]
                .into_iter()
                .chain(["--features", "xtask/bench-helper"])
                .map(String::from),
        ),
        Profile::Release => {
            args.extend(["build", "--locked", "--release"].map(String::from));
            for bin in bins {
                let package = match *bin {
                    "bench-helper" => "xtask",
                    "target-parquet-arrow" => "msgraph-singer",
                    other => other,
                };
                args.extend(["-p", package, "--bin", bin].map(String::from));
            }
            if bins.contains(&"bench-helper") {
                args.extend(["--features", "xtask/bench-helper"].map(String::from));
            }
        }
    }
    let found = cargo_bins(&args)?;
    for bin in bins {
        if !found.contains_key(*bin) {
            bail!("cargo build did not produce the `{bin}` binary");
        }
    }
    Ok(found)
}

/// Runs `cargo ARGS` and returns the binaries it built, by name (also `cargo xtask wheel`'s).
pub(crate) fn cargo_bins(args: &[String]) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root())
        .args(args)
        .args(["--message-format", "json-render-diagnostics"])
        .stdout(Stdio::piped());
    eprintln!("xtask: cargo {}", args.join(" "));
    let mut child = cmd.spawn().context("starting cargo build")?;
    let stdout = child.stdout.take().expect("piped");
    let mut found = BTreeMap::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let message: serde_json::Value = match serde_json::from_str(&line?) {
            Ok(v) => v,
            Err(_) => continue,
        };
        let is_bin = message["target"]["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == "bin"));
        if !is_bin || message["profile"]["test"] != false {
            continue;
        }
        if let (Some(name), Some(exe)) = (
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) {
            found.insert(name.to_string(), PathBuf::from(exe));
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(found)
}

/// The binaries a previous build left under `target` (`--prebuilt`).
pub fn prebuilt(
    target: &std::path::Path,
    profile: Profile,
    bins: &[&str],
) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let dir = target.join(match profile {
        Profile::Dev => "debug",
        Profile::Release => "release",
    });
    bins.iter()
        .map(|bin| {
            let path = dir.join(bin);
            if !path.exists() {
                bail!(
                    "--prebuilt: {} does not exist; run without --prebuilt",
                    path.display()
                );
            }
            Ok((bin.to_string(), path))
        })
        .collect()
}

/// Whether the Singer target's crate is in the workspace yet.
pub fn singer_crate_exists() -> bool {
    workspace_root().join("crates/singer/Cargo.toml").exists()
}

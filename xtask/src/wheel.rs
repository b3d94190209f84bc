//! `cargo xtask wheel`: the Python wheel `msgraph-sync` carrying `msgraph-sync`, `tap-msgraph` and
//! `target-parquet-arrow`, built in release into `dist/`.
//!
//! maturin's `bindings = "bin"` packages the bins of one crate (msgraph-sync, see pyproject.toml);
//! the Singer executables live in msgraph-singer, so this step builds them first and stages them in
//! the wheel's `.data/scripts/`, which pip and uv install on PATH like any console script. That
//! keeps both crates as they are (no packaging crate duplicating their dependencies).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::bench::build::cargo_bins;
use crate::test::{created_tools_dir, ensure, pip_install, status, workspace_root};

/// Pinned like the other tools: every machine packages with the same maturin.
const MATURIN_PACKAGES: &[&str] = &["maturin==1.16.0"];
/// The executables staged beside maturin's own (msgraph-sync).
const SCRIPTS: &[&str] = &["tap-msgraph", "target-parquet-arrow"];
/// Every executable the wheel must carry.
pub const EXECUTABLES: &[&str] = &["msgraph-sync", "tap-msgraph", "target-parquet-arrow"];

/// Builds the wheel and returns its path. Cargo decides what is stale, so with nothing changed
/// this only re-zips the binaries (a few seconds); the step never ships an outdated executable.
pub fn build() -> anyhow::Result<PathBuf> {
    let tools = created_tools_dir()?;
    let venv = tools.join("maturin-venv");
    ensure(&tools, "maturin", MATURIN_PACKAGES, || {
        pip_install(&venv, &[], MATURIN_PACKAGES, "pip install maturin")
    })?;

    let root = workspace_root();
    let built = build_all()?;
    // pyproject.toml's `data`: everything under it is replaced, so no stale file rides along.
    let data = root.join("target/wheel-data");
    if data.exists() {
        std::fs::remove_dir_all(&data).with_context(|| format!("clearing {}", data.display()))?;
    }
    let scripts = data.join("scripts");
    std::fs::create_dir_all(&scripts)?;
    for name in SCRIPTS {
        let to = scripts.join(name);
        std::fs::copy(&built[*name], &to)
            .with_context(|| format!("staging {}", built[*name].display()))?;
    }

    let dist = root.join("dist");
    std::fs::create_dir_all(&dist)?;
    // One wheel in dist/, so `pip install dist/*.whl` is unambiguous.
    for old in wheels(&dist)? {
        std::fs::remove_file(&old).with_context(|| format!("removing {}", old.display()))?;
    }
    status(
        Command::new(venv.join("bin/maturin"))
            .current_dir(&root)
            .args(["build", "--release", "--locked", "--out"])
            .arg(&dist)
            // The binaries link the build machine's glibc and are not checked against a manylinux
            // policy here, so the wheel says plain `linux_<arch>`: installable on this kind of
            // machine (CI, the tests), not claimed portable. A PyPI release would build in a
            // manylinux container (or for musl) and drop this.
            .args(["--compatibility", "linux"])
            // stdout carries only the wheel's path (`MSGRAPH_SYNC_WHEEL=$(cargo xtask wheel)`).
            .stdout(std::io::stderr()),
        "maturin build",
    )?;
    let found = wheels(&dist)?;
    let [wheel] = found.as_slice() else {
        bail!(
            "maturin build left {} msgraph_sync wheels in {}",
            found.len(),
            dist.display()
        );
    };
    check_contents(&venv, wheel)?;
    eprintln!("xtask: wheel {}", wheel.display());
    Ok(wheel.clone())
}

/// All three executables in one cargo run, with the feature set maturin's build of msgraph-sync
/// (`--features wheel`) resolves, so that build reuses every compiled crate and only packages.
fn build_all() -> anyhow::Result<std::collections::BTreeMap<String, PathBuf>> {
    let args = [
        "build",
        "--locked",
        "--release",
        "-p",
        "msgraph-sync",
        "--features",
        "msgraph-sync/wheel",
        "-p",
        "msgraph-singer",
        "--bins",
    ];
    let built = cargo_bins(&args.map(String::from))?;
    for name in EXECUTABLES {
        if !built.contains_key(*name) {
            bail!("cargo build did not produce `{name}`");
        }
    }
    Ok(built)
}

fn wheels(dist: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dist).with_context(|| format!("reading {}", dist.display()))? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("msgraph_sync-") && name.ends_with(".whl") {
            found.push(path);
        }
    }
    Ok(found)
}

/// Fails unless the wheel's scripts are exactly our three executables, marked executable.
fn check_contents(venv: &Path, wheel: &Path) -> anyhow::Result<()> {
    let listing = Command::new(venv.join("bin/python"))
        .args([
            "-c",
            "import sys, zipfile\n\
             for i in zipfile.ZipFile(sys.argv[1]).infolist():\n\
             \x20   if '.data/scripts/' in i.filename:\n\
             \x20       print(i.filename.rsplit('/', 1)[1], oct(i.external_attr >> 16 & 0o111))",
        ])
        .arg(wheel)
        .output()
        .context("listing the wheel")?;
    if !listing.status.success() {
        bail!(
            "listing {}: {}",
            wheel.display(),
            String::from_utf8_lossy(&listing.stderr)
        );
    }
    let mut have: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    have.sort();
    let want: Vec<String> = EXECUTABLES.iter().map(|e| format!("{e} 0o111")).collect();
    if have != want {
        bail!(
            "{} carries scripts {have:?}; expected {want:?} (name, executable bits)",
            wheel.display()
        );
    }
    Ok(())
}

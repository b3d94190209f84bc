//! `cargo xtask test`: install the test tools when missing, then run the whole suite.
//!
//! Tools land in `<workspace>/.tools` (git-ignored): a Python venv with DuckDB and moto's S3 server,
//! one with DuckDB's httpfs and azure extensions, one with Meltano, and Azurite from npm. Tests find
//! them through `MSGRAPH_SYNC_TOOLS`, and the wheel (`cargo xtask wheel`) through `MSGRAPH_SYNC_WHEEL`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Pinned so every machine tests against the same servers.
const PIP_PACKAGES: &[&str] = &["duckdb==2.0.0", "moto[server]==5.2.5"];
const NPM_PACKAGES: &[&str] = &["azurite@3.37.0"];
/// DuckDB with its httpfs and azure extensions as PyPI packages (loaded by path, no download at
/// run time), to read the S3 and Azurite landings in place; the extensions exist for 1.5.5, so
/// this DuckDB has a venv of its own.
const STORE_DUCKDB_PACKAGES: &[&str] = &[
    "duckdb==1.5.5",
    "duckdb-extension-httpfs==1.5.5",
    "duckdb-extension-azure==1.5.5",
];
/// Meltano and a third-party Singer tap, in a venv of their own (their pins must not move DuckDB's).
/// pyarrow is the SDK's `parquet` extra: its batch reader opens our tap's Parquet batch files.
const MELTANO_PACKAGES: &[&str] = &["meltano==4.4.1", "tap-jsonl==0.3.1", "pyarrow==26.0.1"];

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

pub fn tools_dir() -> PathBuf {
    std::env::var_os("MSGRAPH_SYNC_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".tools"))
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let tools = install()?;
    let wheel = crate::wheel::build()?;
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(workspace_root())
        .args(["test", "--workspace", "--locked"])
        .args(args)
        .env("MSGRAPH_SYNC_TOOLS", &tools)
        // The Meltano test installs the tap and target from it, as users do.
        .env("MSGRAPH_SYNC_WHEEL", &wheel)
        // Just installed: tests that need a tool fail instead of skipping when it is missing.
        .env("MSGRAPH_SYNC_REQUIRE_TOOLS", "1");
    status(&mut cargo, "cargo test")
}

pub fn install_and_print() -> anyhow::Result<()> {
    let tools = install()?;
    let wheel = crate::wheel::build()?;
    println!("export MSGRAPH_SYNC_TOOLS={}", tools.display());
    println!("export MSGRAPH_SYNC_WHEEL={}", wheel.display());
    Ok(())
}

/// [`tools_dir`], created, as an absolute path (tests and tools run from other directories).
pub(crate) fn created_tools_dir() -> anyhow::Result<PathBuf> {
    let tools = tools_dir();
    std::fs::create_dir_all(&tools).with_context(|| format!("creating {}", tools.display()))?;
    Ok(tools.canonicalize()?)
}

/// Installs each tool set unless its stamp (the pinned list) matches what is already there.
pub(crate) fn install() -> anyhow::Result<PathBuf> {
    let tools = created_tools_dir()?;

    let venv = tools.join("venv");
    ensure(&tools, "pip", PIP_PACKAGES, || {
        pip_install(&venv, &[], PIP_PACKAGES, "pip install")
    })?;
    let store_venv = tools.join("duckdb-stores-venv");
    ensure(&tools, "duckdb-stores", STORE_DUCKDB_PACKAGES, || {
        pip_install(
            &store_venv,
            &[],
            STORE_DUCKDB_PACKAGES,
            "pip install duckdb's extensions",
        )
    })?;
    let meltano_venv = tools.join("meltano-venv");
    ensure(&tools, "meltano", MELTANO_PACKAGES, || {
        pip_install(&meltano_venv, &[], MELTANO_PACKAGES, "pip install meltano")
    })?;
    ensure(&tools, "npm", NPM_PACKAGES, || {
        status(
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
                .arg(&tools)
                .args(NPM_PACKAGES),
            "npm install (install Node.js and npm)",
        )
    })?;
    Ok(tools)
}

pub(crate) fn ensure(
    tools: &Path,
    name: &str,
    pinned: &[&str],
    install: impl FnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let stamp = tools.join(format!(".{name}-installed"));
    let wanted = pinned.join("\n");
    if std::fs::read_to_string(&stamp).is_ok_and(|have| have == wanted) {
        return Ok(());
    }
    eprintln!(
        "xtask: installing {} into {}",
        pinned.join(" "),
        tools.display()
    );
    install()?;
    std::fs::write(&stamp, wanted)?;
    Ok(())
}

/// Creates the venv when missing, then `pip install [flags] packages` into it.
pub(crate) fn pip_install(
    venv: &Path,
    flags: &[&str],
    packages: &[&str],
    what: &str,
) -> anyhow::Result<()> {
    if !venv.join("bin/python").exists() {
        status(
            Command::new("python3").arg("-m").arg("venv").arg(venv),
            "python3 -m venv (install python3 and python3-venv)",
        )?;
    }
    status(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(flags)
            .args(packages),
        what,
    )
}

pub(crate) fn status(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let st = cmd.status().with_context(|| format!("starting {what}"))?;
    if !st.success() {
        bail!("{what} failed ({st})");
    }
    Ok(())
}

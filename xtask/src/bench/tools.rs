//! The peers, installed into a venv of their own only when benchmarking (own stamp, pinned:
//! singer-python pins jsonschema 2.x, which would break moto in the test venv), and the Python
//! scripts that drive them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::test::{ensure, pip_install, tools_dir};

/// DuckDB as the tests pin it; pyarrow for its JSON reader; pandas and singer-python are what
/// PyPI's `target-parquet` imports.
const PIP_BENCH_PACKAGES: &[&str] = &[
    "duckdb==2.0.0",
    "pyarrow==26.0.1",
    "pandas==3.1.1",
    "singer-python==6.8.0",
];
/// Installed without its 2019 pins (pandas 0.24, pyarrow 0.13), which do not build on Python 3.11.
const PIP_NO_DEPS: &[&str] = &["target-parquet==0.0.1"];

pub const DUCKDB_COPY_PY: &str = include_str!("py/duckdb_copy.py");
pub const PYARROW_COPY_PY: &str = include_str!("py/pyarrow_copy.py");
pub const TARGET_PARQUET_PY: &str = include_str!("py/target_parquet_run.py");

pub struct Tools {
    pub python: PathBuf,
}

/// `.tools/bench-venv` with the peers, installed when missing or when the pins changed.
pub fn install_bench_tools() -> anyhow::Result<Tools> {
    let tools = tools_dir();
    std::fs::create_dir_all(&tools).with_context(|| format!("creating {}", tools.display()))?;
    let tools = tools.canonicalize()?;
    let venv = tools.join("bench-venv");
    let pinned: Vec<&str> = PIP_BENCH_PACKAGES
        .iter()
        .chain(PIP_NO_DEPS)
        .copied()
        .collect();
    ensure(&tools, "pip-bench", &pinned, || {
        pip_install(&venv, &[], PIP_BENCH_PACKAGES, "pip install (bench tools)")?;
        pip_install(
            &venv,
            &["--no-deps"],
            PIP_NO_DEPS,
            "pip install --no-deps target-parquet",
        )
    })?;
    Ok(Tools {
        python: venv.join("bin/python"),
    })
}

/// Writes the driver scripts into `dir` and returns their paths (duckdb, pyarrow, target-parquet).
pub fn write_scripts(dir: &Path) -> anyhow::Result<[PathBuf; 3]> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for (name, text) in [
        ("duckdb_copy.py", DUCKDB_COPY_PY),
        ("pyarrow_copy.py", PYARROW_COPY_PY),
        ("target_parquet_run.py", TARGET_PARQUET_PY),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        out.push(path);
    }
    Ok([out[0].clone(), out[1].clone(), out[2].clone()])
}

/// `name==version` of what was measured, for the report.
pub fn versions(python: &Path) -> String {
    let script = "import importlib.metadata as m\n\
        print(' '.join(f'{p}=={m.version(p)}' for p in ['duckdb','pyarrow','pandas','singer-python','target-parquet']))";
    Command::new(python)
        .args(["-c", script])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

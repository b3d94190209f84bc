//! Where the test tools are.

use std::path::{Path, PathBuf};

pub(crate) const INSTALL_HINT: &str =
    "run `cargo xtask test` (or `cargo xtask tools`) to install the test tools";

/// The workspace's root directory (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("test-support lives in <workspace>/crates/test-support")
        .to_path_buf()
}

/// `$MSGRAPH_SYNC_TOOLS`, else `<workspace>/.tools`.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("MSGRAPH_SYNC_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".tools"))
}

/// A tool's path, or a panic telling how to install the tools.
pub(crate) fn tool(relative: &str) -> PathBuf {
    let path = tools_dir().join(relative);
    assert!(
        path.exists(),
        "{} is missing: {INSTALL_HINT}",
        path.display()
    );
    path
}

pub(crate) fn python() -> PathBuf {
    tool("venv/bin/python")
}

//! `catalog/<stream>.toml`: one hand-written file per stream with every fact the CSDL does not
//! hold — path, parent, keys, permission, paging, query, the `$select` exclusions with their
//! reasons, the incremental method, and for usage reports the CSV header.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;
use stream_spec::{Incremental, PageSize, ParentRef, StreamKind};

use graph_csdl::Shape;

/// One stream's declaration source; its name is the file's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub kind: StreamKind,
    pub path: String,
    #[serde(default)]
    pub parent: Option<ParentRef>,
    pub primary_key: Vec<String>,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// The property the config's `domains` filters on (`userPrincipalName` on users).
    #[serde(default)]
    pub domain_property: Option<String>,
    pub page_size: PageSize,
    /// The CSDL entity type (`microsoft.graph.user`); absent for usage reports.
    #[serde(default)]
    pub entity: Option<String>,
    pub permission: String,
    #[serde(default)]
    pub outlook_mailbox_limit: bool,
    #[serde(default)]
    pub shape: Shape,
    #[serde(default)]
    pub exclude: Vec<Exclusion>,
    pub incremental: Incremental,
    /// Usage reports: the CSV header, in order.
    #[serde(default)]
    pub columns: Vec<String>,
    /// How graph-mock makes up the stream's rows (sizes, borrowed rows, tied values).
    #[serde(default)]
    pub mock: stream_spec::MockHints,
    /// The Singer tap selects it by default (the streams singer-io's tap-ms-graph has).
    #[serde(default)]
    pub selected_by_default: bool,
}

/// A property left out of `$select`, and why.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exclusion {
    pub property: String,
    pub reason: String,
}

/// Every `*.toml` in `dir`, by stream name.
pub fn load(dir: &Path) -> anyhow::Result<BTreeMap<String, Entry>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read the catalog {} (pass --catalog DIR, the folder with one <stream>.toml per stream)",
            dir.display()
        )
    })?;
    let mut catalog = BTreeMap::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let stream = path
            .file_stem()
            .and_then(|s| s.to_str())
            .with_context(|| format!("{}: not a UTF-8 file name", path.display()))?
            .to_string();
        if !is_stream_name(&stream) {
            bail!(
                "{}: a stream's file is named after it in snake_case (`mail_messages.toml`)",
                path.display()
            );
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let parsed: Entry = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
        catalog.insert(stream, parsed);
    }
    if catalog.is_empty() {
        bail!("the catalog {} holds no <stream>.toml", dir.display());
    }
    Ok(catalog)
}

fn is_stream_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

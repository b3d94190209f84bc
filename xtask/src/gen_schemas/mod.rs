//! `cargo xtask gen-schemas`: writes `schemas/<stream>.json` from the hand-written
//! `catalog/<stream>.toml` (see [`catalog`]) and Microsoft's CSDL (`cleanMetadata.xml`, the copy
//! graph-csdl ships unless `--metadata DIR` names another).

mod build;
pub mod catalog;
pub mod reports;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use graph_csdl::Model;

pub use build::entity_spec;

#[derive(clap::Args)]
pub struct Args {
    /// Directory holding cleanMetadata.xml [default: the copy shipped in crates/graph-csdl/csdl]
    #[arg(long, value_name = "DIR")]
    pub metadata: Option<PathBuf>,
    /// The stream declarations' sources, one <stream>.toml each [default: <workspace>/catalog]
    #[arg(long, value_name = "DIR")]
    pub catalog: Option<PathBuf>,
    /// Where to write the declarations [default: <workspace>/schemas]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let out = args.out.unwrap_or_else(default_schemas_dir);
    let catalog = args.catalog.unwrap_or_else(default_catalog_dir);
    let files = match &args.metadata {
        Some(dir) => generate(dir, &catalog)?,
        None => generate_from(graph_csdl::embedded()?, &catalog)?,
    };
    write(&out, &files)?;
    println!(
        "wrote {} stream declarations to {}",
        files.len(),
        out.display()
    );
    Ok(())
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}

/// `<workspace>/../shared/msgraph`, the shipped CSDL's source: CI clones the repository with
/// `shared/` beside it.
pub fn default_metadata_dir() -> PathBuf {
    workspace_root().join("../shared/msgraph")
}

pub fn default_schemas_dir() -> PathBuf {
    workspace_root().join("schemas")
}

pub fn default_catalog_dir() -> PathBuf {
    workspace_root().join("catalog")
}

/// File name (`users.json`) -> file text, for every stream of the catalog.
pub fn generate(
    metadata_dir: &Path,
    catalog_dir: &Path,
) -> anyhow::Result<BTreeMap<String, String>> {
    let path = metadata_dir.join("cleanMetadata.xml");
    let xml = fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (pass --metadata DIR, the folder with cleanMetadata.xml)",
            path.display()
        )
    })?;
    let model = Model::parse(&xml).context("parsing cleanMetadata.xml")?;
    generate_from(&model, catalog_dir)
}

/// [`generate`] with the CSDL already parsed.
pub fn generate_from(
    model: &Model,
    catalog_dir: &Path,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut specs = Vec::new();
    for (stream, entry) in catalog::load(catalog_dir)? {
        let spec = match entry.kind {
            stream_spec::StreamKind::Report => reports::report_spec(&stream, &entry),
            _ => entity_spec(model, &stream, &entry),
        };
        specs.push(spec.with_context(|| format!("catalog/{stream}.toml"))?);
    }

    let mut files = BTreeMap::new();
    for spec in specs {
        graph_csdl::check_unique_names(&spec.stream, &spec.fields)?;
        let mut text = serde_json::to_string_pretty(&spec)?;
        text.push('\n');
        // The same check every reader applies.
        stream_spec::StreamSpec::from_json(&spec.stream, &text)?;
        let previous = files.insert(format!("{}.json", spec.stream), text);
        ensure!(
            previous.is_none(),
            "stream `{}` declared twice",
            spec.stream
        );
    }
    Ok(files)
}

/// Writes the files and removes stale `*.json` declarations the catalog no longer has.
pub fn write(out: &Path, files: &BTreeMap<String, String>) -> anyhow::Result<()> {
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for entry in fs::read_dir(out).with_context(|| format!("reading {}", out.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if name.ends_with(".json") && !files.contains_key(&name) {
            fs::remove_file(&path).with_context(|| format!("removing stale {}", path.display()))?;
        }
    }
    for (name, text) in files {
        let path = out.join(name);
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

//! Real Graph-shaped pages, once: the extractor pulls `mail_messages` from an in-process mock and
//! every page body is stored as received, plus the same records as NDJSON for the peers.
//!
//! Layout of `--out`: `pages/NNNNNN.json`, `pages.tsv` (`file<TAB>parent_id<TAB>rows`),
//! `records.ndjson`, `meta.json`. Written under `<out>.partial` and renamed when complete.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use graph_extract::{Config, Extractor, Page};
use graph_mock::{MockConfig, MockServer};
use serde::Deserialize;
use serde_json::value::RawValue;
use stream_spec::Catalog;
use tokio::sync::mpsc;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    users: u64,
    #[arg(long)]
    messages_per_user: u64,
    #[arg(long)]
    out: PathBuf,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    value: Vec<&'a RawValue>,
}

pub async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    let mut sizes = graph_mock::Sizes {
        users: args.users,
        ..Default::default()
    };
    sizes.messages_per_user = args.messages_per_user;
    let mock = MockServer::start(MockConfig::default().sizes(sizes)).await?;
    let config = Config::from_json(&crate::config_json(
        &mock,
        serde_json::json!({"page_size": 999, "streams": ["mail_messages"]}),
    ))?;
    let extractor = Extractor::from_config(config, Catalog::embedded())?;

    let partial = args.out.with_extension("partial");
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(partial.join("pages"))
        .with_context(|| format!("creating {}", partial.display()))?;
    let (tx, rx) = mpsc::channel::<Page>(16);
    let store = tokio::task::spawn_blocking({
        let dir = partial.clone();
        move || store_pages(&dir, rx)
    });
    let stats = extractor
        .run(&[], tx, graph_extract::ExtractState::default(), &[])
        .await?;
    let mut meta = store.await??;
    mock.shutdown().await;
    meta["users"] = args.users.into();
    meta["messages_per_user"] = args.messages_per_user.into();
    meta["extractor_rows"] = stats.streams["mail_messages"].rows.into();
    std::fs::write(partial.join("meta.json"), meta.to_string())?;
    let _ = std::fs::remove_dir_all(&args.out);
    std::fs::rename(&partial, &args.out)?;
    Ok(meta)
}

fn store_pages(
    dir: &std::path::Path,
    mut rx: mpsc::Receiver<Page>,
) -> anyhow::Result<serde_json::Value> {
    let mut index = std::io::BufWriter::new(std::fs::File::create(dir.join("pages.tsv"))?);
    let mut ndjson = std::io::BufWriter::new(std::fs::File::create(dir.join("records.ndjson"))?);
    let (mut pages, mut rows, mut page_bytes, mut ndjson_bytes) = (0u64, 0u64, 0u64, 0u64);
    while let Some(page) = rx.blocking_recv() {
        if &*page.stream != "mail_messages" {
            continue;
        }
        let name = format!("{pages:06}.json");
        std::fs::write(dir.join("pages").join(&name), &page.body)?;
        let envelope: Envelope<'_> =
            serde_json::from_slice(&page.body).context("a mock page is not a Graph envelope")?;
        for record in &envelope.value {
            ndjson.write_all(record.get().as_bytes())?;
            ndjson.write_all(b"\n")?;
            ndjson_bytes += record.get().len() as u64 + 1;
        }
        let parent = page.parent.as_ref().map_or(String::new(), |p| p.scope());
        writeln!(index, "{name}\t{parent}\t{}", envelope.value.len())?;
        pages += 1;
        rows += envelope.value.len() as u64;
        page_bytes += page.body.len() as u64;
    }
    index.flush()?;
    ndjson.flush()?;
    Ok(serde_json::json!({
        "stream": "mail_messages",
        "pages": pages,
        "rows": rows,
        "page_bytes": page_bytes,
        "ndjson_bytes": ndjson_bytes,
    }))
}

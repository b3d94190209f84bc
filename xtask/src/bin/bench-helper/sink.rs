//! Stored pages -> Parquet through arrow-sink, as `msgraph-sync sync` feeds it: one `SinkRun` on a
//! local directory, pages read from disk while the sink decodes and writes.

use std::path::PathBuf;

use anyhow::Context;
use arrow_sink::{Landing, PageInput, SinkOptions, SinkRun};
use bytes::Bytes;
use stream_spec::Catalog;

#[derive(clap::Args)]
pub struct Args {
    /// A directory written by `gen-pages`.
    #[arg(long)]
    data: PathBuf,
    /// Landing directory (must be empty or absent).
    #[arg(long)]
    out: PathBuf,
    /// Decode threads and tokio workers (the writers run on tokio).
    #[arg(long)]
    pub threads: usize,
    /// Zstandard level of every column (default: the sink's).
    #[arg(long)]
    zstd_level: Option<i32>,
    /// Bytes the open row groups may hold, in MiB (default: the sink's).
    #[arg(long)]
    buffer_budget_mib: Option<usize>,
}

pub async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    let index = std::fs::read_to_string(args.data.join("pages.tsv"))
        .with_context(|| format!("reading {}/pages.tsv (run gen-pages)", args.data.display()))?;
    std::fs::create_dir_all(&args.out)?;
    let landing = Landing::open(&args.out.display().to_string())?;
    let table = Catalog::embedded().get("mail_messages")?.table();
    let mut options = SinkOptions {
        decode_threads: args.threads,
        ..SinkOptions::default()
    };
    if let Some(level) = args.zstd_level {
        options.writer.zstd_level = level;
    }
    if let Some(mib) = args.buffer_budget_mib {
        options.writer.buffer_budget =
            std::sync::Arc::new(arrow_sink::BufferBudget::new(mib << 20));
    }
    let run = SinkRun::start(&landing, &[table], options).await?;
    let sender = run.sender("mail_messages")?;
    let mut bytes_in = 0u64;
    for line in index.lines() {
        let mut fields = line.split('\t');
        let (Some(file), Some(parent)) = (fields.next(), fields.next()) else {
            anyhow::bail!("pages.tsv line `{line}` is not file<TAB>parent<TAB>rows");
        };
        let body = tokio::fs::read(args.data.join("pages").join(file)).await?;
        bytes_in += body.len() as u64;
        let page = PageInput {
            parent: (!parent.is_empty()).then(|| stream_spec::ParentKey::top(parent)),
            body: Bytes::from(body),
            chain_pages: None,
        };
        sender.send(page).await?;
    }
    drop(sender);
    let manifest = run.finish(arrow_sink::RunInput::default()).await?;
    let stream = &manifest.streams["mail_messages"];
    Ok(serde_json::json!({
        "rows": stream.rows,
        "files": stream.files.len(),
        "bytes_in": bytes_in,
        "bytes_out": stream.bytes,
        "rejected": stream.rejected,
        "skipped": manifest.skipped.len(),
    }))
}

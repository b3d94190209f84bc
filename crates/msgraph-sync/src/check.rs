//! `msgraph-sync check`: authenticate, then probe every stream with one small request.

use graph_extract::{Extractor, ProbeResult, ProbeStatus};

use crate::connect::{Source, connect};
use crate::failure::Failure;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    source: Source,
    /// Exit 3 when any stream cannot be read (permission missing, not licensed, failed).
    #[arg(long)]
    strict: bool,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let connection = connect(&args.source).await?;
    let extractor = Extractor::new(
        connection.config,
        connection.catalog,
        connection.tokens,
        connection.http,
    );
    let results = extractor.probe(&[]).await?;
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| vec![r.stream.clone(), r.permission.clone(), describe(r)])
        .collect();
    print!(
        "{}",
        crate::table::render(&["STREAM", "PERMISSION", "RESULT"], &rows, &[])
    );
    let refused = results.iter().filter(|r| !r.is_ok()).count();
    println!(
        "{} of {} streams readable",
        results.len() - refused,
        results.len()
    );
    if args.strict && refused > 0 {
        return Err(Failure::SkippedUnderStrict(format!(
            "{refused} stream(s) cannot be read"
        )));
    }
    Ok(())
}

fn describe(result: &ProbeResult) -> String {
    match &result.status {
        ProbeStatus::Ok => "OK".to_string(),
        ProbeStatus::PermissionMissing => format!(
            "permission missing: {} needs {}",
            result.stream, result.permission
        ),
        ProbeStatus::NotLicensed { code } => format!("not licensed ({code})"),
        ProbeStatus::NoParent { parent } => {
            format!("not checked: {parent} has no rows to probe with")
        }
        ProbeStatus::Failed { reason } => format!("failed: {reason}"),
    }
}

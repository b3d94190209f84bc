//! `msgraph-sync mock`: the graph-mock tenant as a server, with the same flags as its own binary.

use graph_mock::MockServer;
use graph_mock::cli::MockArgs;

use crate::failure::Failure;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    mock: MockArgs,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let config = args
        .mock
        .try_into_config()
        .map_err(|e| Failure::Config(e.into()))?;
    let server = MockServer::start(config)
        .await
        .map_err(|e| Failure::Other(e.into()))?;
    println!("graph:     {}", server.graph_url());
    println!("authority: {}", server.authority_host());
    println!("Ctrl-C to stop.");
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| Failure::Other(e.into()))?;
    server.shutdown().await;
    Ok(())
}

//! `graph-mock`: serve a fake tenant on 127.0.0.1 until Ctrl-C.
use clap::Parser;
use graph_mock::MockServer;
use graph_mock::cli::MockArgs;

#[derive(Parser)]
#[command(
    name = "graph-mock",
    about = "A fake Microsoft Graph tenant and Entra token endpoint on 127.0.0.1"
)]
struct Cli {
    #[command(flatten)]
    mock: MockArgs,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let config = Cli::parse()
        .mock
        .try_into_config()
        .map_err(std::io::Error::other)?;
    let auth = config.auth.clone();
    let server = MockServer::start(config).await?;
    println!("graph-mock serving");
    println!("  graph:          {}", server.graph_url());
    println!("  authority host: {}", server.authority_host());
    println!("  token endpoint: {}", server.token_url(&auth.tenant_id));
    println!("  tenant id:      {}", auth.tenant_id);
    println!("  client id:      {}", auth.client_id);
    println!("  client secret:  {}", auth.client_secret);
    println!(
        "  admin:          {}/_admin/truth, /_admin/requests, POST /_admin/mutate, POST /_admin/scenario",
        server.base_url()
    );
    println!("Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}

//! `msgraph-sync login`: the one interactive step of delegated auth — sign in once in a browser,
//! keep the refresh token in a 0600 cache file that later runs read and rotate.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::Context;
use graph_extract::Config;
use graph_extract::auth;

use crate::failure::Failure;

#[derive(clap::Args)]
pub struct Args {
    /// Config file with tenant_id and client_id (and client_secret for a confidential app).
    #[arg(long, env = "MSGRAPH_SYNC_CONFIG")]
    config: PathBuf,
    /// Where to keep the refresh token; defaults to the config's token_cache_path.
    #[arg(long)]
    token_cache: Option<PathBuf>,
    /// Redirect URI registered on the app registration (a page that may fail to load: only its
    /// address is needed).
    #[arg(long, default_value = "http://localhost:8400/callback")]
    redirect_uri: String,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let config = Config::from_path(&args.config)
        .with_context(|| format!("config file {}", args.config.display()))
        .map_err(Failure::Config)?;
    let cache = args
        .token_cache
        .or_else(|| config.auth.token_cache_path.clone())
        .ok_or_else(|| {
            Failure::Config(anyhow::anyhow!(
                "no token cache: pass --token-cache PATH or set token_cache_path in the config"
            ))
        })?;
    let http = graph_extract::build_http_client(&Default::default())
        .map_err(|e| Failure::Other(e.into()))?;
    let context = config
        .auth_context(http)
        .map_err(|e| Failure::Config(e.into()))?;
    let state = uuid::Uuid::new_v4().simple().to_string();
    let pkce = auth::Pkce::new();
    let url = auth::authorize_url(&context, &args.redirect_uri, &state, &pkce);
    eprintln!("Open this address in a browser and sign in:");
    eprintln!("{url}");
    eprintln!("Then paste the address the browser was sent to (or just its code) and press Enter:");
    let mut pasted = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut pasted)
        .map_err(|e| Failure::Other(e.into()))?;
    let code = auth::code_from_redirect(&pasted, &state).map_err(|e| Failure::Config(e.into()))?;
    auth::login(
        &context,
        config.auth.client_secret.as_deref(),
        &code,
        &pkce,
        &args.redirect_uri,
        &cache,
    )
    .await
    .map_err(|e| Failure::Config(e.into()))?;
    println!(
        "Signed in. The refresh token is in {} (mode 0600); set \"token_cache_path\" to it in the config.",
        cache.display()
    );
    Ok(())
}

//! Microsoft Graph extraction: config, auth, one HTTP client with one retry policy, paging,
//! stream catalog, child fan-out and `$batch`. Knows nothing about Arrow.
//!
//! Start with [`Config::from_path`], build an [`Extractor`], and call [`Extractor::run`] with a
//! bounded `tokio::sync::mpsc` sender of [`Page`]s, the prior [`ExtractState`] and the streams to
//! reread in full; the returned [`RunStats`] is the summary and carries the next state.
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use graph_extract::{Config, ExtractState, Extractor, HttpSettings, auth, build_http_client};
//! use graph_mock::auth::{TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TENANT_ID};
//!
//! // A fake tenant on 127.0.0.1 stands in for Graph and Entra.
//! let mock = graph_mock::MockServer::start(graph_mock::MockConfig::default()).await?;
//! let config = Config::from_json(&serde_json::json!({
//!     "tenant_id": TEST_TENANT_ID, "client_id": TEST_CLIENT_ID,
//!     "client_secret": TEST_CLIENT_SECRET, "streams": ["users", "groups"],
//!     "graph_base_url": mock.graph_url(), "authority_host": mock.authority_host(),
//! }).to_string())?;
//! let http = build_http_client(&HttpSettings::default())?;
//! let tokens = auth::provider(&config.auth, config.auth_context(http.clone())?)?;
//! let extractor = Extractor::new(config, stream_spec::Catalog::embedded(), tokens, http);
//!
//! // Pages arrive on a bounded channel while the run goes on; count their rows.
//! let (pages, mut received) = tokio::sync::mpsc::channel::<graph_extract::Page>(16);
//! let counted = tokio::spawn(async move {
//!     let mut rows = 0;
//!     while let Some(page) = received.recv().await {
//!         rows += page.rows as u64;
//!     }
//!     rows
//! });
//! let stats = extractor.run(&[], pages, ExtractState::default(), &[]).await?;
//! let truth = mock.truth();
//! let expected = truth.stream("users").unwrap().rows + truth.stream("groups").unwrap().rows;
//! assert_eq!(counted.await?, expected);
//! assert!(stats.failures.is_empty());
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod auth;
mod batch;
mod body;
mod chain;
pub mod config;
mod error;
mod extract;
#[cfg(test)]
mod fuzz;
pub mod http;
mod incremental;
pub mod limits;
mod pacing;
pub mod paging;
mod plan;
mod probe;
mod report;
pub mod retry;
pub mod skip;
pub mod state;
pub mod stats;

pub use config::{Cloud, Config, ConfigError};
pub use error::{ExtractError, GraphError, RequestError};
pub use extract::{Extractor, run};
pub use http::{GraphClient, HttpSettings, RequestBounds, build_http_client};
pub use incremental::is_resync;
pub use paging::{Page, PageFormat};
pub use plan::{Pass, Plan, PlanError};
pub use probe::{ProbeResult, ProbeStatus};
pub use retry::RetryPolicy;
pub use state::{ExtractState, FullScope, NextState, StreamState};
pub use stats::{RunStats, Skip, StreamFailure, StreamStats};

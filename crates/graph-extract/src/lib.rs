//! Microsoft Graph extraction: config, auth, one HTTP client with one retry policy, paging,
//! stream catalog, child fan-out and `$batch`. Knows nothing about Arrow.
//!
//! Start with [`Config::from_path`], build an [`Extractor`], and call [`Extractor::run`] with a
//! bounded `tokio::sync::mpsc` sender of [`Page`]s, the prior [`ExtractState`] and the streams to
//! reread in full; the returned [`RunStats`] is the summary and carries the next state.

pub mod auth;
mod batch;
mod body;
mod chain;
pub mod config;
pub mod error;
mod extract;
#[cfg(test)]
mod fuzz;
pub mod http;
mod incremental;
pub mod limits;
pub mod paging;
pub mod plan;
pub mod probe;
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
pub use state::{ExtractState, FullScope, StreamState};
pub use stats::{RunStats, Skip, StreamFailure, StreamStats};

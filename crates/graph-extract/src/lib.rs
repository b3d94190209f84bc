//! Microsoft Graph extraction: config, auth, one HTTP client with one retry policy, paging,
//! stream catalog, child fan-out and `$batch`. Knows nothing about Arrow.

pub mod auth;

//! Reading a response body whole, but never more than a cap: a hostile or broken server cannot
//! make a run hold an unbounded body in memory (the cap applies after gzip is undone).

use bytes::{Bytes, BytesMut};

/// Largest Graph page or `$batch` answer accepted (real pages are a few MiB at most).
pub const MAX_PAGE_BYTES: u64 = 256 << 20;
/// Largest report download (a usage-report CSV of a very large tenant).
pub const MAX_DOWNLOAD_BYTES: u64 = 4 << 30;
/// Largest token-endpoint answer (real ones are a few KiB).
pub const MAX_TOKEN_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
    #[error("the response body exceeds {cap} bytes")]
    TooLarge { cap: u64 },
}

/// The whole body of `response`, or [`BodyError::TooLarge`] as soon as it passes `cap` bytes.
pub async fn read_capped(mut response: reqwest::Response, cap: u64) -> Result<Bytes, BodyError> {
    // Content-Length is the size on the wire, so it can refuse early but never admit alone.
    if response.content_length().is_some_and(|n| n > cap) {
        return Err(BodyError::TooLarge { cap });
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if (body.len() + chunk.len()) as u64 > cap {
            return Err(BodyError::TooLarge { cap });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

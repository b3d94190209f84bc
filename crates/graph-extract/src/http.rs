//! One HTTP client for Graph; the only place requests are retried (policy in `retry`).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::{
    AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER,
};
use reqwest::{Method, StatusCode};

use crate::auth::{AccessToken, TokenProvider};
use crate::body::{BodyError, MAX_DOWNLOAD_BYTES, MAX_PAGE_BYTES, read_capped};
use crate::error::{GraphError, RequestError};
use crate::limits::Limits;
use crate::retry::{Failure, RetryPolicy};
use crate::stats::StreamCounters;

const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("client-request-id");
const REQUEST_ID: &str = "request-id";

/// Timeouts and proxying of the underlying client.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Longest wait to establish a connection.
    pub connect_timeout: Duration,
    /// Longest silence while reading a response.
    pub read_timeout: Duration,
    /// Honour `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` (off for the local identity endpoint).
    pub use_proxy: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            use_proxy: true,
        }
    }
}

/// Builds the reqwest client Graph traffic (and token requests) go through: rustls, HTTP/2, gzip,
/// timeouts, and no automatic redirects (reports follow their 302 explicitly, without the token).
pub fn build_http_client(settings: &HttpSettings) -> Result<reqwest::Client, reqwest::Error> {
    let builder = reqwest::Client::builder()
        .tls_backend_rustls()
        .gzip(true)
        .connect_timeout(settings.connect_timeout)
        .read_timeout(settings.read_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("msgraph-sync/", env!("CARGO_PKG_VERSION")));
    match settings.use_proxy {
        true => builder.build(),
        false => builder.no_proxy().build(),
    }
}

/// Per-attempt limits on time and size: a trickling server cannot hold a concurrency permit
/// forever, nor a huge body fill memory.
#[derive(Debug, Clone)]
pub struct RequestBounds {
    /// Whole attempt of a Graph request (headers and body), beyond the read timeout's silences.
    pub page_timeout: Duration,
    /// Whole attempt of a report download (unauthenticated, can be a large CSV).
    pub download_timeout: Duration,
    /// Largest Graph page or `$batch` answer accepted, gzip undone (default 256 MiB).
    pub max_page_bytes: u64,
    /// Largest report download accepted, gzip undone (default 4 GiB).
    pub max_download_bytes: u64,
}

impl Default for RequestBounds {
    fn default() -> Self {
        Self {
            page_timeout: Duration::from_secs(300),
            download_timeout: Duration::from_secs(1800),
            max_page_bytes: MAX_PAGE_BYTES,
            max_download_bytes: MAX_DOWNLOAD_BYTES,
        }
    }
}

/// What to check in a 2xx body before accepting it, so a cut-short body is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyCheck {
    /// Accept any body (a report's 302 carries no JSON).
    None,
    /// Must be a complete JSON document.
    Json,
}

/// One logical request (retried as a whole).
pub struct GraphRequest<'a> {
    /// `GET`, or `POST` for a `$batch`.
    pub method: Method,
    /// Absolute URL; a request that carries the token must point at Graph's origin.
    pub url: &'a str,
    /// Headers sent besides the token and `client-request-id` (`Prefer`, `ConsistencyLevel`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// JSON body, sent as `application/json`; `None` for a GET.
    pub body: Option<Bytes>,
    /// Send the bearer token (false for report downloads, which must not get it).
    pub authorized: bool,
    /// Mailboxes (user ids) this request touches, for Outlook's per-mailbox concurrency limit.
    pub mailboxes: Vec<String>,
    /// Graph requests this HTTP request carries (a `$batch`'s items; 1 otherwise): what it
    /// counts against the global concurrency limit, since Graph serves a batch's items in parallel.
    pub requests: usize,
    /// What a 2xx body must be to be accepted.
    pub check: BodyCheck,
}

impl<'a> GraphRequest<'a> {
    /// An authorized GET of `url` whose body must be complete JSON.
    pub fn get(url: &'a str) -> Self {
        Self {
            method: Method::GET,
            url,
            headers: Vec::new(),
            body: None,
            authorized: true,
            mailboxes: Vec::new(),
            requests: 1,
            check: BodyCheck::Json,
        }
    }
}

/// A response whose body was read completely.
#[derive(Debug, Clone)]
pub struct GraphResponse {
    /// A 2xx or 3xx status (others are errors).
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The whole body, gzip undone.
    pub body: Bytes,
}

/// Sends Graph requests under the run's retry policy, concurrency limits and per-attempt bounds.
pub struct GraphClient {
    http: reqwest::Client,
    tokens: Arc<dyn TokenProvider>,
    policy: RetryPolicy,
    limits: Limits,
    /// The only origin (scheme, host, port) the bearer token is ever sent to.
    graph_origin: url::Origin,
    bounds: RequestBounds,
    /// Requests in flight per throttle scope, from the answers' throttle headers.
    pacer: crate::pacing::Pacer,
}

enum Attempt {
    Done(GraphResponse),
    /// Not worth retrying (a body over the cap).
    Fatal(RequestError),
    Failed {
        status: Option<u16>,
        retry_after: Option<String>,
        reason: String,
        error: Option<GraphError>,
    },
}

impl GraphClient {
    /// `graph_base_url`: requests that carry the token must go to its origin.
    pub fn new(
        http: reqwest::Client,
        tokens: Arc<dyn TokenProvider>,
        policy: RetryPolicy,
        limits: Limits,
        graph_base_url: &url::Url,
    ) -> Self {
        Self {
            http,
            tokens,
            policy,
            limits,
            graph_origin: graph_base_url.origin(),
            bounds: RequestBounds::default(),
            pacer: crate::pacing::Pacer::default(),
        }
    }

    /// Per-attempt time and size limits (defaults: [`RequestBounds::default`]).
    pub fn with_bounds(mut self, bounds: RequestBounds) -> Self {
        self.bounds = bounds;
        self
    }

    /// Refuses, before anything is sent, a token-bearing request to any origin but Graph's: a
    /// `@odata.nextLink` is the server's text, and following it verbatim must not leak the token.
    fn check_origin(&self, req: &GraphRequest<'_>) -> Result<(), RequestError> {
        if !req.authorized {
            return Ok(());
        }
        let origin = url::Url::parse(req.url).map(|u| u.origin());
        if origin.as_ref().ok() == Some(&self.graph_origin) {
            return Ok(());
        }
        let found = match &origin {
            Ok(o) if o.is_tuple() => o.ascii_serialization(),
            _ => "an unparsable or opaque URL".to_string(),
        };
        Err(RequestError::Protocol {
            what: "a link from the server".to_string(),
            reason: format!(
                "it points at {found}, not the Graph host {}; the token is sent only to the \
                 configured graph_base_url, so this stream stops here",
                self.graph_origin.ascii_serialization()
            ),
        })
    }

    /// The retry policy requests are sent under.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The concurrency limits each attempt waits on.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The spacing per throttle scope, which `$batch` items also feed and wait on.
    pub(crate) fn pacer(&self) -> &crate::pacing::Pacer {
        &self.pacer
    }

    /// Sends `req` until it succeeds or the policy gives up; 2xx and 3xx are successes.
    /// A 401 invalidates the token and is retried once with a fresh one.
    pub async fn send(
        &self,
        req: &GraphRequest<'_>,
        counters: &StreamCounters,
    ) -> Result<GraphResponse, RequestError> {
        self.check_origin(req)?;
        let mut attempt = 0u32;
        let mut refreshed = false;
        loop {
            attempt += 1;
            if attempt > 1 {
                StreamCounters::bump(&counters.retries);
            }
            let token = if req.authorized {
                Some(self.tokens.token().await?)
            } else {
                None
            };
            StreamCounters::bump(&counters.requests);
            let outcome = self.attempt(req, token.as_ref(), attempt).await;
            let (status, retry_after, reason, error) = match outcome {
                Attempt::Done(response) => return Ok(response),
                Attempt::Fatal(error) => return Err(error),
                Attempt::Failed {
                    status,
                    retry_after,
                    reason,
                    error,
                } => (status, retry_after, reason, error),
            };
            if status == Some(401)
                && !refreshed
                && let Some(token) = &token
            {
                // Expired or revoked mid-run: one fresh token, then 401 is final.
                self.tokens.invalidate(token);
                refreshed = true;
                attempt -= 1;
                continue;
            }
            if status == Some(429) {
                StreamCounters::bump(&counters.throttled);
            }
            let failure = match status {
                Some(s) => Failure::Status(s, retry_after.as_deref()),
                None => Failure::Transport,
            };
            match self.policy.next_delay(attempt, failure, SystemTime::now()) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => {
                    return Err(match error {
                        Some(graph) if !RetryPolicy::is_retryable_status(graph.status) => {
                            RequestError::Graph(graph)
                        }
                        _ => RequestError::Exhausted {
                            what: describe(req),
                            attempts: attempt,
                            reason,
                        },
                    });
                }
            }
        }
    }

    async fn attempt(
        &self,
        req: &GraphRequest<'_>,
        token: Option<&AccessToken>,
        attempt: u32,
    ) -> Attempt {
        // Held for the attempt only, never while waiting to retry.
        let waiting = Instant::now();
        // Paced before taking permits: a request waiting for its scope holds no slot.
        let paced = self.pacer.acquire(&[req.url]).await;
        let _permits = self.limits.acquire(&req.mailboxes, req.requests).await;
        let waited = waiting.elapsed();
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let mut builder = self
            .http
            .request(req.method.clone(), req.url)
            .header(CLIENT_REQUEST_ID, &client_request_id);
        for (name, value) in &req.headers {
            builder = builder.header(name, value);
        }
        if let Some(token) = token {
            // Sensitive: kept out of reqwest's and hyper's Debug output and HPACK tables.
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.secret))
                .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid-token"));
            value.set_sensitive(true);
            builder = builder.header(AUTHORIZATION, value);
        }
        let (timeout, cap) = match req.authorized {
            true => (self.bounds.page_timeout, self.bounds.max_page_bytes),
            false => (self.bounds.download_timeout, self.bounds.max_download_bytes),
        };
        builder = builder.timeout(timeout);
        if let Some(body) = &req.body {
            builder = builder
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let started = Instant::now();
        let result = read_whole(builder.send().await, cap).await;
        let log = |status: Option<u16>, request_id: Option<&str>, outcome: &str| {
            tracing::debug!(
                method = %req.method,
                url = %describe(req),
                attempt,
                status,
                request_id,
                client_request_id = %client_request_id,
                waited_us = waited.as_micros() as u64,
                elapsed_us = started.elapsed().as_micros() as u64,
                "{outcome}"
            );
        };
        match result {
            Err(BodyError::TooLarge { cap }) => {
                let reason = format!("the answer is larger than {cap} bytes, the most accepted");
                log(None, None, &reason);
                Attempt::Fatal(RequestError::Protocol {
                    what: describe(req),
                    reason,
                })
            }
            Err(BodyError::Transport(e)) => {
                let reason = transport_reason(&e);
                log(None, None, &reason);
                Attempt::Failed {
                    status: None,
                    retry_after: None,
                    reason,
                    error: None,
                }
            }
            Ok(response) => {
                let status = response.status.as_u16();
                let wait = (status == 429)
                    .then(|| response.headers.get(RETRY_AFTER))
                    .flatten()
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| crate::retry::parse_retry_after(v, SystemTime::now()));
                self.pacer
                    .observe(req.url, paced.sent(), &response.headers, wait);
                let request_id = response
                    .headers
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok());
                if response.status.is_success() || response.status.is_redirection() {
                    if req.check == BodyCheck::Json
                        && response.status.is_success()
                        && let Err(e) =
                            serde_json::from_slice::<serde::de::IgnoredAny>(&response.body)
                    {
                        let reason =
                            format!("incomplete JSON body ({} bytes): {e}", response.body.len());
                        log(Some(status), request_id, &reason);
                        return Attempt::Failed {
                            status: None,
                            retry_after: None,
                            reason,
                            error: None,
                        };
                    }
                    log(Some(status), request_id, "ok");
                    return Attempt::Done(response);
                }
                let error = GraphError::from_response(status, &response.body, request_id);
                log(
                    Some(status),
                    request_id,
                    &format!("{}: {}", error.code, error.message),
                );
                let retry_after = response
                    .headers
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                Attempt::Failed {
                    status: Some(status),
                    retry_after,
                    reason: error.to_string(),
                    error: Some(error),
                }
            }
        }
    }
}

/// Reads the whole body inside the attempt, so a connection dropped mid-body is retried.
async fn read_whole(
    sent: Result<reqwest::Response, reqwest::Error>,
    cap: u64,
) -> Result<GraphResponse, BodyError> {
    let response = sent?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = read_capped(response, cap).await?;
    Ok(GraphResponse {
        status,
        headers,
        body,
    })
}

fn transport_reason(e: &reqwest::Error) -> String {
    // Without the URL: report download URLs carry signatures.
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body cut short or undecodable"
    } else {
        "transport"
    };
    let mut reason = format!("{kind}: {}", e.without_url_ref());
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        reason.push_str(&format!(": {s}"));
        source = s.source();
    }
    reason
}

/// The URL for logs and errors; unauthenticated downloads lose their (signed) query.
fn describe(req: &GraphRequest<'_>) -> String {
    if req.authorized {
        req.url.to_string()
    } else {
        req.url.split('?').next().unwrap_or_default().to_string()
    }
}

trait WithoutUrlRef {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrlRef for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let text = self.to_string();
        match self.url() {
            Some(url) => text.replace(&format!(" for url ({url})"), ""),
            None => text,
        }
    }
}

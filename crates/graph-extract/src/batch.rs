//! `$batch`: first pages of up to 20 child requests in one `POST /$batch`; per-item throttling and
//! failures go through the same retry policy as single requests; later pages are fetched directly.
//! Only first URLs go in a batch: chains that start from a stored delta link, and per-folder
//! streams (a folder listing comes before their first page), are fetched directly.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use stream_spec::{ParentKey, StreamSpec};

use crate::chain::RunContext;
use crate::error::{ExtractError, GraphError, RequestError};
use crate::http::{BodyCheck, GraphRequest};
use crate::incremental::Start;
use crate::retry::Failure;
use crate::stats::StreamCounters;

/// Graph accepts at most 20 requests per `$batch`.
pub const MAX_BATCH_ITEMS: usize = 20;

#[derive(Serialize)]
struct BatchRequest<'a> {
    requests: Vec<BatchItem<'a>>,
}

#[derive(Serialize)]
struct BatchItem<'a> {
    id: String,
    method: &'static str,
    url: &'a str,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    headers: HashMap<&'static str, String>,
}

#[derive(Deserialize)]
struct BatchResponse<'a> {
    #[serde(borrow)]
    responses: Vec<ItemResponse<'a>>,
}

#[derive(Deserialize)]
struct ItemResponse<'a> {
    id: String,
    status: u16,
    #[serde(default)]
    headers: HashMap<String, String>,
    #[serde(borrow, default)]
    body: Option<&'a RawValue>,
}

/// One child request waiting for its first page.
struct Pending<'s> {
    spec: &'s StreamSpec,
    parent_id: ParentKey,
    url: String,
    /// The first URL lists the whole scope.
    full: bool,
    attempt: u32,
}

/// What became of one item in one round.
enum ItemOutcome {
    Page(Bytes),
    Retry(Duration),
    Failed(RequestError),
}

impl RunContext {
    /// Fetches the first pages of `items` (child stream, parent id) via `$batch`, then each chain.
    pub async fn run_batch(
        &self,
        items: Vec<(&StreamSpec, ParentKey)>,
    ) -> Result<(), ExtractError> {
        let mut chains = Vec::new();
        let mut pending: Vec<Pending<'_>> = Vec::new();
        for (spec, parent_id) in items {
            if self.gates.get(&spec.stream).is_some_and(|g| g.is_denied()) {
                continue;
            }
            let start = match self.read(&spec.stream).is_per_folder() {
                true => None,
                false => Some(self.start(spec, Some(&parent_id))),
            };
            match start {
                Some(Start::Url { relative, full }) => pending.push(Pending {
                    url: relative,
                    full,
                    spec,
                    parent_id,
                    attempt: 0,
                }),
                start => chains.push(self.child(spec, parent_id, start)),
            }
        }
        while !pending.is_empty() {
            let round = std::mem::take(&mut pending);
            let outcomes = match self.post_batch(&round).await {
                Ok(outcomes) => outcomes,
                Err(e) => {
                    // The batch itself failed for good: fetch each item directly instead.
                    tracing::debug!("$batch failed, falling back to single requests: {e}");
                    for item in round {
                        chains.push(self.child(item.spec, item.parent_id.clone(), None));
                    }
                    break;
                }
            };
            let mut wait = Duration::ZERO;
            for (mut item, outcome) in round.into_iter().zip(outcomes) {
                match outcome {
                    ItemOutcome::Page(body) => {
                        let first = Start::Body {
                            body,
                            full: item.full,
                        };
                        chains.push(self.child(item.spec, item.parent_id.clone(), Some(first)));
                    }
                    ItemOutcome::Retry(delay) => {
                        wait = wait.max(delay);
                        item.attempt += 1;
                        pending.push(item);
                    }
                    ItemOutcome::Failed(error) => {
                        self.settle(
                            item.spec,
                            Some(&item.parent_id),
                            Err(crate::chain::ChainError::Request(error)),
                        )?;
                    }
                }
            }
            if !pending.is_empty() {
                tokio::time::sleep(wait).await;
            }
        }
        futures::future::try_join_all(chains).await?;
        Ok(())
    }

    /// One `POST /$batch` (itself retried by the client); returns an outcome per item, in order.
    async fn post_batch(&self, round: &[Pending<'_>]) -> Result<Vec<ItemOutcome>, RequestError> {
        // Each item spends its own scope's budget: the envelope waits for all their slots at
        // once and holds them until it is answered.
        let urls: Vec<&str> = round.iter().map(|item| item.url.as_str()).collect();
        let paced = self.client.pacer().acquire(&urls).await;
        let headers = |spec: &StreamSpec| {
            let mut headers = HashMap::new();
            if self.extra_for(&spec.stream).consistency_eventual {
                headers.insert("ConsistencyLevel", "eventual".to_string());
            }
            if let Some(prefer) = self.prefer_page_size(spec) {
                headers.insert("Prefer", prefer);
            }
            headers
        };
        let request = BatchRequest {
            requests: round
                .iter()
                .enumerate()
                .map(|(i, item)| BatchItem {
                    id: i.to_string(),
                    method: "GET",
                    url: &item.url,
                    headers: headers(item.spec),
                })
                .collect(),
        };
        let body = serde_json::to_vec(&request).expect("batch request serialises");
        let url = format!("{}/$batch", self.base_url);
        let mut req = GraphRequest::get(&url);
        req.method = Method::POST;
        req.body = Some(Bytes::from(body));
        req.check = BodyCheck::Json;
        req.requests = round.len();
        req.mailboxes = round
            .iter()
            .filter(|item| item.spec.outlook_mailbox_limit)
            .map(|item| item.parent_id.id().to_string())
            .collect();
        let response = self
            .client
            .send(&req, &self.recorder.batch_counters)
            .await?;
        let parsed: BatchResponse<'_> =
            serde_json::from_slice(&response.body).map_err(|e| RequestError::Protocol {
                what: "$batch response".into(),
                reason: e.to_string(),
            })?;
        let mut by_id: HashMap<&str, &ItemResponse<'_>> = parsed
            .responses
            .iter()
            .map(|r| (r.id.as_str(), r))
            .collect();
        let now = SystemTime::now();
        Ok(round
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let counters = self.recorder.counters(&item.spec.stream);
                StreamCounters::bump(&counters.requests);
                if item.attempt > 0 {
                    StreamCounters::bump(&counters.retries);
                }
                match by_id.remove(i.to_string().as_str()) {
                    Some(r) => self.item_outcome(item, r, &counters, now, paced.sent()),
                    // Graph answered without this item: retry it like a dropped connection.
                    None => self.retry_or_fail(item, Failure::Transport, None, now),
                }
            })
            .collect())
    }

    fn item_outcome(
        &self,
        item: &Pending<'_>,
        response: &ItemResponse<'_>,
        counters: &StreamCounters,
        now: SystemTime,
        sent: std::time::Instant,
    ) -> ItemOutcome {
        let body = response
            .body
            .map(|raw| raw.get().as_bytes())
            .unwrap_or_default();
        let header = |name: &str| {
            response
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        tracing::debug!(
            url = %item.url,
            status = response.status,
            attempt = item.attempt + 1,
            request_id = header("request-id"),
            "$batch item"
        );
        let retry_after = (response.status == 429)
            .then(|| header("Retry-After"))
            .flatten()
            .and_then(|v| crate::retry::parse_retry_after(v, now));
        let headers: reqwest::header::HeaderMap = response
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v.parse().ok()?)))
            .collect();
        self.client
            .pacer()
            .observe(&item.url, sent, &headers, retry_after);
        if (200..300).contains(&response.status) {
            // The item body is a JSON object inside the batch: copied out once, as the page bytes.
            return ItemOutcome::Page(Bytes::copy_from_slice(body));
        }
        if response.status == 429 {
            StreamCounters::bump(&counters.throttled);
        }
        let error = GraphError::from_response(response.status, body, header("request-id"));
        let failure = Failure::Status(response.status, header("Retry-After"));
        self.retry_or_fail(item, failure, Some(error), now)
    }

    fn retry_or_fail(
        &self,
        item: &Pending<'_>,
        failure: Failure<'_>,
        error: Option<GraphError>,
        now: SystemTime,
    ) -> ItemOutcome {
        let policy = self.client.policy();
        match policy.next_delay(item.attempt + 1, failure, now) {
            Some(delay) => ItemOutcome::Retry(delay),
            None => ItemOutcome::Failed(match error {
                Some(e) if !crate::retry::RetryPolicy::is_retryable_status(e.status) => {
                    RequestError::Graph(e)
                }
                other => RequestError::Exhausted {
                    what: format!("$batch item {}", item.url),
                    attempts: item.attempt + 1,
                    reason: other
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| "missing from the $batch response".into()),
                },
            }),
        }
    }
}

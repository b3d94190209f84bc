//! The entry point: plan the passes, run them concurrently, fan children out, summarise.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use stream_spec::{Catalog, ParentKey, StreamKind, StreamSpec};
use tokio::sync::mpsc;

use crate::auth::{self, TokenProvider};
use crate::batch::MAX_BATCH_ITEMS;
use crate::chain::{ChainError, RunContext};
use crate::config::{Config, ConfigError};
use crate::error::{ExtractError, RequestError};
use crate::http::{GraphClient, HttpSettings, RequestBounds, build_http_client};
use crate::incremental::{Clock, IdFeed, ScopeEnd, Start, Tracker, plan_reads};
use crate::limits::{Limits, OUTLOOK_MAILBOX_LIMIT};
use crate::paging::{ExtraQuery, Page};
use crate::plan::{Pass, Plan};
use crate::retry::RetryPolicy;
use crate::skip::StreamGate;
use crate::state::ExtractState;
use crate::stats::StreamFailure;
use crate::stats::{Recorder, RunStats, Skip};

/// Parent ids buffered between a parent's pages and its children's requests.
const PARENT_ID_BUFFER: usize = 1024;

/// Extracts selected streams into a channel of [`Page`]s.
pub struct Extractor {
    config: Config,
    catalog: Catalog,
    tokens: Arc<dyn TokenProvider>,
    http: reqwest::Client,
    policy: RetryPolicy,
    bounds: RequestBounds,
}

impl Extractor {
    /// `http` should come from [`build_http_client`] (shared with the token provider).
    pub fn new(
        config: Config,
        catalog: Catalog,
        tokens: Arc<dyn TokenProvider>,
        http: reqwest::Client,
    ) -> Self {
        Self {
            config,
            catalog,
            tokens,
            http,
            policy: RetryPolicy::default(),
            bounds: RequestBounds::default(),
        }
    }

    /// Builds the HTTP client and the token provider `config.auth` asks for.
    pub fn from_config(config: Config, catalog: Catalog) -> Result<Self, ExtractError> {
        let http = Self::http_client()?;
        let tokens = auth::provider(&config.auth, config.auth_context(http.clone())?)?;
        Ok(Self::new(config, catalog, tokens, http))
    }

    /// Builds the default HTTP client.
    pub fn http_client() -> Result<reqwest::Client, ExtractError> {
        build_http_client(&HttpSettings::default()).map_err(|e| ExtractError::Client(e.to_string()))
    }

    /// Replaces the retry policy (default: [`RetryPolicy::default`]).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Time and size limits per request attempt (defaults: [`RequestBounds::default`]).
    pub fn with_request_bounds(mut self, bounds: RequestBounds) -> Self {
        self.bounds = bounds;
        self
    }

    /// The config the extractor was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs `selection` (empty: `config.streams`, and if that is empty too, every stream), sending
    /// pages to `pages`. Returns the summary; under `strict`, skips set its `strict_violated`.
    ///
    /// `prior`: the state of the last committed run (empty on a first run); streams with state
    /// read only what changed since. `full_refresh`: streams to reread in full ignoring their
    /// state (empty slice: none). The summary carries the whole next state and the scopes read
    /// in full.
    pub async fn run(
        &self,
        selection: &[String],
        pages: mpsc::Sender<Page>,
        mut prior: ExtractState,
        full_refresh: &[String],
    ) -> Result<RunStats, ExtractError> {
        let plan = self.plan(selection)?;
        // The streams read take their state out of `prior`: one copy of it, however large.
        let ctx = self.context(&plan, pages, &mut prior, full_refresh)?;
        let passes = plan.passes.iter().map(|pass| ctx.run_pass(pass));
        futures::future::try_join_all(passes).await?;
        let RunContext {
            recorder,
            emitted,
            reads,
            tracker,
            ..
        } = ctx;
        let catalog = &self.catalog;
        let parent_of = |stream: &str| {
            catalog
                .get(stream)
                .ok()
                .and_then(|s| s.parent.as_ref())
                .map(|p| p.stream.clone())
        };
        let (state, full_scopes) = tracker
            .finish(&prior, &reads, parent_of)
            .map_err(ExtractError::StateFile)?;
        let mut stats = recorder.finish(|s| emitted.iter().any(|e| e == s));
        for (name, stream) in &mut stats.streams {
            stream.method = reads[name].name(stream.resyncs).to_string();
        }
        stats.state = state;
        stats.full_scopes = full_scopes;
        if !stats.failures.is_empty() {
            return Err(ExtractError::StreamsFailed(Box::new(stats)));
        }
        stats.strict_violated = self.config.strict && !stats.skips.is_empty();
        Ok(stats)
    }

    /// Probes `selection` (empty: `config.streams`, then every stream) with one small request each:
    /// which streams this app may read. Fails only when authentication fails.
    pub async fn probe(
        &self,
        selection: &[String],
    ) -> Result<Vec<crate::probe::ProbeResult>, ExtractError> {
        let plan = self.plan(selection)?;
        let base_url = self.config.graph_base_url.trim_end_matches('/');
        crate::probe::probe_plan(&self.client()?, base_url, &plan).await
    }

    /// `selection`, else `config.streams`, else every stream; after validating the config.
    fn plan(&self, selection: &[String]) -> Result<Plan, ExtractError> {
        self.config.validate()?;
        let selection = if selection.is_empty() {
            &self.config.streams
        } else {
            selection
        };
        Ok(Plan::new(&self.catalog, selection)?)
    }

    /// The one HTTP client of a run or probe, with its concurrency limits.
    fn client(&self) -> Result<GraphClient, ExtractError> {
        let limits = Limits::new(self.config.concurrency, OUTLOOK_MAILBOX_LIMIT);
        let base = &self.config.graph_base_url;
        let graph = url::Url::parse(base).map_err(|_| ConfigError::InvalidValue {
            field: "graph_base_url",
            value: base.clone(),
            allowed: "an absolute http:// or https:// URL",
        })?;
        Ok(GraphClient::new(
            self.http.clone(),
            self.tokens.clone(),
            self.policy.clone(),
            limits,
            &graph,
        )
        .with_bounds(self.bounds.clone()))
    }

    fn context(
        &self,
        plan: &Plan,
        sender: mpsc::Sender<Page>,
        prior: &mut ExtractState,
        full_refresh: &[String],
    ) -> Result<RunContext, ExtractError> {
        let client = self.client()?;
        let streams: Vec<&StreamSpec> = plan.streams().collect();
        let extra = ExtraQuery::for_config(&self.config, &self.catalog);
        let reads = plan_reads(
            &self.catalog,
            streams.iter().copied(),
            prior,
            full_refresh,
            |s| plan.emits(s),
            &extra,
        );
        Ok(RunContext {
            client,
            base_url: self.config.graph_base_url.trim_end_matches('/').to_string(),
            page_size: self.config.page_size,
            use_batch: self.config.use_batch,
            concurrency: self.config.concurrency,
            recorder: Recorder::new(streams.iter().map(|s| s.stream.as_str())),
            sender,
            extra,
            children: plan
                .passes
                .iter()
                .flat_map(Pass::streams)
                .filter(|p| !p.children.is_empty())
                .map(|p| (p.spec.stream.clone(), p.children.clone()))
                .collect(),
            gates: streams
                .iter()
                .filter(|s| s.parent.is_some())
                .map(|s| (s.stream.clone(), StreamGate::default()))
                .collect(),
            emitted: streams
                .iter()
                .filter(|s| plan.emits(&s.stream))
                .map(|s| s.stream.clone())
                .collect(),
            stream_names: streams
                .iter()
                .map(|s| (s.stream.clone(), Arc::from(s.stream.as_str())))
                .collect(),
            report_downloads: tokio::sync::Semaphore::new(1),
            reads,
            tracker: Tracker::default(),
            clock: Clock {
                now: chrono::Utc::now(),
                start_date: self.config.start_date,
                events_window_days: self.config.events_window_days,
            },
        })
    }
}

/// Convenience for the CLI: one run with a fresh client.
pub async fn run(
    config: Config,
    catalog: Catalog,
    tokens: Arc<dyn TokenProvider>,
    selection: &[String],
    pages: mpsc::Sender<Page>,
    prior: ExtractState,
    full_refresh: &[String],
) -> Result<RunStats, ExtractError> {
    let http = Extractor::http_client()?;
    Extractor::new(config, catalog, tokens, http)
        .run(selection, pages, prior, full_refresh)
        .await
}

impl RunContext {
    async fn run_pass(&self, pass: &Pass) -> Result<(), ExtractError> {
        let spec = &pass.spec;
        if spec.kind == StreamKind::Report {
            let result = self.fetch_report(spec).await;
            return self.settle(spec, None, result);
        }
        if pass.children.is_empty() {
            let track = self.read(&spec.stream).track_ids;
            let result = self
                .read_top(spec, track.then(|| IdFeed::new(None, None)))
                .await;
            return self.settle(spec, None, result);
        }
        let (ids_tx, ids_rx) = mpsc::channel::<ParentKey>(PARENT_ID_BUFFER);
        // The feed owns the sender: when the parent's round ends, the channel closes.
        let parent = self.read_top(spec, Some(IdFeed::new(Some(ids_tx), None)));
        let children = self.fan_out(&pass.children, ids_rx);
        let (parent_result, children_result) = tokio::join!(parent, children);
        let parent_refused = matches!(&parent_result, Err(ChainError::Request(_)));
        // A child's fatal error closes the id channel under the parent: report the child's error.
        children_result?;
        self.settle(spec, None, parent_result)?;
        self.settle_descendants(pass, parent_refused);
        Ok(())
    }

    /// After a pass: the streams below a parent stream that failed, or was refused, did not see
    /// all their parents, so none of them is landed this run either (their state stays as it
    /// was). Applied at every level: a grandchild follows its child.
    fn settle_descendants(&self, pass: &Pass, refused: bool) {
        let failed = self.recorder.has_failed(&pass.spec.stream);
        let denied = self
            .gates
            .get(&pass.spec.stream)
            .is_some_and(StreamGate::is_denied);
        for child in &pass.children {
            for below in child.streams() {
                if failed {
                    self.fail_for_parent(&below.spec, &pass.spec);
                } else if refused || denied {
                    self.skip_for_parent(&below.spec, &pass.spec);
                }
            }
            if !failed && !refused && !denied {
                self.settle_descendants(child, false);
            }
        }
    }

    fn fail_for_parent(&self, child: &StreamSpec, parent: &StreamSpec) {
        if self.recorder.has_failed(&child.stream) {
            return;
        }
        self.tracker.skipped(&child.stream);
        self.recorder.fail(StreamFailure {
            stream: child.stream.clone(),
            parent_id: None,
            error: Arc::new(RequestError::Protocol {
                what: format!("stream `{}`", child.stream),
                reason: format!("its parent stream `{}` failed", parent.stream),
            }),
        });
    }

    /// Reads a top-level stream's one scope; with `feed`, its live ids go to the children (and,
    /// for a delta parent, into the state).
    async fn read_top(&self, spec: &StreamSpec, feed: Option<IdFeed>) -> Result<(), ChainError> {
        let start = self.start(spec, None);
        let end = self.read_scope(spec, None, start, feed.as_ref()).await?;
        if let Some(feed) = feed {
            let prior = self.read(&spec.stream).prior.ids.as_deref();
            let live = feed.finish(prior, end.full).await?;
            self.tracker.live_ids(&spec.stream, live);
        }
        self.tracker.top_done(&spec.stream, end);
        Ok(())
    }

    /// Reads one parent's scope of a child stream that is a parent itself (channels of a team):
    /// the ids on its pages go to its own children as they arrive.
    pub(crate) async fn read_with_children(
        &self,
        spec: &StreamSpec,
        parent: &ParentKey,
        start: Start,
        children: &[Pass],
    ) -> Result<Result<ScopeEnd, ChainError>, ExtractError> {
        let (ids_tx, ids_rx) = mpsc::channel::<ParentKey>(PARENT_ID_BUFFER);
        let feed = IdFeed::new(Some(ids_tx), Some(parent.clone()));
        let own = async move {
            let end = self
                .read_scope(spec, Some(parent), start, Some(&feed))
                .await;
            // Closes the id channel: the children's fan-out ends with this scope.
            drop(feed);
            end
        };
        let below = Box::pin(self.fan_out(children, ids_rx));
        let (own, below) = tokio::join!(own, below);
        below?;
        Ok(own)
    }

    /// The parent stream was refused (and skipped): its children have no parents to run over.
    fn skip_for_parent(&self, child: &StreamSpec, parent: &StreamSpec) {
        self.tracker.skipped(&child.stream);
        self.recorder.skip(Skip {
            stream: child.stream.clone(),
            parent_id: None,
            status: 403,
            code: "ParentStreamSkipped".into(),
            message: format!("parent stream `{}` was refused", parent.stream),
            permission: parent.permission.clone(),
        });
    }

    /// Runs every child stream over the parent ids as they arrive, with bounded concurrency.
    ///
    /// With `$batch`, one envelope holds one child stream for several parents, so its items touch
    /// different mailboxes (never more than one of Outlook's 4 slots each); the global limit counts
    /// the items (see [`items_per_batch`]).
    pub(crate) async fn fan_out(
        &self,
        children: &[Pass],
        mut ids: mpsc::Receiver<ParentKey>,
    ) -> Result<(), ExtractError> {
        let children: Vec<&StreamSpec> = children.iter().map(|c| &c.spec).collect();
        let children = &children;
        let ids = futures::stream::poll_fn(move |cx| ids.poll_recv(cx));
        if self.use_batch {
            let per_batch = items_per_batch(self.concurrency);
            // Enough envelopes to fill the limit, and as many again ready to take the permits
            // the moment they free up; the same bound on open chains as without `$batch`.
            let envelopes = 2 * self.concurrency.div_ceil(per_batch);
            ids.ready_chunks(per_batch)
                .flat_map(|parents| {
                    futures::stream::iter(children.iter().map(move |c| (*c, parents.clone())))
                })
                .map(|(spec, parents)| {
                    Box::pin(self.run_batch(parents.into_iter().map(|id| (spec, id)).collect()))
                })
                .buffer_unordered(envelopes)
                .try_collect::<()>()
                .await
        } else {
            ids.flat_map(|id| futures::stream::iter(children.iter().map(move |c| (*c, id.clone()))))
                .map(|(spec, id)| Box::pin(self.child(spec, id, None)))
                .buffer_unordered(self.concurrency * 2)
                .try_collect::<()>()
                .await
        }
    }
}

/// Items per `$batch` envelope under a global limit of `concurrency` requests: at most Graph's
/// 20, and sized so whole envelopes fill the limit (32 -> two of 16). An envelope waits for as
/// many permits as it has items, so 20 + 20 under 32 would leave 12 permits idle.
pub(crate) fn items_per_batch(concurrency: usize) -> usize {
    let concurrency = concurrency.max(1);
    concurrency / concurrency.div_ceil(MAX_BATCH_ITEMS)
}

#[cfg(test)]
mod tests {
    use super::items_per_batch;

    #[test]
    fn envelopes_fill_the_global_limit() {
        for (concurrency, items) in [
            (1, 1),
            (8, 8),
            (20, 20),
            (21, 10),
            (32, 16),
            (50, 16),
            (64, 16),
            (100, 20),
        ] {
            assert_eq!(
                items_per_batch(concurrency),
                items,
                "concurrency {concurrency}"
            );
            assert!(items <= 20 && items <= concurrency);
        }
    }
}

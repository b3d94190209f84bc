//! The HTTP server: its own accept loop (so a fault can close a connection without answering),
//! the axum router, and the `MockServer` handle tests hold.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use bytes::Bytes;
use futures::StreamExt;
use http::header;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::auth::TokenService;
use crate::budget::IdentitySpend;
use crate::changes::Snapshot;
use crate::config::MockConfig;
use crate::faults::FaultEngine;
use crate::graph::{self, GraphRequest};
use crate::mutate::{MutateError, mutate};
use crate::response::{GraphResponse, Transport};
use crate::state::AppState;
use crate::tenant::{Mutation, MutationOutcome, Tenant};
use crate::truth::{RequestCounts, RequestLog, Truth, TruthFilter};
use crate::{admin, reports};

/// Marks a response whose connection must close without an answer.
#[derive(Clone, Copy)]
struct DropConnection;

/// A running mock tenant on 127.0.0.1. Dropping it stops the server.
pub struct MockServer {
    state: Arc<AppState>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Binds 127.0.0.1 on `config.port` (0 = any free port) and serves in the background.
    pub async fn start(config: MockConfig) -> std::io::Result<MockServer> {
        crate::tenant::check_hints(config.catalog.streams(), &config.sizes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let state = Arc::new(AppState {
            tenant: Tenant::new(
                config.seed,
                config.sizes.clone(),
                config.drift,
                config.reference_time,
                config.catalog.streams().to_vec(),
            ),
            faults: FaultEngine::new(config.faults.clone(), config.seed),
            requests: RequestLog::default(),
            tokens: TokenService::new(config.auth.clone()),
            graph_url: format!("{base_url}/v1.0"),
            base_url,
        });
        let app = router(Arc::clone(&state));
        let (shutdown, stop) = oneshot::channel();
        let task = tokio::spawn(serve(listener, app, stop));
        Ok(MockServer {
            state,
            addr,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> &str {
        &self.state.base_url
    }

    /// `http://127.0.0.1:PORT/v1.0`
    pub fn graph_url(&self) -> &str {
        &self.state.graph_url
    }

    /// The authority host for token requests (`<base>/{tenant}/oauth2/v2.0/token`): the base URL.
    pub fn authority_host(&self) -> &str {
        &self.state.base_url
    }

    /// A client config (the Singer tap-ms-graph fields graph-extract reads) for the mock's test
    /// app, pointing at this server, with `extra`'s fields merged over it: the one such config
    /// every test and benchmark starts from.
    pub fn client_config(&self, extra: serde_json::Value) -> serde_json::Value {
        use crate::auth::{TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TENANT_ID};
        let mut config = serde_json::json!({
            "tenant_id": TEST_TENANT_ID,
            "client_id": TEST_CLIENT_ID,
            "client_secret": TEST_CLIENT_SECRET,
            "graph_base_url": self.graph_url(),
            "authority_host": self.authority_host(),
        });
        if let (Some(config), serde_json::Value::Object(extra)) = (config.as_object_mut(), extra) {
            config.extend(extra);
        }
        config
    }

    /// The token endpoint for the configured tenant.
    pub fn token_url(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.state.base_url)
    }

    /// The address the mock listens on (127.0.0.1).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Per stream: rows and primary keys a correct client lands now.
    pub fn truth(&self) -> Truth {
        self.state.truth(&TruthFilter::default())
    }

    /// The truth of a run restricted to some UPN domains and/or a start date for the audit logs.
    pub fn truth_with(&self, only: &TruthFilter) -> Truth {
        self.state.truth(only)
    }

    /// Access tokens the identity endpoint issued so far, every grant together.
    pub fn tokens_issued(&self) -> u64 {
        self.state.tokens.total_tokens_issued()
    }

    /// Requests answered so far, by stream and status.
    pub fn requests(&self) -> RequestCounts {
        self.state.requests.snapshot()
    }

    /// What the run spent of the identity budget (`None` without [`crate::Faults::identity_budget`]).
    pub fn identity_spend(&self) -> Option<IdentitySpend> {
        self.state.faults.budget.as_ref().map(|b| b.spend())
    }

    /// Changes `changed` and removes `removed` rows of `stream` (users, groups, drive_items …); the next
    /// delta round reports them.
    pub fn mutate(
        &self,
        stream: &str,
        changed: u64,
        removed: u64,
    ) -> Result<MutationOutcome, MutateError> {
        let mutation = Mutation::new(stream).changed(changed).removed(removed);
        mutate(&self.state.tenant, &mutation)
    }

    /// Changes, removes and adds rows of one stream, optionally under one parent:
    /// `server.apply(&Mutation::new("mail_messages").parent(user_id).added(2))`.
    pub fn apply(&self, mutation: &Mutation) -> Result<MutationOutcome, MutateError> {
        mutate(&self.state.tenant, mutation)
    }

    /// Every live row's key and content hash per stream, to diff against a later one
    /// ([`crate::diff`]).
    pub fn snapshot(&self) -> Snapshot {
        self.state.snapshot(&TruthFilter::default())
    }

    /// [`MockServer::snapshot`] restricted like [`MockServer::truth_with`].
    pub fn snapshot_with(&self, only: &TruthFilter) -> Snapshot {
        self.state.snapshot(only)
    }

    /// Ids of the live rows of a top-level stream (`users`), in the order Graph lists them.
    pub fn live_ids(&self, stream: &str) -> Vec<String> {
        self.state
            .tenant
            .parents(stream)
            .into_iter()
            .map(|p| p.id)
            .collect()
    }

    /// Every delta token issued so far answers 410 from now on.
    pub fn expire_delta_tokens(&self) {
        self.state.tenant.expire_delta_tokens();
    }

    pub(crate) fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting, lets open connections finish, and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn router(state: Arc<AppState>) -> Router {
    let tokens = state.tokens.routes();
    Router::new()
        .route("/v1.0/{*path}", any(graph_endpoint))
        .route("/_admin/truth", any(admin::truth))
        .route("/_admin/requests", any(admin::requests))
        .route("/_admin/mutate", any(admin::mutate_endpoint))
        .route("/_admin/scenario", any(admin::scenario_endpoint))
        // The same under /_mock, the name the issue uses.
        .route("/_mock/truth", any(admin::truth))
        .route("/_mock/requests", any(admin::requests))
        .route("/_mock/mutate", any(admin::mutate_endpoint))
        .route("/_mock/scenario", any(admin::scenario_endpoint))
        .route(reports::DOWNLOAD_ROUTE, any(reports::download))
        .with_state(state)
        .merge(tokens)
}

async fn graph_endpoint(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 4 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let path = parts
        .uri
        .path()
        .strip_prefix("/v1.0")
        .unwrap_or("/")
        .to_string();
    let request = GraphRequest {
        method: parts.method,
        path,
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers,
        body,
        in_batch: false,
    };
    into_wire(graph::handle(state, request).await)
}

/// Turns a [`GraphResponse`] into what hyper sends, including the broken transports.
fn into_wire(answer: GraphResponse) -> Response {
    let GraphResponse {
        status,
        mut headers,
        body,
        transport,
        ..
    } = answer;
    let body = match transport {
        Transport::Normal => Body::from(body),
        Transport::Drop => {
            let mut response = status.into_response();
            response.extensions_mut().insert(DropConnection);
            return response;
        }
        Transport::Truncate => {
            headers.insert(header::CONTENT_LENGTH, body.len().into());
            let half = body.slice(..body.len() / 2);
            // The pause lets hyper flush the head and the half before the error closes the
            // connection, so the client sees a short body rather than no answer.
            let cut = futures::stream::once(async {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Err::<Bytes, _>(std::io::Error::other("mock fault: body truncated"))
            });
            Body::from_stream(futures::stream::iter([Ok(half)]).chain(cut))
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().extend(headers);
    response
}

/// Accepts connections until told to stop; a handler's [`DropConnection`] closes its connection.
async fn serve(listener: TcpListener, app: Router, mut stop: oneshot::Receiver<()>) {
    let graceful = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = &mut stop => break,
        };
        // As Graph's front door does: answers leave at once, not held back by Nagle.
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let app = app.clone();
                async move {
                    let response = app
                        .oneshot(request.map(Body::new))
                        .await
                        .unwrap_or_else(|e| match e {});
                    if response.extensions().get::<DropConnection>().is_some() {
                        return Err(std::io::Error::other("mock fault: connection dropped"));
                    }
                    Ok::<_, std::io::Error>(response)
                }
            });
        let connection = auto::Builder::new(TokioExecutor::new())
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown()).await;
}

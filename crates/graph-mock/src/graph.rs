//! The Graph v1.0 endpoints: route a path to a stream, refuse what Graph refuses, apply faults, serve.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderMap, Method, StatusCode};
use stream_spec::{StreamKind, StreamSpec};

use crate::delta::{DeltaSource, DeltaTarget};
use crate::folder_list::FolderListing;
use crate::paging::{self, GraphQuery};
use crate::response::{GraphResponse, RequestIds, Transport};
use crate::state::AppState;
use crate::tenant::{FolderKind, ParentRow};
use crate::truth::{Outcome, ParentRefusal, parent_refusal};
use crate::{batch, delta, folder_list, mailbox, reports};

/// What a path under /v1.0 names.
pub(crate) enum Route<'a> {
    Collection {
        spec: &'a StreamSpec,
        parent: Option<ParentRow>,
    },
    /// A delta endpoint (directory objects, drive items, a mail or contact folder, calendar view).
    Delta {
        spec: &'a StreamSpec,
        parent: Option<ParentRow>,
        source: DeltaSource,
    },
    /// A user's mail or contact folders (top level, or the children of one).
    Folders {
        /// The item stream (`mail_messages`, `contacts`): its permission and faults apply.
        spec: &'a StreamSpec,
        parent: ParentRow,
        kind: FolderKind,
        of: Option<usize>,
    },
    Report {
        spec: &'a StreamSpec,
        argument: String,
    },
    /// The path has a stream's shape but the parent (or folder) id names nothing.
    MissingParent {
        spec: &'a StreamSpec,
    },
    NotFound,
}

impl Route<'_> {
    /// The name requests are counted under.
    pub fn stream(&self) -> &str {
        match self {
            Route::Folders { kind, .. } => kind.listing_stream(),
            Route::NotFound => "_unmatched",
            _ => self.spec().map_or("_unmatched", |spec| &spec.stream),
        }
    }

    /// The declared stream whose permission and faults apply.
    fn spec(&self) -> Option<&StreamSpec> {
        match self {
            Route::Collection { spec, .. }
            | Route::Delta { spec, .. }
            | Route::Folders { spec, .. }
            | Route::Report { spec, .. }
            | Route::MissingParent { spec } => Some(spec),
            Route::NotFound => None,
        }
    }

    /// The parent whose refusals (denied, unlicensed mailbox) apply.
    fn parent(&self) -> Option<&ParentRow> {
        match self {
            Route::Collection { parent, .. } | Route::Delta { parent, .. } => parent.as_ref(),
            Route::Folders { parent, .. } => Some(parent),
            _ => None,
        }
    }
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// Finds the stream a path (relative to /v1.0) and query name.
pub(crate) fn resolve<'a>(state: &'a AppState, path: &str, query: &GraphQuery) -> Route<'a> {
    let tenant = &state.tenant;
    let request = segments(path);
    if let Some(route) = mailbox::resolve(tenant, &request) {
        return route;
    }
    let mut best: Option<(&StreamSpec, Option<Vec<&str>>, usize)> = None;
    for spec in tenant.specs() {
        let template = segments(&spec.path);
        if template.len() != request.len() {
            continue;
        }
        let mut parent_id = None;
        let mut ancestors = Vec::new();
        let mut report_argument = None;
        let fits = template.iter().zip(&request).all(|(t, r)| {
            if *t == "{parent_id}" {
                parent_id = Some(*r);
                true
            } else if t.starts_with('{') && t.ends_with('}') {
                // A grandchild's ancestor id (`{team_id}`), outermost first.
                ancestors.push(*r);
                true
            } else if spec.kind == StreamKind::Report && t.contains('(') {
                let (function, _) = t.split_once('(').unwrap_or((t, ""));
                match r.split_once('(') {
                    Some((f, arg)) if f.eq_ignore_ascii_case(function) => {
                        report_argument = Some(arg.trim_end_matches(')'));
                        true
                    }
                    _ => false,
                }
            } else {
                t.eq_ignore_ascii_case(r)
            }
        });
        if !fits {
            continue;
        }
        if let Some(argument) = report_argument {
            return Route::Report {
                spec,
                argument: argument.to_string(),
            };
        }
        // /groups serves groups and (with the declared $filter) teams: all declared query must match.
        let declared_match = spec
            .query
            .iter()
            .all(|(k, v)| query.get(k).is_some_and(|got| got == v));
        if declared_match && best.as_ref().is_none_or(|(_, _, n)| spec.query.len() > *n) {
            let key = parent_id.map(|id| [ancestors.as_slice(), &[id]].concat());
            best = Some((spec, key, spec.query.len()));
        }
    }
    let Some((spec, parent_key, _)) = best else {
        return Route::NotFound;
    };
    let parent = match (parent_key, &spec.parent) {
        (Some(ids), Some(parent_ref)) => match tenant.parent_from_ids(&parent_ref.stream, &ids) {
            Some(parent) => Some(parent),
            None => return Route::MissingParent { spec },
        },
        _ => None,
    };
    match spec.kind {
        StreamKind::Delta => Route::Delta {
            spec,
            parent,
            source: DeltaSource::Drive,
        },
        _ => Route::Collection { spec, parent },
    }
}

/// One Graph request, as from the wire or from inside a `$batch`.
pub(crate) struct GraphRequest {
    pub method: Method,
    /// Path relative to /v1.0, starting with `/`.
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub in_batch: bool,
}

/// Answers a Graph request and logs it. Boxed, because `$batch` items come back through here.
pub(crate) fn handle(
    state: Arc<AppState>,
    request: GraphRequest,
) -> BoxFuture<'static, GraphResponse> {
    Box::pin(handle_now(state, request))
}

async fn handle_now(state: Arc<AppState>, request: GraphRequest) -> GraphResponse {
    let arrived = std::time::Instant::now();
    let ids = RequestIds::from_headers(&request.headers);
    // Batch items ride on the envelope's token.
    let auth_error = match request.in_batch {
        true => None,
        false => state
            .tokens
            .check_bearer(&request.headers)
            .err()
            .map(|e| e.to_string()),
    };
    let (stream, response) = if request.in_batch {
        answer(&state, &request, &ids, arrived).await
    } else if let Some(error) = auth_error {
        let mut response = GraphResponse::error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            &error,
            &ids,
        );
        response.header(
            "www-authenticate",
            &format!(
                "Bearer realm=\"\", authorization_uri=\"{}/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
                state.base_url
            ),
        );
        ("_unauthenticated".to_string(), response)
    } else if request.method == Method::POST && request.path.eq_ignore_ascii_case("/$batch") {
        let response = batch::handle(Arc::clone(&state), &request, &ids).await;
        ("$batch".to_string(), response)
    } else {
        answer(&state, &request, &ids, arrived).await
    };
    let outcome = match response.transport {
        Transport::Normal => Outcome::Answered(response.status),
        Transport::Drop => Outcome::Dropped,
        Transport::Truncate => Outcome::Truncated(response.status),
    };
    state.requests.record(
        &stream,
        outcome,
        !request.in_batch,
        response.records,
        response.body.len() as u64,
    );
    tracing::debug!(
        stream,
        status = response.status.as_u16(),
        in_batch = request.in_batch,
        elapsed_us = arrived.elapsed().as_micros() as u64,
        "answered"
    );
    response
}

async fn answer(
    state: &AppState,
    request: &GraphRequest,
    ids: &RequestIds,
    arrived: std::time::Instant,
) -> (String, GraphResponse) {
    let query = GraphQuery::parse(request.query.as_deref());
    let route = resolve(state, &request.path, &query);
    let stream = route.stream().to_string();
    let refused = refuse(state, request, &route, ids);
    let slot = match (&refused, route.spec(), route.parent()) {
        (None, Some(spec), Some(parent))
            if spec.outlook_mailbox_limit && state.faults.faults.mailbox_concurrency =>
        {
            match state.faults.enter_mailbox(&parent.id) {
                Some(slot) => Some(slot),
                None => {
                    let response = GraphResponse::error(
                        StatusCode::TOO_MANY_REQUESTS,
                        "ApplicationThrottled",
                        "Application is over its MailboxConcurrency limit.",
                        ids,
                    );
                    return (stream, response);
                }
            }
        }
        _ => None,
    };
    let _in_flight = state.requests.enter();
    let latency = state.faults.faults.latency;
    if !latency.is_zero() {
        // Graph's latency includes its own work: counted from arrival, the mock's routing and
        // checks overlap it rather than add to it.
        crate::faults::wait_until(arrived + latency).await;
    }
    if let Some(response) = refused {
        return (stream, response);
    }
    // Identity throttling charges before any work, like the random throttling below.
    let charge = match (&state.faults.budget, route.spec()) {
        (Some(budget), Some(spec)) => {
            crate::budget::cost(spec.mock.resource_units, query.get("$select").is_some())
                .map(|units| budget.charge(units))
        }
        _ => None,
    };
    if let Some(charge) = charge
        && let Some(seconds) = charge.retry_after
    {
        let mut response = GraphResponse::error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests: the application is over its resource unit limit.",
            ids,
        );
        response.header("retry-after", &seconds.to_string());
        for (name, value) in charge.headers() {
            response.header(name, &value);
        }
        return (stream, response);
    }
    let url = format!(
        "{}?{}",
        request.path.to_ascii_lowercase(),
        request.query.as_deref().unwrap_or("")
    );
    let fault = state.faults.draw(&url, !request.in_batch);
    let response = match fault {
        // Throttling and outages answer before any work, as Graph's front door does.
        Some(
            fault @ (crate::faults::RandomFault::Throttle(_)
            | crate::faults::RandomFault::Unavailable(..)),
        ) => state
            .faults
            .apply(fault, GraphResponse::new(StatusCode::OK, ids), ids),
        Some(fault) => state
            .faults
            .apply(fault, serve(state, request, &route, &query, ids), ids),
        None => serve(state, request, &route, &query, ids),
    };
    let mut response = response;
    for (name, value) in charge.map(|c| c.headers()).unwrap_or_default() {
        response.header(name, &value);
    }
    drop(slot);
    (stream, response)
}

/// Answers that do not depend on luck: unknown paths, wrong methods, denied streams and parents.
fn refuse(
    state: &AppState,
    request: &GraphRequest,
    route: &Route<'_>,
    ids: &RequestIds,
) -> Option<GraphResponse> {
    let faults = &state.faults.faults;
    match route {
        Route::NotFound => return Some(GraphResponse::not_found(&request.path, ids)),
        Route::MissingParent { .. } => {
            let id = segments(&request.path).get(1).copied().unwrap_or("");
            return Some(GraphResponse::not_found(id, ids));
        }
        _ => {}
    }
    if request.method != Method::GET {
        return Some(GraphResponse::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "The mock tenant is read-only: only GET is supported here.",
            ids,
        ));
    }
    let stream = route.spec().map_or("", |spec| spec.stream.as_str());
    if faults.broken_streams.iter().any(|s| s == stream) {
        return Some(GraphResponse::error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "The mock broke this endpoint on purpose (Faults::broken_streams).",
            ids,
        ));
    }
    if faults.denied_streams.iter().any(|s| s == stream) {
        return Some(GraphResponse::error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
            ids,
        ));
    }
    let (Some(spec), Some(parent)) = (route.spec(), route.parent()) else {
        return None;
    };
    match parent_refusal(faults, spec, parent)? {
        ParentRefusal::Denied => Some(GraphResponse::error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Access is denied. Check credentials and try again.",
            ids,
        )),
        ParentRefusal::Unlicensed => Some(GraphResponse::error(
            StatusCode::NOT_FOUND,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
            ids,
        )),
    }
}

fn serve(
    state: &AppState,
    request: &GraphRequest,
    route: &Route<'_>,
    query: &GraphQuery,
    ids: &RequestIds,
) -> GraphResponse {
    let tenant = &state.tenant;
    match route {
        Route::Collection { spec, parent } => {
            match paging::validate(tenant, spec, &request.path, query, &request.headers, ids) {
                Ok(page) => {
                    let listing = paging::Listing {
                        spec,
                        parent: parent.as_ref(),
                        path: &request.path,
                        query,
                    };
                    paging::collection_page(tenant, &state.graph_url, listing, &page, ids)
                }
                Err(response) => *response,
            }
        }
        Route::Delta {
            spec,
            parent,
            source,
        } => {
            let target = DeltaTarget {
                spec,
                parent: parent.as_ref(),
                source: *source,
            };
            delta::serve(state, &target, request, query, ids)
        }
        Route::Folders {
            parent, kind, of, ..
        } => {
            let listing = FolderListing {
                kind: *kind,
                parent,
                of: *of,
            };
            folder_list::serve(state, &listing, &request.path, query, ids)
        }
        Route::Report { spec, argument } => reports::redirect(state, spec, argument, ids),
        Route::MissingParent { .. } | Route::NotFound => {
            GraphResponse::not_found(&request.path, ids)
        }
    }
}

//! `check`: one small request per stream, to tell before a run which streams the app may read.

use futures::future::{BoxFuture, FutureExt, join_all};
use stream_spec::{ParentKey, StreamSpec};

use crate::error::{ExtractError, GraphError, RequestError};
use crate::http::{GraphClient, GraphRequest};
use crate::paging::{self, ExtraQuery, PageIds};
use crate::plan::{Pass, Plan};
use crate::skip::is_license_refusal;
use crate::stats::StreamCounters;

/// Parents tried for a child stream: one unlicensed mailbox must not fail the whole stream.
const PARENTS_PROBED: u32 = 3;

/// What one stream's probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeStatus {
    /// A request for the stream (for a child, on one of a few parents) succeeded.
    Ok,
    /// 403: the app lacks the stream's permission.
    PermissionMissing,
    /// The tenant or the probed mailboxes/drives have no license for this resource.
    NotLicensed {
        /// Graph's error code (`MailboxNotEnabledForRESTAPI`, ...).
        code: String,
    },
    /// The parent stream has no rows (or could not be read), so there is nothing to probe.
    NoParent {
        /// The parent stream's name.
        parent: String,
    },
    /// Any other refusal or a request that failed after retries.
    Failed {
        /// The error, as its message reads.
        reason: String,
    },
}

/// One stream's probe, with the permission it needs.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    /// The stream probed.
    pub stream: String,
    /// The application permission the stream's declaration says it needs.
    pub permission: String,
    /// What the probe found.
    pub status: ProbeStatus,
}

impl ProbeResult {
    /// Whether the stream may be read ([`ProbeStatus::Ok`]).
    pub fn is_ok(&self) -> bool {
        self.status == ProbeStatus::Ok
    }
}

/// Probes every stream of `plan`; an authentication failure is an error, every refusal a result.
pub(crate) async fn probe_plan(
    client: &GraphClient,
    base_url: &str,
    plan: &Plan,
) -> Result<Vec<ProbeResult>, ExtractError> {
    let passes = join_all(
        plan.passes
            .iter()
            .map(|pass| probe_pass(client, base_url, pass)),
    );
    let mut results = Vec::new();
    for pass in passes.await {
        results.extend(pass?);
    }
    results.sort_by(|a, b| a.stream.cmp(&b.stream));
    Ok(results)
}

async fn probe_pass(
    client: &GraphClient,
    base_url: &str,
    pass: &Pass,
) -> Result<Vec<ProbeResult>, ExtractError> {
    let (status, parents) = match fetch(client, base_url, &pass.spec, None, PARENTS_PROBED).await {
        Ok(ids) => (
            ProbeStatus::Ok,
            ids.into_iter().map(ParentKey::top).collect(),
        ),
        Err(Refusal::Auth(err)) => return Err(err),
        Err(Refusal::Status(status)) => (status, Vec::new()),
    };
    let mut results = vec![result(&pass.spec, status)];
    results.extend(probe_children(client, base_url, pass, parents).await?);
    Ok(results)
}

/// Probes the children of `pass` over a few of its rows (`parents`), and theirs in turn over the
/// rows the first readable parent gave.
fn probe_children<'a>(
    client: &'a GraphClient,
    base_url: &'a str,
    pass: &'a Pass,
    parents: Vec<ParentKey>,
) -> BoxFuture<'a, Result<Vec<ProbeResult>, ExtractError>> {
    async move {
        let children = pass.children.iter().map(|child| {
            let parents = &parents;
            async move {
                let no_parent = || {
                    let parent = pass.spec.stream.clone();
                    result(&child.spec, ProbeStatus::NoParent { parent })
                };
                if parents.is_empty() {
                    let mut results = vec![no_parent()];
                    results.extend(probe_children(client, base_url, child, Vec::new()).await?);
                    return Ok(results);
                }
                let mut last = None;
                let mut rows = Vec::new();
                for parent in parents {
                    match fetch(client, base_url, &child.spec, Some(parent), PARENTS_PROBED).await {
                        Ok(ids) => {
                            rows = ids.iter().map(|id| parent.child(id)).collect();
                            last = Some(ProbeStatus::Ok);
                            break;
                        }
                        Err(Refusal::Auth(err)) => return Err(err),
                        // A missing permission is the same for every parent.
                        Err(Refusal::Status(ProbeStatus::PermissionMissing)) => {
                            last = Some(ProbeStatus::PermissionMissing);
                            break;
                        }
                        Err(Refusal::Status(status)) => last = Some(status),
                    }
                }
                let status = last.expect("at least one parent was probed");
                let mut results = vec![result(&child.spec, status)];
                results.extend(probe_children(client, base_url, child, rows).await?);
                Ok::<_, ExtractError>(results)
            }
        });
        let mut results = Vec::new();
        for child in join_all(children).await {
            results.extend(child?);
        }
        Ok(results)
    }
    .boxed()
}

fn result(spec: &StreamSpec, status: ProbeStatus) -> ProbeResult {
    ProbeResult {
        stream: spec.stream.clone(),
        permission: spec.permission.clone(),
        status,
    }
}

enum Refusal {
    Auth(ExtractError),
    Status(ProbeStatus),
}

/// One page of at most `top` rows (where the endpoint takes `$top`); returns the ids on it.
async fn fetch(
    client: &GraphClient,
    base_url: &str,
    spec: &StreamSpec,
    parent_id: Option<&ParentKey>,
    top: u32,
) -> Result<Vec<String>, Refusal> {
    let url = paging::first_url(base_url, spec, parent_id, top, &ExtraQuery::default());
    let mut request = GraphRequest::get(&url);
    if spec.outlook_mailbox_limit {
        request
            .mailboxes
            .extend(parent_id.map(|p| p.id().to_string()));
    }
    if spec.kind == stream_spec::StreamKind::Report {
        // Reports answer with a 302 to a CSV; the redirect itself proves access.
        request.check = crate::http::BodyCheck::None;
    }
    let counters = StreamCounters::default();
    match client.send(&request, &counters).await {
        Ok(response) => Ok(serde_json::from_slice::<PageIds>(&response.body)
            .map(|page| page.live_ids().collect())
            .unwrap_or_default()),
        Err(RequestError::Auth(err)) => Err(Refusal::Auth(ExtractError::Auth(err))),
        Err(RequestError::Graph(err)) => Err(Refusal::Status(classify(&err, parent_id.is_some()))),
        Err(other) => Err(Refusal::Status(ProbeStatus::Failed {
            reason: other.to_string(),
        })),
    }
}

fn classify(err: &GraphError, per_parent: bool) -> ProbeStatus {
    if is_license_refusal(err, per_parent) {
        ProbeStatus::NotLicensed {
            code: err.code.clone(),
        }
    } else if err.status == 403 {
        ProbeStatus::PermissionMissing
    } else {
        ProbeStatus::Failed {
            reason: err.to_string(),
        }
    }
}

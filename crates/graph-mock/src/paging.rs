//! OData query options and collection pages: `$top` caps and refusals, `$select`, `$count` and
//! `$filter` (see `filter`) with their refusals, opaque `$skiptoken`s, absolute nextLinks.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderMap;
use serde_json::{Map, Value};
use stream_spec::{FieldType, PageSize, StreamSpec};

use crate::filter::{self, Clause, Filter, ParseError};

use crate::ids::{combine, hash_str};
use crate::response::{GraphResponse, RequestIds};
use crate::tenant::{ParentRow, RowRef, Shape, Tenant};

/// Graph's page size when the client sends no `$top`.
pub(crate) const DEFAULT_PAGE: u64 = 100;
/// One page in this many (after the first) comes back empty but with a nextLink, as Graph does.
const EMPTY_PAGE_EVERY: u64 = 7;

/// The query string, decoded.
#[derive(Debug, Clone, Default)]
pub(crate) struct GraphQuery {
    pub params: Vec<(String, String)>,
}

impl GraphQuery {
    pub fn parse(query: Option<&str>) -> Self {
        let params = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Self { params }
    }

    /// A parameter by name, case-insensitively (Graph accepts `$TOP`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The query string without the named parameters, re-encoded (`$` kept as is).
    pub fn encode_without(&self, drop: &[&str]) -> String {
        self.params
            .iter()
            .filter(|(k, _)| !drop.iter().any(|d| k.eq_ignore_ascii_case(d)))
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace("%24", "$")
}

fn consistency_eventual(headers: &HeaderMap) -> bool {
    headers
        .get("consistencylevel")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("eventual"))
}

/// Where the client is in a chain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// Next raw row position to look at.
    pub position: u64,
    /// Pages already served in this chain.
    pub page: u64,
    /// Free for the endpoint (delta rounds keep their epochs here).
    pub extra: u64,
}

impl Cursor {
    pub fn encode(self, seed: u64, path: &str) -> String {
        let check = self.check(seed, path);
        URL_SAFE_NO_PAD.encode(format!(
            "mock1.{}.{}.{}.{check:x}",
            self.position, self.page, self.extra
        ))
    }

    pub fn decode(token: &str, seed: u64, path: &str) -> Option<Self> {
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
        let mut parts = text.strip_prefix("mock1.")?.split('.');
        let cursor = Cursor {
            position: parts.next()?.parse().ok()?,
            page: parts.next()?.parse().ok()?,
            extra: parts.next()?.parse().ok()?,
        };
        let check = u64::from_str_radix(parts.next()?, 16).ok()?;
        (parts.next().is_none() && check == cursor.check(seed, path)).then_some(cursor)
    }

    fn check(self, seed: u64, path: &str) -> u64 {
        combine(&[
            seed,
            hash_str(&path.to_ascii_lowercase()),
            self.position,
            self.page,
            self.extra,
        ]) & 0xffff_ffff
    }
}

/// A validated collection request.
#[derive(Debug, Clone)]
pub(crate) struct PageRequest {
    pub top: u64,
    pub cursor: Cursor,
    pub select: Option<Vec<String>>,
    pub count: bool,
    pub filter: Filter,
    /// `$orderby=<property> desc` where the mock sorts (chat messages' timestamps); elsewhere
    /// `$orderby` is ignored.
    pub order_desc: Option<String>,
}

/// Checks the query options against what Graph accepts on this endpoint.
pub(crate) fn validate(
    tenant: &Tenant,
    spec: &StreamSpec,
    path: &str,
    query: &GraphQuery,
    headers: &HeaderMap,
    ids: &RequestIds,
) -> Result<PageRequest, Box<GraphResponse>> {
    let bad =
        |code: &str, message: String| Box::new(GraphResponse::bad_request(code, &message, ids));
    let eventual = consistency_eventual(headers);
    for (name, _) in &query.params {
        let known = [
            "$top",
            "$skiptoken",
            "$select",
            "$count",
            "$filter",
            "$orderby",
            "$expand",
            "$deltatoken",
            "$search",
        ];
        if name.starts_with('$') && !known.iter().any(|k| k.eq_ignore_ascii_case(name)) {
            return Err(bad(
                "BadRequest",
                format!("Query option '{name}' is not allowed."),
            ));
        }
    }
    let top = match query.get("$top") {
        None => match spec.page_size {
            PageSize::Cap(cap) => DEFAULT_PAGE.min(u64::from(cap)),
            PageSize::Unsupported => DEFAULT_PAGE,
        },
        Some(raw) => match spec.page_size {
            PageSize::Unsupported => {
                return Err(bad(
                    "Request_UnsupportedQuery",
                    "The query specified in the URI is not valid. $top is not supported on this resource."
                        .into(),
                ));
            }
            PageSize::Cap(cap) => match raw.parse::<u64>() {
                Ok(n) if (1..=u64::from(cap)).contains(&n) => n,
                _ => {
                    return Err(bad(
                        "Request_UnsupportedQuery",
                        format!(
                            "Invalid page size specified: '{raw}'. Must be between 1 and {cap} inclusive."
                        ),
                    ));
                }
            },
        },
    };
    let cursor = match query.get("$skiptoken") {
        None => Cursor::default(),
        Some(token) => Cursor::decode(token, tenant.seed, path).ok_or_else(|| {
            bad(
                "Directory_ExpiredPageToken",
                "The specified page token value has expired and can no longer be included in your request.".into(),
            )
        })?,
    };
    let select = match query.get("$select") {
        None => None,
        Some(list) => {
            let mut names = Vec::new();
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let Some(field) = spec
                    .fields
                    .iter()
                    .find(|f| f.graph.eq_ignore_ascii_case(name))
                else {
                    return Err(bad(
                        "Request_BadRequest",
                        format!(
                            "Could not find a property named '{name}' on type '{}'.",
                            spec.entity.as_deref().unwrap_or("microsoft.graph.entity")
                        ),
                    ));
                };
                names.push(field.graph.clone());
            }
            Some(names)
        }
    };
    let count = match query.get("$count") {
        None | Some("false") => false,
        Some("true") if eventual => true,
        Some("true") => {
            return Err(bad(
                "Request_BadRequest",
                "$count is not currently supported without the ConsistencyLevel header set to eventual."
                    .into(),
            ));
        }
        Some(other) => {
            return Err(bad(
                "BadRequest",
                format!("Invalid $count value '{other}'."),
            ));
        }
    };
    if query.get("$search").is_some() {
        return Err(bad(
            "Request_UnsupportedQuery",
            "$search is not supported by this mock endpoint.".into(),
        ));
    }
    let filter = match query.get("$filter") {
        None => Filter::None,
        Some(f) if spec.query.get("$filter").is_some_and(|d| d == f) => Filter::Declared,
        Some(f) => Filter::AnyOf(
            checked_clauses(spec, f, eventual).map_err(|(code, message)| bad(code, message))?,
        ),
    };
    let order_desc = chat_order(spec, query.get("$orderby"));
    let timed = match &filter {
        Filter::AnyOf(clauses) => clauses
            .iter()
            .any(|c| matches!(c, Clause::After { .. } | Clause::Before { .. })),
        _ => false,
    };
    if let Some((property, order)) = filter::ordered_time(spec)
        && timed
        && order_desc.as_deref() != Some(property)
    {
        return Err(bad(
            "BadRequest",
            format!("$filter on {property} is supported only with $orderby={order}."),
        ));
    }
    Ok(PageRequest {
        top,
        cursor,
        select,
        count,
        filter,
        order_desc,
    })
}

/// The property chat messages are sorted on, newest first, for `$orderby=<p> desc`.
fn chat_order(spec: &StreamSpec, orderby: Option<&str>) -> Option<String> {
    filter::ordered_time(spec)?;
    let (property, direction) = orderby?.trim().split_once(' ')?;
    let known = ["lastModifiedDateTime", "createdDateTime"]
        .into_iter()
        .find(|p| p.eq_ignore_ascii_case(property))?;
    direction
        .trim()
        .eq_ignore_ascii_case("desc")
        .then(|| known.to_string())
}

/// Parses a client `$filter` and checks each clause against what Graph allows on this endpoint:
/// `endswith` on a declared string property with `ConsistencyLevel: eventual`, `ge` on an audit
/// log's own timestamp. Errors are (code, message) of the 400.
fn checked_clauses(
    spec: &StreamSpec,
    filter: &str,
    eventual: bool,
) -> Result<Vec<Clause>, (&'static str, String)> {
    let unsupported = |what: &str| {
        (
            "Request_UnsupportedQuery",
            format!("Unsupported or invalid query filter clause specified for {what}."),
        )
    };
    let mut clauses = match filter::parse(filter) {
        Ok(clauses) => clauses,
        Err(ParseError::Unsupported) => {
            return Err((
                "Request_UnsupportedQuery",
                format!("Unsupported or invalid query filter clause: '{filter}'."),
            ));
        }
        // The audit log service's own wording (OData's DateTimeOffset literal rule).
        Err(ParseError::BadDate(text)) => {
            return Err((
                "BadRequest",
                format!(
                    "Invalid filter clause: The DateTimeOffset text '{text}' should be in format 'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?' and each field value is within valid range."
                ),
            ));
        }
    };
    for clause in &mut clauses {
        match clause {
            Clause::EndsWith { property, .. } => {
                if !eventual {
                    return Err(unsupported(
                        "property 'endswith'. Advanced queries need the ConsistencyLevel header set to eventual",
                    ));
                }
                let declared = spec
                    .fields
                    .iter()
                    .any(|x| x.graph == *property && x.data_type == FieldType::Utf8);
                if !declared {
                    return Err(unsupported(&format!("property '{property}'")));
                }
            }
            Clause::AtLeast { property, .. } => match filter::date_property(spec) {
                // Property names in a filter are case-insensitive; keep the declared spelling.
                Some(allowed) if allowed.eq_ignore_ascii_case(property) => {
                    *property = allowed.to_string();
                }
                _ => return Err(unsupported(&format!("property '{property}' with 'ge'"))),
            },
            Clause::After { property, .. } | Clause::Before { property, .. } => {
                let allowed = filter::ordered_time(spec).map_or("", |(p, _)| p);
                if allowed.is_empty() || !allowed.eq_ignore_ascii_case(property) {
                    return Err(unsupported(&format!(
                        "property '{property}' with 'gt'/'lt'"
                    )));
                }
                *property = allowed.to_string();
            }
        }
    }
    Ok(clauses)
}

/// The JSON of one row as sent, honouring `$select` (directory objects under a parent keep `@odata.type`).
pub(crate) fn render_row(
    tenant: &Tenant,
    row: RowRef<'_>,
    select: Option<&[String]>,
) -> Map<String, Value> {
    let record = tenant.record_selected(row, select);
    match select {
        None => record,
        Some(names) => {
            let keep_type = tenant.shape(row.spec) == Shape::Members;
            record
                .into_iter()
                .filter(|(k, _)| names.contains(k) || (keep_type && k == "@odata.type"))
                .collect()
        }
    }
}

/// What a collection request lists: the stream, its parent, and the URL it came by.
pub(crate) struct Listing<'a> {
    pub spec: &'a StreamSpec,
    pub parent: Option<&'a ParentRow>,
    pub path: &'a str,
    pub query: &'a GraphQuery,
}

/// Serves one page of a plain collection.
pub(crate) fn collection_page(
    tenant: &Tenant,
    graph_url: &str,
    listing: Listing<'_>,
    request: &PageRequest,
    ids: &RequestIds,
) -> GraphResponse {
    let Listing {
        spec,
        parent,
        path,
        query,
    } = listing;
    let len = tenant.raw_len(spec, parent);
    let row_at = |index| RowRef {
        spec,
        parent,
        index,
    };
    let wanted = |index| {
        let row = row_at(index);
        tenant.exists(row) && filter::matches(tenant, row, &request.filter)
    };
    if let Some(property) = &request.order_desc {
        let listing = Listing {
            spec,
            parent,
            path,
            query,
        };
        return sorted_page(tenant, graph_url, listing, request, property, ids);
    }
    let next_wanted = |from: u64| (from..len).find(|&i| wanted(i));
    let mut position = next_wanted(request.cursor.position).unwrap_or(len);
    let page = request.cursor.page;
    let empty_page = page > 0
        && position < len
        && combine(&[tenant.seed, hash_str(path), page]).is_multiple_of(EMPTY_PAGE_EVERY);
    let mut rows = Vec::new();
    if !empty_page {
        while position < len && (rows.len() as u64) < request.top {
            rows.push(render_row(
                tenant,
                row_at(position),
                request.select.as_deref(),
            ));
            position = next_wanted(position + 1).unwrap_or(len);
        }
    }
    let count =
        (request.count && page == 0).then(|| (0..len).filter(|&i| wanted(i)).count() as u64);
    let next_link = (position < len).then(|| {
        let cursor = Cursor {
            position,
            page: page + 1,
            extra: 0,
        };
        next_link(graph_url, path, query, &cursor.encode(tenant.seed, path))
    });
    page_response(
        graph_url,
        path,
        count,
        rows,
        next_link.as_deref(),
        None,
        ids,
    )
}

/// A page of rows sorted newest first on `property` (chat messages with `$orderby=… desc`).
fn sorted_page(
    tenant: &Tenant,
    graph_url: &str,
    listing: Listing<'_>,
    request: &PageRequest,
    property: &str,
    ids: &RequestIds,
) -> GraphResponse {
    let Listing {
        spec,
        parent,
        path,
        query,
    } = listing;
    let row_at = |index| RowRef {
        spec,
        parent,
        index,
    };
    let mut order: Vec<_> = (0..tenant.raw_len(spec, parent))
        .filter(|&i| {
            tenant.exists(row_at(i)) && filter::matches(tenant, row_at(i), &request.filter)
        })
        .map(|i| (filter::time_value(tenant, row_at(i), property), i))
        .collect();
    order.sort_by(|a, b| b.cmp(a));
    let from = (request.cursor.position as usize).min(order.len());
    let end = order.len().min(from + request.top as usize);
    let rows = order[from..end]
        .iter()
        .map(|&(_, i)| render_row(tenant, row_at(i), request.select.as_deref()))
        .collect();
    let next_link = (end < order.len()).then(|| {
        let cursor = Cursor {
            position: end as u64,
            page: request.cursor.page + 1,
            extra: 0,
        };
        next_link(graph_url, path, query, &cursor.encode(tenant.seed, path))
    });
    page_response(graph_url, path, None, rows, next_link.as_deref(), None, ids)
}

pub(crate) fn next_link(
    graph_url: &str,
    path: &str,
    query: &GraphQuery,
    skiptoken: &str,
) -> String {
    let rest = query.encode_without(&["$skiptoken", "$deltatoken"]);
    let sep = if rest.is_empty() { "" } else { "&" };
    format!("{graph_url}{path}?{rest}{sep}$skiptoken={skiptoken}")
}

/// `{"@odata.context", "@odata.count"?, "value", "@odata.nextLink"? | "@odata.deltaLink"?}`.
pub(crate) fn page_response(
    graph_url: &str,
    path: &str,
    count: Option<u64>,
    rows: Vec<Map<String, Value>>,
    next_link: Option<&str>,
    delta_link: Option<&str>,
    ids: &RequestIds,
) -> GraphResponse {
    let mut page = Map::new();
    page.insert(
        "@odata.context".into(),
        Value::String(format!(
            "{graph_url}/$metadata#{}",
            path.trim_start_matches('/')
        )),
    );
    if let Some(count) = count {
        page.insert("@odata.count".into(), count.into());
    }
    if let Some(link) = next_link {
        page.insert("@odata.nextLink".into(), link.into());
    }
    if let Some(link) = delta_link {
        page.insert("@odata.deltaLink".into(), link.into());
    }
    let records = rows.len() as u64;
    page.insert(
        "value".into(),
        Value::Array(rows.into_iter().map(Value::Object).collect()),
    );
    let mut response = GraphResponse::json(ids, serde_json::to_vec(&page).unwrap_or_default());
    response.records = records;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_tampering() {
        let cursor = Cursor {
            position: 200,
            page: 2,
            extra: 5,
        };
        let token = cursor.encode(42, "/users");
        assert_eq!(Cursor::decode(&token, 42, "/users"), Some(cursor));
        assert_eq!(Cursor::decode(&token, 42, "/groups"), None);
        assert_eq!(Cursor::decode("garbage", 42, "/users"), None);
    }
}

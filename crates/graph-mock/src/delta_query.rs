//! What a delta request asks for, checked per endpoint as Graph checks it: directory and drive
//! delta take the collection's options; Outlook delta pages by `Prefer: odata.maxpagesize`
//! (default 10); `calendarView/delta` needs a window on its first call and refuses `$select`.

use chrono::{DateTime, NaiveDateTime};
use http::HeaderMap;

use crate::delta::{DeltaSource, DeltaTarget};
use crate::graph::GraphRequest;
use crate::paging::{self, GraphQuery};
use crate::response::{GraphResponse, RequestIds};
use crate::state::AppState;

/// Outlook's page size when the client states no preference.
pub(crate) const OUTLOOK_DEFAULT_PAGE: u64 = 10;
/// The most Outlook puts on one delta page.
const OUTLOOK_MAX_PAGE: u64 = 1000;
/// Options `calendarView/delta` refuses, in Graph's own message.
const CALENDAR_REFUSED: [&str; 6] = [
    "$orderby", "$filter", "$select", "$expand", "$search", "$top",
];
/// Query parameters that are part of the round, not of the links the mock hands out.
const ROUND_PARAMS: [&str; 5] = [
    "$skiptoken",
    "$deltatoken",
    "token",
    "startDateTime",
    "endDateTime",
];

/// A calendar-view window in Unix seconds, start inclusive, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub start: i64,
    pub end: i64,
}

pub(crate) enum Token {
    None,
    Latest,
    Skip(String),
    Delta(String),
}

pub(crate) struct DeltaQuery {
    pub token: Token,
    pub top: u64,
    pub select: Option<Vec<String>>,
    /// The window of a first calendar-view call.
    pub window: Option<Window>,
    /// `Prefer: odata.maxpagesize` as honoured (answered in `Preference-Applied`).
    pub preferred_page: Option<u64>,
}

type Refusal = Box<GraphResponse>;

impl DeltaQuery {
    pub fn parse(
        state: &AppState,
        target: &DeltaTarget<'_>,
        request: &GraphRequest,
        query: &GraphQuery,
        ids: &RequestIds,
    ) -> Result<DeltaQuery, Refusal> {
        let token = token(target.source, query);
        let without_round = GraphQuery {
            params: query
                .params
                .iter()
                .filter(|(k, _)| !ROUND_PARAMS.iter().any(|r| r.eq_ignore_ascii_case(k)))
                .cloned()
                .collect(),
        };
        let tenant = &state.tenant;
        let spec = target.spec;
        if !target.source.is_outlook() {
            // Graph tracks changes of a whole collection: no $filter (but on id, which the mock
            // does not offer), $orderby or $expand on a delta query.
            if let Some((name, _)) = without_round.params.iter().find(|(k, _)| {
                ["$filter", "$orderby", "$expand"]
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(k))
            }) {
                return Err(Box::new(GraphResponse::bad_request(
                    "Request_UnsupportedQuery",
                    &format!("Query option '{name}' is not supported with change tracking."),
                    ids,
                )));
            }
            let page = paging::validate(
                tenant,
                spec,
                &request.path,
                &without_round,
                &request.headers,
                ids,
            )?;
            return Ok(DeltaQuery {
                token,
                top: page.top,
                select: page.select,
                window: None,
                preferred_page: None,
            });
        }
        let bad =
            |code: &str, message: String| Box::new(GraphResponse::bad_request(code, &message, ids));
        let calendar = target.source == DeltaSource::CalendarView;
        for (name, _) in &without_round.params {
            let refused = if calendar {
                CALENDAR_REFUSED
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(name))
            } else {
                name.starts_with('$')
                    && !["$select", "$top"]
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(name))
            };
            if refused {
                let resource = if calendar { "CalendarView" } else { "Items" };
                return Err(bad(
                    "ErrorInvalidUrlQuery",
                    format!(
                        "The following parameters are not supported with change tracking over the '{resource}' resource: '{}'.",
                        if calendar {
                            CALENDAR_REFUSED.join(", ")
                        } else {
                            name.clone()
                        }
                    ),
                ));
            }
        }
        let select = match without_round.get("$select") {
            None => None,
            Some(list) => {
                let only_select = GraphQuery {
                    params: vec![("$select".into(), list.into())],
                };
                paging::validate(
                    tenant,
                    spec,
                    &request.path,
                    &only_select,
                    &request.headers,
                    ids,
                )?
                .select
            }
        };
        let preferred_page = max_page_size(&request.headers);
        let top = match (preferred_page, without_round.get("$top")) {
            (Some(size), _) => size,
            (None, Some(raw)) => match raw.parse::<u64>() {
                Ok(n) if (1..=OUTLOOK_MAX_PAGE).contains(&n) => n,
                _ => {
                    return Err(bad(
                        "ErrorInvalidUrlQuery",
                        format!("The value '{raw}' of $top is invalid: 1 to {OUTLOOK_MAX_PAGE}."),
                    ));
                }
            },
            (None, None) => OUTLOOK_DEFAULT_PAGE,
        };
        let window = match (&token, calendar) {
            (Token::None | Token::Latest, true) => Some(window(query).ok_or_else(|| {
                bad(
                    "ErrorInvalidParameter",
                    "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime."
                        .into(),
                )
            })?),
            _ => None,
        };
        Ok(DeltaQuery {
            token,
            top,
            select,
            window,
            preferred_page,
        })
    }

    /// The query options the next and delta links carry (`$select`, `$top`): all but the round's.
    pub fn kept_query(&self, query: &GraphQuery) -> String {
        query.encode_without(&ROUND_PARAMS)
    }
}

fn token(source: DeltaSource, query: &GraphQuery) -> Token {
    if let Some(skip) = query.get("$skiptoken") {
        return Token::Skip(skip.to_string());
    }
    // OneDrive's links say `token=`; `$deltatoken` works there too.
    let delta = match source {
        DeltaSource::Drive => query.get("token").or_else(|| query.get("$deltatoken")),
        _ => query.get("$deltatoken"),
    };
    match delta {
        None => Token::None,
        Some(t) if t.eq_ignore_ascii_case("latest") => Token::Latest,
        Some(t) => Token::Delta(t.to_string()),
    }
}

/// `odata.maxpagesize=N` from the `Prefer` header(s), capped at Outlook's maximum.
fn max_page_size(headers: &HeaderMap) -> Option<u64> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.trim().strip_prefix("odata.maxpagesize="))
        .filter_map(|n| n.trim().parse::<u64>().ok())
        .find(|n| *n > 0)
        .map(|n| n.min(OUTLOOK_MAX_PAGE))
}

/// `startDateTime` and `endDateTime` (RFC 3339, or without an offset meaning UTC), start < end.
fn window(query: &GraphQuery) -> Option<Window> {
    let at = |name: &str| {
        let text = query.get(name)?;
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.timestamp())
            .ok()
            .or_else(|| {
                NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .map(|t| t.and_utc().timestamp())
            })
    };
    let window = Window {
        start: at("startDateTime")?,
        end: at("endDateTime")?,
    };
    (window.start < window.end).then_some(window)
}

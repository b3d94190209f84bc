//! First-page URLs from a declaration, and cheap reading of a page's links, row count and ids.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::Deserialize;
use serde::de::{IgnoredAny, SeqAccess, Visitor};
use stream_spec::{Catalog, ParentKey, StreamKind, StreamSpec};

use crate::config::Config;

/// Characters escaped in a query value. `$ ' ( ) , / : @` stay literal, as Graph's docs write them.
const QUERY_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Characters escaped in a parent id put into a path segment.
const PATH_SEGMENT: &AsciiSet = &QUERY_VALUE.add(b'/').add(b'\'');

/// How a page's body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageFormat {
    /// A Graph collection page: `{"value":[...], "@odata.nextLink"?, ...}`.
    Json,
    /// A report's CSV download (header line first, may start with a UTF-8 BOM).
    Csv,
}

/// One response body handed to the sink, untouched.
#[derive(Debug, Clone)]
pub struct Page {
    /// The stream's name, as declared.
    pub stream: Arc<str>,
    /// The parent's key for child streams (its ids go into the declared parent-key columns).
    pub parent: Option<ParentKey>,
    /// How `body` is encoded.
    pub format: PageFormat,
    /// The body as Graph sent it; for a report, the CSV's header and this page's lines.
    pub body: Bytes,
    /// Records in this page (`value` entries, or CSV data lines).
    pub rows: usize,
    /// Set on the last page of a delta chain.
    pub delta_link: Option<String>,
    /// Set on the last page of a chain (one parent's pages, a top-level stream's, a report's):
    /// how many pages the chain had, so a consumer can let go of what it kept per chain.
    pub chain_pages: Option<u32>,
}

/// Query additions the run decides (not in the declaration), e.g. the `domains` filter on users.
#[derive(Debug, Clone, Default)]
pub struct ExtraQuery {
    /// Query parameters by name, values unescaped (`$filter`, `$count`).
    pub params: BTreeMap<String, String>,
    /// Advanced queries (`$count`, `endswith`) need `ConsistencyLevel: eventual` on every page.
    pub consistency_eventual: bool,
}

impl ExtraQuery {
    /// Per stream, what `config` adds: `domains` on every stream that declares a
    /// `domain_property`. (`start_date` is the first lower bound of the bookmark streams: see
    /// `incremental`.)
    pub fn for_config(config: &Config, catalog: &Catalog) -> HashMap<String, ExtraQuery> {
        if config.domains.is_empty() {
            return HashMap::new();
        }
        catalog
            .streams()
            .iter()
            .filter_map(|spec| {
                let property = spec.domain_property.as_deref()?;
                Some((
                    spec.stream.clone(),
                    Self::domains(property, &config.domains),
                ))
            })
            .collect()
    }

    /// `$filter=property ge 2026-01-01T00:00:00Z` (an unquoted OData DateTimeOffset, in UTC).
    pub fn since(property: &str, start: DateTime<Utc>) -> Self {
        Self::bound(property, "ge", start)
    }

    /// `$filter=property <operator> <timestamp>`, the timestamp as Graph reads it.
    pub fn bound(property: &str, operator: &str, start: DateTime<Utc>) -> Self {
        // Graph keeps 100 ns ticks and reads at most 7 fractional digits: rounding a finer start up
        // to the next tick keeps `ge` exact.
        let nanos = start.timestamp_subsec_nanos();
        let start = start + TimeDelta::nanoseconds(i64::from((100 - nanos % 100) % 100));
        let ticks = start.timestamp_subsec_nanos() / 100;
        let seconds = start.format("%Y-%m-%dT%H:%M:%S");
        let at = match ticks {
            0 => format!("{seconds}Z"),
            _ => format!("{seconds}.{ticks:07}Z"),
        };
        Self {
            params: BTreeMap::from([(
                "$filter".to_string(),
                format!("{property} {operator} {at}"),
            )]),
            consistency_eventual: false,
        }
    }

    /// `$filter=endswith(<property>,'@a') or ...`, `$count=true`, ConsistencyLevel.
    pub fn domains(property: &str, domains: &[String]) -> Self {
        if domains.is_empty() {
            return Self::default();
        }
        let filter = domains
            .iter()
            .map(|d| format!("endswith({property},'@{}')", d.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(" or ");
        Self {
            params: BTreeMap::from([
                ("$filter".to_string(), filter),
                ("$count".to_string(), "true".to_string()),
            ]),
            consistency_eventual: true,
        }
    }
}

/// Path and query of a stream's first page, relative to the version root (as `$batch` wants it).
pub fn first_relative_url(
    spec: &StreamSpec,
    parent: Option<&ParentKey>,
    page_size: u32,
    extra: &ExtraQuery,
) -> String {
    let path = spec.fill_path(&spec.path, parent, path_segment);
    let mut params: BTreeMap<&str, String> = spec
        .query
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    if spec.kind != StreamKind::Report {
        let select = spec.select();
        if !select.is_empty() {
            params.insert("$select", select.join(","));
        }
        if let Some(top) = spec.page_size.top(page_size) {
            params.insert("$top", top.to_string());
        }
    }
    for (k, v) in &extra.params {
        match (k.as_str(), params.get(k.as_str())) {
            // A declared filter (teams) and the run's filter must both hold.
            ("$filter", Some(declared)) => {
                let both = format!("({declared}) and ({v})");
                params.insert("$filter", both);
            }
            _ => {
                params.insert(k.as_str(), v.clone());
            }
        }
    }
    relative_url(path, &params)
}

/// A parent or folder id as a path segment.
pub fn path_segment(id: &str) -> String {
    utf8_percent_encode(id, PATH_SEGMENT).to_string()
}

/// `path?k=v&...` with the values escaped as Graph's docs write them.
pub fn relative_url<K: AsRef<str>>(path: String, params: &BTreeMap<K, String>) -> String {
    let mut url = if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    };
    for (i, (k, v)) in params.iter().enumerate() {
        let k = k.as_ref();
        url.push(if i == 0 && !url.contains('?') {
            '?'
        } else {
            '&'
        });
        url.push_str(k);
        url.push('=');
        url.extend(utf8_percent_encode(v, QUERY_VALUE));
    }
    url
}

/// Absolute first-page URL: the version root plus [`first_relative_url`].
pub fn first_url(
    base: &str,
    spec: &StreamSpec,
    parent: Option<&ParentKey>,
    page_size: u32,
    extra: &ExtraQuery,
) -> String {
    format!(
        "{}{}",
        base.trim_end_matches('/'),
        first_relative_url(spec, parent, page_size, extra)
    )
}

/// The parts of a page the extractor needs; records are skipped, not built.
#[derive(Debug, Deserialize)]
pub struct PageLinks {
    /// `@odata.nextLink`: the next page's URL; `None` on the last page.
    #[serde(default, rename = "@odata.nextLink")]
    pub next_link: Option<String>,
    /// `@odata.deltaLink`: set on the last page of a delta round.
    #[serde(default, rename = "@odata.deltaLink")]
    pub delta_link: Option<String>,
    /// Entries in `value`.
    #[serde(default)]
    pub value: RowCount,
}

/// Number of entries in `value`, counted without materialising them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RowCount(pub usize);

impl<'de> Deserialize<'de> for RowCount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Count;
        impl<'de> Visitor<'de> for Count {
            type Value = RowCount;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RowCount, A::Error> {
                let mut n = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(RowCount(n))
            }
        }
        d.deserialize_seq(Count)
    }
}

/// A page read for the ids of its records (parents of child streams); `@removed` rows are left out.
#[derive(Debug, Deserialize)]
pub struct PageIds {
    /// `@odata.nextLink`: the next page's URL; `None` on the last page.
    #[serde(default, rename = "@odata.nextLink")]
    pub next_link: Option<String>,
    /// `@odata.deltaLink`: set on the last page of a delta round.
    #[serde(default, rename = "@odata.deltaLink")]
    pub delta_link: Option<String>,
    /// The page's records, each reduced to its id and `@removed` mark.
    #[serde(default)]
    pub value: Vec<IdOnly>,
}

/// One record of a [`PageIds`] page.
#[derive(Debug, Deserialize)]
pub struct IdOnly {
    /// The record's `id`; `None` when it has none.
    #[serde(default)]
    pub id: Option<String>,
    /// Set on records a delta round reports deleted; `None` for live ones.
    #[serde(default, rename = "@removed")]
    pub removed: Option<IgnoredAny>,
}

impl PageIds {
    /// Ids of the records not marked `@removed`, in page order.
    pub fn live_ids(self) -> impl Iterator<Item = String> {
        self.value
            .into_iter()
            .filter(|r| r.removed.is_none())
            .filter_map(|r| r.id)
    }
}

/// Where each CSV record (the header first) ends: just past its line break, or at the end of the
/// body for a last line without one. Quoted fields may contain line breaks; blank lines are no
/// records (their break still ends the span, so slices between ends cover the body exactly).
fn record_ends(body: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut in_quotes = false;
    let mut line_has_data = false;
    for (i, &b) in body.iter().enumerate() {
        match b {
            b'"' => {
                in_quotes = !in_quotes;
                line_has_data = true;
            }
            b'\n' if !in_quotes => {
                if line_has_data {
                    ends.push(i + 1);
                } else if let Some(last) = ends.last_mut() {
                    *last = i + 1;
                }
                line_has_data = false;
            }
            b'\r' => {}
            _ => line_has_data = true,
        }
    }
    if line_has_data {
        ends.push(body.len());
    }
    ends
}

/// Splits a report CSV into pages of at most `rows_per_page` data records, each page the header
/// followed by its records, with the number of records. A body with no data records is one page
/// as it is, so the stream still lands its columns. Pages are built as they are taken, so only
/// those in flight are copies.
pub fn csv_pages(
    body: &Bytes,
    rows_per_page: usize,
) -> impl ExactSizeIterator<Item = (Bytes, usize)> + '_ {
    let ends = record_ends(body);
    let header_end = ends.first().copied().unwrap_or(body.len());
    let records = ends.get(1..).unwrap_or_default();
    let per_page = rows_per_page.max(1);
    let whole = records.len() <= per_page;
    // (start, end, records) of each page's data, found now; the bytes are copied per page later.
    let spans: Vec<(usize, usize, usize)> = if whole {
        vec![(header_end, body.len(), records.len())]
    } else {
        let mut start = header_end;
        records
            .chunks(per_page)
            .map(|chunk| {
                let end = *chunk.last().expect("chunks are never empty");
                let span = (start, end, chunk.len());
                start = end;
                span
            })
            .collect()
    };
    spans.into_iter().map(move |(start, end, rows)| {
        if whole {
            return (body.clone(), rows);
        }
        let mut page = Vec::with_capacity(header_end + end - start);
        page.extend_from_slice(&body[..header_end]);
        page.extend_from_slice(&body[start..end]);
        (Bytes::from(page), rows)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CSV data lines (the header excluded), honouring quoted fields that contain newlines.
    fn csv_rows(body: &[u8]) -> usize {
        record_ends(body).len().saturating_sub(1)
    }
    use stream_spec::{Field, FieldType, PageSize, ParentRef};

    fn spec(path: &str, page_size: PageSize, parent: bool) -> StreamSpec {
        let field = |g: &str, n: &str| Field {
            graph: g.into(),
            name: n.into(),
            data_type: FieldType::Utf8,
            nullable: true,
        };
        StreamSpec {
            selected_by_default: false,
            mock: Default::default(),
            stream: "s".into(),
            kind: StreamKind::Collection,
            path: path.into(),
            parent: parent.then(|| ParentRef {
                stream: "users".into(),
                column: "user_id".into(),
            }),
            primary_key: vec!["id".into()],
            query: BTreeMap::new(),
            page_size,
            entity: None,
            permission: "User.Read.All".into(),
            outlook_mailbox_limit: false,
            domain_property: None,
            incremental: Default::default(),
            fields: vec![
                field("id", "id"),
                field("displayName", "display_name"),
                field("@odata.type", "odata_type"),
            ],
        }
    }

    #[test]
    fn first_url_has_select_top_and_parent() {
        let s = spec("/users/{parent_id}/messages", PageSize::Cap(1000), true);
        let url = first_url(
            "http://127.0.0.1:1/v1.0/",
            &s,
            Some(&ParentKey::top("u-1")),
            999,
            &ExtraQuery::default(),
        );
        assert_eq!(
            url,
            "http://127.0.0.1:1/v1.0/users/u-1/messages?$select=id,displayName&$top=999"
        );
        let capped = spec("/chats/{parent_id}/messages", PageSize::Cap(50), true);
        let rel = first_relative_url(
            &capped,
            Some(&ParentKey::top("19:a/b@thread.v2")),
            999,
            &ExtraQuery::default(),
        );
        assert_eq!(
            rel,
            "/chats/19:a%2Fb@thread.v2/messages?$select=id,displayName&$top=50"
        );
        // A grandchild's path takes every id of its parent's key.
        let mut grandchild = spec(
            "/teams/{team_id}/channels/{parent_id}/messages",
            PageSize::Cap(50),
            true,
        );
        grandchild.parent = Some(stream_spec::ParentRef {
            stream: "channels".into(),
            column: "channel_id".into(),
        });
        let channel = ParentKey::top("t-1").child("19:c@thread.tacv2");
        let rel = first_relative_url(&grandchild, Some(&channel), 999, &ExtraQuery::default());
        assert_eq!(
            rel,
            "/teams/t-1/channels/19:c@thread.tacv2/messages?$select=id,displayName&$top=50"
        );
    }

    #[test]
    fn no_top_where_the_endpoint_refuses_it() {
        let s = spec("/directoryRoles", PageSize::Unsupported, false);
        let rel = first_relative_url(&s, None, 999, &ExtraQuery::default());
        assert!(!rel.contains("$top"), "{rel}");
    }

    #[test]
    fn domains_filter_joins_with_a_declared_filter() {
        let mut s = spec("/users", PageSize::Cap(999), false);
        s.query
            .insert("$filter".into(), "accountEnabled eq true".into());
        let extra = ExtraQuery::domains("userPrincipalName", &["a.com".into(), "b.org".into()]);
        assert!(extra.consistency_eventual);
        let rel = first_relative_url(&s, None, 500, &extra);
        assert!(rel.contains("$count=true"), "{rel}");
        assert!(
            rel.contains("$filter=(accountEnabled%20eq%20true)%20and%20(endswith(userPrincipalName,'@a.com')%20or%20endswith(userPrincipalName,'@b.org'))"),
            "{rel}"
        );
    }

    #[test]
    fn bounds_are_graph_timestamps_and_config_adds_only_domains() {
        let fine = DateTime::parse_from_rfc3339("2026-01-01T00:00:00.123456701Z").unwrap();
        assert_eq!(
            ExtraQuery::since("p", fine.to_utc()).params["$filter"],
            "p ge 2026-01-01T00:00:00.1234568Z"
        );
        let whole = DateTime::parse_from_rfc3339("2026-01-01T12:30:00+02:00").unwrap();
        assert_eq!(
            ExtraQuery::bound("p", "gt", whole.to_utc()).params["$filter"],
            "p gt 2026-01-01T10:30:00Z"
        );
        let config = Config::from_json(
            r#"{"tenant_id":"t","client_id":"c","start_date":"2026-01-01","domains":["a.com"]}"#,
        )
        .unwrap();
        // The declarations say which streams `domains` filters: the shipped ones, only users.
        let catalog = stream_spec::Catalog::embedded();
        let extra = ExtraQuery::for_config(&config, &catalog);
        assert_eq!(extra.keys().collect::<Vec<_>>(), ["users"]);
        let without = Config::from_json(r#"{"tenant_id":"t","client_id":"c"}"#).unwrap();
        assert!(ExtraQuery::for_config(&without, &catalog).is_empty());
    }

    #[test]
    fn page_links_count_rows_without_values() {
        let body = br#"{"@odata.context":"x","value":[{"id":"1","n":{"deep":[1,2]}},{"id":"2"}],
            "@odata.nextLink":"http://h/v1.0/users?$skiptoken=abc"}"#;
        let links: PageLinks = serde_json::from_slice(body).unwrap();
        assert_eq!(links.value, RowCount(2));
        assert_eq!(
            links.next_link.as_deref(),
            Some("http://h/v1.0/users?$skiptoken=abc")
        );
        let ids: PageIds = serde_json::from_slice(
            br#"{"value":[{"id":"a"},{"id":"b","@removed":{"reason":"deleted"}}],"@odata.deltaLink":"d"}"#,
        )
        .unwrap();
        assert_eq!(ids.delta_link.as_deref(), Some("d"));
        assert_eq!(ids.live_ids().collect::<Vec<_>>(), vec!["a"]);
    }

    #[test]
    fn csv_rows_skip_header_and_respect_quotes() {
        assert_eq!(csv_rows(b"\xef\xbb\xbfA,B\r\n1,2\r\n3,\"x\ny\"\r\n"), 2);
        assert_eq!(csv_rows(b"A,B\n"), 0);
        assert_eq!(csv_rows(b"A,B\n1,2"), 1);
        assert_eq!(csv_rows(b""), 0);
        assert_eq!(csv_rows(b"A,B\n\n1,2\n\n"), 1);
    }

    #[test]
    fn csv_pages_repeat_the_header_and_keep_quoted_newlines_whole() {
        let body = Bytes::from_static(b"\xef\xbb\xbfA,B\r\n1,2\r\n3,\"x\ny\"\r\n\r\n5,6");
        let pages: Vec<_> = csv_pages(&body, 2).collect();
        let texts: Vec<(&[u8], usize)> = pages.iter().map(|(b, n)| (b.as_ref(), *n)).collect();
        assert_eq!(
            texts,
            vec![
                (&b"\xef\xbb\xbfA,B\r\n1,2\r\n3,\"x\ny\"\r\n\r\n"[..], 2),
                (&b"\xef\xbb\xbfA,B\r\n5,6"[..], 1),
            ]
        );
        for (page, rows) in &pages {
            assert_eq!(csv_rows(page), *rows);
        }
        // Small bodies, header-only and empty ones pass through as one page.
        let pages = |body: &Bytes, n| csv_pages(body, n).collect::<Vec<_>>();
        assert_eq!(pages(&body, 3), vec![(body.clone(), 3)]);
        let header_only = Bytes::from_static(b"A,B\n");
        assert_eq!(pages(&header_only, 2), vec![(header_only.clone(), 0)]);
        assert_eq!(pages(&Bytes::new(), 2), vec![(Bytes::new(), 0)]);
    }
}

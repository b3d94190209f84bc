//! One small type for the stream declarations in `schemas/*.json`.
//!
//! graph-extract, arrow-sink and graph-mock all read streams through this crate, so a declaration is
//! never parsed twice in two ways. No HTTP and no Arrow here.
//!
//! A declaration is two things. Its *table* ([`Table`]: name, primary key, parent-key columns,
//! fields, body format, tombstone) is all the sink reads; its *source* (path, query, permission,
//! paging, incremental method) is what the extractor and the mock read. [`StreamSpec::table`]
//! derives the table, and anything landing rows that do not come from Graph (a Singer target, a
//! test) builds a [`Table`] directly, with no path or permission to invent.
//!
//! ```
//! use stream_spec::{Catalog, PageSize, StreamSpec};
//!
//! // The shipped streams, compiled in from schemas/*.json.
//! let catalog = Catalog::embedded();
//! let mail = catalog.get("mail_messages")?;
//! assert_eq!(mail.primary_key, ["id", "user_id"]);
//! assert_eq!(mail.parent.as_ref().map(|p| p.stream.as_str()), Some("users"));
//!
//! // A declaration is plain JSON; reading one checks it (keys among the fields, names, ...).
//! let devices = StreamSpec::from_json("devices", r#"{
//!     "stream": "devices", "kind": "collection", "path": "/devices", "primary_key": ["id"],
//!     "page_size": {"cap": 999}, "permission": "Device.Read.All",
//!     "fields": [{"graph": "id", "name": "id", "type": "utf8", "nullable": false}]
//! }"#)?;
//! assert_eq!(devices.page_size.top(5000), Some(999));
//! assert!(StreamSpec::from_json("x", r#"{"stream": "x"}"#).is_err());
//!
//! // The table the sink lands: the same names, keys and fields, nothing of the source.
//! let table = mail.table();
//! assert_eq!(table.parent_columns(), ["user_id"]);
//! assert_eq!(table.tombstone.as_deref(), Some("@removed"));
//! # Ok::<(), stream_spec::SpecError>(())
//! ```

#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

mod mock;
mod naming;
mod parent_key;
pub use mock::{Derived, MockHints};
mod table;
pub use naming::{report_column_name, snake_case};
pub use parent_key::{ParentKey, scope_of};
pub use table::{BodyFormat, Table, TableParent};

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// A stream: one Graph collection (or report) landed as one table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    /// Table name, snake_case (`mail_messages`).
    pub stream: String,
    /// How the endpoint behaves: a plain collection, a delta chain, or a CSV report behind a 302.
    pub kind: StreamKind,
    /// Graph path relative to the version root; `{parent_id}` stands for the parent's id.
    pub path: String,
    /// The stream whose ids this one fans out over, and the column that carries the parent id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentRef>,
    /// Output column names forming the primary key (never null).
    pub primary_key: Vec<String>,
    /// Fixed query parameters sent on the first request (e.g. `$filter` for teams).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// The property the config's `domains` restricts (`userPrincipalName` on users): the
    /// stream is read with `$filter=endswith(<property>,'@<domain>') or ...`, and so are the
    /// streams that fan out over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_property: Option<String>,
    /// The endpoint's `$top` rule.
    pub page_size: PageSize,
    /// Graph entity type the records are (`microsoft.graph.user`); `None` for reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// The application permission the stream needs (`Mail.Read`).
    pub permission: String,
    /// Outlook resources allow 4 concurrent requests per app per mailbox.
    #[serde(default, skip_serializing_if = "is_false")]
    pub outlook_mailbox_limit: bool,
    /// How a run after the stream's first finds what changed (landing contract 2).
    #[serde(default)]
    pub incremental: Incremental,
    /// Typed fields, in output order. Parent-key columns are not listed here (see `parent`).
    pub fields: Vec<Field>,
    /// How graph-mock, the fake tenant, makes up the stream's rows; nothing else reads it.
    #[serde(default, skip_serializing_if = "MockHints::is_empty")]
    pub mock: MockHints,
    /// The Singer tap selects the stream when no catalog says otherwise: the 22 streams of
    /// singer-io's tap-ms-graph are, so a drop-in run reads what it read; newer ones wait to be
    /// selected (and their permissions granted).
    #[serde(default, skip_serializing_if = "is_false")]
    pub selected_by_default: bool,
}

/// The incremental method of a stream. Whatever the method, a run lands only inserts, updates and
/// deletes against the stream's current state; the method decides what is read from Graph.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum Incremental {
    /// A Graph delta query: the chain ends in `@odata.deltaLink`, kept as state, and the next run
    /// follows that link for the changes since.
    Delta(DeltaQuery),
    /// Rows filtered on a timestamp from the last run's greatest value (less an overlap); keys
    /// dedupe the overlap. Never yields deletes.
    Bookmark(Bookmark),
    /// History rather than state (usage reports): read as declared, a row not seen again is never
    /// a delete.
    Append,
    /// Read in full and compared by key and content hash with the current state: keys no longer
    /// listed become deletes.
    #[default]
    Compare,
    /// Changes fed by an upstream that tracks them itself (a Singer tap): a row whose `tombstone`
    /// property is set is a delete; unseen keys are deletes only where the caller says the
    /// stream was sent whole (a Singer ACTIVATE_VERSION).
    Feed(Feed),
}

/// How a fed stream marks its deletes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feed {
    /// Top-level property whose presence (non-null) marks a deleted row (`_sdc_deleted_at`).
    pub tombstone: String,
}

impl Incremental {
    /// The method's name as the manifest and summary show it (`delta`, `bookmark`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Incremental::Delta(_) => "delta",
            Incremental::Bookmark(_) => "bookmark",
            Incremental::Append => "append",
            Incremental::Compare => "compare",
            Incremental::Feed(_) => "feed",
        }
    }

    /// The top-level property that marks a row as deleted, for delta streams.
    pub fn tombstone(&self) -> Option<&str> {
        match self {
            Incremental::Delta(delta) => Some(&delta.tombstone),
            Incremental::Feed(feed) => Some(&feed.tombstone),
            _ => None,
        }
    }
}

/// A delta query's endpoint and how it reports deletions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeltaQuery {
    /// Delta path relative to the version root; `{parent_id}` is the parent's id and `{folder_id}`
    /// a folder listed by `folders`.
    pub path: String,
    /// Delta per folder (mail, contacts): the folders are listed first, each followed on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folders: Option<Folders>,
    /// Top-level property whose presence (non-null) marks a deleted row: `@removed` for directory
    /// objects and Outlook items, `deleted` (a facet) for drive items.
    pub tombstone: String,
    /// Whether the first request sends the declared `$select` (`calendarView/delta` refuses it).
    #[serde(default, skip_serializing_if = "is_false")]
    pub select: bool,
    /// `calendarView/delta`: the first request carries `startDateTime`/`endDateTime`, a window
    /// around the run's start (`events_window_days` in the config).
    #[serde(default, skip_serializing_if = "is_false")]
    pub window: bool,
}

/// The folder listing of a per-folder delta stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Folders {
    /// `/users/{parent_id}/mailFolders`.
    pub path: String,
    /// Navigation property of nested folders (`childFolders`), listed recursively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<String>,
    /// Fixed query on the listing (`includeHiddenFolders=true`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// A delta path that covers items outside every listed folder (`/users/{parent_id}/contacts/delta`
    /// for the default contact folder), followed once per parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_path: Option<String>,
}

/// A timestamp bookmark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bookmark {
    /// Graph property filtered on (`activityDateTime`): `$filter=<property> ge <timestamp>`.
    pub property: String,
    /// Minutes before the bookmark read again, for rows Graph makes visible late.
    pub overlap_minutes: u32,
    /// Days Graph keeps rows; a bookmark older than that starts at the retention edge instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    /// The comparison the endpoint accepts on `property`: `ge` (audit logs) or `gt` (chat
    /// messages, whose `$filter` documents only `gt` and `lt`).
    #[serde(default, skip_serializing_if = "BookmarkOperator::is_ge")]
    pub operator: BookmarkOperator,
    /// `$orderby` the endpoint requires alongside the filter (`lastModifiedDateTime desc` for chat
    /// messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_by: Option<String>,
}

/// How a bookmark's lower bound is written in `$filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookmarkOperator {
    /// `ge`: rows at or after the bound.
    #[default]
    Ge,
    /// `gt`: rows strictly after the bound.
    Gt,
}

impl BookmarkOperator {
    /// The operator as `$filter` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            BookmarkOperator::Ge => "ge",
            BookmarkOperator::Gt => "gt",
        }
    }

    fn is_ge(&self) -> bool {
        *self == BookmarkOperator::Ge
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// How a stream's endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    /// `value` array pages chained by `@odata.nextLink`.
    Collection,
    /// Like a collection, but the chain ends in `@odata.deltaLink` and may carry `@removed` rows.
    Delta,
    /// A 302 to a CSV download; fields are the CSV columns.
    Report,
}

impl StreamKind {
    /// The name declarations use (`collection`, `delta`, `report`).
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Collection => "collection",
            StreamKind::Delta => "delta",
            StreamKind::Report => "report",
        }
    }
}

/// The stream a child stream fans out over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParentRef {
    /// Parent stream name (`users`).
    pub stream: String,
    /// Column added to every child row with the parent's id (`user_id`); or, where a declared
    /// field has this name (a Singer child stream, whose records carry it), that field.
    pub column: String,
}

/// What the endpoint accepts for `$top`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageSize {
    /// `$top` accepted up to this value.
    Cap(u32),
    /// `$top` refused with 400 `Request_UnsupportedQuery`.
    Unsupported,
}

impl PageSize {
    /// `$top` to send for a requested page size, or `None` where the endpoint refuses `$top`.
    pub fn top(self, requested: u32) -> Option<u32> {
        match self {
            PageSize::Cap(cap) => Some(requested.min(cap)),
            PageSize::Unsupported => None,
        }
    }
}

/// One declared field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Name as Graph sends it (`userPrincipalName`, `@odata.type`).
    pub graph: String,
    /// Output name, snake_case (`user_principal_name`, `odata_type`).
    pub name: String,
    /// The landed type.
    #[serde(rename = "type")]
    pub data_type: FieldType,
    /// Whether the value may be null (primary-key columns never are).
    pub nullable: bool,
}

/// Field types. Serialised as `"utf8"`, `{"list": T}` or `{"struct": [fields]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Text (Edm.String, GUIDs, enums).
    Utf8,
    /// Edm.Boolean.
    Boolean,
    /// Edm.Int32 (and smaller integers).
    Int32,
    /// Edm.Int64.
    Int64,
    /// Edm.Double, Edm.Single, Edm.Decimal.
    Float64,
    /// Edm.Date, `YYYY-MM-DD`.
    Date,
    /// Edm.DateTimeOffset: microseconds, UTC.
    TimestampUsUtc,
    /// Any JSON value kept as its JSON text (recursive types cut at depth, untyped properties).
    Json,
    /// A collection of values of one type.
    List(Box<FieldType>),
    /// A complex type: named fields.
    Struct(Vec<Field>),
}

/// Why a declaration could not be read, or a stream not found.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A declaration is not JSON of the declaration's shape.
    #[error("stream declaration {file}: {source}")]
    Parse {
        /// The declaration's stream (file) name.
        file: String,
        /// What serde found wrong, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A directory of declarations could not be read.
    #[error("reading stream declarations from {dir}: {source}")]
    Io {
        /// The directory.
        dir: String,
        /// The filesystem's error.
        #[source]
        source: std::io::Error,
    },
    /// A declaration reads but breaks a rule (a key not declared, a parent missing, ...).
    #[error("stream declaration {file}: {message}")]
    Invalid {
        /// The declaration's stream (file) name.
        file: String,
        /// The rule broken, and how to fix it.
        message: String,
    },
    /// No declaration has this name.
    #[error("unknown stream `{0}` (run `msgraph-sync streams` for the list)")]
    UnknownStream(String),
}

impl StreamSpec {
    /// Reads and checks the declaration of stream `file` (its file name without `.json`).
    pub fn from_json(file: &str, text: &str) -> Result<Self, SpecError> {
        let spec: StreamSpec = serde_json::from_str(text).map_err(|source| SpecError::Parse {
            file: file.to_string(),
            source,
        })?;
        spec.validate(file)?;
        Ok(spec)
    }

    fn validate(&self, file: &str) -> Result<(), SpecError> {
        let invalid = |message: String| SpecError::Invalid {
            file: file.to_string(),
            message,
        };
        if self.stream != file {
            return Err(invalid(format!(
                "stream `{}` must match its file name",
                self.stream
            )));
        }
        if self.primary_key.is_empty() {
            return Err(invalid("primary_key is empty".into()));
        }
        for key in &self.primary_key {
            let declared = self.fields.iter().any(|f| &f.name == key)
                || self.parent_columns().contains(&key.as_str());
            if !declared {
                return Err(invalid(format!(
                    "primary key `{key}` is not a declared column"
                )));
            }
        }
        if self.path.contains("{parent_id}") != self.parent.is_some() {
            return Err(invalid(
                "`{parent_id}` in path and `parent` go together".into(),
            ));
        }
        for ancestor in self.ancestor_columns() {
            if ancestor == "parent_id" || ancestor == "folder_id" || ancestor.is_empty() {
                return Err(invalid(format!(
                    "`{{{ancestor}}}` in path names no ancestor column (a grandchild path names \
                     its grandparent's column, e.g. `/teams/{{team_id}}/channels/{{parent_id}}/messages`)"
                )));
            }
        }
        if let Incremental::Delta(delta) = &self.incremental {
            if delta.path.contains("{parent_id}") != self.parent.is_some() {
                return Err(invalid(
                    "`{parent_id}` in incremental.path and `parent` go together".into(),
                ));
            }
            if delta.path.contains("{folder_id}") != delta.folders.is_some() {
                return Err(invalid(
                    "`{folder_id}` in incremental.path and `incremental.folders` go together"
                        .into(),
                ));
            }
            if delta.tombstone.is_empty() {
                return Err(invalid("incremental.tombstone is empty".into()));
            }
        }
        if let Incremental::Feed(feed) = &self.incremental
            && feed.tombstone.is_empty()
        {
            return Err(invalid("incremental.tombstone is empty".into()));
        }
        Ok(())
    }

    /// `path` (the declared one, or a delta path) with a parent key filled in: `{parent_id}` is
    /// the parent's id, each ancestor placeholder (`{team_id}`) the id at its place in the key.
    /// `encode` turns an id into a path segment.
    pub fn fill_path(
        &self,
        path: &str,
        parent: Option<&ParentKey>,
        encode: impl Fn(&str) -> String,
    ) -> String {
        let Some(parent) = parent else {
            return path.to_string();
        };
        let mut filled = path.replace("{parent_id}", &encode(parent.id()));
        for (column, id) in self.ancestor_columns().iter().zip(parent.ids()) {
            filled = filled.replace(&format!("{{{column}}}"), &encode(id));
        }
        filled
    }

    /// The columns of a grandchild's ancestors above its parent, outermost first: the path's
    /// placeholders other than `{parent_id}` and `{folder_id}` (`team_id` in
    /// `/teams/{team_id}/channels/{parent_id}/messages`).
    pub fn ancestor_columns(&self) -> Vec<&str> {
        let mut columns = Vec::new();
        let mut rest = self.path.as_str();
        while let Some(start) = rest.find('{') {
            let Some(len) = rest[start..].find('}') else {
                break;
            };
            let name = &rest[start + 1..start + len];
            if name != "parent_id" && name != "folder_id" {
                columns.push(name);
            }
            rest = &rest[start + len + 1..];
        }
        columns
    }

    /// Every parent-key column a child row carries, outermost first: the ancestors' columns,
    /// then `parent.column`. Empty for a top-level stream.
    pub fn parent_columns(&self) -> Vec<&str> {
        let Some(parent) = &self.parent else {
            return Vec::new();
        };
        let mut columns = self.ancestor_columns();
        columns.push(&parent.column);
        columns
    }

    /// Top-level Graph property names, for `$select`.
    pub fn select(&self) -> Vec<&str> {
        self.fields
            .iter()
            .map(|f| f.graph.as_str())
            .filter(|g| !g.starts_with('@'))
            .collect()
    }

    /// The declared field with output name `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The table this stream lands as: what the sink needs, none of the source.
    pub fn table(&self) -> Table {
        let format = match self.kind {
            StreamKind::Report => BodyFormat::ReportCsv,
            StreamKind::Collection | StreamKind::Delta => BodyFormat::GraphPage,
        };
        let mut table = Table::new(
            &self.stream,
            format,
            self.primary_key.clone(),
            self.fields.clone(),
        )
        .with_method(self.incremental.name());
        table.hash_kind = self.kind.as_str();
        if let Some(parent) = &self.parent {
            let columns = self
                .parent_columns()
                .into_iter()
                .map(String::from)
                .collect();
            table = table.with_parent(&parent.stream, columns);
        }
        if let Some(tombstone) = self.incremental.tombstone() {
            table = table.with_tombstone(tombstone);
        }
        table
    }
}

/// All stream declarations, sorted by stream name.
#[derive(Debug, Clone)]
pub struct Catalog {
    streams: Vec<StreamSpec>,
}

impl Catalog {
    /// The declarations compiled into this build (from `schemas/`).
    pub fn embedded() -> Self {
        let streams = EMBEDDED
            .iter()
            .map(|(name, text)| {
                StreamSpec::from_json(name, text)
                    .unwrap_or_else(|e| panic!("embedded schema is invalid: {e}"))
            })
            .collect();
        Self::new(streams)
    }

    /// Declarations read from a directory of `*.json` files.
    pub fn from_dir(dir: &Path) -> Result<Self, SpecError> {
        let io = |source| SpecError::Io {
            dir: dir.display().to_string(),
            source,
        };
        let mut streams = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(io)?;
            let name = path.file_stem().unwrap_or_default().to_string_lossy();
            streams.push(StreamSpec::from_json(&name, &text)?);
        }
        Ok(Self::new(streams))
    }

    fn new(mut streams: Vec<StreamSpec>) -> Self {
        streams.sort_by(|a, b| a.stream.cmp(&b.stream));
        Self { streams }
    }

    /// The shipped declarations, with those of `dir` added when given (see [`Catalog::with`]):
    /// what `--streams-dir` and the configs' `streams_dir` mean.
    pub fn embedded_with(dir: Option<&Path>) -> Result<Self, SpecError> {
        let shipped = Self::embedded();
        match dir {
            Some(dir) => shipped.with(Self::from_dir(dir)?),
            None => Ok(shipped),
        }
    }

    /// This catalog with `extra`'s declarations added, each replacing a shipped one of the same
    /// name (streams declared at run time: `--streams-dir`). Every parent must then be declared.
    pub fn with(self, extra: Catalog) -> Result<Self, SpecError> {
        let mut streams: Vec<StreamSpec> = self
            .streams
            .into_iter()
            .filter(|s| extra.get(&s.stream).is_err())
            .collect();
        streams.extend(extra.streams);
        let catalog = Self::new(streams);
        catalog.check_parents()?;
        Ok(catalog)
    }

    /// Every `parent` names a declared stream, no stream is its own ancestor, and a grandchild's
    /// path names its parent's parent-key columns (the ids its URL and rows need).
    pub fn check_parents(&self) -> Result<(), SpecError> {
        for spec in &self.streams {
            let mut seen = vec![spec.stream.as_str()];
            let mut current = spec;
            while let Some(parent) = &current.parent {
                let invalid = |message: String| SpecError::Invalid {
                    file: spec.stream.clone(),
                    message,
                };
                current = self.get(&parent.stream).map_err(|_| {
                    invalid(format!(
                        "parent `{}` is not declared (add its declaration, or fix the name)",
                        parent.stream
                    ))
                })?;
                if seen.contains(&current.stream.as_str()) {
                    return Err(invalid(format!(
                        "parents go round in a circle: {} -> {}",
                        seen.join(" -> "),
                        current.stream
                    )));
                }
                seen.push(&current.stream);
            }
        }
        // Only once no parent goes round in a circle: ancestors are then finite.
        for spec in &self.streams {
            if let Some(parent) = spec.parent.as_ref().and_then(|p| self.get(&p.stream).ok()) {
                let (have, need) = (spec.ancestor_columns(), parent.parent_columns());
                if have != need {
                    let need: Vec<String> = need.iter().map(|c| format!("{{{c}}}")).collect();
                    return Err(SpecError::Invalid {
                        file: spec.stream.clone(),
                        message: format!(
                            "its parent `{}` hangs under {} ids, so its path names [{}] \
                             before `{{parent_id}}`",
                            parent.stream,
                            need.len(),
                            need.join(", ")
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Every declaration, sorted by stream name.
    pub fn streams(&self) -> &[StreamSpec] {
        &self.streams
    }

    /// The declaration of `stream`, or [`SpecError::UnknownStream`].
    pub fn get(&self, stream: &str) -> Result<&StreamSpec, SpecError> {
        self.streams
            .iter()
            .find(|s| s.stream == stream)
            .ok_or_else(|| SpecError::UnknownStream(stream.to_string()))
    }

    /// Streams whose `parent` is `stream`.
    pub fn children<'a>(&'a self, stream: &'a str) -> impl Iterator<Item = &'a StreamSpec> + 'a {
        self.streams
            .iter()
            .filter(move |s| s.parent.as_ref().is_some_and(|p| p.stream == stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(stream: &str, parent: Option<&str>) -> StreamSpec {
        let (path, parent, key) = match parent {
            Some(p) => (
                format!("/{p}/{{parent_id}}/{stream}"),
                format!(r#", "parent": {{"stream": "{p}", "column": "{p}_id"}}"#),
                format!(r#"["id", "{p}_id"]"#),
            ),
            None => (format!("/{stream}"), String::new(), r#"["id"]"#.to_string()),
        };
        let text = format!(
            r#"{{"stream": "{stream}", "kind": "collection", "path": "{path}", "primary_key": {key},
                "page_size": {{"cap": 999}}, "permission": "X.Read.All"{parent},
                "fields": [{{"graph": "id", "name": "id", "type": "utf8", "nullable": false}}]}}"#
        );
        StreamSpec::from_json(stream, &text).unwrap()
    }

    #[test]
    fn streams_declared_at_run_time_add_to_and_replace_shipped_ones() {
        let shipped = Catalog::embedded();
        let count = shipped.streams().len();
        let users = plain("users", None);
        let extra = Catalog::new(vec![plain("printers", None), users.clone()]);
        let both = shipped.clone().with(extra).unwrap();
        assert_eq!(both.streams().len(), count + 1);
        assert_eq!(both.get("users").unwrap(), &users);
        assert!(both.get("printers").is_ok());

        let orphan = Catalog::new(vec![plain("printer_jobs", Some("printers"))]);
        let err = shipped.clone().with(orphan).unwrap_err().to_string();
        assert!(
            err.contains("printer_jobs") && err.contains("`printers` is not declared"),
            "{err}"
        );

        // A grandchild's path names its parent's whole key; one that leaves the team out is
        // refused, naming the placeholder it needs.
        let mut messages = plain("printer_jobs", Some("printers"));
        messages.parent.as_mut().unwrap().column = "job_id".into();
        let mut channel = plain("printers", Some("users"));
        channel.path = "/users/{parent_id}/printers".into();
        let short = Catalog::new(vec![channel.clone(), messages.clone()]);
        let err = shipped.clone().with(short).unwrap_err().to_string();
        assert!(err.contains("[{users_id}]"), "{err}");
        messages.path = "/users/{users_id}/printers/{parent_id}/jobs".into();
        messages.primary_key = vec!["id".into(), "users_id".into(), "job_id".into()];
        let both = shipped
            .clone()
            .with(Catalog::new(vec![channel, messages]))
            .unwrap();
        let jobs = both.get("printer_jobs").unwrap();
        assert_eq!(jobs.parent_columns(), ["users_id", "job_id"]);
        let key = ParentKey::top("u/1").child("p1");
        assert_eq!(
            jobs.fill_path(&jobs.path, Some(&key), |id| id.replace('/', "%2F")),
            "/users/u%2F1/printers/p1/jobs"
        );

        let circle = Catalog::new(vec![plain("a", Some("b")), plain("b", Some("a"))]);
        let err = shipped.with(circle).unwrap_err().to_string();
        assert!(err.contains("circle"), "{err}");
    }

    #[test]
    fn field_types_round_trip_in_their_documented_shape() {
        let json = r#"{"graph":"toRecipients","name":"to_recipients","type":{"list":{"struct":[
            {"graph":"address","name":"address","type":"utf8","nullable":true}]}},"nullable":true}"#;
        let field: Field = serde_json::from_str(json).unwrap();
        assert_eq!(
            field.data_type,
            FieldType::List(Box::new(FieldType::Struct(vec![Field {
                graph: "address".into(),
                name: "address".into(),
                data_type: FieldType::Utf8,
                nullable: true,
            }])))
        );
        let back = serde_json::to_value(&field).unwrap();
        assert_eq!(back["type"]["list"]["struct"][0]["type"], "utf8");
    }

    #[test]
    fn incremental_methods_read_in_their_documented_shape() {
        let delta: Incremental = serde_json::from_str(
            r#"{"method":"delta","path":"/users/{parent_id}/mailFolders/{folder_id}/messages/delta",
                "tombstone":"@removed","select":true,
                "folders":{"path":"/users/{parent_id}/mailFolders","children":"childFolders"}}"#,
        )
        .unwrap();
        assert_eq!(delta.name(), "delta");
        assert_eq!(delta.tombstone(), Some("@removed"));
        let bookmark: Incremental = serde_json::from_str(
            r#"{"method":"bookmark","property":"activityDateTime","overlap_minutes":15}"#,
        )
        .unwrap();
        assert_eq!(bookmark.tombstone(), None);
        let compare: Incremental = serde_json::from_str(r#"{"method":"compare"}"#).unwrap();
        assert_eq!(compare, Incremental::default());
        assert!(serde_json::from_str::<Incremental>(r#"{"method":"guess"}"#).is_err());
    }

    #[test]
    fn page_size_top_respects_cap_and_refusal() {
        assert_eq!(PageSize::Cap(50).top(999), Some(50));
        assert_eq!(PageSize::Cap(999).top(100), Some(100));
        assert_eq!(PageSize::Unsupported.top(999), None);
    }

    #[test]
    fn a_stream_table_keeps_what_the_sink_needs() {
        let catalog = Catalog::embedded();
        let messages = catalog.get("channel_messages").unwrap().table();
        assert_eq!(messages.name, "channel_messages");
        assert_eq!(messages.format, BodyFormat::GraphPage);
        assert_eq!(messages.parent_columns(), ["team_id", "channel_id"]);
        assert_eq!(messages.parent.as_ref().unwrap().table, "channels");
        assert!(!messages.carries("team_id"));
        assert_eq!(
            (messages.method.as_str(), messages.tombstone),
            ("compare", None)
        );

        let drive_items = catalog.get("drive_items").unwrap().table();
        assert_eq!(drive_items.tombstone.as_deref(), Some("deleted"));
        assert_eq!(
            (drive_items.method.as_str(), drive_items.hash_kind),
            ("delta", "delta")
        );
        let report = catalog.get("mailbox_usage_detail").unwrap().table();
        assert_eq!(report.format, BodyFormat::ReportCsv);
        assert_eq!(
            (report.method.as_str(), report.hash_kind),
            ("append", "report")
        );
        for spec in catalog.streams() {
            // The kind the hash names is the declaration's, serialised as serde writes it.
            assert_eq!(
                serde_json::to_value(spec.kind).unwrap(),
                spec.table().hash_kind
            );
        }
    }

    #[test]
    fn embedded_catalog_is_valid_and_parents_exist() {
        let catalog = Catalog::embedded();
        for spec in catalog.streams() {
            if let Some(parent) = &spec.parent {
                catalog.get(&parent.stream).expect("parent stream declared");
            }
        }
    }
}

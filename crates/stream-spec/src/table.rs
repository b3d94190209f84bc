//! A *table*: what the sink needs to land rows, apart from where they come from.
//!
//! A [`StreamSpec`](crate::StreamSpec) is a table plus its *source* (path, query, permission,
//! paging, incremental method), which only the extractor and the mock read;
//! [`StreamSpec::table`](crate::StreamSpec::table) derives the table. A Singer target or a test
//! builds one directly with [`Table::new`].

use crate::Field;

/// How a page body holds its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// A Graph collection response, `{"value": [...], "@odata.nextLink": ...}`: the records are the
    /// `value` array, other envelope members are protocol, not data.
    GraphPage,
    /// One JSON object per line (a Singer target's spooled RECORDs).
    RecordLines,
    /// A CSV report download; columns are matched by header name.
    ReportCsv,
}

/// The rows a child table's rows hang under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableParent {
    /// The parent table (`users`): a parent row deleted this run deletes its children.
    pub table: String,
    /// Every parent-key column, outermost first (`team_id, channel_id` for channel messages).
    /// A column that is also a declared field is carried in the rows; the others are added from
    /// each page's [`ParentKey`](crate::ParentKey).
    pub columns: Vec<String>,
}

/// Everything the sink reads about a landed table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Table name, snake_case (`mail_messages`).
    pub name: String,
    /// What a page's body is: which input adapter decodes it.
    pub format: BodyFormat,
    /// Output column names forming the primary key (never null).
    pub primary_key: Vec<String>,
    /// The table whose rows this one's hang under, and the parent-key columns.
    pub parent: Option<TableParent>,
    /// Typed fields, in output order.
    pub fields: Vec<Field>,
    /// Top-level property whose presence (non-null) marks a deleted row (`@removed`,
    /// `_sdc_deleted_at`); `None` where rows never say they are deleted.
    pub tombstone: Option<String>,
    /// How changes are found (`delta`, `compare`, `feed`, ...), as the manifest shows it where
    /// the run does not name another. Whether unseen keys are deletes is the caller's to say
    /// per run (what it read in full), so the sink needs no more than the name.
    pub method: String,
    /// The declaration kind the schema hash has always included (`collection`, `delta`,
    /// `report`). Read by nothing else: it keeps the hash of tables landed before tables and
    /// sources were split the same.
    pub hash_kind: &'static str,
}

impl Table {
    /// A top-level table with no tombstone, its changes found by comparison (`compare`).
    pub fn new(
        name: impl Into<String>,
        format: BodyFormat,
        primary_key: Vec<String>,
        fields: Vec<Field>,
    ) -> Self {
        Self {
            name: name.into(),
            format,
            primary_key,
            parent: None,
            fields,
            tombstone: None,
            method: "compare".to_string(),
            hash_kind: match format {
                BodyFormat::ReportCsv => "report",
                BodyFormat::GraphPage | BodyFormat::RecordLines => "collection",
            },
        }
    }

    /// Hangs the table under `table`'s rows, with every parent-key column, outermost first.
    pub fn with_parent(mut self, table: impl Into<String>, columns: Vec<String>) -> Self {
        self.parent = Some(TableParent {
            table: table.into(),
            columns,
        });
        self
    }

    /// Rows whose `property` is present (non-null) are deletes.
    pub fn with_tombstone(mut self, property: impl Into<String>) -> Self {
        self.tombstone = Some(property.into());
        self
    }

    /// The change method the manifest shows for the table (`feed`, `delta`, ...).
    pub fn with_method(mut self, method: impl Into<String>) -> Self {
        self.method = method.into();
        self
    }

    /// Every parent-key column, outermost first; empty for a top-level table.
    pub fn parent_columns(&self) -> &[String] {
        self.parent.as_ref().map_or(&[], |p| &p.columns)
    }

    /// Whether the rows carry `column` themselves (a declared field of that name).
    pub fn carries(&self, column: &str) -> bool {
        self.field(column).is_some()
    }

    /// The declared field with output name `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

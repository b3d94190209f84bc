//! `--discover`: the Singer catalog of every declared stream, shaped like tap-ms-graph's.
//!
//! Stream names and key properties are our declarations' (`schemas/*.json`), which carry
//! tap-ms-graph's 22 stream names and keys (`id`, plus the parent column such as `user_id` for
//! fan-out streams). Streams tap-ms-graph does not have are listed too, not selected by default,
//! so a drop-in run reads what tap-ms-graph read.

use serde_json::{Map, Value, json};
use stream_spec::{Catalog, FieldType, Incremental, StreamKind, StreamSpec};

/// How record properties are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldNames {
    /// As Graph sends them (`userPrincipalName`), like tap-ms-graph: the default, for drop-in use.
    #[default]
    Graph,
    /// Our landing's column names (`user_principal_name`).
    SnakeCase,
}

impl FieldNames {
    /// The values `field_names` accepts, as error messages list them.
    pub const ALLOWED: &'static str = "graph, snake_case";

    /// Reads a `field_names` value (`graph`, `snake_case` and their aliases); `None` otherwise.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "graph" | "camelCase" | "camel_case" => Some(Self::Graph),
            "snake_case" | "snake" => Some(Self::SnakeCase),
            _ => None,
        }
    }

    /// Property names for `spec`. Report streams always use column names: their Graph names are
    /// CSV headers (`Report Refresh Date`).
    pub fn for_stream(self, spec: &StreamSpec) -> Self {
        if spec.kind == StreamKind::Report {
            Self::SnakeCase
        } else {
            self
        }
    }

    fn name(self, field: &stream_spec::Field) -> &str {
        match self {
            Self::Graph => &field.graph,
            Self::SnakeCase => &field.name,
        }
    }
}

/// Whether a catalog without selections syncs the stream (its declaration's
/// `selected_by_default`: tap-ms-graph's streams).
pub fn selected_by_default(spec: &StreamSpec) -> bool {
    spec.selected_by_default
}

/// The whole catalog (`{"streams": [...]}`).
pub fn catalog(catalog: &Catalog, names: FieldNames) -> Value {
    let streams: Vec<Value> = catalog
        .streams()
        .iter()
        .map(|spec| catalog_entry(spec, names))
        .collect();
    json!({ "streams": streams })
}

/// One stream's catalog entry: schema, key properties and Singer metadata.
pub fn catalog_entry(spec: &StreamSpec, names: FieldNames) -> Value {
    let names = names.for_stream(spec);
    let schema = json_schema(spec, names);
    let keys = key_properties(spec, names);
    let mut stream_md = json!({
        "inclusion": "available",
        "selected-by-default": selected_by_default(spec),
        "table-key-properties": keys,
        "forced-replication-method": replication_method(spec),
    });
    if let Incremental::Bookmark(bookmark) = &spec.incremental
        && let Some(field) = spec.fields.iter().find(|f| f.graph == bookmark.property)
    {
        stream_md["valid-replication-keys"] = json!([names.name(field)]);
    }
    if let Some(parent) = &spec.parent {
        stream_md["parent-tap-stream-id"] = json!(parent.stream);
    }
    let mut metadata = vec![json!({"breadcrumb": [], "metadata": stream_md})];
    for property in schema["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
    {
        let inclusion = if keys.contains(property) {
            "automatic"
        } else {
            "available"
        };
        metadata.push(json!({
            "breadcrumb": ["properties", property],
            "metadata": {"inclusion": inclusion, "selected-by-default": true},
        }));
    }
    json!({
        "tap_stream_id": spec.stream,
        "stream": spec.stream,
        "key_properties": keys,
        "schema": schema,
        "metadata": metadata,
    })
}

/// Key property names as records carry them.
pub fn key_properties(spec: &StreamSpec, names: FieldNames) -> Vec<String> {
    let names = names.for_stream(spec);
    spec.primary_key
        .iter()
        .map(|key| match spec.field(key) {
            Some(field) => names.name(field).to_string(),
            // The parent column is not a declared field; its name is the same in both namings.
            None => key.clone(),
        })
        .collect()
}

/// The JSON Schema of a stream's records.
pub fn json_schema(spec: &StreamSpec, names: FieldNames) -> Value {
    let names = names.for_stream(spec);
    let mut properties = Map::new();
    for field in &spec.fields {
        let key = spec.primary_key.contains(&field.name);
        properties.insert(
            names.name(field).to_string(),
            type_schema(&field.data_type, !key, names),
        );
    }
    for column in spec.parent_columns() {
        properties.insert(column.to_string(), json!({"type": "string"}));
    }
    // Delta streams send deletions as records with `_sdc_deleted_at` set.
    if matches!(spec.incremental, Incremental::Delta(_)) {
        properties.insert(
            crate::target::schema::DELETED_AT.to_string(),
            json!({"type": ["null", "string"], "format": "date-time"}),
        );
    }
    let mut schema = json!({"type": "object", "properties": properties});
    if let Some(parent) = &spec.parent {
        schema[crate::target::schema::PARENT_KEYWORD] =
            json!({"stream": parent.stream, "property": parent.column});
    }
    schema
}

/// Singer's replication method for a stream: INCREMENTAL where the STATE lets the next run read
/// only changes (delta and bookmark streams), FULL_TABLE otherwise.
pub fn replication_method(spec: &StreamSpec) -> &'static str {
    match spec.incremental {
        Incremental::Delta(_) | Incremental::Bookmark(_) => "INCREMENTAL",
        _ => "FULL_TABLE",
    }
}

fn type_schema(t: &FieldType, nullable: bool, names: FieldNames) -> Value {
    let typed = |name: &str| {
        if nullable {
            json!({"type": ["null", name]})
        } else {
            json!({"type": name})
        }
    };
    match t {
        FieldType::Utf8 => typed("string"),
        FieldType::Boolean => typed("boolean"),
        FieldType::Int32 | FieldType::Int64 => typed("integer"),
        FieldType::Float64 => typed("number"),
        FieldType::Date => with(typed("string"), "format", json!("date")),
        FieldType::TimestampUsUtc => with(typed("string"), "format", json!("date-time")),
        // Any JSON value: an empty schema.
        FieldType::Json => json!({}),
        FieldType::List(item) => with(typed("array"), "items", type_schema(item, true, names)),
        FieldType::Struct(fields) => {
            let properties: Map<String, Value> = fields
                .iter()
                .map(|f| {
                    (
                        names.name(f).to_string(),
                        type_schema(&f.data_type, true, names),
                    )
                })
                .collect();
            with(typed("object"), "properties", Value::Object(properties))
        }
    }
}

fn with(mut value: Value, key: &str, extra: Value) -> Value {
    value[key] = extra;
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 22 streams of singer-io/tap-ms-graph.
    const TAP_MS_GRAPH_STREAMS: [&str; 22] = [
        "applications",
        "audit_logs_directory",
        "audit_logs_signins",
        "calendar_events",
        "channels",
        "chat_messages",
        "chats",
        "conditional_access_policies",
        "contacts",
        "directory_role_member",
        "directory_role_templates",
        "directory_roles",
        "drive_items",
        "drives",
        "group_member",
        "group_owner",
        "groups",
        "mail_messages",
        "service_principals",
        "team_member",
        "teams",
        "users",
    ];

    #[test]
    fn every_tap_ms_graph_stream_is_declared_with_its_keys_and_selected_by_default() {
        let catalog = Catalog::embedded();
        for name in TAP_MS_GRAPH_STREAMS {
            let spec = catalog.get(name).expect("declared");
            let keys = key_properties(spec, FieldNames::Graph);
            match &spec.parent {
                None => assert_eq!(keys, ["id"], "{name}"),
                Some(p) => assert_eq!(keys, vec!["id".to_string(), p.column.clone()], "{name}"),
            }
        }
        let selected: Vec<&str> = catalog
            .streams()
            .iter()
            .filter(|s| selected_by_default(s))
            .map(|s| s.stream.as_str())
            .collect();
        let mut expected = TAP_MS_GRAPH_STREAMS.to_vec();
        expected.sort();
        assert_eq!(
            selected, expected,
            "exactly tap-ms-graph's streams are selected"
        );
    }

    #[test]
    fn names_follow_the_naming_mode() {
        let catalog = Catalog::embedded();
        let users = catalog.get("users").unwrap();
        let graph = json_schema(users, FieldNames::Graph);
        assert!(graph["properties"]["userPrincipalName"].is_object());
        let snake = json_schema(users, FieldNames::SnakeCase);
        assert!(snake["properties"]["user_principal_name"].is_object());
        let messages = json_schema(catalog.get("mail_messages").unwrap(), FieldNames::Graph);
        assert_eq!(messages["properties"]["user_id"], json!({"type": "string"}));
        assert_eq!(
            messages["properties"]["receivedDateTime"],
            json!({"type": ["null", "string"], "format": "date-time"})
        );
    }
}

//! A Singer SCHEMA (JSON Schema + key_properties) as a [`Table`] arrow-sink can land: record
//! lines, with no Graph path, permission or page to make up.
//!
//! Property names stay as the tap sends them for decoding (the field's `graph` name) and become
//! snake_case columns (the landing contract). Types: nullable unions collapse to their non-null
//! member, `format: date-time` -> `timestamp_us_utc`, `format: date` -> `date`, objects with
//! `properties` -> struct, arrays -> list, and anything unknown, empty or ambiguous -> `json`.
//!
//! Changes: a record whose `_sdc_deleted_at` is set is a delete (the stream is a `feed`). A
//! schema may name its parent stream, `"x-parent": {"stream": "users", "property": "user_id"}`
//! (tap-msgraph sends it for child streams): a parent's delete then deletes its children too.

use std::collections::HashSet;

use stream_spec::{BodyFormat, Field, FieldType, Table, snake_case};

use super::ordered::Json;

/// Column added to streams without `key_properties`: the input line of each RECORD, so every row
/// has a key (arrow-sink requires one) and nothing is deduplicated away.
pub const LINE_COLUMN: &str = "_input_line";
/// With [`LINE_COLUMN`], the key of keyless streams: one id per target run, so line 7 of
/// tomorrow's load is a new row, not an update of today's line 7.
pub const LOAD_COLUMN: &str = "_input_load";
/// The Singer property that marks a record as deleted (Meltano SDK, Stitch).
pub const DELETED_AT: &str = "_sdc_deleted_at";
/// The schema keyword naming a stream's parent.
pub const PARENT_KEYWORD: &str = "x-parent";

/// A schema's `x-parent`: the parent stream (as the tap names it) and the property holding the
/// parent's key.
#[derive(Debug, Clone, PartialEq)]
pub struct ParentLink {
    /// The parent stream, as the tap names it.
    pub stream: String,
    /// The property of this schema that holds the parent's key.
    pub property: String,
}

/// Why a SCHEMA message cannot become a table.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SchemaError {
    /// `schema` is not a JSON object with `properties`.
    #[error("`schema` must be a JSON object with `properties`")]
    NotAnObject,
    /// A key property (held) is not among the schema's properties.
    #[error("key property `{0}` is not in the schema's properties")]
    UnknownKey(String),
    /// The stream name (held) has no letters or digits to name a table after.
    #[error("stream name `{0}` has no letters or digits to name a table after")]
    BadStreamName(String),
    /// `x-parent` is malformed or names a missing or non-string property (the text says which).
    #[error(
        "`x-parent` must be {{\"stream\": \"<parent stream>\", \"property\": \"<property of this \
         schema>\"}}: {0}"
    )]
    BadParent(String),
}

/// The schema's `x-parent`, if it has one.
pub fn parent_of(schema: &Json) -> Result<Option<ParentLink>, SchemaError> {
    let Some(parent) = schema.get(PARENT_KEYWORD) else {
        return Ok(None);
    };
    let text = |key: &str| {
        parent
            .get(key)
            .and_then(Json::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| SchemaError::BadParent(format!("`{key}` is missing or not a string")))
    };
    Ok(Some(ParentLink {
        stream: text("stream")?,
        property: text("property")?,
    }))
}

/// The table name for a Singer stream name: snake_case, only `[a-z0-9_]`, not starting with `_`.
pub fn table_name(stream: &str) -> Result<String, SchemaError> {
    let name = snake_case(stream);
    if name.is_empty() || !arrow_sink::layout::is_valid_stream_name(&name) {
        return Err(SchemaError::BadStreamName(stream.to_string()));
    }
    Ok(name)
}

/// The declared fields of a SCHEMA message's `schema`, in property order.
pub fn fields_of(schema: &Json) -> Result<Vec<Field>, SchemaError> {
    let properties = schema
        .get("properties")
        .and_then(Json::as_object)
        .ok_or(SchemaError::NotAnObject)?;
    Ok(struct_fields(properties))
}

fn struct_fields(properties: &[(String, Json)]) -> Vec<Field> {
    let mut used = HashSet::new();
    properties
        .iter()
        .map(|(name, prop)| {
            let (data_type, nullable) = field_type(prop);
            Field {
                graph: name.clone(),
                name: unique_name(name, &mut used),
                data_type,
                nullable,
            }
        })
        .collect()
}

/// snake_case output name, suffixed `_2`, `_3`, … where two properties would collide
/// (`fooBar` and `foo_bar`), and never empty.
fn unique_name(property: &str, used: &mut HashSet<String>) -> String {
    let mut base = snake_case(property);
    if base.is_empty()
        || base == arrow_sink::EXTRA_COLUMN
        || base == LINE_COLUMN
        || base == LOAD_COLUMN
    {
        base = format!("field_{base}").trim_end_matches('_').to_string();
    }
    let mut name = base.clone();
    let mut n = 2;
    while !used.insert(name.clone()) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

/// The field type of one property schema and whether it admits null.
fn field_type(prop: &Json) -> (FieldType, bool) {
    if prop.as_object().is_none() {
        // `true` or garbage: any value.
        return (FieldType::Json, true);
    }
    // anyOf/oneOf: a nullable wrapper around one schema is that schema; more choices are JSON.
    for combinator in ["anyOf", "oneOf"] {
        if let Some(options) = prop.get(combinator).and_then(Json::as_array) {
            let (nulls, others): (Vec<&Json>, Vec<&Json>) = options
                .iter()
                .partition(|o| o.get("type").and_then(Json::as_str) == Some("null"));
            return match others.as_slice() {
                [one] => {
                    let (t, nullable) = field_type(one);
                    (t, nullable || !nulls.is_empty())
                }
                _ => (FieldType::Json, true),
            };
        }
    }
    let types: Vec<&str> = match prop.get("type") {
        Some(Json::String(t)) => vec![t.as_str()],
        Some(Json::Array(ts)) => ts.iter().filter_map(Json::as_str).collect(),
        _ => return (FieldType::Json, true),
    };
    let nullable = types.contains(&"null") || types.is_empty();
    let non_null: Vec<&str> = types.into_iter().filter(|t| *t != "null").collect();
    let t = match non_null.as_slice() {
        [one] => single_type(one, prop),
        // Numbers of both kinds are numbers; a string among scalars keeps every value as text.
        [a, b] if is_pair(a, b, "integer", "number") => FieldType::Float64,
        many if many.contains(&"string")
            && many
                .iter()
                .all(|t| matches!(*t, "string" | "integer" | "number" | "boolean")) =>
        {
            FieldType::Utf8
        }
        _ => FieldType::Json,
    };
    (t, nullable)
}

fn is_pair(a: &str, b: &str, x: &str, y: &str) -> bool {
    (a == x && b == y) || (a == y && b == x)
}

fn single_type(t: &str, prop: &Json) -> FieldType {
    match t {
        "string" => match prop.get("format").and_then(Json::as_str) {
            Some("date-time") => FieldType::TimestampUsUtc,
            Some("date") => FieldType::Date,
            _ => FieldType::Utf8,
        },
        "integer" => FieldType::Int64,
        "number" => FieldType::Float64,
        "boolean" => FieldType::Boolean,
        "object" => match prop.get("properties").and_then(Json::as_object) {
            Some(p) if !p.is_empty() => FieldType::Struct(struct_fields(p)),
            _ => FieldType::Json,
        },
        "array" => {
            let item = prop
                .get("items")
                .map(|i| field_type(i).0)
                .unwrap_or(FieldType::Json);
            FieldType::List(Box::new(item))
        }
        _ => FieldType::Json,
    }
}

/// Fields of a schema seen again mid-stream merged into those already known: new properties are
/// added, and a property whose type changed gets a type both fit (see [`merge_type`]).
pub fn merge_fields(known: &[Field], new: &[Field]) -> Vec<Field> {
    let mut merged: Vec<Field> = known.to_vec();
    let mut used: HashSet<String> = known.iter().map(|f| f.name.clone()).collect();
    for field in new {
        match merged.iter_mut().find(|f| f.graph == field.graph) {
            Some(existing) => {
                existing.data_type = merge_type(&existing.data_type, &field.data_type);
                existing.nullable |= field.nullable;
            }
            None => {
                let mut field = field.clone();
                used.remove(&field.name);
                field.name = unique_name(&field.graph, &mut used);
                merged.push(field);
            }
        }
    }
    merged
}

/// A type values of both `a` and `b` decode into: integers widen to floats, structs and lists
/// merge member-wise, scalars that disagree become text, and anything else keeps its JSON text.
pub fn merge_type(a: &FieldType, b: &FieldType) -> FieldType {
    use FieldType::*;
    match (a, b) {
        _ if a == b => a.clone(),
        (Int32 | Int64, Float64) | (Float64, Int32 | Int64) => Float64,
        (Int32, Int64) | (Int64, Int32) => Int64,
        (Struct(x), Struct(y)) => Struct(merge_fields(x, y)),
        (List(x), List(y)) => List(Box::new(merge_type(x, y))),
        (Struct(_) | List(_) | Json, _) | (_, Struct(_) | List(_) | Json) => Json,
        _ => Utf8,
    }
}

/// The table arrow-sink lands a Singer stream as: its spooled RECORDs are record lines, and a
/// record whose [`DELETED_AT`] is set is a delete (the stream is a `feed`).
pub fn table(
    name: &str,
    fields: &[Field],
    key_properties: &[String],
    parent: Option<&ParentLink>,
) -> Result<Table, SchemaError> {
    let mut fields = fields.to_vec();
    let primary_key = if key_properties.is_empty() {
        for (name, data_type) in [
            (LOAD_COLUMN, FieldType::Utf8),
            (LINE_COLUMN, FieldType::Int64),
        ] {
            fields.push(Field {
                graph: name.to_string(),
                name: name.to_string(),
                data_type,
                nullable: false,
            });
        }
        vec![LOAD_COLUMN.to_string(), LINE_COLUMN.to_string()]
    } else {
        key_properties
            .iter()
            .map(|key| {
                let field = fields
                    .iter_mut()
                    .find(|f| &f.graph == key)
                    .ok_or_else(|| SchemaError::UnknownKey(key.clone()))?;
                field.nullable = false;
                Ok(field.name.clone())
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    let parent = match parent {
        None => None,
        Some(link) => {
            let field = fields
                .iter_mut()
                .find(|f| f.graph == link.property)
                .ok_or_else(|| {
                    SchemaError::BadParent(format!(
                        "`property` `{}` is not in the schema's properties",
                        link.property
                    ))
                })?;
            // The sink reads deleted parents' ids as text and matches them here.
            if field.data_type != FieldType::Utf8 {
                return Err(SchemaError::BadParent(format!(
                    "`property` `{}` must be a string",
                    link.property
                )));
            }
            field.nullable = false;
            // The records carry the parent's key themselves: one column, a declared field.
            Some((table_name(&link.stream)?, vec![field.name.clone()]))
        }
    };
    let mut table = Table::new(name, BodyFormat::RecordLines, primary_key, fields)
        .with_tombstone(DELETED_AT)
        .with_method("feed");
    if let Some((parent, columns)) = parent {
        table = table.with_parent(parent, columns);
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// Test schemas are written with `json!` for readability; its maps sort keys, so the text
    /// goes through `Json` with properties renamed in the order wanted (see `in_order`).
    fn ordered(value: Value) -> Json {
        serde_json::from_str(&value.to_string()).unwrap()
    }

    /// `json!` sorts keys: reorder the top-level properties as listed.
    fn in_order(value: Value, order: &[&str]) -> Json {
        let mut json = ordered(value);
        if let Json::Object(members) = &mut json {
            for (k, v) in members.iter_mut() {
                if let (true, Json::Object(props)) = (k == "properties", v) {
                    props.sort_by_key(|(name, _)| order.iter().position(|o| o == name));
                }
            }
        }
        json
    }

    fn types(schema: Json) -> Vec<(String, String, FieldType, bool)> {
        fields_of(&schema)
            .unwrap()
            .into_iter()
            .map(|f| (f.graph, f.name, f.data_type, f.nullable))
            .collect()
    }

    #[test]
    fn json_schema_types_map_to_field_types() {
        let got = types(in_order(
            json!({"type": "object", "properties": {
                "id": {"type": "integer"},
                "displayName": {"type": ["null", "string"]},
                "createdDateTime": {"type": ["string", "null"], "format": "date-time"},
                "birthday": {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]},
                "score": {"type": ["integer", "number", "null"]},
                "ok": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "loose": {"type": "array", "items": {}},
                "address": {"type": ["object", "null"], "properties": {"cityName": {"type": "string"}}},
                "bag": {"type": "object", "additionalProperties": true},
                "mixed": {"type": ["string", "integer"]},
                "weird": {"type": ["object", "integer"]},
                "any": {}
            }}),
            &[
                "id",
                "displayName",
                "createdDateTime",
                "birthday",
                "score",
                "ok",
                "tags",
                "loose",
                "address",
                "bag",
                "mixed",
                "weird",
                "any",
            ],
        ));
        let expected = vec![
            ("id", "id", FieldType::Int64, false),
            ("displayName", "display_name", FieldType::Utf8, true),
            (
                "createdDateTime",
                "created_date_time",
                FieldType::TimestampUsUtc,
                true,
            ),
            ("birthday", "birthday", FieldType::Date, true),
            ("score", "score", FieldType::Float64, true),
            ("ok", "ok", FieldType::Boolean, false),
            (
                "tags",
                "tags",
                FieldType::List(Box::new(FieldType::Utf8)),
                false,
            ),
            (
                "loose",
                "loose",
                FieldType::List(Box::new(FieldType::Json)),
                false,
            ),
            (
                "address",
                "address",
                FieldType::Struct(vec![Field {
                    graph: "cityName".into(),
                    name: "city_name".into(),
                    data_type: FieldType::Utf8,
                    nullable: false,
                }]),
                true,
            ),
            ("bag", "bag", FieldType::Json, false),
            ("mixed", "mixed", FieldType::Utf8, false),
            ("weird", "weird", FieldType::Json, false),
            ("any", "any", FieldType::Json, true),
        ];
        let expected: Vec<_> = expected
            .into_iter()
            .map(|(g, n, t, null)| (g.to_string(), n.to_string(), t, null))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn colliding_and_reserved_names_get_distinct_columns() {
        let got = types(in_order(
            json!({"properties": {
                "fooBar": {"type": "string"}, "foo_bar": {"type": "string"},
                "_extra": {"type": "string"}, "@odata.type": {"type": "string"}
            }}),
            &["fooBar", "foo_bar", "_extra", "@odata.type"],
        ));
        let names: Vec<&str> = got.iter().map(|f| f.1.as_str()).collect();
        assert_eq!(names, ["foo_bar", "foo_bar_2", "extra", "odata_type"]);
    }

    #[test]
    fn keys_become_non_null_output_columns_and_keyless_streams_get_the_line() {
        let fields = fields_of(&ordered(
            json!({"properties": {"userId": {"type": ["null", "string"]}}}),
        ))
        .unwrap();
        let keyed = table("t", &fields, &["userId".into()], None).unwrap();
        assert_eq!(keyed.primary_key, ["user_id"]);
        assert!(!keyed.fields[0].nullable);
        assert_eq!(keyed.tombstone.as_deref(), Some(DELETED_AT));
        assert_eq!(keyed.format, BodyFormat::RecordLines);
        let keyless = table("t", &fields, &[], None).unwrap();
        assert_eq!(keyless.primary_key, [LOAD_COLUMN, LINE_COLUMN]);
        assert_eq!(
            table("t", &fields, &["nope".into()], None).unwrap_err(),
            SchemaError::UnknownKey("nope".into())
        );
    }

    #[test]
    fn x_parent_names_the_parent_stream_and_the_column_holding_its_key() {
        let schema = ordered(json!({
            "properties": {"id": {"type": "string"}, "userId": {"type": ["null", "string"]}},
            "x-parent": {"stream": "Users", "property": "userId"}
        }));
        let fields = fields_of(&schema).unwrap();
        let link = parent_of(&schema).unwrap().unwrap();
        let mail = table("mail", &fields, &["id".into()], Some(&link)).unwrap();
        let parent = mail.parent.as_ref().unwrap();
        assert_eq!(
            (parent.table.as_str(), parent.columns.as_slice()),
            ("users", &["user_id".to_string()][..])
        );
        assert!(mail.carries("user_id"));
        assert_eq!(
            parent_of(&ordered(json!({"properties": {}}))).unwrap(),
            None
        );
        let missing = ParentLink {
            stream: "users".into(),
            property: "nope".into(),
        };
        assert!(matches!(
            table("mail", &fields, &["id".into()], Some(&missing)),
            Err(SchemaError::BadParent(_))
        ));
        let bad = ordered(json!({"properties": {}, "x-parent": {"stream": 3}}));
        assert!(matches!(parent_of(&bad), Err(SchemaError::BadParent(_))));
    }

    /// Landed files and manifests carry the schema hash: a Singer table hashes as it did when
    /// the target built a stream declaration (values computed then).
    #[test]
    fn singer_tables_hash_as_before_tables_were_split_out() {
        let schema = in_order(
            json!({"properties": {
                "id": {"type": "string"}, "userId": {"type": ["null", "string"]},
                "n": {"type": "integer"}
            }, "x-parent": {"stream": "Users", "property": "userId"}}),
            &["id", "userId", "n"],
        );
        let fields = fields_of(&schema).unwrap();
        let link = parent_of(&schema).unwrap().unwrap();
        let keyed = table("mail", &fields, &["id".into()], Some(&link)).unwrap();
        assert_eq!(
            arrow_sink::schema_hash(&keyed),
            "sha256:eb773a45dc7f8e79d2f9a92185f74edd8e44d1239acc751b8ee3d965a5ffeef9"
        );
        let keyless = table("t", &fields, &[], None).unwrap();
        assert_eq!(
            arrow_sink::schema_hash(&keyless),
            "sha256:86dd5ede010abaf6846fb98cdbd939e5192be059df4a088b3e58603de0b9f6a6"
        );
    }

    #[test]
    fn a_changed_schema_merges_into_a_type_both_fit() {
        let old = fields_of(&in_order(
            json!({"properties": {
                "n": {"type": "integer"}, "s": {"type": "string"},
                "o": {"type": "object", "properties": {"a": {"type": "integer"}}}
            }}),
            &["n", "s", "o"],
        ))
        .unwrap();
        let new = fields_of(&in_order(
            json!({"properties": {
                "n": {"type": "number"}, "s": {"type": "boolean"}, "added": {"type": "string"},
                "o": {"type": "object", "properties": {"b": {"type": "string"}}}
            }}),
            &["n", "s", "added", "o"],
        ))
        .unwrap();
        let merged = merge_fields(&old, &new);
        let got: Vec<(&str, &FieldType)> = merged
            .iter()
            .map(|f| (f.name.as_str(), &f.data_type))
            .collect();
        assert_eq!(got[0], ("n", &FieldType::Float64));
        assert_eq!(got[1], ("s", &FieldType::Utf8));
        let FieldType::Struct(members) = got[2].1 else {
            panic!("struct stays a struct")
        };
        assert_eq!(members.len(), 2);
        assert_eq!(
            got[3],
            ("added", &FieldType::Utf8),
            "new properties go last"
        );
        assert_eq!(
            merge_type(
                &FieldType::Utf8,
                &FieldType::List(Box::new(FieldType::Utf8))
            ),
            FieldType::Json
        );
    }

    #[test]
    fn stream_names_become_table_names() {
        assert_eq!(table_name("public-Users").unwrap(), "public_users");
        assert_eq!(table_name("mailMessages").unwrap(), "mail_messages");
        assert!(table_name("---").is_err());
    }
}

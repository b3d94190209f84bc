//! Entity stream declarations: the catalog table joined with the CSDL types.

use anyhow::{Context, bail};
use stream_spec::{
    Bookmark, DeltaQuery, Field, FieldType, Folders, Incremental, ParentRef, StreamSpec, snake_case,
};

use super::csdl::{Model, Property};
use super::streams::{
    CONVERSATION_MEMBER_SUBTYPE, IncrementalDef, MIXED_DIRECTORY_PROPERTIES, MIXED_DIRECTORY_TYPES,
    STREAMS, Shape, StreamDef,
};
use super::types;

/// Declarations for every entity stream of [`STREAMS`], in table order.
pub fn entity_specs(model: &Model) -> anyhow::Result<Vec<StreamSpec>> {
    STREAMS
        .iter()
        .map(|def| entity_spec(model, def).with_context(|| format!("stream `{}`", def.stream)))
        .collect()
}

fn entity_spec(model: &Model, def: &StreamDef) -> anyhow::Result<StreamSpec> {
    let properties = properties(model, def)?;
    for (excluded, _) in def.exclude {
        if !properties.iter().any(|p| &p.name == excluded) {
            bail!("excluded property `{excluded}` is not on {}", def.entity);
        }
    }
    let mut fields: Vec<Field> = Vec::new();
    if def.shape != Shape::Entity {
        // The concrete type of each member (`#microsoft.graph.user`) tells the rows apart.
        fields.push(Field {
            graph: "@odata.type".into(),
            name: snake_case("@odata.type"),
            data_type: FieldType::Utf8,
            nullable: true,
        });
    }
    let parent_column = def.parent.map(|(_, column)| column);
    for p in properties
        .iter()
        .filter(|p| !def.exclude.iter().any(|(x, _)| *x == p.name))
    {
        let mut field = types::field(model, p);
        if Some(field.name.as_str()) == parent_column {
            // chatMessage.chatId: the parent column arrow-sink adds carries the same id.
            continue;
        }
        if def.primary_key.contains(&field.name.as_str()) {
            field.nullable = false;
        }
        fields.push(field);
    }
    let parent = def.parent.map(|(stream, column)| ParentRef {
        stream: stream.into(),
        column: column.into(),
    });
    Ok(StreamSpec {
        stream: def.stream.into(),
        kind: def.kind,
        path: def.path.into(),
        parent,
        primary_key: def.primary_key.iter().map(|k| k.to_string()).collect(),
        query: pairs(def.query),
        page_size: def.page_size,
        entity: Some(def.entity.into()),
        permission: def.permission.into(),
        outlook_mailbox_limit: def.outlook_mailbox_limit,
        incremental: incremental(&def.incremental),
        fields,
    })
}

fn pairs(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn incremental(def: &IncrementalDef) -> Incremental {
    match def {
        IncrementalDef::Compare => Incremental::Compare,
        IncrementalDef::Delta(d) => Incremental::Delta(DeltaQuery {
            path: d.path.into(),
            folders: d.folders.map(|f| Folders {
                path: f.path.into(),
                children: f.children.map(str::to_string),
                query: pairs(f.query),
                default_path: f.default_path.map(str::to_string),
            }),
            tombstone: d.tombstone.into(),
            select: d.select,
            window: d.window,
        }),
        IncrementalDef::Bookmark(b) => Incremental::Bookmark(Bookmark {
            property: b.property.into(),
            overlap_minutes: b.overlap_minutes,
            retention_days: b.retention_days,
            operator: b.operator,
            order_by: b.order_by.map(str::to_string),
        }),
    }
}

/// The structural properties a stream declares, before exclusions.
fn properties(model: &Model, def: &StreamDef) -> anyhow::Result<Vec<Property>> {
    let mut out = model.all_properties(def.entity)?;
    match def.shape {
        Shape::Entity => {}
        Shape::MixedDirectoryObjects => {
            for name in MIXED_DIRECTORY_PROPERTIES {
                if out.iter().any(|p| p.name == *name) {
                    continue;
                }
                let mut found = None;
                for ty in MIXED_DIRECTORY_TYPES {
                    if let Some(p) = model
                        .all_properties(ty)?
                        .into_iter()
                        .find(|p| p.name == *name)
                    {
                        found = Some(p);
                        break;
                    }
                }
                let mut p = found.with_context(|| format!("no member type declares `{name}`"))?;
                // Absent on the member types that lack it.
                p.nullable = true;
                out.push(p);
            }
        }
        Shape::ConversationMembers => {
            for p in model.all_properties(CONVERSATION_MEMBER_SUBTYPE)? {
                if !out.iter().any(|q| q.name == p.name) {
                    out.push(Property {
                        nullable: true,
                        ..p
                    });
                }
            }
        }
    }
    Ok(out)
}

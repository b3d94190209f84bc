//! Entity stream declarations: a catalog entry joined with the CSDL types.

use anyhow::{Context, bail};
use stream_spec::{Field, FieldType, StreamSpec, snake_case};

use super::catalog::Entry;
use super::csdl::{Model, Property};
use super::shapes::{
    CONVERSATION_MEMBER_SUBTYPE, MIXED_DIRECTORY_PROPERTIES, MIXED_DIRECTORY_TYPES, Shape,
};
use super::types;

/// The declaration of the entity stream `stream`.
pub fn entity_spec(model: &Model, stream: &str, def: &Entry) -> anyhow::Result<StreamSpec> {
    let entity = def
        .entity
        .as_deref()
        .context("no `entity`: name the CSDL type, e.g. entity = \"microsoft.graph.device\"")?;
    let properties = properties(model, entity, def.shape)?;
    for excluded in &def.exclude {
        if !properties.iter().any(|p| p.name == excluded.property) {
            bail!(
                "excluded property `{}` is not on {entity}",
                excluded.property
            );
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
    let parent_column = def.parent.as_ref().map(|p| p.column.as_str());
    for p in properties
        .iter()
        .filter(|p| !def.exclude.iter().any(|x| x.property == p.name))
    {
        let mut field = types::field(model, p);
        if Some(field.name.as_str()) == parent_column {
            // chatMessage.chatId: the parent column arrow-sink adds carries the same id.
            continue;
        }
        if def.primary_key.contains(&field.name) {
            field.nullable = false;
        }
        fields.push(field);
    }
    Ok(StreamSpec {
        stream: stream.into(),
        kind: def.kind,
        path: def.path.clone(),
        parent: def.parent.clone(),
        primary_key: def.primary_key.clone(),
        query: def.query.clone(),
        page_size: def.page_size,
        entity: Some(entity.into()),
        permission: def.permission.clone(),
        outlook_mailbox_limit: def.outlook_mailbox_limit,
        domain_property: def.domain_property.clone(),
        incremental: def.incremental.clone(),
        fields,
    })
}

/// The structural properties a stream declares, before exclusions.
fn properties(model: &Model, entity: &str, shape: Shape) -> anyhow::Result<Vec<Property>> {
    let mut out = model.all_properties(entity)?;
    match shape {
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

//! An entity stream's declared fields, built from the CSDL: the entity's structural properties
//! (inherited ones first), typed by [`crate::types`], navigation properties left out; and how a
//! member collection's fields are built (a declaration source's `shape`).

use serde::Deserialize;
use stream_spec::{Field, FieldType, snake_case};

use crate::CsdlError;
use crate::model::{Model, Property};
use crate::types;

/// How a stream's fields are built from the CSDL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// The entity's structural properties.
    #[default]
    Entity,
    /// `directoryObject` collections mixing users, groups, service principals, devices...:
    /// `@odata.type`, then the directoryObject properties, then [`MIXED_DIRECTORY_PROPERTIES`].
    MixedDirectoryObjects,
    /// `conversationMember` collections: `@odata.type`, the conversationMember properties, then
    /// those of `aadUserConversationMember` (the member type Teams returns for people).
    ConversationMembers,
}

impl Shape {
    /// The shape a collection of `entity` rows needs: the mixed ones for the two member types
    /// whose rows are of many derived types.
    pub fn for_entity(entity: &str) -> Shape {
        match entity {
            "microsoft.graph.directoryObject" => Shape::MixedDirectoryObjects,
            "microsoft.graph.conversationMember" => Shape::ConversationMembers,
            _ => Shape::Entity,
        }
    }
}

/// Common properties of user, group, servicePrincipal, device and orgContact worth keeping on member
/// rows; each is typed from the first of those types that declares it.
pub const MIXED_DIRECTORY_PROPERTIES: &[&str] = &[
    "displayName",
    "description",
    "mail",
    "mailNickname",
    "userPrincipalName",
    "givenName",
    "surname",
    "jobTitle",
    "userType",
    "accountEnabled",
    "securityEnabled",
    "mailEnabled",
    "groupTypes",
    "appId",
    "servicePrincipalType",
    "deviceId",
    "createdDateTime",
];

/// Types whose properties [`MIXED_DIRECTORY_PROPERTIES`] come from, in priority order.
pub const MIXED_DIRECTORY_TYPES: &[&str] = &[
    "microsoft.graph.user",
    "microsoft.graph.group",
    "microsoft.graph.servicePrincipal",
    "microsoft.graph.device",
    "microsoft.graph.orgContact",
];

/// The member type Teams returns for people, whose properties `conversation_members` adds.
pub const CONVERSATION_MEMBER_SUBTYPE: &str = "microsoft.graph.aadUserConversationMember";

/// What a declaration says beyond the entity type that changes its fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct FieldRules<'a> {
    /// Which types' properties make the fields (the entity's, or its member types').
    pub shape: Shape,
    /// Properties left out of `$select` (each must be on the entity).
    pub exclude: &'a [&'a str],
    /// The parent column the sink adds; a property of that name is left out (it carries the same
    /// id: chatMessage.chatId).
    pub parent_column: Option<&'a str>,
    /// Key columns are never null.
    pub primary_key: &'a [String],
}

/// The declared fields of a stream of `entity` rows.
pub fn entity_fields(
    model: &Model,
    entity: &str,
    rules: &FieldRules,
) -> Result<Vec<Field>, CsdlError> {
    let properties = properties(model, entity, rules.shape)?;
    for excluded in rules.exclude {
        if !properties.iter().any(|p| p.name == *excluded) {
            return Err(CsdlError::NotAProperty {
                property: excluded.to_string(),
                entity: entity.to_string(),
            });
        }
    }
    let mut fields: Vec<Field> = Vec::new();
    if rules.shape != Shape::Entity {
        // The concrete type of each member (`#microsoft.graph.user`) tells the rows apart.
        fields.push(Field {
            graph: "@odata.type".into(),
            name: snake_case("@odata.type"),
            data_type: FieldType::Utf8,
            nullable: true,
        });
    }
    for p in properties
        .iter()
        .filter(|p| !rules.exclude.contains(&p.name.as_str()))
    {
        let mut field = types::field(model, p);
        if Some(field.name.as_str()) == rules.parent_column {
            continue;
        }
        if rules.primary_key.contains(&field.name) {
            field.nullable = false;
        }
        fields.push(field);
    }
    check_unique_names(entity, &fields)?;
    Ok(fields)
}

/// The structural properties a stream declares, before exclusions.
fn properties(model: &Model, entity: &str, shape: Shape) -> Result<Vec<Property>, CsdlError> {
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
                let mut p = found.ok_or_else(|| CsdlError::NoMemberType(name.to_string()))?;
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

/// Two Graph names that snake_case to one column name would make an unwritable table; `path`
/// names the fields' owner in the error.
pub fn check_unique_names(path: &str, fields: &[Field]) -> Result<(), CsdlError> {
    let mut seen = std::collections::BTreeSet::new();
    for field in fields {
        if !seen.insert(&field.name) {
            return Err(CsdlError::DuplicateField {
                path: path.to_string(),
                name: field.name.clone(),
            });
        }
        let nested = match &field.data_type {
            FieldType::Struct(children) => Some(children),
            FieldType::List(item) => match item.as_ref() {
                FieldType::Struct(children) => Some(children),
                _ => None,
            },
            _ => None,
        };
        if let Some(children) = nested {
            check_unique_names(&format!("{path}.{}", field.name), children)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph() -> &'static Model {
        crate::embedded().expect("the shipped CSDL parses")
    }

    #[test]
    fn member_collections_get_their_mixed_shape() {
        let entity = "microsoft.graph.directoryObject";
        let key = ["id".to_string(), "group_id".to_string()];
        let rules = FieldRules {
            shape: Shape::for_entity(entity),
            parent_column: Some("group_id"),
            primary_key: &key,
            ..FieldRules::default()
        };
        let fields = entity_fields(graph(), entity, &rules).unwrap();
        assert_eq!(fields[0].name, "odata_type");
        assert_eq!(fields[1].name, "id");
        let upn = fields.iter().find(|f| f.name == "user_principal_name");
        assert!(upn.is_some_and(|f| f.nullable), "{fields:?}");
        assert_eq!(
            Shape::for_entity("microsoft.graph.conversationMember"),
            Shape::ConversationMembers
        );
    }

    #[test]
    fn the_parent_column_and_exclusions_leave_properties_out() {
        let entity = "microsoft.graph.chatMessage";
        let key = ["id".to_string(), "chat_id".to_string()];
        let rules = FieldRules {
            exclude: &["body"],
            parent_column: Some("chat_id"),
            primary_key: &key,
            ..FieldRules::default()
        };
        let fields = entity_fields(graph(), entity, &rules).unwrap();
        assert!(
            fields
                .iter()
                .all(|f| f.name != "chat_id" && f.name != "body")
        );
        assert!(fields.iter().any(|f| f.name == "channel_identity"));

        let wrong = FieldRules {
            exclude: &["bodyy"],
            ..FieldRules::default()
        };
        let err = entity_fields(graph(), entity, &wrong).unwrap_err();
        assert_eq!(
            err.to_string(),
            "excluded property `bodyy` is not on microsoft.graph.chatMessage"
        );
    }

    #[test]
    fn names_that_collide_after_snake_case_are_refused() {
        let field = |graph: &str| Field {
            graph: graph.into(),
            name: snake_case(graph),
            data_type: FieldType::Utf8,
            nullable: true,
        };
        let err = check_unique_names("x", &[field("eTag"), field("e_tag")]).unwrap_err();
        assert_eq!(err.to_string(), "x: two fields are named `e_tag`");
    }
}

//! Entity stream declarations: a catalog entry joined with the CSDL types (the field rules live in
//! graph-csdl, shared with `msgraph-sync streams new`).

use anyhow::Context;
use graph_csdl::{FieldRules, Model, entity_fields};
use stream_spec::StreamSpec;

use super::catalog::Entry;

/// The declaration of the entity stream `stream`.
pub fn entity_spec(model: &Model, stream: &str, def: &Entry) -> anyhow::Result<StreamSpec> {
    let entity = def
        .entity
        .as_deref()
        .context("no `entity`: name the CSDL type, e.g. entity = \"microsoft.graph.device\"")?;
    let exclude: Vec<&str> = def.exclude.iter().map(|x| x.property.as_str()).collect();
    let rules = FieldRules {
        shape: def.shape,
        exclude: &exclude,
        parent_column: def.parent.as_ref().map(|p| p.column.as_str()),
        primary_key: &def.primary_key,
    };
    let fields = entity_fields(model, entity, &rules)?;
    Ok(StreamSpec {
        selected_by_default: def.selected_by_default,
        mock: def.mock.clone(),
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

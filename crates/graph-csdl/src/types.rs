//! CSDL property types to `stream_spec::FieldType`.

use stream_spec::{Field, FieldType, snake_case};

use crate::model::{Model, Property, collection_item};

/// Complex types nest at most this many structs deep below a top-level column (a top-level struct
/// column is depth 1). Deeper values, and any complex type already on the path (recursion), are kept
/// as `json` text: Graph's deepest useful shapes (recipient -> emailAddress, conditional-access
/// conditions -> applications -> filter) fit in four levels, and Parquet readers handle that well.
pub const MAX_STRUCT_DEPTH: usize = 4;

/// The output field for one property.
pub fn field(model: &Model, property: &Property) -> Field {
    let mut path = Vec::new();
    Field {
        graph: property.name.clone(),
        name: snake_case(&property.name),
        data_type: field_type(model, &property.type_name, &mut path),
        nullable: property.nullable,
    }
}

fn field_type(model: &Model, type_ref: &str, path: &mut Vec<String>) -> FieldType {
    if let Some(inner) = collection_item(type_ref) {
        return FieldType::List(Box::new(field_type(model, inner, path)));
    }
    if let Some(primitive) = type_ref.strip_prefix("Edm.") {
        return primitive_type(primitive);
    }
    let qualified = model.resolve(type_ref);
    if model.enums.contains(&qualified) {
        // Enum members travel as their names.
        return FieldType::Utf8;
    }
    let Some(ty) = model.types.get(&qualified) else {
        return FieldType::Json;
    };
    // Entity-typed structural properties are rare and polymorphic; abstract complex types only show
    // their real shape through a derived type: both stay JSON.
    if ty.is_entity || ty.is_abstract || path.len() >= MAX_STRUCT_DEPTH || path.contains(&qualified)
    {
        return FieldType::Json;
    }
    let Ok(properties) = model.all_properties(&qualified) else {
        return FieldType::Json;
    };
    path.push(qualified);
    let fields: Vec<Field> = properties
        .iter()
        .map(|p| Field {
            graph: p.name.clone(),
            name: snake_case(&p.name),
            data_type: field_type(model, &p.type_name, path),
            nullable: p.nullable,
        })
        .collect();
    path.pop();
    if fields.is_empty() {
        // A struct with no children cannot be written to Parquet; keep whatever arrives as JSON.
        FieldType::Json
    } else {
        FieldType::Struct(fields)
    }
}

fn primitive_type(edm: &str) -> FieldType {
    match edm {
        "String" | "Guid" | "Duration" | "TimeOfDay" => FieldType::Utf8,
        // Base64 text as Graph sends it.
        "Binary" => FieldType::Utf8,
        "Boolean" => FieldType::Boolean,
        "Int16" | "Int32" | "Byte" | "SByte" => FieldType::Int32,
        "Int64" => FieldType::Int64,
        "Double" | "Single" | "Decimal" => FieldType::Float64,
        "Date" => FieldType::Date,
        "DateTimeOffset" => FieldType::TimestampUsUtc,
        // Stream, Untyped and anything newer.
        _ => FieldType::Json,
    }
}

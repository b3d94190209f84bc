//! Microsoft Graph's CSDL (its OData entity data model) read for stream declarations: entity
//! types to typed fields ([`entity_fields`]), and Graph paths to the entity type they list
//! ([`Model::resolve_path`]).
//!
//! The crate ships Microsoft's Graph v1.0 metadata (`cleanMetadata.xml`, MIT licence, from
//! github.com/microsoftgraph/msgraph-metadata; see `csdl/README.md` and `csdl/LICENSE`),
//! zstd-compressed; [`embedded`] decompresses and parses it once, on first use.
//!
//! ```
//! use graph_csdl::{FieldRules, Shape, entity_fields};
//! use stream_spec::FieldType;
//!
//! let model = graph_csdl::embedded()?;
//! // Universal Print's printers: the singleton `print`, then its navigation property.
//! let printers = model.resolve_path("/print/printers")?;
//! assert_eq!(printers.entity, "microsoft.graph.printer");
//! assert!(!printers.keyed);
//!
//! // A key segment (any `{name}`) into a collection; written back as `{parent_id}`.
//! let mail = model.resolve_path("/users/{id}/messages")?;
//! assert_eq!(mail.path, "/users/{parent_id}/messages");
//! assert_eq!(mail.entity, "microsoft.graph.message");
//!
//! // Fields: the structural properties, inherited ones first; navigation properties left out.
//! let key = ["id".to_string()];
//! let rules = FieldRules { primary_key: &key, ..FieldRules::default() };
//! let fields = entity_fields(model, &printers.entity, &rules)?;
//! assert_eq!(fields[0].name, "id");
//! assert!(!fields[0].nullable);
//! let shared = fields.iter().find(|f| f.name == "is_shared").unwrap();
//! assert_eq!(shared.data_type, FieldType::Boolean);
//! assert!(fields.iter().all(|f| f.name != "jobs"));
//! assert_eq!(Shape::for_entity(&printers.entity), Shape::Entity);
//!
//! // A wrong segment says what could follow.
//! let err = model.resolve_path("/print/printerz").unwrap_err().to_string();
//! assert!(err.contains("`printerz`") && err.contains("`printers`"), "{err}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod embedded;
mod fields;
mod model;
mod path;
pub mod types;

pub use embedded::{embedded, embedded_xml};
pub use fields::{
    CONVERSATION_MEMBER_SUBTYPE, FieldRules, MIXED_DIRECTORY_PROPERTIES, MIXED_DIRECTORY_TYPES,
    Shape, check_unique_names, entity_fields,
};
pub use model::{Model, Navigation, Property, StructuredType};
pub use path::{PARENT_PLACEHOLDER, PathError, ResolvedPath};

/// What can go wrong reading a CSDL document or building fields from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsdlError {
    /// The document is not well-formed XML.
    #[error("CSDL XML at byte {position}: {message}")]
    Xml {
        /// Byte offset of the error in the document.
        position: u64,
        /// The XML reader's message.
        message: String,
    },
    /// The XML is fine but not CSDL as expected (an element without its `Name`, ...).
    #[error("CSDL: {0}")]
    Malformed(String),
    /// A type named (entity, property type, base) is not declared in the document.
    #[error("type `{0}` is not in the CSDL")]
    UnknownType(String),
    /// A type's base types lead back to itself.
    #[error("base type chain of `{0}` does not end")]
    BaseCycle(String),
    /// A property to exclude from `$select` is not a property of the entity.
    #[error("excluded property `{property}` is not on {entity}")]
    NotAProperty {
        /// The excluded property.
        property: String,
        /// The entity type it was looked for on.
        entity: String,
    },
    /// A mixed-shape stream's property is declared by none of its member types.
    #[error("no member type declares `{0}`")]
    NoMemberType(String),
    /// Two properties map to the same snake_case field name.
    #[error("{path}: two fields are named `{name}`")]
    DuplicateField {
        /// Where (entity, or entity and struct path).
        path: String,
        /// The colliding output name.
        name: String,
    },
    /// The CSDL shipped in the binary could not be decompressed or read.
    #[error("the embedded CSDL: {0}")]
    Embedded(String),
}

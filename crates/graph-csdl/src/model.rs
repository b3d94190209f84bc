//! The slice of an OData CSDL document this crate needs: entity and complex types with their
//! structural and navigation properties and base types, the names of enum types, and the
//! entity container's entity sets and singletons (where Graph paths start).

use std::collections::{BTreeMap, BTreeSet};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::CsdlError;

/// A structural property as declared (`Type` kept verbatim, aliases not yet resolved).
#[derive(Debug, Clone)]
pub struct Property {
    /// The property's name (`userPrincipalName`).
    pub name: String,
    /// Its `Type` as written (`Edm.String`, `Collection(graph.assignedLicense)`).
    pub type_name: String,
    /// Its `Nullable` (absent means true).
    pub nullable: bool,
}

/// A navigation property: a relation to other entities, followed by a path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Navigation {
    /// The property's name, which is the path segment (`messages`).
    pub name: String,
    /// Fully qualified entity type of the target (aliases resolved).
    pub target: String,
    /// `Collection(...)`: the segment is a collection, keyed by `{id}`.
    pub collection: bool,
}

/// An entity or complex type.
#[derive(Debug, Clone)]
pub struct StructuredType {
    /// An `EntityType` (else a `ComplexType`).
    pub is_entity: bool,
    /// Declared `Abstract="true"`: only its derived types have instances.
    pub is_abstract: bool,
    /// Fully qualified base type (aliases resolved).
    pub base: Option<String>,
    /// Its own structural properties (not its base types').
    pub properties: Vec<Property>,
    /// Its own navigation properties.
    pub navigation: Vec<Navigation>,
    /// Namespace the type was declared in, to resolve aliases used in its properties.
    pub namespace: String,
}

/// All types of the document, keyed by fully qualified name (`microsoft.graph.user`), and the
/// container's roots.
#[derive(Debug, Default)]
pub struct Model {
    /// Entity and complex types by fully qualified name.
    pub types: BTreeMap<String, StructuredType>,
    /// Fully qualified names of the enum types (landed as text).
    pub enums: BTreeSet<String>,
    /// Entity set name (`users`) -> its entity type: a collection at the root.
    pub entity_sets: BTreeMap<String, String>,
    /// Singleton name (`print`) -> its entity type: one entity at the root.
    pub singletons: BTreeMap<String, String>,
    /// Alias -> namespace (`graph` -> `microsoft.graph`).
    aliases: BTreeMap<String, String>,
}

impl Model {
    /// Reads a CSDL (`$metadata`) document.
    pub fn parse(xml: &str) -> Result<Self, CsdlError> {
        let mut reader = Reader::from_str(xml);
        let mut model = Model::default();
        let mut namespace: Option<String> = None;
        let mut current: Option<(String, StructuredType)> = None;
        loop {
            let event = reader.read_event().map_err(|e| CsdlError::Xml {
                position: reader.buffer_position(),
                message: e.to_string(),
            })?;
            let (e, self_closing) = match event {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(e) => {
                    if matches!(e.local_name().as_ref(), b"EntityType" | b"ComplexType")
                        && let Some((name, ty)) = current.take()
                    {
                        model.types.insert(name, ty);
                    }
                    continue;
                }
                Event::Eof => break,
                _ => continue,
            };
            match e.local_name().as_ref() {
                b"Schema" => {
                    let ns = required(&e, "Namespace", "Schema")?;
                    if let Some(alias) = attr(&e, "Alias")? {
                        model.aliases.insert(alias, ns.clone());
                    }
                    namespace = Some(ns);
                }
                b"EntityType" | b"ComplexType" => {
                    let ns = namespace
                        .clone()
                        .ok_or(malformed("a type outside a Schema"))?;
                    let name = required(&e, "Name", "EntityType")?;
                    let ty = StructuredType {
                        is_entity: e.local_name().as_ref() == b"EntityType",
                        is_abstract: attr(&e, "Abstract")?.as_deref() == Some("true"),
                        base: attr(&e, "BaseType")?,
                        properties: Vec::new(),
                        navigation: Vec::new(),
                        namespace: ns.clone(),
                    };
                    let full = format!("{ns}.{name}");
                    if self_closing {
                        model.types.insert(full, ty);
                    } else {
                        current = Some((full, ty));
                    }
                }
                b"EnumType" => {
                    let ns = namespace
                        .clone()
                        .ok_or(malformed("an enum outside a Schema"))?;
                    let name = required(&e, "Name", "EnumType")?;
                    model.enums.insert(format!("{ns}.{name}"));
                }
                b"Property" => {
                    if let Some((_, ty)) = current.as_mut() {
                        ty.properties.push(Property {
                            name: required(&e, "Name", "Property")?,
                            type_name: required(&e, "Type", "Property")?,
                            nullable: attr(&e, "Nullable")?.as_deref() != Some("false"),
                        });
                    }
                }
                b"NavigationProperty" => {
                    if let Some((_, ty)) = current.as_mut() {
                        let type_ref = required(&e, "Type", "NavigationProperty")?;
                        let (target, collection) = match collection_item(&type_ref) {
                            Some(item) => (item.to_string(), true),
                            None => (type_ref, false),
                        };
                        ty.navigation.push(Navigation {
                            name: required(&e, "Name", "NavigationProperty")?,
                            target,
                            collection,
                        });
                    }
                }
                b"EntitySet" => {
                    let name = required(&e, "Name", "EntitySet")?;
                    model
                        .entity_sets
                        .insert(name, required(&e, "EntityType", "EntitySet")?);
                }
                b"Singleton" => {
                    let name = required(&e, "Name", "Singleton")?;
                    model
                        .singletons
                        .insert(name, required(&e, "Type", "Singleton")?);
                }
                _ => {}
            }
        }
        if model.types.is_empty() {
            return Err(malformed(
                "no EntityType or ComplexType found: is this a CSDL document?",
            ));
        }
        model.resolve_aliases();
        Ok(model)
    }

    /// Base types, navigation targets and container types are written with aliases
    /// (`graph.directoryObject`); resolve them once here.
    fn resolve_aliases(&mut self) {
        let mut types = std::mem::take(&mut self.types);
        for ty in types.values_mut() {
            ty.base = ty.base.as_deref().map(|b| self.resolve(b));
            for nav in &mut ty.navigation {
                nav.target = self.resolve(&nav.target);
            }
        }
        self.types = types;
        for roots in [&mut self.entity_sets, &mut self.singletons] {
            let resolved = roots
                .iter()
                .map(|(name, ty)| (name.clone(), resolve_with(&self.aliases, ty)))
                .collect();
            *roots = resolved;
        }
    }

    /// Replaces a leading alias with its namespace (`graph.user` -> `microsoft.graph.user`).
    pub fn resolve(&self, qualified: &str) -> String {
        resolve_with(&self.aliases, qualified)
    }

    /// The type and its base types, the type itself first.
    pub fn chain(&self, type_name: &str) -> Result<Vec<&StructuredType>, CsdlError> {
        let mut chain = Vec::new();
        let mut next = Some(type_name);
        while let Some(name) = next {
            let ty = self
                .types
                .get(name)
                .ok_or_else(|| CsdlError::UnknownType(name.to_string()))?;
            if chain.len() > 32 {
                return Err(CsdlError::BaseCycle(type_name.to_string()));
            }
            chain.push(ty);
            next = ty.base.as_deref();
        }
        Ok(chain)
    }

    /// Whether `derived` is `base` or inherits from it.
    pub fn derives_from(&self, derived: &str, base: &str) -> bool {
        let mut next = Some(derived);
        for _ in 0..=32 {
            match next {
                Some(name) if name == base => return true,
                Some(name) => next = self.types.get(name).and_then(|t| t.base.as_deref()),
                None => return false,
            }
        }
        false
    }

    /// Structural properties of a type, inherited ones first (root base type first), then in
    /// declaration order. A property redeclared by a derived type keeps its first position.
    pub fn all_properties(&self, type_name: &str) -> Result<Vec<Property>, CsdlError> {
        let mut out: Vec<Property> = Vec::new();
        for ty in self.chain(type_name)?.iter().rev() {
            for p in &ty.properties {
                // Aliases in property types resolve against the declaring schema, so qualify now.
                let resolved = Property {
                    type_name: self.resolve_type_ref(&p.type_name),
                    ..p.clone()
                };
                match out.iter_mut().find(|q| q.name == p.name) {
                    Some(existing) => *existing = resolved,
                    None => out.push(resolved),
                }
            }
        }
        Ok(out)
    }

    /// Navigation properties of a type, its own first, then those it inherits.
    pub fn all_navigation(&self, type_name: &str) -> Result<Vec<&Navigation>, CsdlError> {
        Ok(self
            .chain(type_name)?
            .into_iter()
            .flat_map(|ty| &ty.navigation)
            .collect())
    }

    /// Resolves aliases inside `Collection(...)` too.
    fn resolve_type_ref(&self, type_ref: &str) -> String {
        match collection_item(type_ref) {
            Some(inner) => format!("Collection({})", self.resolve(inner)),
            None => self.resolve(type_ref),
        }
    }
}

fn resolve_with(aliases: &BTreeMap<String, String>, qualified: &str) -> String {
    match qualified.rsplit_once('.') {
        Some((prefix, name)) => match aliases.get(prefix) {
            Some(ns) => format!("{ns}.{name}"),
            None => qualified.to_string(),
        },
        None => qualified.to_string(),
    }
}

/// `Collection(T)` -> `T`.
pub(crate) fn collection_item(type_ref: &str) -> Option<&str> {
    type_ref
        .strip_prefix("Collection(")
        .and_then(|t| t.strip_suffix(')'))
}

fn malformed(message: &str) -> CsdlError {
    CsdlError::Malformed(message.to_string())
}

fn required(e: &BytesStart, name: &str, element: &str) -> Result<String, CsdlError> {
    attr(e, name)?.ok_or_else(|| CsdlError::Malformed(format!("{element} without {name}")))
}

fn attr(e: &BytesStart, name: &str) -> Result<Option<String>, CsdlError> {
    for a in e.attributes() {
        let a = a.map_err(|e| CsdlError::Malformed(format!("malformed XML attribute: {e}")))?;
        if a.key.as_ref() == name.as_bytes() {
            return String::from_utf8(a.value.into_owned())
                .map(Some)
                .map_err(|_| malformed("an attribute is not UTF-8"));
        }
    }
    Ok(None)
}

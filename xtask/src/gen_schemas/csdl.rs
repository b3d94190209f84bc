//! The slice of an OData CSDL document the generator needs: entity and complex types with their
//! structural properties and base types, and the names of enum types.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, bail};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// A structural property as declared (`Type` kept verbatim, aliases not yet resolved).
#[derive(Debug, Clone)]
pub struct Property {
    pub name: String,
    pub type_name: String,
    pub nullable: bool,
}

/// An entity or complex type.
#[derive(Debug, Clone)]
pub struct StructuredType {
    pub is_entity: bool,
    pub is_abstract: bool,
    /// Fully qualified base type (aliases resolved).
    pub base: Option<String>,
    pub properties: Vec<Property>,
    /// Namespace the type was declared in, to resolve aliases used in its properties.
    pub namespace: String,
}

/// All types of the document, keyed by fully qualified name (`microsoft.graph.user`).
#[derive(Debug, Default)]
pub struct Model {
    pub types: BTreeMap<String, StructuredType>,
    pub enums: BTreeSet<String>,
    /// Alias -> namespace (`graph` -> `microsoft.graph`).
    aliases: BTreeMap<String, String>,
}

impl Model {
    pub fn parse(xml: &str) -> anyhow::Result<Self> {
        let mut reader = Reader::from_str(xml);
        let mut model = Model::default();
        let mut namespace: Option<String> = None;
        let mut current: Option<(String, StructuredType)> = None;
        loop {
            let event = reader
                .read_event()
                .with_context(|| format!("CSDL XML at byte {}", reader.buffer_position()))?;
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
                    let ns = attr(&e, "Namespace")?.context("Schema without Namespace")?;
                    if let Some(alias) = attr(&e, "Alias")? {
                        model.aliases.insert(alias, ns.clone());
                    }
                    namespace = Some(ns);
                }
                b"EntityType" | b"ComplexType" => {
                    let ns = namespace.clone().context("type outside a Schema")?;
                    let name = attr(&e, "Name")?.context("type without Name")?;
                    let ty = StructuredType {
                        is_entity: e.local_name().as_ref() == b"EntityType",
                        is_abstract: attr(&e, "Abstract")?.as_deref() == Some("true"),
                        base: attr(&e, "BaseType")?,
                        properties: Vec::new(),
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
                    let ns = namespace.clone().context("enum outside a Schema")?;
                    let name = attr(&e, "Name")?.context("enum without Name")?;
                    model.enums.insert(format!("{ns}.{name}"));
                }
                b"Property" => {
                    if let Some((_, ty)) = current.as_mut() {
                        ty.properties.push(Property {
                            name: attr(&e, "Name")?.context("Property without Name")?,
                            type_name: attr(&e, "Type")?.context("Property without Type")?,
                            nullable: attr(&e, "Nullable")?.as_deref() != Some("false"),
                        });
                    }
                }
                _ => {}
            }
        }
        if model.types.is_empty() {
            bail!("no EntityType or ComplexType found: is this a CSDL document?");
        }
        // Base types are written with aliases (`graph.directoryObject`); resolve them once here.
        let resolved: Vec<(String, Option<String>)> = model
            .types
            .iter()
            .map(|(name, ty)| (name.clone(), ty.base.as_deref().map(|b| model.resolve(b))))
            .collect();
        for (name, base) in resolved {
            model.types.get_mut(&name).expect("type just listed").base = base;
        }
        Ok(model)
    }

    /// Replaces a leading alias with its namespace (`graph.user` -> `microsoft.graph.user`).
    pub fn resolve(&self, qualified: &str) -> String {
        match qualified.rsplit_once('.') {
            Some((prefix, name)) => match self.aliases.get(prefix) {
                Some(ns) => format!("{ns}.{name}"),
                None => qualified.to_string(),
            },
            None => qualified.to_string(),
        }
    }

    /// Structural properties of a type, inherited ones first (root base type first), then in
    /// declaration order. A property redeclared by a derived type keeps its first position.
    pub fn all_properties(&self, type_name: &str) -> anyhow::Result<Vec<Property>> {
        let mut chain = Vec::new();
        let mut next = Some(type_name.to_string());
        while let Some(name) = next {
            let ty = self
                .types
                .get(&name)
                .with_context(|| format!("type `{name}` is not in the CSDL"))?;
            if chain.len() > 32 {
                bail!("base type chain of `{type_name}` does not end");
            }
            chain.push(ty);
            next = ty.base.clone();
        }
        let mut out: Vec<Property> = Vec::new();
        for ty in chain.iter().rev() {
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

    /// Resolves aliases inside `Collection(...)` too.
    fn resolve_type_ref(&self, type_ref: &str) -> String {
        match type_ref
            .strip_prefix("Collection(")
            .and_then(|t| t.strip_suffix(')'))
        {
            Some(inner) => format!("Collection({})", self.resolve(inner)),
            None => self.resolve(type_ref),
        }
    }
}

fn attr(e: &BytesStart, name: &str) -> anyhow::Result<Option<String>> {
    for a in e.attributes() {
        let a = a.context("malformed XML attribute")?;
        if a.key.as_ref() == name.as_bytes() {
            return Ok(Some(
                String::from_utf8(a.value.into_owned()).context("attribute is not UTF-8")?,
            ));
        }
    }
    Ok(None)
}

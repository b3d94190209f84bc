//! `--catalog` / `--properties`: which streams and fields to sync.
//!
//! A stream is selected by `selected: true` in its `breadcrumb: []` metadata (or, in the legacy
//! properties format, `"selected": true` in its schema). A field is dropped when its metadata says
//! `selected: false` or `inclusion: unsupported`; keys and parent columns are always kept. Dropped
//! fields leave the Graph `$select` too, so they are never fetched.

use std::collections::BTreeSet;

use serde_json::Value;
use stream_spec::{Catalog, StreamSpec};

use super::discover::{FieldNames, selected_by_default};

/// Why a catalog or the config's `streams` cannot be turned into a selection.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SelectionError {
    /// The catalog has no `streams` array.
    #[error("catalog has no `streams` array")]
    NoStreams,
    /// The catalog entry at this index (from 0) names no stream.
    #[error("catalog stream #{0} has neither `tap_stream_id` nor `stream`")]
    Unnamed(usize),
    /// The stream named (held) is not one this tap declares.
    #[error("catalog stream `{0}` is not a stream of this tap (run --discover for the list)")]
    Unknown(String),
}

/// Selected streams, each with the fields to fetch.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The selected streams' declarations, without their dropped fields, in catalog order.
    pub streams: Vec<StreamSpec>,
}

impl Selection {
    /// Without a catalog: the streams selected by default, or the config's `streams`.
    pub fn default_for(catalog: &Catalog, configured: &[String]) -> Result<Self, SelectionError> {
        let streams = if configured.is_empty() {
            catalog
                .streams()
                .iter()
                .filter(|s| selected_by_default(s))
                .cloned()
                .collect()
        } else {
            configured
                .iter()
                .map(|name| {
                    catalog
                        .get(name)
                        .cloned()
                        .map_err(|_| SelectionError::Unknown(name.clone()))
                })
                .collect::<Result<_, _>>()?
        };
        Ok(Self { streams })
    }

    /// The streams a Singer catalog (or legacy properties file) selects, each with its selected
    /// fields (under `names`); unselected entries are left out.
    pub fn from_catalog(
        catalog: &Catalog,
        singer: &Value,
        names: FieldNames,
    ) -> Result<Self, SelectionError> {
        let entries = singer
            .get("streams")
            .and_then(Value::as_array)
            .ok_or(SelectionError::NoStreams)?;
        let mut streams = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let name = entry
                .get("tap_stream_id")
                .or_else(|| entry.get("stream"))
                .and_then(Value::as_str)
                .ok_or(SelectionError::Unnamed(i))?;
            let spec = catalog
                .get(name)
                .map_err(|_| SelectionError::Unknown(name.to_string()))?;
            let metadata = entry.get("metadata").and_then(Value::as_array);
            let stream_md = metadata.and_then(|m| breadcrumb(m, &[]));
            let selected = stream_md
                .and_then(|md| md.get("selected"))
                .or_else(|| entry.get("schema").and_then(|s| s.get("selected")))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if !selected {
                continue;
            }
            let names = names.for_stream(spec);
            let dropped: BTreeSet<&str> = metadata
                .into_iter()
                .flatten()
                .filter_map(|m| {
                    let crumb = m.get("breadcrumb")?.as_array()?;
                    let [kind, property] = crumb.as_slice() else {
                        return None;
                    };
                    (kind.as_str() == Some("properties")).then_some(())?;
                    let md = m.get("metadata")?;
                    let off = md.get("selected").and_then(Value::as_bool) == Some(false)
                        || md.get("inclusion").and_then(Value::as_str) == Some("unsupported");
                    off.then(|| property.as_str()).flatten()
                })
                .collect();
            let mut spec = spec.clone();
            spec.fields.retain(|f| {
                let property = match names {
                    FieldNames::Graph => f.graph.as_str(),
                    FieldNames::SnakeCase => f.name.as_str(),
                };
                spec_key(&spec.primary_key, &f.name) || !dropped.contains(property)
            });
            streams.push(spec);
        }
        Ok(Self { streams })
    }

    /// The selected streams' names.
    pub fn names(&self) -> Vec<String> {
        self.streams.iter().map(|s| s.stream.clone()).collect()
    }

    /// The declarations the extractor runs with: every declared stream, the selected ones with
    /// only their selected fields (parents that are not selected keep theirs; only ids are read).
    pub fn catalog(
        &self,
        full: &Catalog,
    ) -> Result<(Catalog, Option<tempfile::TempDir>), std::io::Error> {
        let narrowed = self
            .streams
            .iter()
            .any(|s| full.get(&s.stream).is_ok_and(|d| d.fields != s.fields));
        if !narrowed {
            return Ok((full.clone(), None));
        }
        // stream-spec builds catalogs from the embedded set or a directory: write one.
        let dir = tempfile::tempdir()?;
        for declared in full.streams() {
            let spec = self
                .streams
                .iter()
                .find(|s| s.stream == declared.stream)
                .unwrap_or(declared);
            let text = serde_json::to_string(spec).map_err(std::io::Error::other)?;
            std::fs::write(dir.path().join(format!("{}.json", spec.stream)), text)?;
        }
        let catalog = Catalog::from_dir(dir.path()).map_err(std::io::Error::other)?;
        Ok((catalog, Some(dir)))
    }
}

fn spec_key(keys: &[String], name: &str) -> bool {
    keys.iter().any(|k| k == name)
}

fn breadcrumb<'a>(metadata: &'a [Value], crumb: &[&str]) -> Option<&'a Value> {
    metadata.iter().find_map(|m| {
        let b = m.get("breadcrumb")?.as_array()?;
        let same =
            b.len() == crumb.len() && b.iter().zip(crumb).all(|(x, y)| x.as_str() == Some(*y));
        same.then(|| m.get("metadata")).flatten()
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::tap::discover;

    #[test]
    fn selected_streams_and_fields_narrow_the_declarations() {
        let full = Catalog::embedded();
        let mut singer = discover::catalog(&full, FieldNames::Graph);
        for entry in singer["streams"].as_array_mut().unwrap() {
            let name = entry["stream"].as_str().unwrap().to_string();
            for md in entry["metadata"].as_array_mut().unwrap() {
                let crumb = md["breadcrumb"].clone();
                if crumb == json!([]) {
                    md["metadata"]["selected"] = json!(name == "users" || name == "mail_messages");
                } else if name == "users" && crumb[1] != "id" {
                    md["metadata"]["selected"] = json!(crumb[1] == "displayName");
                }
            }
        }
        // A key cannot be deselected.
        let users = singer["streams"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|e| e["stream"] == "users")
            .unwrap();
        users["metadata"]
            .as_array_mut()
            .unwrap()
            .push(json!({"breadcrumb": ["properties", "id"], "metadata": {"selected": false}}));

        let selection = Selection::from_catalog(&full, &singer, FieldNames::Graph).unwrap();
        assert_eq!(selection.names(), ["mail_messages", "users"]);
        let users = &selection.streams[1];
        let kept: Vec<&str> = users.fields.iter().map(|f| f.graph.as_str()).collect();
        assert_eq!(kept, ["id", "displayName"]);
        let (catalog, dir) = selection.catalog(&full).unwrap();
        assert!(dir.is_some());
        assert_eq!(
            catalog.get("users").unwrap().select(),
            ["id", "displayName"]
        );
        assert_eq!(catalog.streams().len(), full.streams().len());
    }

    #[test]
    fn legacy_properties_and_unknown_streams() {
        let full = Catalog::embedded();
        let props = json!({"streams": [{"stream": "groups", "schema": {"selected": true}}]});
        let selection = Selection::from_catalog(&full, &props, FieldNames::Graph).unwrap();
        assert_eq!(selection.names(), ["groups"]);
        let bad = json!({"streams": [{"stream": "nope"}]});
        assert_eq!(
            Selection::from_catalog(&full, &bad, FieldNames::Graph).unwrap_err(),
            SelectionError::Unknown("nope".into())
        );
        let default = Selection::default_for(&full, &[]).unwrap();
        assert_eq!(default.streams.len(), 22);
    }
}

//! Drift: what a record carries beyond its declaration.
//!
//! After arrow-json has decoded the declared columns, each record is walked once more on the same
//! tape against the declared shape. Whatever is not declared (at any depth), and every value that
//! did not fit its declared type, is written into that row's `_extra` JSON object, keyed by its
//! path (`newProp`, `toRecipients[0].emailAddress.newProp`). OData control annotations are counted
//! and skipped; `@removed` (delta) is kept and counted.

use std::collections::{HashMap, HashSet};

use ahash::RandomState;

use arrow::json::reader::{Tape, TapeElement};
use stream_spec::{Field, FieldType};

use super::report::{DecodeReport, bump};
use super::tape_text::{write_str, write_value};

/// Annotation suffixes that are protocol metadata (links, etags, counts), never landed.
const CONTROL_ANNOTATIONS: &[&str] = &[
    "context",
    "etag",
    "id",
    "editLink",
    "readLink",
    "navigationLink",
    "associationLink",
    "mediaEditLink",
    "mediaReadLink",
    "mediaContentType",
    "mediaEtag",
    "nextLink",
    "deltaLink",
    "count",
];

/// The declared shape of a record, by Graph name.
#[derive(Debug, Default)]
pub(crate) struct ObjectShape {
    /// Looked up once per key of every record: ahash, not SipHash (keys come from our own
    /// declarations and Graph, so HashDoS resistance buys nothing here).
    fields: HashMap<String, Shape, RandomState>,
}

#[derive(Debug)]
enum Shape {
    /// A scalar, or `json` (any value is valid, nothing inside is undeclared).
    Leaf,
    Object(ObjectShape),
    List(Box<Shape>),
}

impl ObjectShape {
    pub(crate) fn new(fields: &[Field]) -> Self {
        Self {
            fields: fields
                .iter()
                .map(|f| (f.graph.clone(), Shape::new(&f.data_type)))
                .collect(),
        }
    }
}

impl Shape {
    fn new(t: &FieldType) -> Self {
        match t {
            FieldType::Struct(fields) => Shape::Object(ObjectShape::new(fields)),
            FieldType::List(item) => Shape::List(Box::new(Shape::new(item))),
            _ => Shape::Leaf,
        }
    }
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// Walks records on a tape, building `_extra` texts and the drift part of the report.
pub(crate) struct DriftWalker<'r> {
    /// Tape positions of values that arrow-json nulled for a type conflict.
    pub(crate) conflicts: &'r HashSet<u32, RandomState>,
    pub(crate) report: &'r mut DecodeReport,
}

impl DriftWalker<'_> {
    /// The `_extra` JSON text of the record at `idx`, or `None` when it has nothing extra.
    pub(crate) fn extra(
        &mut self,
        shape: &ObjectShape,
        tape: &Tape<'_>,
        idx: u32,
    ) -> Option<String> {
        let mut out = String::new();
        let mut path = Vec::new();
        self.object(shape, tape, idx, &mut path, &mut out, true);
        if out.is_empty() {
            return None;
        }
        out.push('}');
        Some(out)
    }

    fn object<'t>(
        &mut self,
        shape: &ObjectShape,
        tape: &Tape<'t>,
        idx: u32,
        path: &mut Vec<Segment<'t>>,
        out: &mut String,
        top_level: bool,
    ) {
        let TapeElement::StartObject(end) = tape.get(idx) else {
            return;
        };
        let mut cur = idx + 1;
        while cur < end {
            let key = match tape.get(cur) {
                TapeElement::String(s) => tape.get_string(s),
                _ => return,
            };
            let value = cur + 1;
            cur = tape.next(value, "value").unwrap_or(end);
            path.push(Segment::Key(key));
            match shape.fields.get(key) {
                Some(_) if self.conflicts.contains(&value) => {
                    emit(tape, value, path, out);
                }
                Some(declared) => self.value(declared, tape, value, path, out),
                None => {
                    if top_level && key == "@removed" {
                        self.report.removed += 1;
                        emit(tape, value, path, out);
                    } else if is_control_annotation(key) {
                        // Nearly every record has `@odata.etag`: no name built at the top level.
                        match top_level {
                            true => bump(&mut self.report.ignored_annotations, key),
                            false => bump(&mut self.report.ignored_annotations, &report_name(path)),
                        }
                    } else {
                        bump(&mut self.report.new_properties, &report_name(path));
                        emit(tape, value, path, out);
                    }
                }
            }
            path.pop();
        }
    }

    fn value<'t>(
        &mut self,
        shape: &Shape,
        tape: &Tape<'t>,
        idx: u32,
        path: &mut Vec<Segment<'t>>,
        out: &mut String,
    ) {
        match (shape, tape.get(idx)) {
            (Shape::Object(object), TapeElement::StartObject(_)) => {
                self.object(object, tape, idx, path, out, false)
            }
            (Shape::List(item), TapeElement::StartList(end)) => {
                let mut cur = idx + 1;
                let mut index = 0;
                while cur < end {
                    path.push(Segment::Index(index));
                    if self.conflicts.contains(&cur) {
                        emit(tape, cur, path, out);
                    } else {
                        self.value(item, tape, cur, path, out);
                    }
                    path.pop();
                    index += 1;
                    cur = tape.next(cur, "item").unwrap_or(end);
                }
            }
            _ => {}
        }
    }
}

fn is_control_annotation(key: &str) -> bool {
    key.split_once("@odata.")
        .is_some_and(|(_, suffix)| CONTROL_ANNOTATIONS.contains(&suffix))
}

/// Appends `"path":value` to the `_extra` object being built in `out`.
fn emit(tape: &Tape<'_>, idx: u32, path: &[Segment<'_>], out: &mut String) {
    out.push(if out.is_empty() { '{' } else { ',' });
    write_str(&extra_key(path), out);
    out.push(':');
    write_value(tape, idx, out);
}

/// `toRecipients[0].emailAddress.newProp`: where the value sits in this row.
fn extra_key(path: &[Segment<'_>]) -> String {
    join(path, |i, out| out.push_str(&format!("[{i}]")))
}

/// `toRecipients[].emailAddress.newProp`: the property, whatever the row.
fn report_name(path: &[Segment<'_>]) -> String {
    join(path, |_, out| out.push_str("[]"))
}

fn join(path: &[Segment<'_>], index: impl Fn(usize, &mut String)) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Index(i) => index(*i, &mut out),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_annotations_are_recognised_on_records_and_properties() {
        assert!(is_control_annotation("@odata.etag"));
        assert!(is_control_annotation("manager@odata.navigationLink"));
        assert!(!is_control_annotation("@odata.type"));
        assert!(!is_control_annotation("members@delta"));
        assert!(!is_control_annotation("displayName"));
    }

    #[test]
    fn paths_name_the_row_position_and_the_property() {
        let path = [
            Segment::Key("toRecipients"),
            Segment::Index(2),
            Segment::Key("emailAddress"),
            Segment::Key("x"),
        ];
        assert_eq!(extra_key(&path), "toRecipients[2].emailAddress.x");
        assert_eq!(report_name(&path), "toRecipients[].emailAddress.x");
    }
}

//! Hooks into arrow-json's decoder tree (`DecoderFactory`), so the one tape pass also
//! - counts values nulled for a type conflict, per column (arrow-json's `ignore_type_conflicts`
//!   nulls them instead of failing the batch; a null in the output over a non-null on the tape is
//!   exactly such a value),
//! - keeps `json` fields as their JSON text,
//! - walks each record for undeclared properties and builds `_extra` (at the root).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use ahash::RandomState;
use arrow::array::{Array, ArrayRef, StringBuilder};
use arrow::datatypes::FieldRef;
use arrow::error::ArrowError;
use arrow::json::reader::{ArrayDecoder, DecoderContext, DecoderFactory, Tape, TapeElement};

use super::drift::{DriftWalker, ObjectShape};
use super::report::{DecodeReport, bump};
use super::tape_text::write_value;
use crate::schema::{META_JSON, META_PATH, META_RECORD};

/// What the hooks collect during one page; drained by the page decoder after each flush.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// Column path and tape position of each value nulled for a type conflict.
    conflicts: Vec<(Arc<str>, u32)>,
    /// `_extra` per decoded row, in row order.
    pub(crate) extras: Vec<Option<String>>,
    pub(crate) report: DecodeReport,
}

pub(crate) type SharedScratch = Arc<Mutex<Scratch>>;

pub(crate) fn lock(scratch: &SharedScratch) -> MutexGuard<'_, Scratch> {
    // A panic elsewhere cannot leave the counters half-updated in a way worth refusing.
    scratch.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug)]
pub(crate) struct GraphDecoderFactory {
    scratch: SharedScratch,
    shape: Arc<ObjectShape>,
}

impl GraphDecoderFactory {
    pub(crate) fn new(scratch: SharedScratch, shape: Arc<ObjectShape>) -> Self {
        Self { scratch, shape }
    }
}

impl DecoderFactory for GraphDecoderFactory {
    fn make_default_decoder(
        &self,
        ctx: &DecoderContext,
        field: &FieldRef,
        is_nullable: bool,
    ) -> Result<Option<Box<dyn ArrayDecoder>>, ArrowError> {
        let path = field.metadata().get(META_PATH);
        if field.metadata().contains_key(META_JSON) {
            return Ok(Some(Box::new(JsonTextDecoder)));
        }
        if let Some(path) = path {
            return Ok(Some(Box::new(ConflictCounter {
                inner: ctx.make_builtin_decoder(field, is_nullable)?,
                path: Arc::from(path.as_str()),
                scratch: self.scratch.clone(),
            })));
        }
        // The record struct: the item of the envelope's `value` list.
        if field.metadata().contains_key(META_RECORD) {
            return Ok(Some(Box::new(RecordDecoder {
                inner: ctx.make_builtin_decoder(field, is_nullable)?,
                scratch: self.scratch.clone(),
                shape: self.shape.clone(),
            })));
        }
        Ok(None)
    }
}

struct ConflictCounter {
    inner: Box<dyn ArrayDecoder>,
    path: Arc<str>,
    scratch: SharedScratch,
}

impl ArrayDecoder for ConflictCounter {
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        let array = self.inner.decode(tape, pos)?;
        // Walk the validity bits directly: most optional columns have nulls on every page.
        if let Some(nulls) = array.nulls().filter(|n| n.null_count() > 0) {
            let mut scratch = None;
            for (valid, &p) in nulls.iter().zip(pos) {
                if !valid && tape.get(p) != TapeElement::Null {
                    scratch
                        .get_or_insert_with(|| lock(&self.scratch))
                        .conflicts
                        .push((self.path.clone(), p));
                }
            }
        }
        Ok(array)
    }
}

/// For plain JSON records outside a landing (tap-msgraph's Parquet batch files): fields that
/// carry Arrow's canonical JSON extension type (`arrow.json`) decode as their compact JSON text,
/// whatever the value (object, list, number); every other field as arrow-json decodes it.
#[derive(Debug, Default)]
pub struct JsonTextFactory;

impl DecoderFactory for JsonTextFactory {
    fn make_default_decoder(
        &self,
        _ctx: &DecoderContext,
        field: &FieldRef,
        _is_nullable: bool,
    ) -> Result<Option<Box<dyn ArrayDecoder>>, ArrowError> {
        Ok(is_json_text(field).then(|| Box::new(JsonTextDecoder) as Box<dyn ArrayDecoder>))
    }
}

/// Whether `field` carries Arrow's canonical JSON extension type (`arrow.json`, Parquet's JSON
/// logical type): its strings are JSON texts.
pub fn is_json_text(field: &arrow::datatypes::Field) -> bool {
    use arrow_schema::extension::{ExtensionType, Json};
    field.extension_type_name() == Some(Json::NAME)
}

/// Any JSON value as its compact JSON text; JSON `null` (or absence) as a null cell.
struct JsonTextDecoder;

impl ArrayDecoder for JsonTextDecoder {
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        let mut builder = StringBuilder::with_capacity(pos.len(), pos.len() * 32);
        let mut text = String::new();
        for &p in pos {
            if tape.get(p) == TapeElement::Null {
                builder.append_null();
                continue;
            }
            text.clear();
            write_value(tape, p, &mut text);
            builder.append_value(&text);
        }
        Ok(std::sync::Arc::new(builder.finish()))
    }
}

struct RecordDecoder {
    inner: Box<dyn ArrayDecoder>,
    scratch: SharedScratch,
    shape: Arc<ObjectShape>,
}

impl ArrayDecoder for RecordDecoder {
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        // Children first: their conflicts must be known before the walk copies those values.
        let array = self.inner.decode(tape, pos)?;
        let mut guard = lock(&self.scratch);
        let scratch = &mut *guard;
        let mut conflict_positions =
            HashSet::with_capacity_and_hasher(scratch.conflicts.len(), RandomState::new());
        for (path, p) in scratch.conflicts.drain(..) {
            bump(&mut scratch.report.type_conflicts, &path[..]);
            conflict_positions.insert(p);
        }
        let mut walker = DriftWalker {
            conflicts: &conflict_positions,
            report: &mut scratch.report,
        };
        for &p in pos {
            let extra = walker.extra(&self.shape, tape, p);
            scratch.extras.push(extra);
        }
        Ok(array)
    }
}

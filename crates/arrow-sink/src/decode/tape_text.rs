//! JSON text back out of arrow-json's tape, for `json` fields and `_extra`.
//!
//! The tape keeps strings unescaped, so they are escaped again with serde_json's own escaper;
//! numbers keep the exact text Graph sent.

use arrow::json::reader::{Tape, TapeElement};
use serde_json::ser::{CompactFormatter, Formatter};

/// Appends the compact JSON text of the value at `idx` to `out`; returns the index after it.
pub(crate) fn write_value(tape: &Tape<'_>, idx: u32, out: &mut Vec<u8>) -> u32 {
    match tape.get(idx) {
        TapeElement::StartObject(end) => {
            out.push(b'{');
            let mut cur = idx + 1;
            let mut first = true;
            while cur < end {
                if !first {
                    out.push(b',');
                }
                first = false;
                cur = write_value(tape, cur, out);
                out.push(b':');
                cur = write_value(tape, cur, out);
            }
            out.push(b'}');
            end + 1
        }
        TapeElement::StartList(end) => {
            out.push(b'[');
            let mut cur = idx + 1;
            let mut first = true;
            while cur < end {
                if !first {
                    out.push(b',');
                }
                first = false;
                cur = write_value(tape, cur, out);
            }
            out.push(b']');
            end + 1
        }
        TapeElement::String(s) => {
            write_str(tape.get_string(s), out);
            idx + 1
        }
        TapeElement::Number(n) => {
            out.extend_from_slice(tape.get_string(n).as_bytes());
            idx + 1
        }
        TapeElement::True => {
            out.extend_from_slice(b"true");
            idx + 1
        }
        TapeElement::False => {
            out.extend_from_slice(b"false");
            idx + 1
        }
        // The remaining forms only come from `Decoder::serialize`, which decode never uses; the
        // numeric ones are written for completeness, the end markers cannot start a value.
        TapeElement::I64(high) => {
            let low = match tape.get(idx + 1) {
                TapeElement::I32(low) => low as u32 as i64,
                _ => 0,
            };
            out.extend_from_slice((((high as i64) << 32) | low).to_string().as_bytes());
            idx + 2
        }
        TapeElement::I32(v) => {
            out.extend_from_slice(v.to_string().as_bytes());
            idx + 1
        }
        TapeElement::F64(high) => {
            let low = match tape.get(idx + 1) {
                TapeElement::F32(low) => low as u64,
                _ => 0,
            };
            write_float(f64::from_bits(((high as u64) << 32) | low), out);
            idx + 2
        }
        TapeElement::F32(v) => {
            write_float(f64::from(f32::from_bits(v)), out);
            idx + 1
        }
        TapeElement::Null | TapeElement::EndObject(_) | TapeElement::EndList(_) => {
            out.extend_from_slice(b"null");
            idx + 1
        }
        // `TapeElement` is non-exhaustive; a future element is kept visible rather than lost.
        _ => {
            out.extend_from_slice(b"null");
            idx + 1
        }
    }
}

/// Appends `s` as a JSON string literal.
pub(crate) fn write_str(s: &str, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_float(v: f64, out: &mut Vec<u8>) {
    if v.is_finite() {
        let _ = CompactFormatter.write_f64(out, v);
    } else {
        out.extend_from_slice(b"null");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Field, FieldRef};
    use arrow::error::ArrowError;
    use arrow::json::ReaderBuilder;
    use arrow::json::reader::{ArrayDecoder, DecoderContext, DecoderFactory};

    use super::*;

    /// Decodes every value of a Utf8 field as its JSON text, to test the writer on a real tape.
    #[derive(Debug)]
    struct TextFactory;
    struct TextDecoder;

    impl ArrayDecoder for TextDecoder {
        fn decode(
            &mut self,
            tape: &Tape<'_>,
            pos: &[u32],
        ) -> Result<arrow::array::ArrayRef, ArrowError> {
            let texts: Vec<String> = pos
                .iter()
                .map(|&p| {
                    let mut out = Vec::new();
                    write_value(tape, p, &mut out);
                    String::from_utf8(out).unwrap()
                })
                .collect();
            Ok(Arc::new(arrow::array::StringArray::from(texts)))
        }
    }

    impl DecoderFactory for TextFactory {
        fn make_default_decoder(
            &self,
            _ctx: &DecoderContext,
            field: &FieldRef,
            _nullable: bool,
        ) -> Result<Option<Box<dyn ArrayDecoder>>, ArrowError> {
            Ok((field.name() == "v").then(|| Box::new(TextDecoder) as Box<dyn ArrayDecoder>))
        }
    }

    #[test]
    fn values_come_back_as_equivalent_compact_json() {
        let input = r#"{"v": {"a": [1, 2.50, -3e2], "b\"q": "tab\there \u00e9 ✓", "c": null, "d": true, "e": {}}}
{"v": "plain"}
{"v": 12345678901234567890}"#;
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![Field::new(
            "v",
            DataType::Utf8,
            true,
        )]));
        let mut reader = ReaderBuilder::new(schema)
            .with_decoder_factory(Arc::new(TextFactory))
            .build(input.as_bytes())
            .unwrap();
        let batch = reader.next().unwrap().unwrap();
        let texts = batch.column(0).as_string::<i32>();
        assert_eq!(texts.len(), 3);
        assert_eq!(
            texts.value(0),
            r#"{"a":[1,2.50,-3e2],"b\"q":"tab\there é ✓","c":null,"d":true,"e":{}}"#
        );
        let reparsed: serde_json::Value = serde_json::from_str(texts.value(0)).unwrap();
        assert_eq!(reparsed["b\"q"], "tab\there é ✓");
        assert_eq!(texts.value(1), r#""plain""#);
        assert_eq!(texts.value(2), "12345678901234567890");
    }
}

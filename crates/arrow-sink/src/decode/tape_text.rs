//! JSON text back out of arrow-json's tape, for `json` fields and `_extra`.
//!
//! The tape keeps strings unescaped, so they are escaped again (as serde_json escapes); numbers
//! keep the exact text Graph sent. Output goes into a `String`: the tape's text is valid UTF-8
//! already, so it is never validated again.

use std::fmt::Write;

use arrow::json::reader::{Tape, TapeElement};

/// Appends the compact JSON text of the value at `idx` to `out`; returns the index after it.
///
/// Iterative, with the open containers on a heap stack: a hostile page nested 10^5 deep is
/// written out like any other value instead of overflowing the decode thread's stack.
pub(crate) fn write_value(tape: &Tape<'_>, idx: u32, out: &mut String) -> u32 {
    // Per open container: whether it is an object, and how many elements (keys and values)
    // it has had so far, which says whether `,` or `:` comes next.
    let mut open: Vec<(bool, u32)> = Vec::new();
    let mut cur = idx;
    loop {
        let element = tape.get(cur);
        if let TapeElement::EndObject(_) | TapeElement::EndList(_) = element
            && let Some((object, _)) = open.pop()
        {
            out.push(if object { '}' } else { ']' });
            cur += 1;
        } else {
            if let Some((object, count)) = open.last_mut() {
                match (*object, *count) {
                    (_, 0) => {}
                    (true, n) if n % 2 == 1 => out.push(':'),
                    _ => out.push(','),
                }
                *count += 1;
            }
            cur = match element {
                TapeElement::StartObject(_) => {
                    out.push('{');
                    open.push((true, 0));
                    cur + 1
                }
                TapeElement::StartList(_) => {
                    out.push('[');
                    open.push((false, 0));
                    cur + 1
                }
                scalar => write_scalar(tape, cur, scalar, out),
            };
        }
        if open.is_empty() {
            return cur;
        }
    }
}

/// Appends a value that opens no container; returns the index after it.
fn write_scalar(tape: &Tape<'_>, idx: u32, element: TapeElement, out: &mut String) -> u32 {
    match element {
        TapeElement::String(s) => {
            write_str(tape.get_string(s), out);
            idx + 1
        }
        TapeElement::Number(n) => {
            out.push_str(tape.get_string(n));
            idx + 1
        }
        TapeElement::True => {
            out.push_str("true");
            idx + 1
        }
        TapeElement::False => {
            out.push_str("false");
            idx + 1
        }
        // The remaining forms only come from `Decoder::serialize`, which decode never uses; the
        // numeric ones are written for completeness.
        TapeElement::I64(high) => {
            let low = match tape.get(idx + 1) {
                TapeElement::I32(low) => low as u32 as i64,
                _ => 0,
            };
            let _ = write!(out, "{}", ((high as i64) << 32) | low);
            idx + 2
        }
        TapeElement::I32(v) => {
            let _ = write!(out, "{v}");
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
        // An end marker cannot start a value; `TapeElement` is non-exhaustive, and a future
        // element is kept visible rather than lost.
        _ => {
            out.push_str("null");
            idx + 1
        }
    }
}

/// Appends `s` as a JSON string literal: `"` and `\\` escaped, control characters as `\n`-style
/// or `\u00XX` escapes, everything else (non-ASCII included) as is.
pub(crate) fn write_str(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut plain = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // Only ASCII bytes are escaped, so `plain..i` always ends on a char boundary.
        out.push_str(&s[plain..i]);
        plain = i + 1;
        match escape {
            "" => {
                let _ = write!(out, "\\u{b:04x}");
            }
            e => out.push_str(e),
        }
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

fn write_float(v: f64, out: &mut String) {
    // Rust's shortest round-trip text; non-finite values have no JSON form.
    match v.is_finite() {
        true => {
            let _ = write!(out, "{v:?}");
        }
        false => out.push_str("null"),
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
                    let mut out = String::new();
                    write_value(tape, p, &mut out);
                    out
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

    /// Each row's `v` of NDJSON `input`, written back out by [`write_value`] from the tape.
    fn texts_of(input: &str) -> Vec<String> {
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
        (0..texts.len())
            .map(|i| texts.value(i).to_string())
            .collect()
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let samples = [
            "plain",
            "",
            "q\"b\\s/",
            "\u{0}\u{1}\u{8}\u{c}\n\r\t\u{1f} ",
            "é ✓ 𝄞\u{7f}",
            "\n",
        ];
        for s in samples {
            let mut out = String::new();
            write_str(s, &mut out);
            assert_eq!(out, serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    /// Issue 15, item 5: a value nested 10^5 deep (a hostile page) comes back whole on a
    /// test thread's 2 MiB stack; the recursive writer overflowed it.
    #[test]
    fn nesting_of_any_depth_is_written_without_recursion() {
        let depth = 100_000;
        let deep = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let nested_objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        for value in [deep, nested_objects] {
            assert_eq!(texts_of(&format!("{{\"v\": {value}}}")), [value]);
        }
    }

    #[test]
    fn values_come_back_as_equivalent_compact_json() {
        let input = r#"{"v": {"a": [1, 2.50, -3e2], "b\"q": "tab\there \u00e9 ✓", "c": null, "d": true, "e": {}}}
{"v": "plain"}
{"v": 12345678901234567890}"#;
        let texts = texts_of(input);
        assert_eq!(texts.len(), 3);
        assert_eq!(
            texts[0],
            r#"{"a":[1,2.50,-3e2],"b\"q":"tab\there é ✓","c":null,"d":true,"e":{}}"#
        );
        let reparsed: serde_json::Value = serde_json::from_str(&texts[0]).unwrap();
        assert_eq!(reparsed["b\"q"], "tab\there é ✓");
        assert_eq!(texts[1], r#""plain""#);
        assert_eq!(texts[2], "12345678901234567890");
    }
}

//! The key of a RECORD, hashed from its key properties' JSON text, for last-record-wins within a
//! run. Only the key properties are kept while the record is scanned; nothing is built.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use twox_hash::XxHash3_128;

/// The hash of `record`'s values of `keys`, in that order; `None` when `record` is not an
/// object. A missing key hashes as absent (the sink then rejects the row for its null key).
pub fn record_key(record: &str, keys: &[String]) -> Option<u128> {
    let mut de = serde_json::Deserializer::from_str(record);
    let values = KeyValues { keys }.deserialize(&mut de).ok()?;
    let mut hasher = XxHash3_128::new();
    for value in &values {
        match value {
            // Length-prefixed, so ("ab","c") and ("a","bc") differ.
            Some(text) => {
                hasher.write(&(text.len() as u64).to_le_bytes());
                hasher.write(text.as_bytes());
            }
            None => hasher.write(&u64::MAX.to_le_bytes()),
        }
    }
    Some(hasher.finish_128())
}

struct KeyValues<'k> {
    keys: &'k [String],
}

impl<'de> DeserializeSeed<'de> for KeyValues<'_> {
    type Value = Vec<Option<&'de str>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for KeyValues<'_> {
    type Value = Vec<Option<&'de str>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = vec![None; self.keys.len()];
        while let Some(name) = map.next_key::<Cow<'de, str>>()? {
            match self.keys.iter().position(|k| *k == name) {
                Some(at) => {
                    let raw: &'de RawValue = map.next_value()?;
                    values[at] = Some(raw.get());
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_key_values_whatever_else_the_record_holds() {
        let keys = ["id".to_string(), "user_id".to_string()];
        let a = record_key(r#"{"id":"1","user_id":"u","v":1}"#, &keys);
        let b = record_key(r#"{"v":[2,{"id":"x"}],"user_id":"u","id":"1"}"#, &keys);
        assert!(a.is_some());
        assert_eq!(a, b);
        assert_ne!(a, record_key(r#"{"id":"1","user_id":"w"}"#, &keys));
        assert_ne!(
            record_key(r#"{"id":"ab","user_id":"c"}"#, &keys),
            record_key(r#"{"id":"a","user_id":"bc"}"#, &keys)
        );
        assert_ne!(
            record_key(r#"{"id":"1"}"#, &keys),
            record_key(r#"{"id":"1","user_id":null}"#, &keys)
        );
        assert_eq!(record_key("[1]", &keys), None);
    }
}

//! One cheap pass over a page: its links, its row count, and only what the run needs from its
//! records (ids of parents, tombstones, the bookmark property). Records are never built.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserializer;
use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// What to read from each record.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ScanSpec<'a> {
    /// Collect ids (a parent of child streams).
    pub ids: bool,
    /// Top-level property whose non-null presence marks a deleted record.
    pub tombstone: Option<&'a str>,
    /// Timestamp property whose greatest value is the next bookmark.
    pub bookmark: Option<&'a str>,
}

#[derive(Debug, Default)]
pub(crate) struct PageScan {
    pub next_link: Option<String>,
    pub delta_link: Option<String>,
    pub rows: usize,
    /// Ids of records without a tombstone (with `ScanSpec::ids`).
    pub live: Vec<String>,
    /// Ids of tombstones (with `ScanSpec::ids`).
    pub removed: Vec<String>,
    /// Greatest value of the bookmark property on this page.
    pub greatest: Option<DateTime<Utc>>,
}

pub(crate) fn scan(body: &[u8], spec: ScanSpec<'_>) -> Result<PageScan, serde_json::Error> {
    let mut out = PageScan::default();
    let mut de = serde_json::Deserializer::from_slice(body);
    PageSeed {
        spec,
        out: &mut out,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(out)
}

/// A string borrowed from the body where it has no escapes.
struct Text<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

struct PageSeed<'s, 'o> {
    spec: ScanSpec<'s>,
    out: &'o mut PageScan,
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Graph collection page")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Text<'de>>()? {
            match key.0.as_ref() {
                "@odata.nextLink" => self.out.next_link = map.next_value()?,
                "@odata.deltaLink" => self.out.delta_link = map.next_value()?,
                "value" => map.next_value_seed(ValuesSeed {
                    spec: self.spec,
                    out: &mut *self.out,
                })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct ValuesSeed<'s, 'o> {
    spec: ScanSpec<'s>,
    out: &'o mut PageScan,
}

impl<'de> DeserializeSeed<'de> for ValuesSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ValuesSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(RecordSeed {
                spec: self.spec,
                out: &mut *self.out,
            })?
            .is_some()
        {
            self.out.rows += 1;
        }
        Ok(())
    }
}

struct RecordSeed<'s, 'o> {
    spec: ScanSpec<'s>,
    out: &'o mut PageScan,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if !self.spec.ids && self.spec.bookmark.is_none() {
            return d.deserialize_ignored_any(IgnoredAny).map(|_| ());
        }
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a record")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut id: Option<String> = None;
        let mut removed = false;
        while let Some(key) = map.next_key::<Text<'de>>()? {
            let key = key.0.as_ref();
            if self.spec.ids && key == "id" {
                id = map.next_value()?;
            } else if self.spec.ids && Some(key) == self.spec.tombstone {
                removed = map.next_value::<Option<IgnoredAny>>()?.is_some();
            } else if Some(key) == self.spec.bookmark {
                if let Some(text) = map.next_value::<Option<Text<'de>>>()? {
                    let at = DateTime::parse_from_rfc3339(&text.0)
                        .map_err(|e| A::Error::custom(format!("{key} `{}`: {e}", text.0)))?
                        .to_utc();
                    self.out.greatest = self.out.greatest.max(Some(at));
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if let Some(id) = id {
            match removed {
                true => self.out.removed.push(id),
                false => self.out.live.push(id),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_links_rows_ids_tombstones_and_the_greatest_bookmark() {
        let body = br#"{"@odata.context":"x","value":[
            {"id":"a","lastModifiedDateTime":"2026-11-01T10:00:00.1234567Z","n":{"deep":[1,2]}},
            {"id":"b","@removed":{"reason":"deleted"}},
            {"id":"c","@removed":null,"lastModifiedDateTime":"2026-11-02T00:00:00Z"},
            {"id":"d\u0041","lastModifiedDateTime":null}],
            "@odata.deltaLink":"https://g/v1.0/users/delta?$deltatoken=x"}"#;
        let page = scan(
            body,
            ScanSpec {
                ids: true,
                tombstone: Some("@removed"),
                bookmark: Some("lastModifiedDateTime"),
            },
        )
        .unwrap();
        assert_eq!(page.rows, 4);
        assert_eq!(page.live, ["a", "c", "dA"]);
        assert_eq!(page.removed, ["b"]);
        assert_eq!(page.greatest, Some("2026-11-02T00:00:00Z".parse().unwrap()));
        assert_eq!(
            page.delta_link.as_deref(),
            Some("https://g/v1.0/users/delta?$deltatoken=x")
        );
        let plain = scan(body, ScanSpec::default()).unwrap();
        assert_eq!((plain.rows, plain.live.len()), (4, 0));
        let drive = scan(
            br#"{"value":[{"id":"f","deleted":{"state":"deleted"}}],"@odata.nextLink":"n"}"#,
            ScanSpec {
                ids: true,
                tombstone: Some("deleted"),
                bookmark: None,
            },
        )
        .unwrap();
        assert_eq!(
            (drive.removed, drive.next_link),
            (vec!["f".into()], Some("n".into()))
        );
        assert!(scan(br#"{"value":[1,2]"#, ScanSpec::default()).is_err());
    }
}

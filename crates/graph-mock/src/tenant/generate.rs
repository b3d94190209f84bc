//! Field values from the declared types. Each field draws from its own RNG seeded by
//! (seed, stream, row key, version, field), so any single field (a key) is computable alone.

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use stream_spec::{Field, FieldType};

use super::{RowRef, Shape, Tenant, derived};
use crate::ids::{self, child_key, combine, hash_str};

/// Every report row carries this refresh date.
pub(crate) const REPORT_REFRESH_DATE: &str = "2026-11-20";
/// Share of nullable (non-key) fields sent as null.
const NULL_RATE: f64 = 0.2;
/// Size of the one very large message body (user 0, message 0).
const LARGE_BODY_BYTES: usize = 1_200_000;

const FIRST_NAMES: [&str; 14] = [
    "Ada",
    "Björn",
    "Zoë",
    "李雷",
    "محمد",
    "שרה",
    "Ærin",
    "Ngozi",
    "Søren",
    "Олег",
    "तन्वी",
    "Émilie",
    "José",
    "Kenji",
];
const LAST_NAMES: [&str; 12] = [
    "Lovelace",
    "Ångström",
    "王",
    "الحسن",
    "כהן",
    "O'Brien",
    "Nakamura",
    "Müller",
    "Okafor",
    "Ivanova",
    "Dubois",
    "García",
];
const ASCII_LAST_NAMES: [&str; 8] = [
    "lovelace", "hopper", "turing", "okafor", "nakamura", "mueller", "garcia", "ivanova",
];
const PHRASES: [&str; 10] = [
    "Quarterly review 📊",
    "会议纪要：第三季度",
    "مرحبا بالعالم",
    "שלום עולם",
    "Café déjà vu — naïve “quotes”",
    "plain ascii text",
    "line one\nline two\ttabbed, \"quoted\"",
    "🚀 Launch 🎉 party",
    "Ünïcödé ß ∑ ≠ ∞",
    "日本語のテキスト",
];

/// Generic timestamps are drawn from 2019-01-01 up to this instant (2026-11-01).
const GENERATED_UNTIL_SECS: i64 = 1_793_491_200;

/// The end of the range generic timestamps are drawn from: mutations happen after it.
pub(crate) fn generated_until() -> DateTime<Utc> {
    DateTime::from_timestamp(GENERATED_UNTIL_SECS, 0).unwrap_or_default()
}

/// A person's display name; a renamed user (`version` > 0) gets another first name.
pub(crate) fn person_name(seed: u64, index: u64, version: u32) -> String {
    let h = combine(&[seed, index, 3]);
    let first = FIRST_NAMES[((h + u64::from(version)) % FIRST_NAMES.len() as u64) as usize];
    let last = LAST_NAMES[((h >> 20) % LAST_NAMES.len() as u64) as usize];
    format!("{first} {last}")
}

pub(crate) fn ascii_last_name(seed: u64, index: u64) -> &'static str {
    ASCII_LAST_NAMES[(combine(&[seed, index, 7]) % ASCII_LAST_NAMES.len() as u64) as usize]
}

/// The value of a primary-key column as it lands (a string).
pub(crate) fn key_value(tenant: &Tenant, row: RowRef<'_>, column: &str) -> String {
    if let Some(parent) = row.parent {
        if row.spec.parent.as_ref().is_some_and(|p| p.column == column) {
            return parent.id.clone();
        }
        let ancestors = row.spec.ancestor_columns();
        if let Some(at) = ancestors.iter().position(|c| *c == column) {
            return parent.ancestors[at].clone();
        }
    }
    let graph = row
        .spec
        .field(column)
        .map_or(column, |field| field.graph.as_str());
    match graph {
        "id" => tenant.row_id(row),
        "userPrincipalName" | "User Principal Name" => tenant.upn(row.index),
        "Report Refresh Date" => REPORT_REFRESH_DATE.to_string(),
        _ => ids::guid(
            tenant.seed,
            &format!("{}/{graph}", row.spec.stream),
            row.key(),
        ),
    }
}

/// The Graph JSON object of a row; with `only`, just those properties (same values: each field has
/// its own RNG).
pub(crate) fn record(
    tenant: &Tenant,
    row: RowRef<'_>,
    only: Option<&[String]>,
) -> Map<String, Value> {
    let version = tenant.version(row);
    let row_seed = combine(&[
        tenant.seed,
        hash_str(&row.spec.stream),
        row.key(),
        u64::from(version),
    ]);
    let large_body = row.spec.mock.large_first_row && row.key() == child_key(0, 0);
    let mut object = Map::new();
    let wanted =
        |graph: &String| only.is_none_or(|names| names.contains(graph) || graph == "@odata.type");
    for field in row.spec.fields.iter().filter(|f| wanted(&f.graph)) {
        let value = if row.spec.primary_key.contains(&field.name) {
            Value::String(key_value(tenant, row, &field.name))
        } else {
            let mut generator = FieldGen {
                tenant,
                row,
                rng: StdRng::seed_from_u64(combine(&[row_seed, hash_str(&field.graph)])),
                large_body,
            };
            generator.top_level(field)
        };
        object.insert(field.graph.clone(), value);
    }
    if tenant.drift {
        add_drift(&mut object, row, row_seed);
    }
    object
}

/// Undeclared properties on ~30% of rows; a wrong-typed value on ~3% (never on keys or ids).
fn add_drift(object: &mut Map<String, Value>, row: RowRef<'_>, row_seed: u64) {
    let mut rng = StdRng::seed_from_u64(combine(&[row_seed, hash_str("drift")]));
    if rng.random_bool(0.3) {
        object.insert("mockUndeclaredProperty".into(), json!(PHRASES[0]));
        object.insert(
            "extension_mock_costCenter".into(),
            json!({"code": rng.random_range(100..999), "tags": ["drift"]}),
        );
    }
    if rng.random_bool(0.03) {
        let candidates: Vec<&Field> = row
            .spec
            .fields
            .iter()
            .filter(|f| !row.spec.primary_key.contains(&f.name) && f.graph != "id")
            .filter(|f| !f.graph.starts_with('@'))
            .collect();
        if !candidates.is_empty() {
            let field = candidates[rng.random_range(0..candidates.len())];
            let wrong = match object.get(&field.graph) {
                Some(Value::String(_)) => json!(12345),
                _ => json!("not-the-declared-type"),
            };
            object.insert(field.graph.clone(), wrong);
        }
    }
}

struct FieldGen<'a> {
    tenant: &'a Tenant,
    row: RowRef<'a>,
    rng: StdRng,
    large_body: bool,
}

impl FieldGen<'_> {
    fn top_level(&mut self, field: &Field) -> Value {
        let tenant = self.tenant;
        let row = self.row;
        let shape = tenant.shape(row.spec);
        match field.graph.as_str() {
            "@odata.type" => {
                return match shape {
                    Shape::Members => json!(tenant.member_target(row).2),
                    _ => json!(format!(
                        "#{}",
                        row.spec
                            .entity
                            .as_deref()
                            .unwrap_or("microsoft.graph.entity")
                    )),
                };
            }
            "id" => return json!(tenant.row_id(row)),
            "User Principal Name" => return json!(tenant.upn(row.index)),
            "Display Name" => return json!(person_name(tenant.seed, row.index, 0)),
            "Report Refresh Date" => return json!(REPORT_REFRESH_DATE),
            _ => {}
        }
        if let Some(value) = derived::fixed(tenant, row, &field.graph, &mut self.rng) {
            return value;
        }
        if field.nullable && !self.keeps_large_body(&field.graph) && self.rng.random_bool(NULL_RATE)
        {
            return Value::Null;
        }
        self.value(&field.graph, &field.data_type)
    }

    /// The large message's body and its content are never null.
    fn keeps_large_body(&self, graph: &str) -> bool {
        self.large_body && (graph == "body" || graph == "content")
    }

    fn value(&mut self, graph: &str, data_type: &FieldType) -> Value {
        match data_type {
            FieldType::Utf8 => json!(self.string(graph)),
            FieldType::Boolean => json!(self.rng.random_bool(0.5)),
            FieldType::Int32 => json!(self.rng.random_range(0..10_000_i32)),
            FieldType::Int64 => json!(self.rng.random_range(0..10_000_000_000_i64)),
            FieldType::Float64 => json!(f64::from(self.rng.random_range(0..100_000_u32)) / 100.0),
            FieldType::Date => json!(self.timestamp()[..10].to_string()),
            FieldType::TimestampUsUtc => json!(self.timestamp()),
            FieldType::Json => json!({
                "mockKind": "opaque",
                "n": self.rng.random_range(0..100),
                "tags": ["a", "ß", "東"],
                "nested": {"flag": true, "values": [1, 2, 3]}
            }),
            FieldType::List(item) => {
                let len = self.rng.random_range(0..=3);
                Value::Array((0..len).map(|_| self.value(graph, item)).collect())
            }
            FieldType::Struct(fields) => {
                let mut object = Map::new();
                for field in fields {
                    let nullable = field.nullable && !self.keeps_large_body(&field.graph);
                    let value = if nullable && self.rng.random_bool(NULL_RATE) {
                        Value::Null
                    } else if field.graph == "@odata.type" {
                        json!("#microsoft.graph.complexType")
                    } else {
                        self.value(&field.graph, &field.data_type)
                    };
                    object.insert(field.graph.clone(), value);
                }
                Value::Object(object)
            }
        }
    }

    /// 7 fractional digits and `Z`, as Graph sends them.
    fn timestamp(&mut self) -> String {
        let secs = self
            .rng
            .random_range(1_546_300_800_i64..GENERATED_UNTIL_SECS);
        let ticks = self.rng.random_range(0..10_000_000_u32);
        let at = DateTime::from_timestamp(secs, 0).unwrap_or_default();
        format!("{}.{ticks:07}Z", at.format("%Y-%m-%dT%H:%M:%S"))
    }

    fn string(&mut self, graph: &str) -> String {
        let lower = graph.to_ascii_lowercase();
        if self.large_body && lower == "content" {
            return large_body();
        }
        let n = self.rng.random_range(0..10_000_u32);
        if lower.starts_with("ip") {
            return format!("10.{}.{}.{}", n % 256, (n / 7) % 256, (n / 13) % 256);
        }
        if lower.len() > 2 && lower.ends_with("id") {
            return uuid::Builder::from_random_bytes(self.rng.random())
                .into_uuid()
                .to_string();
        }
        if lower.contains("url") || lower.contains("uri") {
            return format!(
                "https://contoso.sharepoint.com/sites/team{}/item{n}",
                n % 17
            );
        }
        if lower.contains("mail") || lower.contains("address") || lower.contains("principalname") {
            let user = u64::from(n) % self.tenant.sizes.users.max(1);
            return self.tenant.upn(user);
        }
        if lower.contains("phone") {
            return format!("+1 425 555 {:04}", n);
        }
        if lower.contains("name") {
            return person_name(self.tenant.seed, u64::from(n), 0);
        }
        PHRASES[self.rng.random_range(0..PHRASES.len())].to_string()
    }
}

fn large_body() -> String {
    let paragraph = "<p>Large body 📎 — 大きな本文 — نص كبير. </p>";
    paragraph.repeat(LARGE_BODY_BYTES / paragraph.len() + 1)
}

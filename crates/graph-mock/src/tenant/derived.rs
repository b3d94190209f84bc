//! Field values the tenant fixes rather than draws: times set by mutations, audit and event times
//! near the reference date, the folder an item lives in, and member rows that show their target.

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use super::folders::FolderKind;
use stream_spec::Derived;

use super::{RowRef, Shape, Tenant, generate};
use crate::filter;
use crate::ids::{combine, hash_str};

/// Generated events start within this many days either side of the reference date.
pub(crate) const EVENT_SPREAD_DAYS: i64 = 300;
/// Generated audit rows lie within this many days before the reference date (Graph keeps 7 days
/// of audit logs on a free tenant, so every generated row is still within retention).
const AUDIT_SPREAD_DAYS: i64 = 7;

/// `2026-12-02T05:15:03.1234567Z`: 7 fractional digits, as Graph writes timestamps.
pub(crate) fn graph_time(at: DateTime<Utc>) -> String {
    let ticks = at.timestamp_subsec_nanos() / 100;
    format!("{}.{ticks:07}Z", at.format("%Y-%m-%dT%H:%M:%S"))
}

/// When an event starts and ends: from its key only, so a changed event keeps its place (and its
/// calendar-view window).
pub(crate) fn event_span(tenant: &Tenant, key: u64) -> (DateTime<Utc>, DateTime<Utc>) {
    let h = combine(&[tenant.seed, hash_str("event-span"), key]);
    let half_hours = EVENT_SPREAD_DAYS * 48;
    let offset = (h % (2 * half_hours as u64 + 1)) as i64 - half_hours;
    let start = tenant.reference + TimeDelta::minutes(30 * offset);
    let length = TimeDelta::minutes(30 * (1 + ((h >> 32) % 6) as i64));
    (start, start + length)
}

/// The value of `graph` on this row when the tenant fixes it.
pub(super) fn fixed(
    tenant: &Tenant,
    row: RowRef<'_>,
    graph: &str,
    rng: &mut StdRng,
) -> Option<Value> {
    let audit_time = filter::date_property(row.spec) == Some(graph);
    // Only these fields can carry a mutation's time: the lock is taken for them alone.
    if graph == "lastModifiedDateTime" || graph == "createdDateTime" || audit_time {
        let (mutated_stream, key) = tenant.mutation_key(row);
        let mutations = tenant.mutations();
        let at = match graph {
            "lastModifiedDateTime" => mutations.touched_at(mutated_stream, key),
            _ => mutations.created_at(mutated_stream, key),
        };
        if let Some(at) = at {
            return Some(json!(graph_time(at)));
        }
    }
    if audit_time {
        let back = rng.random_range(1..AUDIT_SPREAD_DAYS * 86_400 * 1000);
        return Some(json!(graph_time(
            tenant.reference - TimeDelta::milliseconds(back)
        )));
    }
    match row.spec.mock.derived(graph) {
        Some(Derived::EventStart | Derived::EventEnd) => {
            let (start, end) = event_span(tenant, row.key());
            let at = if graph == "start" { start } else { end };
            let text = format!("{}.0000000", at.format("%Y-%m-%dT%H:%M:%S"));
            Some(json!({"dateTime": text, "timeZone": "UTC"}))
        }
        Some(Derived::Null) => Some(Value::Null),
        Some(Derived::Folder) => {
            let kind = FolderKind::of(row.spec)?;
            Some(json!(folder_id(tenant, row, kind)))
        }
        Some(Derived::PersonName) => {
            let version = tenant.version(row);
            Some(json!(generate::person_name(
                tenant.seed,
                row.index,
                version
            )))
        }
        Some(Derived::Upn) => Some(json!(tenant.upn(row.index))),
        Some(Derived::TeamMarker) => Some(match in_a_subset(tenant, row) {
            true => json!(["Team"]),
            false => json!([]),
        }),
        Some(Derived::TeamGroupTypes) => in_a_subset(tenant, row).then(|| json!(["Unified"])),
        None if tenant.shape(row.spec) == Shape::Members => member_value(tenant, row, graph),
        None => None,
    }
}

/// A team, or a group that is one.
fn in_a_subset(tenant: &Tenant, row: RowRef<'_>) -> bool {
    tenant.shape(row.spec) == Shape::Subset || tenant.in_a_subset(row.spec, row.index)
}

fn folder_id(tenant: &Tenant, row: RowRef<'_>, kind: FolderKind) -> String {
    let user = row.parent.map_or(0, |p| p.index);
    kind.id(tenant.seed, user, kind.folder_of(tenant.seed, row.key()))
}

/// A member shows what its target row shows for the properties the target's stream ties (a
/// user's name and UPN), as Graph lists the directory object itself: renaming a user changes the
/// member rows that point at it.
fn member_value(tenant: &Tenant, row: RowRef<'_>, graph: &str) -> Option<Value> {
    let (stream, index, _) = tenant.member_target(row);
    let spec = tenant.spec(stream)?;
    let target = RowRef {
        spec,
        parent: None,
        index,
    };
    // The target's own time fields and draws are its own; only tied values carry over.
    spec.mock.derived(graph)?;
    let mut rng = rand::SeedableRng::seed_from_u64(0);
    fixed(tenant, target, graph, &mut rng)
}

//! The synthetic tenant: which rows exist, their ids and parents. Rows are never stored; every value
//! is recomputed from (seed, stream, parent, index, version).

mod derived;
mod folders;
mod generate;
mod mutations;

use std::sync::RwLock;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};
use stream_spec::{StreamKind, StreamSpec};

use crate::config::Sizes;
use crate::ids::{self, child_key, combine, hash_str};

pub(crate) use derived::{EVENT_SPREAD_DAYS, event_span};
pub(crate) use folders::FolderKind;
pub(crate) use generate::generated_until;
pub(crate) use mutations::{Edit, Mutations};
pub use mutations::{Mutation, MutationOutcome};

/// How a stream's rows come about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Rows `0..n`, ids in the stream's own namespace.
    TopLevel,
    /// Some rows of another stream, with their ids (teams are groups; `mock.subset_of`).
    Subset,
    /// Rows `0..n` per parent, ids from `child_key(parent, index)`.
    Child,
    /// Rows pointing at other streams' rows, whose ids they carry (directory members:
    /// `mock.members_of`).
    Members,
    /// One CSV row per user.
    Report,
}

/// A parent row a child URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParentRow {
    pub stream: String,
    /// The parent's index: its raw position for a top-level row (a group's for a team); for a
    /// row that is a child itself (a channel), a 24-bit digest of its row key, so its own
    /// children's keys still fit [`child_key`].
    pub index: u64,
    pub id: String,
    /// The ids above it, outermost first (a channel's team), for a grandchild's URL and key.
    pub ancestors: Vec<String>,
}

impl ParentRow {
    /// The parent of `row`'s children when `row` is itself a child row.
    fn of_child(tenant: &Tenant, row: RowRef<'_>, above: &ParentRow) -> Self {
        let mut ancestors = above.ancestors.clone();
        ancestors.push(above.id.clone());
        Self {
            stream: row.spec.stream.clone(),
            index: ids::parent_digest(row.key()),
            id: tenant.row_id(row),
            ancestors,
        }
    }
}

/// One row position: a stream, its parent if any, and the raw index under that parent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowRef<'a> {
    pub spec: &'a StreamSpec,
    pub parent: Option<&'a ParentRow>,
    pub index: u64,
}

impl RowRef<'_> {
    /// The row's identity in mutation state and id derivation.
    pub fn key(&self) -> u64 {
        match self.parent {
            Some(p) => child_key(p.index, self.index),
            None => self.index,
        }
    }
}

pub(crate) const UPN_DOMAINS: [&str; 3] =
    ["contoso.onmicrosoft.com", "contoso.com", "fabrikam.example"];

pub(crate) struct Tenant {
    pub seed: u64,
    pub sizes: Sizes,
    pub drift: bool,
    /// Generated audit rows lie in the 7 days before it, events within ±300 days of it.
    pub reference: DateTime<Utc>,
    specs: Vec<StreamSpec>,
    mutations: RwLock<Mutations>,
}

/// Every `[mock]` hint of `specs` names a tenant size and declared streams: a misspelt hint is an
/// error when the mock starts, not a quietly different tenant.
pub(crate) fn check_hints(specs: &[StreamSpec], sizes: &Sizes) -> Result<(), String> {
    let declared = |name: &str| specs.iter().any(|s| s.stream == name);
    for spec in specs {
        let hints = &spec.mock;
        if let Some(knob) = &hints.size
            && sizes.get(knob).is_none()
        {
            return Err(format!(
                "stream `{}`: mock.size `{knob}` is no tenant size (a field of graph_mock::Sizes, e.g. `users`, `messages_per_user`)",
                spec.stream
            ));
        }
        for other in hints.subset_of.iter().chain(&hints.members_of) {
            if !declared(other) {
                return Err(format!(
                    "stream `{}`: its mock hints name `{other}`, which is not declared",
                    spec.stream
                ));
            }
        }
        if hints.folders.is_some() && FolderKind::of(spec).is_none() {
            return Err(format!(
                "stream `{}`: mock.folders is `mail_folders` or `contact_folders`",
                spec.stream
            ));
        }
    }
    Ok(())
}

impl Tenant {
    pub fn new(
        seed: u64,
        sizes: Sizes,
        drift: bool,
        reference: DateTime<Utc>,
        specs: Vec<StreamSpec>,
    ) -> Self {
        Self {
            seed,
            sizes,
            drift,
            reference,
            specs,
            mutations: RwLock::new(Mutations::default()),
        }
    }

    /// The earliest time a mutation may carry: after every generated timestamp, so a bookmark on
    /// `lastModifiedDateTime` or an audit log's timestamp always finds what a mutation did.
    pub fn mutation_floor(&self) -> DateTime<Utc> {
        self.reference.max(generated_until()) + TimeDelta::seconds(1)
    }

    /// Every delta token issued so far answers 410 from now on.
    pub fn expire_delta_tokens(&self) {
        let floor = self.mutation_floor();
        self.mutations_mut().expire_delta_tokens(floor);
    }

    pub fn specs(&self) -> &[StreamSpec] {
        &self.specs
    }

    pub fn spec(&self, stream: &str) -> Option<&StreamSpec> {
        self.specs.iter().find(|s| s.stream == stream)
    }

    pub fn mutations(&self) -> std::sync::RwLockReadGuard<'_, Mutations> {
        self.mutations.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn mutations_mut(&self) -> std::sync::RwLockWriteGuard<'_, Mutations> {
        self.mutations.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn shape(&self, spec: &StreamSpec) -> Shape {
        if spec.kind == StreamKind::Report {
            return Shape::Report;
        }
        if spec.mock.subset_of.is_some() {
            Shape::Subset
        } else if !spec.mock.members_of.is_empty() {
            Shape::Members
        } else if spec.parent.is_some() {
            Shape::Child
        } else {
            Shape::TopLevel
        }
    }

    /// The declared size (`mock.size`): rows of a top-level stream, rows per parent of a child.
    fn declared_size(&self, spec: &StreamSpec) -> u64 {
        let other = match spec.parent {
            Some(_) => self.sizes.other_per_parent,
            None => self.sizes.other_top_level,
        };
        spec.mock
            .size
            .as_deref()
            .and_then(|knob| self.sizes.get(knob))
            .unwrap_or(other)
    }

    fn top_level_size(&self, spec: &StreamSpec) -> u64 {
        let size = self.declared_size(spec);
        match self.subset_source(spec) {
            Some(of) => size.min(self.top_level_size(of)),
            None => size,
        }
    }

    fn per_parent_size(&self, spec: &StreamSpec) -> u64 {
        let size = self.declared_size(spec);
        match self.shape(spec) {
            Shape::Members => size.min(self.member_pool(spec)),
            _ => size,
        }
    }

    /// The stream a subset's rows are (`mock.subset_of`).
    fn subset_source(&self, spec: &StreamSpec) -> Option<&StreamSpec> {
        spec.mock.subset_of.as_deref().and_then(|of| self.spec(of))
    }

    /// How many rows a member stream's rows may point at: the rows of every `members_of`.
    pub fn member_pool(&self, spec: &StreamSpec) -> u64 {
        self.member_sources(spec)
            .map(|of| self.top_level_size(of))
            .sum()
    }

    fn member_sources<'a>(&'a self, spec: &'a StreamSpec) -> impl Iterator<Item = &'a StreamSpec> {
        spec.mock.members_of.iter().filter_map(|of| self.spec(of))
    }

    /// Raw row positions under a parent (some may be removed by mutations): the generated ones,
    /// then those added by mutations.
    pub fn raw_len(&self, spec: &StreamSpec, parent: Option<&ParentRow>) -> u64 {
        let generated = self.generated_len(spec, parent);
        match self.shape(spec) {
            Shape::Report | Shape::Subset => generated,
            _ => {
                generated
                    + self
                        .mutations()
                        .added(&spec.stream, parent.map(|p| p.index))
            }
        }
    }

    /// Raw row positions the seed makes (before any mutation adds rows).
    pub fn generated_len(&self, spec: &StreamSpec, parent: Option<&ParentRow>) -> u64 {
        match (self.shape(spec), parent) {
            (Shape::Report, _) => self.sizes.users,
            (Shape::TopLevel | Shape::Subset, _) => self.top_level_size(spec),
            (_, Some(_)) => self.per_parent_size(spec),
            (_, None) => 0,
        }
    }

    /// Whether a raw position holds a row now (not removed, and for teams the group still there).
    pub fn exists(&self, row: RowRef<'_>) -> bool {
        let mutations = self.mutations();
        if mutations.is_removed(&row.spec.stream, row.key()) {
            return false;
        }
        match self.shape(row.spec) {
            Shape::Subset => {
                let (stream, index) = self.subset_row(row.spec, row.index);
                !mutations.is_removed(stream, index)
            }
            // A deleted user or service principal is no member or owner of anything any more.
            Shape::Members => {
                drop(mutations);
                let (stream, index, _) = self.member_target(row);
                !self.mutations().is_removed(stream, index)
            }
            _ => true,
        }
    }

    /// Where mutation state of a row lives: a team is its group.
    pub fn mutation_key<'a>(&'a self, row: RowRef<'a>) -> (&'a str, u64) {
        match self.shape(row.spec) {
            Shape::Subset => self.subset_row(row.spec, row.index),
            _ => (&row.spec.stream, row.key()),
        }
    }

    pub fn version(&self, row: RowRef<'_>) -> u32 {
        let (stream, key) = self.mutation_key(row);
        self.mutations().version(stream, key)
    }

    /// The row a subset's row `j` is (stream, index): spread evenly over the source's rows.
    pub fn subset_row<'a>(&'a self, spec: &'a StreamSpec, j: u64) -> (&'a str, u64) {
        let of = spec.mock.subset_of.as_deref().unwrap_or(&spec.stream);
        let total = self
            .subset_source(spec)
            .map_or(0, |s| self.top_level_size(s));
        let n = self.top_level_size(spec).max(1);
        (of, j * total / n)
    }

    /// The row of `spec` (a subset) that source row `index` is, if it is one of them.
    pub fn subset_position(&self, spec: &StreamSpec, index: u64) -> Option<u64> {
        let n = self.top_level_size(spec);
        let total = self
            .subset_source(spec)
            .map_or(0, |s| self.top_level_size(s));
        if n == 0 || index >= total {
            return None;
        }
        let j = (index * n).div_ceil(total);
        (j < n && self.subset_row(spec, j).1 == index).then_some(j)
    }

    /// Whether row `index` of the top-level stream `spec` is also a row of a subset of it (a
    /// group that is a team).
    pub fn in_a_subset(&self, spec: &StreamSpec, index: u64) -> bool {
        self.specs
            .iter()
            .filter(|s| s.mock.subset_of.as_deref() == Some(spec.stream.as_str()))
            .any(|subset| self.subset_position(subset, index).is_some())
    }

    /// The stream (id namespace) and index an id of a member row points to, with its `@odata.type`.
    pub fn member_target<'a>(&'a self, row: RowRef<'a>) -> (&'a str, u64, String) {
        let pool = self.member_pool(row.spec).max(1);
        let parent_index = row.parent.map_or(0, |p| p.index);
        let offset = combine(&[self.seed, hash_str(&row.spec.stream), parent_index]) % pool;
        let mut entry = (offset + row.index) % pool;
        for of in self.member_sources(row.spec) {
            let rows = self.top_level_size(of);
            if entry < rows {
                let entity = of
                    .entity
                    .as_deref()
                    .unwrap_or("microsoft.graph.directoryObject");
                return (&of.stream, entry, format!("#{entity}"));
            }
            entry -= rows;
        }
        (&row.spec.stream, entry, String::new())
    }

    /// The row's `id`.
    pub fn row_id(&self, row: RowRef<'_>) -> String {
        match self.shape(row.spec) {
            Shape::Subset => {
                let (stream, index) = self.subset_row(row.spec, row.index);
                ids::guid(self.seed, stream, index)
            }
            Shape::Members => {
                let (stream, index, _) = self.member_target(row);
                ids::guid(self.seed, stream, index)
            }
            _ => ids::guid(self.seed, &row.spec.stream, row.key()),
        }
    }

    /// The parent named by `id` in a child URL, if it exists.
    pub fn parent_from_id(&self, parent_stream: &str, id: &str) -> Option<ParentRow> {
        let spec = self.spec(parent_stream)?;
        let (index, raw) = match self.shape(spec) {
            Shape::Subset => {
                let (of, _) = self.subset_row(spec, 0);
                let index = ids::decode_guid(self.seed, of, id)?;
                (index, self.subset_position(spec, index)?)
            }
            Shape::TopLevel => {
                let index = ids::decode_guid(self.seed, parent_stream, id)?;
                (index, index)
            }
            _ => return None,
        };
        let row = RowRef {
            spec,
            parent: None,
            index: raw,
        };
        (raw < self.raw_len(spec, None) && self.exists(row)).then(|| ParentRow {
            stream: parent_stream.to_string(),
            index,
            id: id.to_ascii_lowercase(),
            ancestors: Vec::new(),
        })
    }

    /// The parent a grandchild URL names by its ids, outermost first (`[team id, channel id]`):
    /// each must be a live row under the one before it.
    pub fn parent_from_ids(&self, parent_stream: &str, ids: &[&str]) -> Option<ParentRow> {
        let spec = self.spec(parent_stream)?;
        let (Some(above), [outer @ .., id]) = (&spec.parent, ids) else {
            return match ids {
                [id] => self.parent_from_id(parent_stream, id),
                _ => None,
            };
        };
        let above = self.parent_from_ids(&above.stream, outer)?;
        let key = ids::decode_guid(self.seed, parent_stream, id)?;
        let index = ids::child_index(key);
        let row = RowRef {
            spec,
            parent: Some(&above),
            index,
        };
        let live = row.key() == key && index < self.raw_len(spec, Some(&above)) && self.exists(row);
        live.then(|| ParentRow::of_child(self, row, &above))
    }

    /// Every existing row of a parent stream, as parents (a child stream's under every one of
    /// its own parents).
    pub fn parents(&self, parent_stream: &str) -> Vec<ParentRow> {
        let Some(spec) = self.spec(parent_stream) else {
            return Vec::new();
        };
        if let Some(above) = &spec.parent {
            let mut parents = Vec::new();
            for above in self.parents(&above.stream) {
                for index in 0..self.raw_len(spec, Some(&above)) {
                    let row = RowRef {
                        spec,
                        parent: Some(&above),
                        index,
                    };
                    if self.exists(row) {
                        parents.push(ParentRow::of_child(self, row, &above));
                    }
                }
            }
            return parents;
        }
        (0..self.raw_len(spec, None))
            .map(|raw| RowRef {
                spec,
                parent: None,
                index: raw,
            })
            .filter(|row| self.exists(*row))
            .map(|row| ParentRow {
                stream: parent_stream.to_string(),
                index: match self.shape(spec) {
                    Shape::Subset => self.subset_row(spec, row.index).1,
                    _ => row.index,
                },
                id: self.row_id(row),
                ancestors: Vec::new(),
            })
            .collect()
    }

    /// The full Graph JSON object of a row.
    pub fn record(&self, row: RowRef<'_>) -> Map<String, Value> {
        generate::record(self, row, None)
    }

    /// Only the named properties of a row (what `$select` asks for).
    pub fn record_selected(
        &self,
        row: RowRef<'_>,
        select: Option<&[String]>,
    ) -> Map<String, Value> {
        generate::record(self, row, select)
    }

    /// The primary-key tuple of a row as it lands (output column order of `primary_key`).
    pub fn primary_key(&self, row: RowRef<'_>) -> Vec<String> {
        row.spec
            .primary_key
            .iter()
            .map(|column| generate::key_value(self, row, column))
            .collect()
    }

    /// `userPrincipalName` of user `index`, in one of three domains.
    pub fn upn(&self, index: u64) -> String {
        let domain = UPN_DOMAINS[(index % UPN_DOMAINS.len() as u64) as usize];
        let last = generate::ascii_last_name(self.seed, index);
        format!("user{index}.{last}@{domain}")
    }
}

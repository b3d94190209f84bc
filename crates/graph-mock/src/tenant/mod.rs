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
    /// The groups that are teams; a team's id is its group's id.
    Teams,
    /// Rows `0..n` per parent, ids from `child_key(parent, index)`.
    Child,
    /// Directory objects listed under a parent: ids borrowed from users and service principals.
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
            index: ids::mix(row.key()) & ((1 << (ids::KEY_BITS / 2)) - 1),
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
        match spec.stream.as_str() {
            "teams" => Shape::Teams,
            "group_member" | "group_owner" | "directory_role_member" => Shape::Members,
            _ if spec.parent.is_some() => Shape::Child,
            _ => Shape::TopLevel,
        }
    }

    fn top_level_size(&self, stream: &str) -> u64 {
        let s = &self.sizes;
        match stream {
            "users" => s.users,
            "groups" => s.groups,
            "teams" => s.teams.min(s.groups),
            "chats" => s.chats,
            "applications" => s.applications,
            "service_principals" => s.service_principals,
            "drives" => s.drives,
            "audit_logs_directory" => s.directory_audits,
            "audit_logs_signins" => s.sign_ins,
            "conditional_access_policies" => s.conditional_access_policies,
            "directory_roles" => s.directory_roles,
            "directory_role_templates" => s.directory_role_templates,
            "subscribed_skus" => s.subscribed_skus,
            _ => s.other_top_level,
        }
    }

    fn per_parent_size(&self, stream: &str) -> u64 {
        let s = &self.sizes;
        match stream {
            "group_member" => s.members_per_group.min(self.member_pool()),
            "group_owner" => s.owners_per_group.min(self.member_pool()),
            "directory_role_member" => s.members_per_role.min(self.member_pool()),
            "channels" => s.channels_per_team,
            "team_member" => s.members_per_team,
            "mail_messages" => s.messages_per_user,
            "calendar_events" => s.events_per_user,
            "contacts" => s.contacts_per_user,
            "drive_items" => s.drive_items_per_user,
            "chat_messages" => s.messages_per_chat,
            _ => s.other_per_parent,
        }
    }

    pub fn member_pool(&self) -> u64 {
        self.sizes.users + self.sizes.service_principals
    }

    /// Raw row positions under a parent (some may be removed by mutations): the generated ones,
    /// then those added by mutations.
    pub fn raw_len(&self, spec: &StreamSpec, parent: Option<&ParentRow>) -> u64 {
        let generated = self.generated_len(spec, parent);
        match self.shape(spec) {
            Shape::Report | Shape::Teams => generated,
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
            (Shape::TopLevel | Shape::Teams, _) => self.top_level_size(&spec.stream),
            (_, Some(_)) => self.per_parent_size(&spec.stream),
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
            Shape::Teams => !mutations.is_removed("groups", self.team_group_index(row.index)),
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
    pub fn mutation_key<'a>(&self, row: RowRef<'a>) -> (&'a str, u64) {
        match self.shape(row.spec) {
            Shape::Teams => ("groups", self.team_group_index(row.index)),
            _ => (&row.spec.stream, row.key()),
        }
    }

    pub fn version(&self, row: RowRef<'_>) -> u32 {
        let (stream, key) = self.mutation_key(row);
        self.mutations().version(stream, key)
    }

    /// Group index of team `j`: teams are spread evenly among the groups.
    pub fn team_group_index(&self, team: u64) -> u64 {
        let teams = self.sizes.teams.min(self.sizes.groups).max(1);
        team * self.sizes.groups / teams
    }

    /// The team number of group `g`, if that group is a team.
    pub fn team_of_group(&self, group: u64) -> Option<u64> {
        let teams = self.sizes.teams.min(self.sizes.groups);
        if teams == 0 || group >= self.sizes.groups {
            return None;
        }
        let j = (group * teams).div_ceil(self.sizes.groups);
        (j < teams && self.team_group_index(j) == group).then_some(j)
    }

    /// The stream (id namespace) and index an id of a member row points to, with its `@odata.type`.
    pub fn member_target(&self, row: RowRef<'_>) -> (&'static str, u64, &'static str) {
        let pool = self.member_pool().max(1);
        let parent_index = row.parent.map_or(0, |p| p.index);
        let offset = combine(&[self.seed, hash_str(&row.spec.stream), parent_index]) % pool;
        let entry = (offset + row.index) % pool;
        if entry < self.sizes.users {
            ("users", entry, "#microsoft.graph.user")
        } else {
            (
                "service_principals",
                entry - self.sizes.users,
                "#microsoft.graph.servicePrincipal",
            )
        }
    }

    /// The row's `id`.
    pub fn row_id(&self, row: RowRef<'_>) -> String {
        match self.shape(row.spec) {
            Shape::Teams => ids::guid(self.seed, "groups", self.team_group_index(row.index)),
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
        let index = match self.shape(spec) {
            Shape::Teams => {
                let group = ids::decode_guid(self.seed, "groups", id)?;
                self.team_of_group(group)?;
                group
            }
            Shape::TopLevel => ids::decode_guid(self.seed, parent_stream, id)?,
            _ => return None,
        };
        let raw = match self.shape(spec) {
            Shape::Teams => self.team_of_group(index)?,
            _ => index,
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
        let index = key & ((1 << (ids::KEY_BITS / 2)) - 1);
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
                    Shape::Teams => self.team_group_index(row.index),
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

//! What graph-mock needs to make up a stream's rows that the rest of the declaration does not
//! say: how many, whose rows they borrow, and which values must agree with others. Declared per
//! stream (`[mock]` in `catalog/<stream>.toml`), so the mock matches no stream by name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A stream's hints for the fake tenant.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockHints {
    /// The tenant size (a graph-mock `Sizes` field) that is the stream's row count, or its rows
    /// per parent for a child stream (`messages_per_user`). Absent: the mock's size for any
    /// other stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// The rows are some of this stream's rows, with the same ids (teams are groups): a row
    /// exists while the row it is does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset_of: Option<String>,
    /// The rows point at rows of these streams (directory members: users and service
    /// principals), carrying their ids and `@odata.type`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members_of: Vec<String>,
    /// Graph properties whose values the tenant ties to something else instead of drawing them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub derived: BTreeMap<String, Derived>,
    /// The rows live in per-parent folders of this kind (`mail_folders`, `contact_folders`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folders: Option<String>,
    /// What one request costs in Graph's identity budget (resource units: `users` 2, a group's
    /// members 3), when the mock enforces one; absent: the stream is outside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_units: Option<u32>,
    /// The first row under the first parent carries a body of several MiB (the landing's
    /// large-value path).
    #[serde(default, skip_serializing_if = "is_false")]
    pub large_first_row: bool,
}

/// A value the tenant fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Derived {
    /// The row's user principal name (`user7.lee@contoso.com`): what the `domains` filter reads.
    Upn,
    /// A person's name, which a rename mutation changes.
    PersonName,
    /// Always null (a live drive item has no `deleted` facet: its presence is the tombstone).
    Null,
    /// An event's `start`, from its key (a changed event keeps its calendar-view window).
    EventStart,
    /// An event's `end`.
    EventEnd,
    /// The id of the folder the row lives in (see [`MockHints::folders`]).
    Folder,
    /// `["Team"]` on a group that is a team (`resourceProvisioningOptions`), else `[]`.
    TeamMarker,
    /// `["Unified"]` on a group that is a team (`groupTypes`), else drawn.
    TeamGroupTypes,
}

impl MockHints {
    /// No hint given: the mock's defaults.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// How `graph` is fixed on this stream's rows, if it is.
    pub fn derived(&self, graph: &str) -> Option<Derived> {
        self.derived.get(graph).copied()
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

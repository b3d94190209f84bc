//! One-call mutations for end-to-end tests, with the `_change` counts a landing must then record.
//!
//! The counts come from diffing the content before and after (every stream, by primary key and
//! whole record), so side effects are in them too: a deleted user's mail, events, contacts and
//! drive items and its group/role memberships; a renamed user's member rows (they show its
//! name); a deleted team's team row, channels and team members.

use crate::changes::{ExpectedChanges, diff};
use crate::mutate::{MutateError, mutate};
use crate::server::MockServer;
use crate::state::AppState;
use crate::tenant::{Mutation, Tenant};
use crate::truth::TruthFilter;

/// Mutates the tenant as issue 14's Done-when says and returns the expected changes:
/// - users: 2 removed, 2 renamed (`displayName` and the rest of the record change), 2 added;
/// - groups: 1 changed, 1 removed (a team: teams, channels and team members go with it), 1 added;
/// - of two users that stay: mail, events, contacts and drive items changed, removed and added
///   (per stream, the first user 1 changed, 1 removed, 2 added; the second 1, 1, 1: the default
///   tenant has 2 contacts per user);
/// - chat messages: 1 changed and 1 added in one chat (a bookmark stream never sees deletes, so
///   none are removed);
/// - applications: 1 changed;
/// - audit logs: 2 directory audits and 3 sign-ins added, timestamped now (after every generated one).
pub fn standard_mutation(server: &MockServer) -> Result<ExpectedChanges, MutateError> {
    run_standard(server.state())
}

pub(crate) fn run_standard(state: &AppState) -> Result<ExpectedChanges, MutateError> {
    let all = TruthFilter::default();
    let before = state.snapshot(&all);
    let tenant = &state.tenant;
    let apply = |mutation: Mutation| mutate(tenant, &mutation);

    let users = apply(Mutation::new("users").changed(2).removed(2).added(2))?;
    let touched: Vec<&String> = users
        .changed
        .iter()
        .chain(&users.removed)
        .chain(&users.added)
        .collect();
    let staying: Vec<String> = tenant
        .parents("users")
        .into_iter()
        .map(|p| p.id)
        .filter(|id| !touched.contains(&id))
        .take(2)
        .collect();

    let (team_group, other_group) = groups_to_mutate(tenant);
    let mut groups = Mutation::new("groups").added(1);
    if let Some(other) = other_group {
        groups = groups.change_ids([other]);
    }
    if let Some(team) = team_group {
        groups = groups.remove_ids([team]);
    }
    apply(groups)?;

    for stream in [
        "mail_messages",
        "calendar_events",
        "contacts",
        "drive_items",
    ] {
        for (user, (changed, removed, added)) in staying.iter().zip([(1, 1, 2), (1, 1, 1)]) {
            let mutation = Mutation::new(stream)
                .parent(user.clone())
                .changed(changed)
                .removed(removed)
                .added(added);
            apply(mutation)?;
        }
    }

    let chats: Vec<String> = tenant.parents("chats").into_iter().map(|p| p.id).collect();
    for (chat, (changed, added)) in chats.iter().zip([(1, 1)]) {
        let mutation = Mutation::new("chat_messages")
            .parent(chat.clone())
            .changed(changed)
            .added(added);
        apply(mutation)?;
    }
    apply(Mutation::new("applications").changed(1))?;
    apply(Mutation::new("audit_logs_directory").added(2))?;
    apply(Mutation::new("audit_logs_signins").added(3))?;

    Ok(diff(&before, &state.snapshot(&all)))
}

/// A live group that is a team (to remove) and a live one that is not (to change).
fn groups_to_mutate(tenant: &Tenant) -> (Option<String>, Option<String>) {
    let groups = tenant.parents("groups");
    let is_team = |index| tenant.team_of_group(index).is_some();
    let team = groups
        .iter()
        .find(|g| is_team(g.index))
        .map(|g| g.id.clone());
    let other = groups
        .iter()
        .find(|g| !is_team(g.index))
        .map(|g| g.id.clone());
    (team, other)
}

//! Picks the rows one [`Mutation`] changes, removes and adds, and records it in the tenant.

use crate::ids::child_key;
use crate::tenant::{Edit, Mutation, MutationOutcome, ParentRow, RowRef, Shape, Tenant};

/// Why a mutation or scenario could not be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MutateError {
    /// No stream of that name is declared.
    #[error("unknown stream `{0}`")]
    UnknownStream(String),
    #[error(
        "stream `{0}` cannot be mutated (top-level streams, their children and group/role members can; mutate `groups` for teams; reports are history)"
    )]
    /// The stream cannot be mutated: a report, or a stream that follows another (teams).
    NotMutable(String),
    /// The parent id names no row of the parent stream.
    #[error("stream `{stream}` has no parent `{parent}`")]
    UnknownParent {
        /// The stream mutated.
        stream: String,
        /// The parent id given.
        parent: String,
    },
    /// An id given is no live row of the stream.
    #[error("stream `{stream}` has no live row `{id}` (under the given parent, if any)")]
    UnknownRow {
        /// The stream mutated.
        stream: String,
        /// The first id given that was not found.
        id: String,
    },
    /// The stream is top-level: it takes no parent.
    #[error("stream `{0}` is top-level: it takes no `parent`")]
    NoParent(String),
    /// No scenario of that name.
    #[error("unknown scenario `{name}`; known: {known}")]
    UnknownScenario {
        /// The name asked for.
        name: String,
        /// The scenarios there are, comma-separated.
        known: String,
    },
    /// A scenario's file or one of its steps is wrong.
    #[error("scenario `{scenario}`: {reason}")]
    Scenario {
        /// The scenario's name.
        scenario: String,
        /// What is wrong with it.
        reason: String,
    },
    #[error(
        "stream `{stream}`: at most {room} more members fit under one parent (the users and service principals generated)"
    )]
    /// More members than fit under one parent (the users and service principals generated).
    TooManyMembers {
        /// The member stream.
        stream: String,
        /// Members that still fit under one parent.
        room: u64,
    },
}

/// One existing row a mutation may pick.
struct Candidate {
    parent: Option<u64>,
    key: u64,
}

/// Changes the first `changed` existing rows (from a parent that rotates with each mutation),
/// removes the next `removed`, and adds `added` rows (under `parent`, or spread over the parents).
pub(crate) fn mutate(tenant: &Tenant, mutation: &Mutation) -> Result<MutationOutcome, MutateError> {
    let stream = mutation.stream.as_str();
    let spec = tenant
        .spec(stream)
        .ok_or_else(|| MutateError::UnknownStream(stream.to_string()))?;
    let shape = tenant.shape(spec);
    let mut parents: Vec<Option<ParentRow>> = match (shape, &spec.parent, &mutation.parent) {
        (Shape::TopLevel, _, None) => vec![None],
        (Shape::TopLevel, _, Some(_)) => return Err(MutateError::NoParent(stream.to_string())),
        (Shape::Child | Shape::Members, Some(parent_ref), Some(id)) => {
            // A parent that is a child itself (a channel) is found among its stream's rows.
            let parent = tenant
                .parent_from_id(&parent_ref.stream, id)
                .or_else(|| {
                    let id = id.to_ascii_lowercase();
                    tenant
                        .parents(&parent_ref.stream)
                        .into_iter()
                        .find(|p| p.id == id)
                })
                .ok_or_else(|| MutateError::UnknownParent {
                    stream: stream.to_string(),
                    parent: id.clone(),
                })?;
            vec![Some(parent)]
        }
        (Shape::Child | Shape::Members, Some(parent_ref), None) => tenant
            .parents(&parent_ref.stream)
            .into_iter()
            .map(Some)
            .collect(),
        _ => return Err(MutateError::NotMutable(stream.to_string())),
    };
    // Each mutation starts at another parent and row, so repeated ones spread over the tenant.
    let offset = tenant.mutations().epoch() as usize * 7;
    if !parents.is_empty() {
        let n = parents.len();
        parents.rotate_left(offset % n);
    }
    let wanted = (mutation.changed + mutation.removed) as usize;
    let targeted = !mutation.ids.is_empty();
    // Lazily: a child stream of a large tenant has millions of rows, a mutation wants a few.
    let mut rows: Vec<Candidate> = parents
        .iter()
        .flat_map(|parent| {
            let len = tenant.raw_len(spec, parent.as_ref());
            let start = offset as u64 % len.max(1);
            (0..len).filter_map(move |i| {
                let index = (start + i) % len;
                let row = RowRef {
                    spec,
                    parent: parent.as_ref(),
                    index,
                };
                let picked = tenant.exists(row)
                    && (!targeted || mutation.ids.iter().any(|id| *id == tenant.row_id(row)));
                picked.then(|| Candidate {
                    parent: parent.as_ref().map(|p| p.index),
                    key: row.key(),
                })
            })
        })
        .take(if targeted { usize::MAX } else { wanted })
        .collect();
    if targeted {
        let position = |c: &Candidate| {
            let id = row_id_of(tenant, spec, &parents, c);
            mutation
                .ids
                .iter()
                .position(|wanted| Some(wanted) == id.as_ref())
        };
        rows.sort_by_key(|c| position(c));
        if rows.len() != mutation.ids.len() {
            let found: Vec<Option<String>> = rows
                .iter()
                .map(|c| row_id_of(tenant, spec, &parents, c))
                .collect();
            let missing = mutation
                .ids
                .iter()
                .find(|id| !found.contains(&Some((*id).clone())))
                .cloned()
                .unwrap_or_default();
            return Err(MutateError::UnknownRow {
                stream: stream.to_string(),
                id: missing,
            });
        }
    }
    let split = rows.len().min(mutation.changed as usize);
    let (changed_rows, removed_rows) = rows.split_at(split);
    let changed: Vec<u64> = changed_rows.iter().map(|c| c.key).collect();
    let removed: Vec<u64> = removed_rows.iter().map(|c| c.key).collect();
    let added = plan_adds(tenant, spec, &parents, mutation)?;
    // Keys and ids of changed and removed rows, read before the removal hides them.
    let (changed_ids, changed_keys) = describe(tenant, spec, &parents, changed_rows);
    let (removed_ids, removed_keys) = describe(tenant, spec, &parents, removed_rows);
    let key_of = |parent: Option<u64>, index: u64| match parent {
        Some(p) => child_key(p, index),
        None => index,
    };
    let edit = Edit {
        changed: &changed,
        removed: &removed,
        added: &added,
        key_of: &key_of,
    };
    let floor = tenant.mutation_floor();
    let (epoch, added_keys) = tenant.mutations_mut().apply(stream, edit, floor);
    let added_rows: Vec<Candidate> = added
        .iter()
        .flat_map(|&(parent, first, count)| {
            (first..first + count).map(move |index| Candidate {
                parent,
                key: key_of(parent, index),
            })
        })
        .collect();
    debug_assert_eq!(
        added_rows.iter().map(|c| c.key).collect::<Vec<_>>(),
        added_keys
    );
    let (added_ids, added_keys) = describe(tenant, spec, &parents, &added_rows);
    Ok(MutationOutcome {
        epoch,
        changed: changed_ids,
        removed: removed_ids,
        added: added_ids,
        changed_keys,
        removed_keys,
        added_keys,
    })
}

/// (parent index, first new raw index, count) per parent that gets rows.
fn plan_adds(
    tenant: &Tenant,
    spec: &stream_spec::StreamSpec,
    parents: &[Option<ParentRow>],
    mutation: &Mutation,
) -> Result<Vec<(Option<u64>, u64, u64)>, MutateError> {
    if mutation.added == 0 || parents.is_empty() {
        return Ok(Vec::new());
    }
    let n = parents.len() as u64;
    let mut plan = Vec::new();
    for (i, parent) in parents.iter().enumerate() {
        let count = mutation.added / n + u64::from((i as u64) < mutation.added % n);
        if count == 0 {
            continue;
        }
        let first = tenant.raw_len(spec, parent.as_ref());
        // A member row's id is its target's: past the pool, targets would repeat.
        if tenant.shape(spec) == Shape::Members && first + count > tenant.member_pool(spec) {
            return Err(MutateError::TooManyMembers {
                stream: spec.stream.clone(),
                room: tenant.member_pool(spec).saturating_sub(first),
            });
        }
        plan.push((parent.as_ref().map(|p| p.index), first, count));
    }
    Ok(plan)
}

fn row_ref<'a>(
    spec: &'a stream_spec::StreamSpec,
    parents: &'a [Option<ParentRow>],
    c: &Candidate,
) -> Option<RowRef<'a>> {
    let parent = parents
        .iter()
        .find(|p| p.as_ref().map(|p| p.index) == c.parent)?;
    let index = match c.parent {
        Some(_) => crate::ids::child_index(c.key),
        None => c.key,
    };
    Some(RowRef {
        spec,
        parent: parent.as_ref(),
        index,
    })
}

fn row_id_of(
    tenant: &Tenant,
    spec: &stream_spec::StreamSpec,
    parents: &[Option<ParentRow>],
    c: &Candidate,
) -> Option<String> {
    row_ref(spec, parents, c).map(|row| tenant.row_id(row))
}

/// Ids and primary keys of these rows.
fn describe(
    tenant: &Tenant,
    spec: &stream_spec::StreamSpec,
    parents: &[Option<ParentRow>],
    rows: &[Candidate],
) -> (Vec<String>, Vec<Vec<String>>) {
    rows.iter()
        .filter_map(|c| row_ref(spec, parents, c))
        .map(|row| (tenant.row_id(row), tenant.primary_key(row)))
        .unzip()
}

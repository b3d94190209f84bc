//! Named scenarios: scripted mutations for end-to-end tests, with the `_change` counts a landing
//! must then record. A scenario is data (`scenarios/<name>.toml`: steps of mutations, each
//! naming its streams), so the mock's code names no stream.
//!
//! The counts come from diffing the content before and after (every stream, by primary key and
//! whole record), so side effects are in them too.

use std::collections::HashSet;

use serde::Deserialize;

use crate::changes::{ExpectedChanges, diff};
use crate::mutate::{MutateError, mutate};
use crate::server::MockServer;
use crate::state::AppState;
use crate::tenant::{Mutation, MutationOutcome, Tenant};
use crate::truth::TruthFilter;

/// Every scenario the mock knows, by name.
const SCENARIOS: &[(&str, &str)] = &[(
    "standard_mutation",
    include_str!("../scenarios/standard_mutation.toml"),
)];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    step: Vec<Step>,
}

/// One step: the same mutation of each of `streams`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    streams: Vec<String>,
    #[serde(flatten)]
    counts: Counts,
    /// Also change one live row that is no row of this subset stream (a group that is no team).
    #[serde(default)]
    change_one_outside: Option<String>,
    /// Also remove one live row that is a row of this subset stream (a team's group).
    #[serde(default)]
    remove_one_inside: Option<String>,
    /// Under parents that no earlier step touched (changed, removed or added).
    #[serde(default)]
    untouched_parents: bool,
    /// Counts per parent, for as many parents as listed (instead of `counts` over the stream).
    #[serde(default)]
    per_parent: Vec<Counts>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Counts {
    #[serde(default)]
    changed: u64,
    #[serde(default)]
    removed: u64,
    #[serde(default)]
    added: u64,
}

impl Counts {
    fn on(&self, mutation: Mutation) -> Mutation {
        mutation
            .changed(self.changed)
            .removed(self.removed)
            .added(self.added)
    }
}

/// The names of the scenarios the mock knows.
pub fn names() -> impl Iterator<Item = &'static str> {
    SCENARIOS.iter().map(|(name, _)| *name)
}

/// Mutates the tenant as `scenarios/standard_mutation.toml` says and returns the expected
/// changes.
pub fn standard_mutation(server: &MockServer) -> Result<ExpectedChanges, MutateError> {
    run(server.state(), "standard_mutation")
}

/// Runs the scenario `name` on the tenant and returns the changes it made.
pub(crate) fn run(state: &AppState, name: &str) -> Result<ExpectedChanges, MutateError> {
    let text = SCENARIOS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
        .ok_or_else(|| MutateError::UnknownScenario {
            name: name.to_string(),
            known: names().collect::<Vec<_>>().join(", "),
        })?;
    let scenario: Scenario = toml::from_str(text).map_err(|e| MutateError::Scenario {
        scenario: name.to_string(),
        reason: e.to_string(),
    })?;
    let all = TruthFilter::default();
    let before = state.snapshot(&all);
    let mut touched = HashSet::new();
    for step in &scenario.step {
        for stream in &step.streams {
            run_step(&state.tenant, name, step, stream, &mut touched)?;
        }
    }
    Ok(diff(&before, &state.snapshot(&all)))
}

fn run_step(
    tenant: &Tenant,
    scenario: &str,
    step: &Step,
    stream: &str,
    touched: &mut HashSet<String>,
) -> Result<(), MutateError> {
    let apply = |mutation: Mutation, touched: &mut HashSet<String>| {
        let outcome: MutationOutcome = mutate(tenant, &mutation)?;
        touched.extend(
            outcome
                .changed
                .into_iter()
                .chain(outcome.removed)
                .chain(outcome.added),
        );
        Ok::<_, MutateError>(())
    };
    if step.per_parent.is_empty() {
        let mut mutation = step.counts.on(Mutation::new(stream));
        if let Some(subset) = &step.change_one_outside {
            mutation = mutation.change_ids(pick(tenant, scenario, stream, subset, false)?);
        }
        if let Some(subset) = &step.remove_one_inside {
            mutation = mutation.remove_ids(pick(tenant, scenario, stream, subset, true)?);
        }
        return apply(mutation, touched);
    }
    let spec = tenant
        .spec(stream)
        .ok_or_else(|| MutateError::UnknownStream(stream.to_string()))?;
    let parent = spec
        .parent
        .as_ref()
        .ok_or_else(|| MutateError::NoParent(stream.to_string()))?;
    let parents: Vec<String> = tenant
        .parents(&parent.stream)
        .into_iter()
        .map(|p| p.id)
        .filter(|id| !step.untouched_parents || !touched.contains(id))
        .take(step.per_parent.len())
        .collect();
    for (parent, counts) in parents.into_iter().zip(&step.per_parent) {
        apply(counts.on(Mutation::new(stream).parent(parent)), touched)?;
    }
    Ok(())
}

/// The id of one live row of top-level `stream` that is (`inside`) or is not a row of `subset`.
fn pick(
    tenant: &Tenant,
    scenario: &str,
    stream: &str,
    subset: &str,
    inside: bool,
) -> Result<Vec<String>, MutateError> {
    let Some(subset_spec) = tenant.spec(subset) else {
        return Err(MutateError::Scenario {
            scenario: scenario.to_string(),
            reason: format!("`{subset}` is not declared"),
        });
    };
    Ok(tenant
        .parents(stream)
        .into_iter()
        .find(|row| tenant.subset_position(subset_spec, row.index).is_some() == inside)
        .map(|row| row.id)
        .into_iter()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_reads() {
        for (name, text) in SCENARIOS {
            let scenario: Scenario = toml::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!scenario.step.is_empty(), "{name}");
        }
    }
}

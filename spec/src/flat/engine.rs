//! The flat model steps in place for the exploration engine: a successor is
//! written into a slot the engine reuses, sparing the copies of returning it,
//! and each step reports the Figure-2 rules it took.

use raftcheck_engine::StepInPlace;

use super::{FlatModel, FlatState};
use crate::Action;

impl StepInPlace for FlatModel {
    fn next_state_into(&self, last: &FlatState, action: Action, next: &mut FlatState) -> bool {
        FlatModel::next_state_into(self, last, action, next)
    }

    fn rule_count(&self) -> usize {
        crate::coverage::Rule::ALL.len()
    }

    fn next_state_covered(
        &self,
        last: &FlatState,
        action: Action,
        next: &mut FlatState,
        fired: &mut u64,
    ) -> bool {
        let mut rules = crate::coverage::RuleSet(*fired);
        let taken = FlatModel::next_state_covered(self, last, action, next, &mut rules);
        *fired = rules.0;
        taken
    }
}

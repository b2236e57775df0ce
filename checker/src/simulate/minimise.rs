//! Shrinking a violating walk: drop chunks of steps, then single steps,
//! keeping each shorter list that still leads (steps no longer enabled
//! skipped, see [`replay`]) to the same violation, until no single step can
//! go. The result is locally minimal
//! (removing any one step breaks it), not a shortest counterexample: that
//! is what `raftcheck check` finds, at bounds where it can finish.

use stateright::Model;

use raft_spec::{Action, RaftModel};

use super::swarm::Checks;
use crate::behaviour::Behaviour;

/// The behaviour `actions` lead to from the initial state, if it reaches
/// a violation of `property` (where it is cut): each action is taken if it
/// is enabled where it comes (a delivery or loss no longer enabled as
/// recorded: the same kind of message on the same channel, if one is in
/// flight) and its successor either violates or stays within the bounds,
/// and skipped otherwise, so that removing one step skips or adapts the
/// steps that needed it rather than dooming the rest. `None` if no state violates `property`, or
/// another safety property is violated first.
pub fn replay(
    model: &RaftModel,
    checks: &Checks,
    actions: &[Action],
    property: &str,
) -> Option<Behaviour> {
    let init = model.init_states().into_iter().next()?;
    let mut state = init.clone();
    let mut steps = Vec::with_capacity(actions.len());
    let mut enabled = Vec::new();
    for action in actions {
        enabled.clear();
        model.actions(&state, &mut enabled);
        let action = if enabled.contains(action) {
            action
        } else {
            match enabled.iter().find(|e| same_channel(e, action)) {
                Some(e) => e,
                None => continue,
            }
        };
        let Some(next) = model.next_state(&state, action.clone()) else {
            continue;
        };
        if let Some(violated) = checks.violated(model, &next) {
            // Another property first would be another counterexample.
            let same = violated == property
                || checks
                    .safety
                    .iter()
                    .any(|p| p.name == property && !(p.condition)(model, &next));
            steps.push((action.clone(), next));
            return same.then_some((init, steps));
        }
        if model.within_boundary(&next) {
            steps.push((action.clone(), next.clone()));
            state = next;
        }
    }
    None
}

/// Whether two deliveries (or two losses) are of the same kind of message
/// between the same two servers: a removed step changes what later messages
/// carry (a term, an index), and the replay then takes the message the
/// cluster sends now in place of the one the walk recorded.
fn same_channel(a: &Action, b: &Action) -> bool {
    use stateright::actor::{ActorModelAction::*, Envelope};
    use std::mem::discriminant;
    match (a, b) {
        (
            Deliver { src, dst, msg },
            Deliver {
                src: s,
                dst: d,
                msg: m,
            },
        )
        | (
            Drop(Envelope { src, dst, msg }),
            Drop(Envelope {
                src: s,
                dst: d,
                msg: m,
            }),
        ) => src == s && dst == d && discriminant(msg) == discriminant(m),
        _ => false,
    }
}

/// The shortest path found to a violation of `property` by removing steps
/// of `actions` (see the module documentation); `None` if `actions` itself
/// is not such a path.
pub fn minimise(
    model: &RaftModel,
    checks: &Checks,
    actions: &[Action],
    property: &str,
) -> Option<Behaviour> {
    let mut best = replay(model, checks, actions, property)?;
    let mut chunk = (best.1.len() / 2).max(1);
    loop {
        let mut changed = false;
        let mut at = 0;
        while at < best.1.len() {
            let candidate: Vec<Action> = best
                .1
                .iter()
                .enumerate()
                .filter(|(i, _)| *i < at || *i >= at + chunk)
                .map(|(_, (a, _))| a.clone())
                .collect();
            match replay(model, checks, &candidate, property) {
                // Strictly shorter each time, so this ends.
                Some(shorter) => {
                    best = shorter;
                    changed = true;
                }
                None => at += chunk,
            }
        }
        if chunk == 1 && !changed {
            return Some(best);
        }
        chunk = (chunk / 2).max(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::swarm::tests::violating_walk;
    use crate::simulate::swarm::walk;
    use raft_spec::Profile;

    #[test]
    fn a_minimised_walk_still_violates_and_no_single_step_can_go() {
        let (model, checks, run) = violating_walk();
        let property = run.violation.unwrap();
        let original = replay(&model, &checks, &run.actions, property).unwrap();
        assert_eq!(original.1.len(), run.actions.len());
        let small = minimise(&model, &checks, &run.actions, property).unwrap();
        // This walk has steps to spare (it wanders before the violation).
        assert!(small.1.len() < run.actions.len(), "{} steps", small.1.len());
        let last = &small.1.last().unwrap().1;
        assert!(checks
            .safety
            .iter()
            .any(|p| p.name == property && !(p.condition)(&model, last)));
        let actions: Vec<Action> = small.1.iter().map(|(a, _)| a.clone()).collect();
        for skip in 0..actions.len() {
            let mut fewer = actions.clone();
            fewer.remove(skip);
            assert!(
                replay(&model, &checks, &fewer, property).is_none(),
                "step {skip} could still go"
            );
        }
    }

    #[test]
    fn a_path_that_does_not_violate_is_refused() {
        let model = RaftModel::new(Profile::Quick.config()).unwrap();
        let checks = Checks::of(&model);
        let run = walk(&model, &checks, 20, 3);
        assert!(run.violation.is_none());
        assert!(minimise(&model, &checks, &run.actions, "election safety").is_none());
    }
}

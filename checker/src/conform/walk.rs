//! Random walks over the model, written as trace files: behaviours far
//! longer (and clusters larger) than exhaustive checking can reach, for
//! replay against the implementation.

use stateright::Model;

use raft_sim::SplitMix64;
use raft_spec::{Action, Config, RaftModel, State};

use crate::behaviour::Behaviour;
use crate::error::{Error, Result};
use crate::trace::{Outcome, Trace, TraceAction};

/// One random walk of exactly `depth` steps: at each step, a uniformly
/// chosen enabled action whose successor stays within the bounds. A walk
/// that gets stuck (nothing enabled) is restarted; `None` after 1000 tries.
/// The simulator's generator: walks are reproducible from their seed on
/// every platform.
pub fn random_walk(model: &RaftModel, depth: usize, rng: &mut SplitMix64) -> Option<Behaviour> {
    let init = model.init_states().into_iter().next()?;
    let mut actions: Vec<Action> = Vec::new();
    'attempt: for _ in 0..1000 {
        let mut state = init.clone();
        let mut steps = Vec::with_capacity(depth);
        while steps.len() < depth {
            let choices: Vec<_> = successors(model, &state, &mut actions, |_| true)
                .into_iter()
                .filter(|(_, next)| model.within_boundary(next))
                .collect();
            if choices.is_empty() {
                continue 'attempt;
            }
            let (a, next) = choices[rng.below(choices.len() as u64) as usize].clone();
            steps.push((a, next.clone()));
            state = next;
        }
        return Some((init, steps));
    }
    None
}

/// Every action enabled in `state` that `keep` accepts and a trace can
/// record, with the state it leads to: actions that change nothing are left
/// out, successors beyond the bounds are not (the caller decides whether to
/// enter them). In the model's action order; `buf` is scratch space.
pub fn successors(
    model: &RaftModel,
    state: &State,
    buf: &mut Vec<Action>,
    keep: impl Fn(&Action) -> bool,
) -> Vec<(Action, State)> {
    buf.clear();
    model.actions(state, buf);
    buf.drain(..)
        .filter(|a| keep(a) && TraceAction::from_action(a).is_some())
        .filter_map(|a| {
            let next = model.next_state(state, a.clone())?;
            Some((a, next))
        })
        .collect()
}

/// The trace of walk `seed`.
pub fn walk_trace(cfg: &Config, depth: usize, seed: u64) -> Result<(Trace, Behaviour)> {
    let model = RaftModel::new(cfg.clone())?;
    let mut rng = SplitMix64::new(seed);
    let behaviour = random_walk(&model, depth, &mut rng).ok_or(Error::NoWalk { depth, seed })?;
    let trace = Trace::from_behaviour(
        cfg,
        cfg.bug,
        &format!("random walk (seed {seed})"),
        Outcome::Witnesses,
        &behaviour,
    )?;
    Ok((trace, behaviour))
}

//! Symmetry over server ids: servers are interchangeable, so a state and any
//! renaming of its servers behave alike.
//!
//! The search canonicalises with a cheap representative (servers sorted by
//! their state: stateright's `Representative`, and `FlatState::representative`
//! for the flat model), which is sound, but when two servers tie it can map one
//! class of states to different representatives. Rebuilding a concrete path needs a
//! true function of the class: [`orbit_key`], the least hash over every
//! renaming (n! of them: 6 for 3 servers, 120 for 5; used off the hot path).

use std::hash::{Hash, Hasher};

use stateright::actor::Id;
use stateright::util::DenseNatMap;
use stateright::{Rewrite, RewritePlan};

use crate::model::State;

/// The state with server i renamed to `perm[i]`.
pub fn permute(s: &State, perm: &[usize]) -> State {
    let targets: DenseNatMap<Id, usize> = perm.to_vec().into();
    let plan = RewritePlan::<Id, _>::from(targets);
    State {
        actor_states: plan.reindex(&s.actor_states),
        network: s.network.rewrite(&plan),
        timers_set: plan.reindex(&s.timers_set),
        random_choices: plan.reindex(&s.random_choices),
        crashed: plan.reindex(&s.crashed),
        actor_storages: plan.reindex(&s.actor_storages),
        history: s.history.rewrite(&plan),
    }
}

/// Every permutation of 0..n.
pub fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..=p.len() {
            let mut q = p.clone();
            q.insert(i, n - 1);
            out.push(q);
        }
    }
    out
}

/// A key equal for two states exactly when one is a renaming of the other
/// (up to 64-bit hash collisions).
pub fn orbit_key(s: &State) -> u64 {
    permutations(s.actor_states.len())
        .iter()
        .map(|p| {
            let mut h = std::hash::DefaultHasher::new();
            permute(s, p).hash(&mut h);
            h.finish()
        })
        .min()
        .unwrap_or(0)
}

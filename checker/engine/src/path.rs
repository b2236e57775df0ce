//! Rebuilding a shortest path from the visited set's parent links.

use std::hash::Hash;

use stateright::Model;

use crate::fingerprint::{Fingerprint, NO_PARENT};
use crate::search::fingerprint_with;
use crate::{Behaviour, Codec, Exploration, Symmetry};

impl Exploration {
    /// A concrete path from an initial state to the state with fingerprint
    /// `target`, every step a real action on real (not canonicalised) states.
    ///
    /// First the chain of parents is replayed on canonical states, exactly as
    /// the search took it; then a concrete behaviour is found that passes
    /// through the same symmetry classes, matched by `orbit_key` (a function
    /// of the class, unlike a cheap representative).
    pub fn path<M>(
        &self,
        model: &M,
        symmetry: Symmetry<M::State>,
        orbit_key: fn(&M::State) -> u64,
        codec: Option<&Codec<M::State>>,
        target: Fingerprint,
    ) -> Option<Behaviour<M::State, M::Action>>
    where
        M: Model,
        M::State: Hash + Clone,
    {
        let mut chain = vec![target];
        let mut fp = target;
        while let Some(parent) = self.parents.parent(fp) {
            if parent == NO_PARENT {
                break;
            }
            chain.push(parent);
            fp = parent;
        }
        chain.reverse();
        path_along(model, symmetry, orbit_key, codec, &chain)
    }
}

/// A concrete path from an initial state through the states whose
/// fingerprints are `chain` (canonical, as a search recorded them, from an
/// initial state's on), as [`Exploration::path`] rebuilds one.
pub fn path_along<M>(
    model: &M,
    symmetry: Symmetry<M::State>,
    orbit_key: fn(&M::State) -> u64,
    codec: Option<&Codec<M::State>>,
    chain: &[Fingerprint],
) -> Option<Behaviour<M::State, M::Action>>
where
    M: Model,
    M::State: Hash + Clone,
{
    let canonical = |s: &M::State| symmetry.and_then(|f| f(s)).unwrap_or_else(|| s.clone());
    let mut buf = Vec::new();
    let init = model
        .init_states()
        .into_iter()
        .find(|s| fingerprint_with(&canonical(s), codec, &mut buf) == chain[0])?;
    // The classes the search went through, as orbit keys.
    let mut keys = Vec::with_capacity(chain.len());
    let mut current = canonical(&init);
    for want in &chain[1..] {
        let next = model
            .next_states(&current)
            .into_iter()
            .find(|next| fingerprint_with(&canonical(next), codec, &mut buf) == *want)?;
        keys.push(orbit_key(&next));
        current = canonical(&next);
    }
    // A concrete behaviour through the same classes.
    let mut steps = Vec::with_capacity(keys.len());
    let mut current = init.clone();
    for key in keys {
        let (action, next) = model
            .next_steps(&current)
            .into_iter()
            .find(|(_, next)| orbit_key(next) == key)?;
        steps.push((action, next.clone()));
        current = next;
    }
    Some((init, steps))
}

//! Counting the rules each transition took (rule coverage), cheaply: a
//! thread counts into its own array while it expands a chunk, and adds the
//! array to the shared counters once per chunk.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Most rules a model can report: a step's rules are one `u64` mask.
pub const MAX_RULES: usize = 64;

/// Per rule (by bit index): transitions that took it, and the least depth
/// of a state such a transition reached.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleCounts {
    pub transitions: Vec<u64>,
    pub first_depth: Vec<Option<usize>>,
}

/// One thread's counts for the chunk it is expanding.
pub(super) struct LocalCounts([u64; MAX_RULES]);

impl LocalCounts {
    pub(super) fn new() -> Self {
        LocalCounts([0; MAX_RULES])
    }

    /// Counts one transition that took the rules in `fired`.
    #[inline]
    pub(super) fn add(&mut self, mut fired: u64) {
        while fired != 0 {
            self.0[fired.trailing_zeros() as usize] += 1;
            fired &= fired - 1;
        }
    }
}

/// The shared counters of one exploration.
pub(super) struct SharedCounts {
    transitions: [AtomicU64; MAX_RULES],
    first_depth: [AtomicUsize; MAX_RULES],
}

impl SharedCounts {
    pub(super) fn new() -> Self {
        SharedCounts {
            transitions: std::array::from_fn(|_| AtomicU64::new(0)),
            first_depth: std::array::from_fn(|_| AtomicUsize::new(usize::MAX)),
        }
    }

    /// Adds a chunk's counts; every transition of a chunk reaches `depth`.
    pub(super) fn merge(&self, local: &LocalCounts, depth: usize) {
        for (i, &n) in local.0.iter().enumerate().filter(|(_, n)| **n > 0) {
            self.transitions[i].fetch_add(n, Ordering::Relaxed);
            self.first_depth[i].fetch_min(depth, Ordering::Relaxed);
        }
    }

    /// The first `rules` counters.
    pub(super) fn counts(&self, rules: usize) -> RuleCounts {
        RuleCounts {
            transitions: self.transitions[..rules]
                .iter()
                .map(|n| n.load(Ordering::Relaxed))
                .collect(),
            first_depth: self.first_depth[..rules]
                .iter()
                .map(|d| Some(d.load(Ordering::Relaxed)).filter(|d| *d != usize::MAX))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_merge_into_totals_and_the_least_depth() {
        let shared = SharedCounts::new();
        let mut a = LocalCounts::new();
        a.add(0b101);
        a.add(0b001);
        shared.merge(&a, 7);
        let mut b = LocalCounts::new();
        b.add(0b100);
        shared.merge(&b, 3);
        let c = shared.counts(3);
        assert_eq!(c.transitions, [2, 0, 2]);
        assert_eq!(c.first_depth, [Some(7), None, Some(3)]);
    }
}

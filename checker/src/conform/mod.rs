//! Conformance: an implementation, through its adapter (the
//! [`Implementation`] trait of `raftcheck-adapter`), runs the model's
//! transitions and traces.
//!
//! - [`raft_core`]: this workspace's Raft as an `Implementation` (with the
//!   harness's planted faults, [`Perturbation`]).
//! - [`compare`]: the first field where the implementation and the model
//!   disagree after a step.
//! - [`product`] and [`exhaustive`]: the sound exhaustive mode, every
//!   transition of the product of the bounded model and the implementation
//!   (`raftcheck conform`).
//! - [`cluster`], [`replay`] and [`traces`]: trace files drive fresh nodes
//!   (`raftcheck replay FILE`, `raftcheck conform --traces DIR`); [`walk`]
//!   writes random walks over the model as traces (`raftcheck traces`).
//! - [`divergence`]: what a report says when they disagree.

pub mod cluster;
pub mod compare;
pub mod divergence;
pub mod exhaustive;
pub mod product;
pub mod raft_core;
pub mod replay;
pub mod traces;
pub mod walk;
pub mod walks;

pub use divergence::{Divergence, Mismatch};

use raft_spec::Config;

/// Refuses, before anything runs, a model whose variant `imp` does not
/// implement (raft-core implements only the paper's).
pub fn check_supported<I: Implementation>(imp: &I, cfg: &Config) -> crate::error::Result<()> {
    imp.supports(&cfg.variant)
        .map_err(|reason| crate::error::Error::Unsupported {
            implementation: imp.name().to_string(),
            variant: cfg.variant.name(),
            reason,
        })
}

/// Which comparisons a run switches off: the adapter's loosenings (unless
/// `strict`) and any asked for.
#[derive(Clone, Debug, Default)]
pub struct Loosen {
    /// Ignore the adapter's loosenings: compare every field the model fixes.
    pub strict: bool,
    pub extra: Vec<Loosening>,
}

impl Loosen {
    /// The loosenings in effect for `imp` checked against the model `cfg`,
    /// each with why, in order.
    pub fn resolve<I: Implementation>(&self, imp: &I, cfg: &Config) -> Vec<(Loosening, String)> {
        let mut all: Vec<(Loosening, String)> = if self.strict {
            Vec::new()
        } else {
            imp.loosenings(cfg)
                .into_iter()
                .map(|(l, why)| (l, why.to_string()))
                .collect()
        };
        for l in &self.extra {
            if !all.iter().any(|(m, _)| m == l) {
                all.push((*l, "asked for on the command line".into()));
            }
        }
        all.sort();
        all
    }

    /// [`resolve`](Self::resolve), without the reasons.
    pub fn names<I: Implementation>(&self, imp: &I, cfg: &Config) -> Vec<Loosening> {
        self.resolve(imp, cfg).into_iter().map(|(l, _)| l).collect()
    }
}
pub use raft_core::{Perturbation, RaftCore};
pub use raftcheck_adapter::{Implementation, Loosening};

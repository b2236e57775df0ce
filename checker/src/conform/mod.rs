//! Conformance: the production implementation (`raft-core`) runs the
//! model's transitions and traces.
//!
//! - [`adapter`]: the id, value and config conventions and the message
//!   mapping.
//! - [`abstraction`]: the abstraction function (implementation node → model
//!   server state, through the node's public observation API only).
//! - [`step`]: the action mapping (model action → implementation input),
//!   each server driven by the simulator's one in-memory driver,
//!   [`raft_sim::MemNode`].
//! - [`compare`]: the first field where the two disagree after a step.
//! - [`exhaustive`]: every transition of the bounded model is taken by the
//!   implementation too (`raftcheck conform`).
//! - [`replay`]: trace files drive fresh implementation nodes (`raftcheck
//!   replay FILE`, `raftcheck conform --traces DIR`); [`walk`] writes random
//!   walks over the model as traces (`raftcheck traces`).
//! - [`divergence`]: what a report says when they disagree.
//! - [`perturb`]: faults planted in the harness to show it reports them.

pub mod abstraction;
pub mod adapter;
pub mod cli;
pub mod compare;
pub mod divergence;
pub mod exhaustive;
pub mod perturb;
pub mod replay;
pub mod step;
pub mod walk;

pub use divergence::{Divergence, Mismatch};
pub use perturb::Perturbation;

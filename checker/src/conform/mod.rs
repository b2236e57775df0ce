//! Conformance: the production implementation (`raft-core`) runs the
//! model's transitions and traces.
//!
//! - [`adapter`]: the abstraction function (implementation node → model
//!   server state, through the node's public observation API only), the
//!   action mapping (model action → implementation input) and the message
//!   mapping, with the id and value conventions.
//! - [`exhaustive`]: every transition of the bounded model is taken by the
//!   implementation too (`raftcheck conform`).
//! - [`replay`]: trace files drive fresh implementation nodes (`raftcheck
//!   replay FILE`, `raftcheck conform --traces DIR`); [`walk`] writes random
//!   walks over the model as traces (`raftcheck traces`).
//! - [`divergence`]: what a report says when they disagree.
//! - [`perturb`]: faults planted in the harness to show it reports them.

pub mod adapter;
pub mod divergence;
pub mod exhaustive;
pub mod perturb;
pub mod replay;
pub mod traces;
pub mod walk;

pub use divergence::{Divergence, Mismatch};
pub use perturb::Perturbation;

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

pub use divergence::{Divergence, Mismatch};
pub use raft_core::{Perturbation, RaftCore};
pub use raftcheck_adapter::{Implementation, Loosening};

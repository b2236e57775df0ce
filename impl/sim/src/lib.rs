//! A seeded, deterministic in-memory cluster simulator (feature `sim`).
//!
//! A [`Cluster`] runs real [`RaftNode`](raft_core::RaftNode)s over a network that
//! drops, delays, reorders, duplicates and partitions, with crash-restart that
//! keeps exactly what the node's acknowledged durable writes left in its
//! [`DurableState`](raft_core::DurableState) and nothing else. After every
//! [`Action`] the [`SafetyChecker`] checks the safety properties of the Raft
//! paper, as the model defines them ([`raft_safety`]; Log Matching and Leader
//! Completeness in stronger forms, see [`SafetyChecker`]);
//! [`Cluster::heal_and_settle`] then checks that, once faults heal, a leader
//! is elected and every acknowledged proposal is committed on every server. The same schedule (or seed) always replays the same run.
//!
//! [`MemNode`] is the one in-memory driver of a node and its storage; the
//! simulator, the scripted tests and the conformance checker all use it.

mod cluster;
mod mem_node;
mod network;
mod rng;
mod safety;
mod schedule;

pub use cluster::{Cluster, PlantedFault, SimConfig, SimStats};
pub use mem_node::{MemNode, RestartError};
pub use network::Network;
pub use raft_safety::Breach;
pub use rng::SplitMix64;
pub use safety::{SafetyChecker, Violation};
pub use schedule::{random_schedule, run_schedule, Action, Failure};

//! Raft as a stateright actor model.
//!
//! Read in this order: [`types`] (terms, entries, the log), [`message`] (the
//! four RPCs), [`server`] (the actor: Figure 2's rules, one function each),
//! [`ghost`] (history the properties need), [`properties`] (Figure 3 and the
//! non-vacuity checks), [`model`] (bounds, crash budget, network), then
//! [`bug`] (the catalogue of wrong rules a config can switch on).
//!
//! For speed, the exploration engine runs [`flat`]: the same servers and
//! properties over one flat state (properties and ghost history read either
//! representation through [`cluster::Cluster`]), held to [`model`] step by
//! step by spec/tests/flat.rs.

pub mod bug;
pub mod catalogue;
pub mod cluster;
pub mod codec;
pub mod config;
pub mod coverage;
pub mod flat;
pub mod ghost;
pub mod message;
pub mod model;
pub mod properties;
pub mod render;
/// The safety predicates (crate `raft-safety`), shared with the simulator.
pub use raft_safety as safety;
pub mod server;
pub mod servers;
pub mod state;
pub mod symmetry;
pub mod types;
pub mod variant;
pub mod view;

pub use bug::Bug;
pub use config::{Config, ConfigError, NetworkKind, Profile};
pub use model::{Action, RaftModel, State};
pub use variant::Variant;

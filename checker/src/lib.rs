//! raftcheck: the harness that model-checks the Raft spec and checks the
//! production implementation conforms to it.

pub mod adopt;
pub mod availability;
pub mod behaviour;
pub mod bounds;
pub mod bugs;
pub mod check;
pub mod cli;
pub mod conform;
pub mod coverage;
pub mod error;
pub mod explore;
pub mod files;
pub mod gate;
pub mod markup;
pub mod memory;
pub mod script;
pub mod show;
pub mod simulate;
pub mod trace;

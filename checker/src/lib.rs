//! raftcheck: the harness that model-checks the Raft spec and checks the
//! production implementation conforms to it.

pub mod availability;

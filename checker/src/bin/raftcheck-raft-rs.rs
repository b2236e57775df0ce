//! raftcheck for tikv/raft-rs: `conform`, `replay` and `traces` through
//! the raftcheck-raft-rs adapter.

fn main() -> std::process::ExitCode {
    raftcheck::adopt::main("raftcheck-raft-rs", &raftcheck_raft_rs::RaftRs)
}

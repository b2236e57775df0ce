//! The sans-IO Raft core: a deterministic state machine with explicit inputs
//! (messages, timer firings, proposals, restart) and ordered outputs
//! ([`Ready`]: durable writes, then messages, then committed entries).
//!
//! No clocks, threads, sockets or files here; `tests/core_is_sans_io.rs`
//! fails the build if any creeps in.

mod config;
mod election;
mod log;
mod node;
mod ready;
mod replication;
mod types;

pub use config::{Config, ConfigError, ProposeError};
pub use node::{DurableState, Input, Progress, Proposed, RaftNode};
pub use ready::{DurableWrite, Output, Ready, Unpersisted};
pub use types::{
    AppendEntries, AppendEntriesResponse, Entry, EntryKind, LogIndex, Message, MessageBody, NodeId,
    RequestVote, RequestVoteResponse, Role, Term,
};

//! The sans-IO Raft core: a deterministic state machine with explicit inputs
//! (messages, timer firings, proposals, restart) and ordered outputs
//! ([`Ready`]: durable writes, then messages, then committed entries).
//!
//! No clocks, threads, sockets or files here: the crate is `no_std` (it
//! links only `alloc`), so the compiler refuses any that creep in. The
//! `raftkv` crate drives it over a real WAL and TCP; `raft-sim` drives it
//! in memory.

#![no_std]

extern crate alloc;

mod config;
mod election;
mod log;
mod node;
mod ready;
mod replication;
mod types;

pub use bytes::Bytes;
pub use config::{Config, ConfigError, ProposeError};
pub use node::{DurableState, Input, Progress, Proposed, RaftNode};
pub use ready::{DurableWrite, Output, Ready, Unpersisted};
pub use types::{
    AppendEntries, AppendEntriesResponse, Entry, EntryKind, LogIndex, Message, MessageBody, NodeId,
    RequestVote, RequestVoteResponse, Role, Term,
};

//! Static per-node configuration and the errors the core reports.

use crate::types::{Entry, LogIndex, NodeId};
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Who this node is, who votes, and how big an AppendEntries may get.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    pub id: NodeId,
    /// Every voting member, including `id`. Order does not matter.
    pub voters: Vec<NodeId>,
    /// At most this many entries in one AppendEntries.
    pub max_entries_per_message: usize,
    /// At most this many payload bytes in one AppendEntries (a single larger
    /// entry is still sent alone, so replication always makes progress).
    pub max_bytes_per_message: usize,
}

impl Config {
    /// A config with production batching limits (4096 entries, 1 MiB).
    pub fn new(id: NodeId, voters: impl IntoIterator<Item = NodeId>) -> Self {
        Config {
            id,
            voters: voters.into_iter().collect(),
            max_entries_per_message: 4096,
            max_bytes_per_message: 1 << 20,
        }
    }

    /// No batching limits: every AppendEntries carries the whole suffix, as in
    /// the model (used by conformance).
    pub fn uncapped(mut self) -> Self {
        self.max_entries_per_message = usize::MAX;
        self.max_bytes_per_message = usize::MAX;
        self
    }

    pub fn with_limits(mut self, max_entries: usize, max_bytes: usize) -> Self {
        self.max_entries_per_message = max_entries;
        self.max_bytes_per_message = max_bytes;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !self.voters.contains(&self.id) {
            return Err(ConfigError::NotAVoter { id: self.id });
        }
        let mut sorted = self.voters.clone();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(ConfigError::DuplicateVoter);
        }
        if self.max_entries_per_message == 0 {
            return Err(ConfigError::ZeroBatch);
        }
        Ok(())
    }
}

/// A configuration or durable state the core cannot start from.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("node {id} is not in its own voter list; add it to `voters`")]
    NotAVoter { id: NodeId },
    #[error("a voter is listed twice; list each node id once")]
    DuplicateVoter,
    #[error("max_entries_per_message is 0; replication could never make progress")]
    ZeroBatch,
    #[error("durable log entry at position {position} has index {found}; the log must be contiguous from 1")]
    LogNotContiguous { position: LogIndex, found: LogIndex },
    #[error(
        "durable log entry {index} has term {entry_term} above the durable current term {term}"
    )]
    EntryTermAboveCurrent {
        index: LogIndex,
        entry_term: u64,
        term: u64,
    },
}

/// A proposal the core did not accept.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProposeError {
    /// Only the leader appends client entries; retry at `leader` if known.
    #[error("not leader, leader is {leader}")]
    NotLeader { leader: NodeId },
    #[error("not leader, leader unknown; retry after an election")]
    NoLeader,
}

pub(crate) fn check_contiguous(entries: &[Entry]) -> Result<(), ConfigError> {
    for (i, e) in entries.iter().enumerate() {
        let position = i as LogIndex + 1;
        if e.index != position {
            return Err(ConfigError::LogNotContiguous {
                position,
                found: e.index,
            });
        }
    }
    Ok(())
}

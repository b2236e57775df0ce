//! Client sessions (Raft dissertation §6.3): exactly-once writes.
//!
//! A client tags each write with its random 64-bit client id and a sequence
//! number that grows by one per write. The state machine remembers, per
//! client, the last applied sequence number and its result, so a retried
//! write (same client, same sequence number) is answered from that record
//! instead of being applied twice.
//!
//! The table is part of the replicated state: it changes only when a log
//! entry is applied, and eviction picks the session whose last write has
//! the lowest log index, so every node evicts the same sessions at the same
//! point of the log. It is rebuilt with the rest of the store when the log
//! is replayed after a restart.
//!
//! The table is bounded (a session count and a byte budget for cached
//! results). A retry that arrives after its session was evicted is applied
//! again: exactly-once holds for the most recently active sessions.

use std::collections::{BTreeMap, HashMap};

use super::CommandResult;
use raft_core::LogIndex;

/// A client's random identifier.
pub type ClientId = u64;

/// How many sessions (and cached-result bytes) a store keeps. Every node of
/// a cluster must use the same limits, or their stores would diverge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    pub max_sessions: usize,
    /// Bytes of keys and values held in cached results.
    pub max_result_bytes: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            max_sessions: 10_000,
            max_result_bytes: 64 << 20,
        }
    }
}

/// What the session table says about a tagged write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionCheck {
    /// Not seen before: apply it.
    New,
    /// The client's last applied write: answer its cached result.
    Duplicate(CommandResult),
    /// Older than the client's last applied write: do not apply it (it was
    /// applied earlier, or the client has given up on it and moved on).
    Stale { last_seq: u64 },
}

#[derive(Clone, Debug)]
struct Session {
    last_seq: u64,
    result: CommandResult,
    /// Log index of the last write: the eviction order.
    last_index: LogIndex,
}

/// The per-client record of the last applied write.
#[derive(Clone, Debug, Default)]
pub struct Sessions {
    limits: SessionLimits,
    by_client: HashMap<ClientId, Session>,
    /// `last_index -> client`, oldest first.
    by_index: BTreeMap<LogIndex, ClientId>,
    result_bytes: usize,
}

impl Sessions {
    pub fn new(limits: SessionLimits) -> Self {
        Sessions {
            limits,
            ..Sessions::default()
        }
    }

    pub fn check(&self, client: ClientId, seq: u64) -> SessionCheck {
        match self.by_client.get(&client) {
            None => SessionCheck::New,
            Some(s) if seq > s.last_seq => SessionCheck::New,
            Some(s) if seq == s.last_seq => SessionCheck::Duplicate(s.result.clone()),
            Some(s) => SessionCheck::Stale {
                last_seq: s.last_seq,
            },
        }
    }

    /// Record that `client`'s write `seq`, at log `index`, gave `result`;
    /// then evict the least recently written sessions beyond the limits.
    pub fn record(&mut self, client: ClientId, seq: u64, index: LogIndex, result: CommandResult) {
        let bytes = result_bytes(&result);
        let session = Session {
            last_seq: seq,
            result,
            last_index: index,
        };
        if let Some(old) = self.by_client.insert(client, session) {
            self.by_index.remove(&old.last_index);
            self.result_bytes -= result_bytes(&old.result);
        }
        self.by_index.insert(index, client);
        self.result_bytes += bytes;
        while self.by_client.len() > self.limits.max_sessions
            || self.result_bytes > self.limits.max_result_bytes
        {
            let Some((_, oldest)) = self.by_index.pop_first() else {
                break;
            };
            if let Some(s) = self.by_client.remove(&oldest) {
                self.result_bytes -= result_bytes(&s.result);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.by_client.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_client.is_empty()
    }

    pub fn contains(&self, client: ClientId) -> bool {
        self.by_client.contains_key(&client)
    }
}

fn result_bytes(r: &CommandResult) -> usize {
    let len = |v: &Option<String>| v.as_ref().map_or(0, String::len);
    match r {
        CommandResult::Put { prev } | CommandResult::Delete { prev } => len(prev),
        CommandResult::Cas { current, .. } => len(current),
        CommandResult::Get { value } => len(value),
        CommandResult::Stale { .. } => 0,
    }
}

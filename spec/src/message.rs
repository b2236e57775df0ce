//! The four RPC messages of the Raft paper's Figure 2, one struct each.
//!
//! The sender (candidateId, leaderId) is the envelope's source, as on a real
//! network; the fields here are the rest of Figure 2's arguments and results,
//! under Figure 2's names. `Msg` wraps one of them: serde writes a newtype
//! variant around a struct exactly as it wrote the struct variants before
//! (`{"RequestVote": {"term": 1, ...}}`), so saved traces load unchanged.

use serde::{Deserialize, Serialize};
use stateright::{Rewrite, RewritePlan};

use crate::types::{Index, Log, Term};

/// Invoked by candidates to gather votes (§5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RequestVote {
    pub term: Term,
    pub last_log_index: Index,
    pub last_log_term: Term,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RequestVoteResponse {
    pub term: Term,
    pub vote_granted: bool,
}

/// Invoked by leaders to replicate log entries (§5.3); also a heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AppendEntries {
    pub term: Term,
    pub prev_log_index: Index,
    pub prev_log_term: Term,
    pub entries: Log,
    pub leader_commit: Index,
}

/// `match_index` is the last index the follower now holds on success, and
/// the conflict hint (the leader retries from `match_index + 1` at most) on
/// failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AppendEntriesResponse {
    pub term: Term,
    pub success: bool,
    pub match_index: Index,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Msg {
    RequestVote(RequestVote),
    RequestVoteResponse(RequestVoteResponse),
    AppendEntries(AppendEntries),
    AppendEntriesResponse(AppendEntriesResponse),
}

impl Msg {
    pub fn term(&self) -> Term {
        match self {
            Msg::RequestVote(m) => m.term,
            Msg::RequestVoteResponse(m) => m.term,
            Msg::AppendEntries(m) => m.term,
            Msg::AppendEntriesResponse(m) => m.term,
        }
    }

    /// The message kind's name, as traces and diagrams print it.
    pub fn kind(&self) -> &'static str {
        match self {
            Msg::RequestVote(_) => "RequestVote",
            Msg::RequestVoteResponse(_) => "RequestVoteResponse",
            Msg::AppendEntries(_) => "AppendEntries",
            Msg::AppendEntriesResponse(_) => "AppendEntriesResponse",
        }
    }
}

impl std::fmt::Display for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::RequestVote(m) => write!(
                f,
                "RequestVote(t{}, last={}@t{})",
                m.term, m.last_log_index, m.last_log_term
            ),
            Msg::RequestVoteResponse(m) => write!(
                f,
                "RequestVoteResponse(t{}, {})",
                m.term,
                if m.vote_granted { "granted" } else { "refused" }
            ),
            Msg::AppendEntries(m) => write!(
                f,
                "AppendEntries(t{}, prev={}@t{}, {}, commit={})",
                m.term, m.prev_log_index, m.prev_log_term, m.entries, m.leader_commit
            ),
            Msg::AppendEntriesResponse(m) => write!(
                f,
                "AppendEntriesResponse(t{}, {}, match={})",
                m.term,
                if m.success { "ok" } else { "reject" },
                m.match_index
            ),
        }
    }
}

/// Messages name no server in their fields (the sender is the envelope's), so
/// symmetry leaves them unchanged.
impl<R> Rewrite<R> for Msg {
    fn rewrite<S>(&self, _: &RewritePlan<R, S>) -> Self {
        *self
    }
}

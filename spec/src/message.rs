//! The four RPC messages of the Raft paper's Figure 2.
//!
//! The sender (candidateId, leaderId) is the envelope's source, as on a real
//! network; the fields here are the rest of Figure 2's arguments and results.

use serde::{Deserialize, Serialize};
use stateright::{Rewrite, RewritePlan};

use crate::types::{Index, Log, Term};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Msg {
    /// Invoked by candidates to gather votes (§5.2).
    RequestVote {
        term: Term,
        last_log_index: Index,
        last_log_term: Term,
    },
    RequestVoteResponse {
        term: Term,
        vote_granted: bool,
    },
    /// Invoked by leaders to replicate log entries (§5.3); also a heartbeat.
    AppendEntries {
        term: Term,
        prev_log_index: Index,
        prev_log_term: Term,
        entries: Log,
        leader_commit: Index,
    },
    /// `match_index` is the last index the follower now holds on success, and
    /// the conflict hint (the leader retries from `match_index + 1` at most) on
    /// failure.
    AppendEntriesResponse {
        term: Term,
        success: bool,
        match_index: Index,
    },
}

impl Msg {
    pub fn term(&self) -> Term {
        match *self {
            Msg::RequestVote { term, .. }
            | Msg::RequestVoteResponse { term, .. }
            | Msg::AppendEntries { term, .. }
            | Msg::AppendEntriesResponse { term, .. } => term,
        }
    }

    /// The message kind's name, as traces and diagrams print it.
    pub fn kind(&self) -> &'static str {
        match self {
            Msg::RequestVote { .. } => "RequestVote",
            Msg::RequestVoteResponse { .. } => "RequestVoteResponse",
            Msg::AppendEntries { .. } => "AppendEntries",
            Msg::AppendEntriesResponse { .. } => "AppendEntriesResponse",
        }
    }
}

impl std::fmt::Display for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::RequestVote {
                term,
                last_log_index,
                last_log_term,
            } => write!(f, "RequestVote(t{term}, last={last_log_index}@t{last_log_term})"),
            Msg::RequestVoteResponse { term, vote_granted } => write!(
                f,
                "RequestVoteResponse(t{term}, {})",
                if *vote_granted { "granted" } else { "refused" }
            ),
            Msg::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            } => write!(
                f,
                "AppendEntries(t{term}, prev={prev_log_index}@t{prev_log_term}, {entries}, commit={leader_commit})"
            ),
            Msg::AppendEntriesResponse {
                term,
                success,
                match_index,
            } => write!(
                f,
                "AppendEntriesResponse(t{term}, {}, match={match_index})",
                if *success { "ok" } else { "reject" }
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

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
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct RequestVote {
    pub term: Term,
    pub last_log_index: Index,
    pub last_log_term: Term,
    /// `Variant::votes_carry_commit`: the candidate's commit index and the
    /// term of its entry there (0 otherwise).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub commit: Index,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub commit_term: Term,
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct RequestVoteResponse {
    pub term: Term,
    pub vote_granted: bool,
    /// `Variant::votes_carry_commit`: a refusing voter's commit index and
    /// its term (0 otherwise, and on a grant).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub commit: Index,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub commit_term: Term,
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

/// Invoked by leaders to replicate log entries (§5.3); also a heartbeat.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
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
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct AppendEntriesResponse {
    pub term: Term,
    pub success: bool,
    pub match_index: Index,
    /// A rejection under `FlowControl::ProbeReplicate`: the prevLogIndex it
    /// rejects, so the leader can tell a stale rejection (0 otherwise).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prev_log_index: Index,
    /// A rejection under `RejectionHint::ConflictByTerm`: the term of the
    /// follower's entry at the hint (0 otherwise).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub conflict_term: Term,
}

/// `HeartbeatKind::Rpc`: a leader's heartbeat, with no log check; the
/// commit index it carries is at most the receiver's match index.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Heartbeat {
    pub term: Term,
    pub leader_commit: Index,
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct HeartbeatResponse {
    pub term: Term,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Msg {
    RequestVote(RequestVote),
    RequestVoteResponse(RequestVoteResponse),
    AppendEntries(AppendEntries),
    AppendEntriesResponse(AppendEntriesResponse),
    Heartbeat(Heartbeat),
    HeartbeatResponse(HeartbeatResponse),
}

impl Msg {
    pub fn term(&self) -> Term {
        match self {
            Msg::RequestVote(m) => m.term,
            Msg::RequestVoteResponse(m) => m.term,
            Msg::AppendEntries(m) => m.term,
            Msg::AppendEntriesResponse(m) => m.term,
            Msg::Heartbeat(m) => m.term,
            Msg::HeartbeatResponse(m) => m.term,
        }
    }

    /// The message kind's name, as traces and diagrams print it.
    pub fn kind(&self) -> &'static str {
        match self {
            Msg::RequestVote(_) => "RequestVote",
            Msg::RequestVoteResponse(_) => "RequestVoteResponse",
            Msg::AppendEntries(_) => "AppendEntries",
            Msg::AppendEntriesResponse(_) => "AppendEntriesResponse",
            Msg::Heartbeat(_) => "Heartbeat",
            Msg::HeartbeatResponse(_) => "HeartbeatResponse",
        }
    }

    /// Whether the message asks for an answer (a stale one may be ignored).
    pub fn is_request(&self) -> bool {
        matches!(
            self,
            Msg::RequestVote(_) | Msg::AppendEntries(_) | Msg::Heartbeat(_)
        )
    }
}

impl std::fmt::Display for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::RequestVote(m) => {
                write!(
                    f,
                    "RequestVote(t{}, last={}@t{}",
                    m.term, m.last_log_index, m.last_log_term
                )?;
                write_commit(f, m.commit, m.commit_term)?;
                f.write_str(")")
            }
            Msg::RequestVoteResponse(m) => {
                write!(
                    f,
                    "RequestVoteResponse(t{}, {}",
                    m.term,
                    if m.vote_granted { "granted" } else { "refused" }
                )?;
                write_commit(f, m.commit, m.commit_term)?;
                f.write_str(")")
            }
            Msg::AppendEntries(m) => write!(
                f,
                "AppendEntries(t{}, prev={}@t{}, {}, commit={})",
                m.term, m.prev_log_index, m.prev_log_term, m.entries, m.leader_commit
            ),
            Msg::AppendEntriesResponse(m) => {
                write!(
                    f,
                    "AppendEntriesResponse(t{}, {}, match={}",
                    m.term,
                    if m.success { "ok" } else { "reject" },
                    m.match_index
                )?;
                if m.conflict_term != 0 {
                    write!(f, "@t{}", m.conflict_term)?;
                }
                if m.prev_log_index != 0 {
                    write!(f, ", prev={}", m.prev_log_index)?;
                }
                f.write_str(")")
            }
            Msg::Heartbeat(m) => write!(f, "Heartbeat(t{}, commit={})", m.term, m.leader_commit),
            Msg::HeartbeatResponse(m) => write!(f, "HeartbeatResponse(t{})", m.term),
        }
    }
}

/// A vote's commit index and term, when it carries them.
fn write_commit(f: &mut std::fmt::Formatter<'_>, commit: Index, term: Term) -> std::fmt::Result {
    if commit != 0 {
        write!(f, ", commit={commit}@t{term}")?;
    }
    Ok(())
}

/// Messages name no server in their fields (the sender is the envelope's), so
/// symmetry leaves them unchanged.
impl<R> Rewrite<R> for Msg {
    fn rewrite<S>(&self, _: &RewritePlan<R, S>) -> Self {
        *self
    }
}

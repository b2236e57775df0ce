//! The vocabulary of the protocol: ids, entries, messages and roles.
//!
//! Every message carries `from` and `to`. Node ids are arbitrary `u64`s chosen by
//! the deployment; the simulator and the scripted tests use `1..=n`.

use alloc::vec::Vec;
use core::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A server's identity in the cluster.
pub type NodeId = u64;
/// A Raft term (election epoch). Starts at 0; the first election makes it 1.
pub type Term = u64;
/// A 1-based log index. Index 0 is the empty prefix (term 0).
pub type LogIndex = u64;

/// What an entry carries. A leader's first entry of its term is a `Noop`, so a
/// new leader can commit entries of earlier terms (Figure 8) without waiting
/// for a client.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EntryKind {
    Noop,
    Normal(Bytes),
}

/// One log entry: its position, the term it was created in, and its payload.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    pub index: LogIndex,
    pub term: Term,
    pub kind: EntryKind,
}

impl Entry {
    /// Bytes this entry counts against `Config::max_bytes_per_message`.
    pub fn payload_len(&self) -> usize {
        match &self.kind {
            EntryKind::Noop => 0,
            EntryKind::Normal(bytes) => bytes.len(),
        }
    }
}

/// The server roles of Figure 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
}

/// An addressed protocol message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub from: NodeId,
    pub to: NodeId,
    pub body: MessageBody,
}

/// The four RPCs of Figure 2 (requests and responses are separate messages).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageBody {
    RequestVote(RequestVote),
    RequestVoteResponse(RequestVoteResponse),
    AppendEntries(AppendEntries),
    AppendEntriesResponse(AppendEntriesResponse),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestVote {
    pub term: Term,
    pub candidate_id: NodeId,
    pub last_log_index: LogIndex,
    pub last_log_term: Term,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestVoteResponse {
    pub term: Term,
    pub vote_granted: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendEntries {
    pub term: Term,
    pub leader_id: NodeId,
    pub prev_log_index: LogIndex,
    pub prev_log_term: Term,
    pub entries: Vec<Entry>,
    pub leader_commit: LogIndex,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendEntriesResponse {
    pub term: Term,
    pub success: bool,
    /// On success: the last index this request proved to match the leader.
    /// On failure: a conflict hint, the highest index that may still match
    /// (`min(prev_log_index - 1, last_log_index)`), so the leader can skip
    /// back over a whole divergent suffix in one round trip.
    pub match_index: LogIndex,
}

impl MessageBody {
    /// The sender's term, which every message carries.
    pub fn term(&self) -> Term {
        match self {
            MessageBody::RequestVote(m) => m.term,
            MessageBody::RequestVoteResponse(m) => m.term,
            MessageBody::AppendEntries(m) => m.term,
            MessageBody::AppendEntriesResponse(m) => m.term,
        }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.index, self.term)?;
        match &self.kind {
            EntryKind::Noop => write!(f, " noop"),
            EntryKind::Normal(bytes) => {
                write!(f, " {:?}", alloc::string::String::from_utf8_lossy(bytes))
            }
        }
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}->{} {}", self.from, self.to, self.body)
    }
}

impl fmt::Display for MessageBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageBody::RequestVote(m) => write!(
                f,
                "RequestVote term={} last={}@{}",
                m.term, m.last_log_index, m.last_log_term
            ),
            MessageBody::RequestVoteResponse(m) => write!(
                f,
                "RequestVoteResponse term={} {}",
                m.term,
                if m.vote_granted {
                    "granted"
                } else {
                    "rejected"
                }
            ),
            MessageBody::AppendEntries(m) => {
                write!(
                    f,
                    "AppendEntries term={} prev={}@{} commit={} entries=[",
                    m.term, m.prev_log_index, m.prev_log_term, m.leader_commit
                )?;
                for (i, e) in m.entries.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{e}")?;
                }
                write!(f, "]")
            }
            MessageBody::AppendEntriesResponse(m) => {
                if m.success {
                    write!(
                        f,
                        "AppendEntriesResponse term={} ok match={}",
                        m.term, m.match_index
                    )
                } else {
                    write!(
                        f,
                        "AppendEntriesResponse term={} reject hint={}",
                        m.term, m.match_index
                    )
                }
            }
        }
    }
}

//! Ids, values and the message images: what a raft-rs value means in the
//! model's vocabulary.
//!
//! | model (`raft-spec`)                  | raft-rs (`raft` 0.7)                                   |
//! | ------------------------------------ | ------------------------------------------------------ |
//! | `ServerId(i)`                        | node id `i + 1` (0 is raft-rs's `INVALID_ID`)          |
//! | `Value(v)`, `v >= 1`                 | `EntryNormal` entry with data `[v]`, no context        |
//! | `Value::NOOP`                        | `EntryNormal` entry with no data (a new leader's)      |
//! | `RequestVote`                        | `MsgRequestVote` (`index`, `log_term` = last entry)    |
//! | `RequestVoteResponse`                | `MsgRequestVoteResponse` (granted = `!reject`)         |
//! | `AppendEntries`                      | `MsgAppend` (`index`, `log_term` = prev entry)         |
//! | `AppendEntriesResponse`              | `MsgAppendResponse` (see [`model_message`])            |

use raft::eraftpb::{Entry as RsEntry, EntryType, Message, MessageType};
use raft_spec::message::{
    AppendEntries, AppendEntriesResponse, Msg, RequestVote, RequestVoteResponse,
};
use raft_spec::types::{Log, ServerId, Value, MAX_SERVERS};
use raftcheck_adapter::{AdapterError, Sent};

/// raft-rs's id for a model server.
pub fn node_id(s: ServerId) -> u64 {
    u64::from(s.0) + 1
}

/// The model server for a raft-rs id, if it is one of `servers`.
pub fn server_id(id: u64, servers: u8) -> Option<ServerId> {
    (1..=u64::from(servers))
        .contains(&id)
        .then(|| ServerId((id - 1) as u8))
}

/// A raft-rs id as a model server (any id a model cluster can have: the
/// harness checks it is one of the cluster at hand).
pub(crate) fn model_server(id: u64, what: &str) -> Result<ServerId, String> {
    server_id(id, MAX_SERVERS as u8)
        .ok_or_else(|| format!("{what} {id} is no model server (ids are 1..={MAX_SERVERS})"))
}

pub(crate) use raftcheck_adapter::small;

/// The data a proposal of `v` carries.
pub fn payload(v: Value) -> Vec<u8> {
    vec![v.0]
}

/// The model value of an entry: no data is a no-op, one non-zero byte a
/// value; anything else (a conf change, a context) has no model form.
pub fn value_of(e: &RsEntry) -> Result<Value, String> {
    if e.get_entry_type() != EntryType::EntryNormal {
        return Err(format!(
            "entry {} is a {:?}, not a normal entry",
            e.index,
            e.get_entry_type()
        ));
    }
    if !e.context.is_empty() {
        return Err(format!("entry {} carries a context", e.index));
    }
    match e.data.as_ref() {
        [] => Ok(Value::NOOP),
        [v] if *v != 0 => Ok(Value(*v)),
        d => Err(format!(
            "entry {} has data {d:?}, not a model value (one byte, 1..=255)",
            e.index
        )),
    }
}

/// Entries (their indices `first_index..`) as a model log.
pub(crate) fn model_log(entries: &[RsEntry], first_index: u64) -> Result<Log, String> {
    raftcheck_adapter::model_log(
        entries.iter().map(|e| Ok((e.index, e.term, value_of(e)?))),
        first_index,
    )
}

/// A raft-rs message as the model's, or why it has none.
///
/// - `MsgRequestVote`'s `commit`/`commit_term` (raft-rs lets a voter learn
///   the candidate's commit index) have no model field: dropped.
/// - `MsgAppendResponse`: success → `match_index = index` (the last index
///   the follower now holds, or its commit index when the append was below
///   it); rejection → `match_index = reject_hint`, raft-rs's "retry from
///   `reject_hint + 1` at most", which is the model's meaning of the field
///   on failure (raft-rs computes it differently: `min(prev, last)` moved
///   back by term; the model `min(prev - 1, last)`). Its `commit` (the
///   follower's commit index) and `log_term` (the hint's term) are dropped.
/// - `MsgHeartbeat`/`MsgHeartbeatResponse` and every other type have no
///   model counterpart (a heartbeat carries no log check). The adapter
///   never makes raft-rs send them (see [`crate::RaftRs`]), so one showing
///   up is reported, naming its type.
pub fn model_message(m: &Message) -> Result<Sent, AdapterError> {
    let what = || format!("{:?} from {} to {}", m.get_msg_type(), m.from, m.to);
    let err = |e: String| AdapterError::unrepresentable(what(), e);
    let from = model_server(m.from, "sender").map_err(err)?;
    let to = model_server(m.to, "receiver").map_err(err)?;
    let term = small(m.term, "term").map_err(err)?;
    let msg = match m.get_msg_type() {
        MessageType::MsgRequestVote => Msg::RequestVote(RequestVote {
            term,
            last_log_index: small(m.index, "last log index").map_err(err)?,
            last_log_term: small(m.log_term, "last log term").map_err(err)?,
            commit: 0,
            commit_term: 0,
        }),
        MessageType::MsgRequestVoteResponse => Msg::RequestVoteResponse(RequestVoteResponse {
            term,
            vote_granted: !m.reject,
            commit: 0,
            commit_term: 0,
        }),
        MessageType::MsgAppend => {
            if m.snapshot.is_some() {
                return Err(err("an append carrying a snapshot".into()));
            }
            Msg::AppendEntries(AppendEntries {
                term,
                prev_log_index: small(m.index, "prev log index").map_err(err)?,
                prev_log_term: small(m.log_term, "prev log term").map_err(err)?,
                entries: model_log(&m.entries, m.index + 1).map_err(err)?,
                leader_commit: small(m.commit, "leader commit").map_err(err)?,
            })
        }
        MessageType::MsgAppendResponse => {
            let match_index = if m.reject { m.reject_hint } else { m.index };
            Msg::AppendEntriesResponse(AppendEntriesResponse {
                term,
                success: !m.reject,
                match_index: small(match_index, "match index").map_err(err)?,
                prev_log_index: 0,
                conflict_term: 0,
            })
        }
        t => {
            return Err(err(format!(
                "{t:?} has no counterpart among the model's four RPCs"
            )))
        }
    };
    Ok(Sent { from, to, msg })
}

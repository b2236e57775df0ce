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
//! | `Heartbeat` (heartbeat=rpc)          | `MsgHeartbeat` (`commit`)                              |
//! | `HeartbeatResponse` (heartbeat=rpc)  | `MsgHeartbeatResponse`                                 |
//!
//! A field of the model's messages that only a variant has (a vote's
//! commit, a rejection's prev index and conflict term) is read from
//! raft-rs's message under that variant, and is 0 otherwise, as the
//! model's.

use raft::eraftpb::{Entry as RsEntry, EntryType, Message, MessageType};
use raft_spec::message::{
    AppendEntries, AppendEntriesResponse, Heartbeat, HeartbeatResponse, Msg, RequestVote,
    RequestVoteResponse,
};
use raft_spec::types::{Log, ServerId, Value, MAX_SERVERS};
use raft_spec::variant::{FlowControl, HeartbeatKind, RejectionHint, Variant};
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

/// A raft-rs message as the model's under `variant`, or why it has none.
///
/// - `MsgRequestVote` and `MsgRequestVoteResponse`: `commit`/`commit_term`
///   (raft-rs always sends them: a refusing voter's, the candidate's) are
///   the model's under `votes-carry-commit`, dropped otherwise (a grant
///   carries none, as the model's).
/// - `MsgAppendResponse`: success → `match_index = index` (the last index
///   the follower now holds, or its commit index when the append was below
///   it); rejection → `match_index = reject_hint`, "retry from
///   `reject_hint + 1` at most", the model's meaning of the field on
///   failure; its `log_term` (the hint's term) is `conflict_term` under
///   `rejection-hint=conflict-by-term`, and its `index` (the rejected prev
///   index) `prev_log_index` under `flow-control=probe-replicate`, each
///   dropped otherwise (under the paper raft-rs's hint is computed by term
///   all the same: the paper's is `min(prev - 1, last)`). Its `commit` (the
///   follower's commit index) has no model field (raft-rs reads it only for
///   commit groups, which are off).
/// - `MsgHeartbeat(commit)` is `Heartbeat(leader_commit)`, and
///   `MsgHeartbeatResponse` `HeartbeatResponse` (its `commit` dropped, as
///   above), under `heartbeat=rpc`; under the paper's heartbeat the
///   adapter never makes raft-rs send them (see [`crate::RaftRs`]), so one
///   showing up is reported, as is every other type.
pub fn model_message(variant: &Variant, m: &Message) -> Result<Sent, AdapterError> {
    let what = || format!("{:?} from {} to {}", m.get_msg_type(), m.from, m.to);
    let err = |e: String| AdapterError::unrepresentable(what(), e);
    let from = model_server(m.from, "sender").map_err(err)?;
    let to = model_server(m.to, "receiver").map_err(err)?;
    let term = small(m.term, "term").map_err(err)?;
    let commit_info = || -> Result<(u8, u8), AdapterError> {
        if !variant.votes_carry_commit {
            return Ok((0, 0));
        }
        Ok((
            small(m.commit, "commit").map_err(err)?,
            small(m.commit_term, "commit term").map_err(err)?,
        ))
    };
    let heartbeat_rpc = variant.heartbeat == HeartbeatKind::Rpc;
    let msg = match m.get_msg_type() {
        MessageType::MsgRequestVote => {
            let (commit, commit_term) = commit_info()?;
            Msg::RequestVote(RequestVote {
                term,
                last_log_index: small(m.index, "last log index").map_err(err)?,
                last_log_term: small(m.log_term, "last log term").map_err(err)?,
                commit,
                commit_term,
            })
        }
        MessageType::MsgRequestVoteResponse => {
            let (commit, commit_term) = commit_info()?;
            Msg::RequestVoteResponse(RequestVoteResponse {
                term,
                vote_granted: !m.reject,
                commit,
                commit_term,
            })
        }
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
            let rejected = |on: bool, v: u64, what: &str| -> Result<u8, AdapterError> {
                if m.reject && on {
                    small(v, what).map_err(err)
                } else {
                    Ok(0)
                }
            };
            let probing = variant.flow_control == FlowControl::ProbeReplicate;
            let by_term = variant.rejection_hint == RejectionHint::ConflictByTerm;
            Msg::AppendEntriesResponse(AppendEntriesResponse {
                term,
                success: !m.reject,
                match_index: small(match_index, "match index").map_err(err)?,
                prev_log_index: rejected(probing, m.index, "rejected prev log index")?,
                conflict_term: rejected(by_term, m.log_term, "conflict term")?,
            })
        }
        MessageType::MsgHeartbeat if heartbeat_rpc => Msg::Heartbeat(Heartbeat {
            term,
            leader_commit: small(m.commit, "leader commit").map_err(err)?,
        }),
        MessageType::MsgHeartbeatResponse if heartbeat_rpc => {
            Msg::HeartbeatResponse(HeartbeatResponse { term })
        }
        t => {
            return Err(err(format!(
                "{t:?} has no counterpart among the model's RPCs under variant {variant}"
            )))
        }
    };
    Ok(Sent { from, to, msg })
}

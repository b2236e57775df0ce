//! The conventions that bridge the model and raft-core: ids, values,
//! configs and the message mapping. The abstraction function is in
//! [`abstraction`](super::abstraction), the action mapping in
//! [`step`](super::step).
//!
//! | model (`raft-spec`)                         | implementation (`raft-core`)                  |
//! | ------------------------------------------- | --------------------------------------------- |
//! | server `Id(i)` / `ServerId(i)`              | `NodeId` `i + 1` (ids are arbitrary `u64`s)   |
//! | `Value(v)`, `v >= 1`                        | `EntryKind::Normal` with payload `[v]`        |
//! | `Value::NOOP`                               | `EntryKind::Noop`                             |
//! | deliver a message `m`                       | `node(m.to).step(m)`                          |
//! | `Timeout(id, Election)`                     | `node(id).election_timeout()`                 |
//! | `Timeout(id, Heartbeat)`                    | `node(id).heartbeat_timeout()`                |
//! | `Timeout(id, Propose(v))`                   | `node(id).propose([v])`                       |
//! | `Crash(id)`                                 | `MemNode::crash` (its storage is kept)        |
//! | `Recover(id)`                               | `MemNode::restart` (from its storage)         |
//! | `Drop(envelope)`                            | nothing (the network lost it)                 |
//!
//! Every implementation config has `max_entries_per_message = max_batch` and
//! no byte limit, as the model. Each server is a [`raft_sim::MemNode`]: its
//! storage is what the node's acknowledged durable writes left, each
//! `Ready`'s writes applied *before* its messages are released (the
//! persistence contract).

use raft_core::{
    AppendEntries, AppendEntriesResponse, Bytes, Entry as ImplEntry, EntryKind, Message,
    MessageBody, NodeId, RequestVote, RequestVoteResponse,
};
use raft_spec::message::{self as spec_msg, Msg};
use raft_spec::types::{Log, ServerId, Value};
use raft_spec::Config;

/// The implementation's id for a model server.
pub fn node_id(s: ServerId) -> NodeId {
    u64::from(s.0) + 1
}

/// The model server for an implementation id, if it is one of `servers`.
pub fn server_id(n: NodeId, servers: u8) -> Option<ServerId> {
    (1..=u64::from(servers))
        .contains(&n)
        .then(|| ServerId((n - 1) as u8))
}

/// The implementation config of model server `s`.
pub fn impl_config(cfg: &Config, s: ServerId) -> raft_core::Config {
    raft_core::Config::new(node_id(s), (0..cfg.servers).map(|i| node_id(ServerId(i))))
        .with_limits(cfg.max_batch as usize, usize::MAX)
}

/// The payload of a model value.
pub fn entry_kind(v: Value) -> EntryKind {
    if v.is_noop() {
        EntryKind::Noop
    } else {
        EntryKind::Normal(Bytes::from(vec![v.0]))
    }
}

/// The model value of a payload: `Noop`, or exactly one non-zero byte.
pub fn value_of(kind: &EntryKind) -> Result<Value, String> {
    match kind {
        EntryKind::Noop => Ok(Value::NOOP),
        EntryKind::Normal(b) if b.len() == 1 && b[0] != 0 => Ok(Value(b[0])),
        EntryKind::Normal(b) => Err(format!(
            "payload {b:?} is not a model value (one byte, 1..=255)"
        )),
    }
}

pub(super) use raftcheck_adapter::small;

pub(super) fn model_log(entries: &[ImplEntry], first_index: u64) -> Result<Log, String> {
    raftcheck_adapter::model_log(
        entries
            .iter()
            .map(|e| Ok((e.index, e.term, value_of(&e.kind)?))),
        first_index,
    )
}

pub(super) fn model_server(n: NodeId, servers: u8) -> Result<ServerId, String> {
    server_id(n, servers).ok_or_else(|| format!("node id {n} is not a server of the model"))
}

pub use raftcheck_adapter::Sent;

/// A model message as raft-core receives it (the scripts' spec backend
/// speaks raft-core's messages). raft-core implements the paper's
/// variant only: the fields other variants add are not carried, and their
/// RPCs (Heartbeat) have no raft-core form (`None`).
pub fn impl_message(from: ServerId, to: ServerId, msg: &Msg) -> Option<Message> {
    let body = match *msg {
        Msg::RequestVote(spec_msg::RequestVote {
            term,
            last_log_index,
            last_log_term,
            ..
        }) => MessageBody::RequestVote(RequestVote {
            term: term.into(),
            candidate_id: node_id(from),
            last_log_index: last_log_index.into(),
            last_log_term: last_log_term.into(),
        }),
        Msg::RequestVoteResponse(spec_msg::RequestVoteResponse {
            term, vote_granted, ..
        }) => MessageBody::RequestVoteResponse(RequestVoteResponse {
            term: term.into(),
            vote_granted,
        }),
        Msg::AppendEntries(spec_msg::AppendEntries {
            term,
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
        }) => MessageBody::AppendEntries(AppendEntries {
            term: term.into(),
            leader_id: node_id(from),
            prev_log_index: prev_log_index.into(),
            prev_log_term: prev_log_term.into(),
            entries: entries
                .entries()
                .iter()
                .enumerate()
                .map(|(k, e)| ImplEntry {
                    index: u64::from(prev_log_index) + 1 + k as u64,
                    term: e.term.into(),
                    kind: entry_kind(e.value),
                })
                .collect(),
            leader_commit: leader_commit.into(),
        }),
        Msg::AppendEntriesResponse(spec_msg::AppendEntriesResponse {
            term,
            success,
            match_index,
            ..
        }) => MessageBody::AppendEntriesResponse(AppendEntriesResponse {
            term: term.into(),
            success,
            match_index: match_index.into(),
        }),
        Msg::Heartbeat(_) | Msg::HeartbeatResponse(_) => return None,
    };
    Some(Message {
        from: node_id(from),
        to: node_id(to),
        body,
    })
}

/// An implementation message as the model's, or why it has no model form.
pub fn model_message(m: &Message, servers: u8) -> Result<Sent, String> {
    let from = model_server(m.from, servers)?;
    let to = model_server(m.to, servers)?;
    let msg = match &m.body {
        MessageBody::RequestVote(rv) => {
            if rv.candidate_id != m.from {
                return Err(format!(
                    "RequestVote from {} names candidate {}",
                    m.from, rv.candidate_id
                ));
            }
            Msg::RequestVote(spec_msg::RequestVote {
                term: small(rv.term, "term")?,
                last_log_index: small(rv.last_log_index, "last log index")?,
                last_log_term: small(rv.last_log_term, "last log term")?,
                commit: 0,
                commit_term: 0,
            })
        }
        MessageBody::RequestVoteResponse(r) => {
            Msg::RequestVoteResponse(spec_msg::RequestVoteResponse {
                term: small(r.term, "term")?,
                vote_granted: r.vote_granted,
                commit: 0,
                commit_term: 0,
            })
        }
        MessageBody::AppendEntries(ae) => {
            if ae.leader_id != m.from {
                return Err(format!(
                    "AppendEntries from {} names leader {}",
                    m.from, ae.leader_id
                ));
            }
            Msg::AppendEntries(spec_msg::AppendEntries {
                term: small(ae.term, "term")?,
                prev_log_index: small(ae.prev_log_index, "prev log index")?,
                prev_log_term: small(ae.prev_log_term, "prev log term")?,
                entries: model_log(&ae.entries, ae.prev_log_index + 1)?,
                leader_commit: small(ae.leader_commit, "leader commit")?,
            })
        }
        MessageBody::AppendEntriesResponse(r) => {
            Msg::AppendEntriesResponse(spec_msg::AppendEntriesResponse {
                term: small(r.term, "term")?,
                success: r.success,
                match_index: small(r.match_index, "match index")?,
                prev_log_index: 0,
                conflict_term: 0,
            })
        }
    };
    Ok(Sent { from, to, msg })
}

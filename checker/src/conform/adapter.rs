//! The bridge between the model and the implementation: ids, values, the
//! abstraction function, the message mapping and the action mapping.
//!
//! | model (`raft-spec`)                         | implementation (`raft-core`)                  |
//! | ------------------------------------------- | --------------------------------------------- |
//! | server `Id(i)` / `ServerId(i)`              | `NodeId` `i + 1` (ids are arbitrary `u64`s)   |
//! | `Value(v)`, `v >= 1`                        | `EntryKind::Normal` with payload `[v]`        |
//! | `Value::NOOP`                               | `EntryKind::Noop`                             |
//! | `Deliver { src, dst, msg }`                 | `node(dst).step(msg)`                         |
//! | `Timeout(id, Election)`                     | `node(id).election_timeout()`                 |
//! | `Timeout(id, Heartbeat)`                    | `node(id).heartbeat_timeout()`                |
//! | `Timeout(id, Propose(v))`                   | `node(id).propose([v])`                       |
//! | `Crash(id)`                                 | the node is dropped; its storage is kept      |
//! | `Recover(id)`                               | `RaftNode::restart(cfg, storage)`             |
//! | `Drop(envelope)`                            | nothing (the network lost it)                 |
//!
//! Every implementation config has `max_entries_per_message = max_batch` and
//! no byte limit, as the model. Storage is what the node's acknowledged
//! durable writes left: each `Ready`'s writes are applied to it *before*
//! `persisted()` releases the messages (the persistence contract).

use raft_core::{
    AppendEntries, AppendEntriesResponse, Bytes, DurableState, DurableWrite, Entry as ImplEntry,
    EntryKind, Message, MessageBody, NodeId, RaftNode, Ready, RequestVote, RequestVoteResponse,
    Role as ImplRole,
};
use raft_spec::message::{self as spec_msg, Msg};
use raft_spec::server::{Durable, Role, ServerState, Timer};
use raft_spec::types::{Entry, Log, PeerMap, ServerId, ServerSet, Value, LOG_CAPACITY};
use raft_spec::{Action, Config, State};
use stateright::actor::ActorModelAction;

use super::divergence::Mismatch;
use super::perturb::Perturbation;

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

fn small(n: u64, what: &str) -> Result<u8, String> {
    u8::try_from(n).map_err(|_| format!("{what} {n} is beyond the model's range"))
}

fn model_log(entries: &[ImplEntry], first_index: u64) -> Result<Log, String> {
    if entries.len() > LOG_CAPACITY {
        return Err(format!(
            "{} entries exceed the model's log capacity {LOG_CAPACITY}",
            entries.len()
        ));
    }
    let mut log = Log::default();
    for (k, e) in entries.iter().enumerate() {
        let want = first_index + k as u64;
        if e.index != want {
            return Err(format!("entry at position {want} has index {}", e.index));
        }
        log.push(Entry {
            term: small(e.term, "term")?,
            value: value_of(&e.kind)?,
        });
    }
    Ok(log)
}

fn model_server(n: NodeId, servers: u8) -> Result<ServerId, String> {
    server_id(n, servers).ok_or_else(|| format!("node id {n} is not a server of the model"))
}

/// The abstraction function: an implementation node, read through its
/// public observation API only, as the model's server state. The ghost
/// fields (`restarts`, `vote_responses`, `out_of_range`) are not
/// implementation state: they are 0 (false) here and never compared.
pub fn abstract_state(node: &RaftNode, servers: u8) -> Result<ServerState, String> {
    let role = match node.role() {
        ImplRole::Follower => Role::Follower,
        ImplRole::Candidate => Role::Candidate,
        ImplRole::Leader => Role::Leader,
    };
    let mut votes_granted = ServerSet::default();
    if let Some(votes) = node.granted_votes() {
        for v in votes {
            votes_granted.insert(model_server(*v, servers)?);
        }
    }
    let mut next_index = PeerMap::default();
    let mut match_index = PeerMap::default();
    for (peer, p) in node.progresses() {
        let s = model_server(peer, servers)?;
        next_index.set(s, small(p.next_index, "next index")?);
        match_index.set(s, small(p.match_index, "match index")?);
    }
    Ok(ServerState {
        role,
        term: small(node.term(), "term")?,
        voted_for: node
            .voted_for()
            .map(|v| model_server(v, servers))
            .transpose()?,
        log: model_log(node.log(), 1)?,
        commit_index: small(node.commit_index(), "commit index")?,
        votes_granted,
        vote_responses: 0,
        next_index,
        match_index,
        restarts: 0,
        out_of_range: false,
    })
}

/// Storage as the model's `Durable` (ghost restart count left 0).
pub fn abstract_storage(d: &DurableState, servers: u8) -> Result<Durable, String> {
    Ok(Durable {
        term: small(d.term, "durable term")?,
        voted_for: d.voted_for.map(|v| model_server(v, servers)).transpose()?,
        log: model_log(&d.log, 1)?,
        restarts: 0,
    })
}

pub use crate::trace::Sent;

/// A model message as the implementation receives it.
pub fn impl_message(from: ServerId, to: ServerId, msg: &Msg) -> Message {
    let body = match *msg {
        Msg::RequestVote(spec_msg::RequestVote {
            term,
            last_log_index,
            last_log_term,
        }) => MessageBody::RequestVote(RequestVote {
            term: term.into(),
            candidate_id: node_id(from),
            last_log_index: last_log_index.into(),
            last_log_term: last_log_term.into(),
        }),
        Msg::RequestVoteResponse(spec_msg::RequestVoteResponse { term, vote_granted }) => {
            MessageBody::RequestVoteResponse(RequestVoteResponse {
                term: term.into(),
                vote_granted,
            })
        }
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
        }) => MessageBody::AppendEntriesResponse(AppendEntriesResponse {
            term: term.into(),
            success,
            match_index: match_index.into(),
        }),
    };
    Message {
        from: node_id(from),
        to: node_id(to),
        body,
    }
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
            })
        }
        MessageBody::RequestVoteResponse(r) => {
            Msg::RequestVoteResponse(spec_msg::RequestVoteResponse {
                term: small(r.term, "term")?,
                vote_granted: r.vote_granted,
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
            })
        }
    };
    Ok(Sent { from, to, msg })
}

/// One implementation server: a running node (none while crashed) and the
/// storage its acknowledged durable writes built.
#[derive(Clone, Debug)]
pub struct ImplServer {
    pub node: Option<RaftNode>,
    pub storage: DurableState,
}

impl ImplServer {
    /// A brand-new node with empty storage.
    pub fn fresh(cfg: &Config, s: ServerId) -> Result<Self, String> {
        let node = RaftNode::new(impl_config(cfg, s)).map_err(|e| e.to_string())?;
        Ok(ImplServer {
            node: Some(node),
            storage: DurableState::default(),
        })
    }
}

/// The server a model action acts on (none for a network drop).
pub fn acting_server(action: &Action) -> Option<ServerId> {
    match action {
        ActorModelAction::Deliver { dst, .. } => Some((*dst).into()),
        ActorModelAction::Timeout(id, _)
        | ActorModelAction::Crash(id)
        | ActorModelAction::Recover(id) => Some((*id).into()),
        ActorModelAction::SelectRandom { actor, .. } => Some((*actor).into()),
        ActorModelAction::Drop(_) => None,
    }
}

/// What the acting server sent in one model step (the handler run on its
/// own; see [`crate::trace::sent_by`]).
pub use crate::trace::sent_by as model_sent;

/// What the implementation did for one model action.
#[derive(Debug)]
pub struct ImplStep {
    /// The acting server after the step (unchanged clone for a drop).
    pub server: Option<ImplServer>,
    /// The messages it released after persisting, in the model's vocabulary.
    pub sent: Vec<Sent>,
}

/// Applies a `Ready`: its writes to storage first (acknowledging them),
/// then releases the messages. Perturbations of storage or messages happen
/// here, as a faulty runtime would do them.
fn run_ready(
    ready: Ready,
    storage: &mut DurableState,
    perturbation: Option<Perturbation>,
    servers: u8,
) -> Vec<Message> {
    let (writes, unpersisted) = ready.into_writes();
    for w in &writes {
        match (perturbation, w) {
            // A storage that never truncates: appends overwrite in place and
            // the old suffix beyond them survives.
            (Some(Perturbation::SkipTruncation), DurableWrite::TruncateFrom { .. }) => {}
            (Some(Perturbation::SkipTruncation), DurableWrite::Append { entries }) => {
                for e in entries {
                    match usize::try_from(e.index - 1) {
                        Ok(i) if i < storage.log.len() => storage.log[i] = e.clone(),
                        _ => storage.log.push(e.clone()),
                    }
                }
            }
            _ => storage.apply(w),
        }
    }
    let mut messages = unpersisted.persisted().messages;
    if let Some(p) = perturbation {
        p.perturb_messages(&mut messages, servers);
    }
    messages
}

/// Takes one model action on the implementation. `before` is the acting
/// server's implementation state (cloned, never changed in place).
pub fn impl_step(
    cfg: &Config,
    action: &Action,
    before: &ImplServer,
    perturbation: Option<Perturbation>,
) -> Result<ImplStep, Mismatch> {
    let mut server = before.clone();
    let running = |server: &mut ImplServer| -> Result<RaftNode, Mismatch> {
        server.node.take().ok_or_else(|| {
            Mismatch::harness("the model acts on a server whose implementation node is down")
        })
    };
    let ready = match action {
        ActorModelAction::Drop(_) => {
            return Ok(ImplStep {
                server: Some(server),
                sent: Vec::new(),
            })
        }
        ActorModelAction::Crash(_) => {
            server.node = None;
            return Ok(ImplStep {
                server: Some(server),
                sent: Vec::new(),
            });
        }
        ActorModelAction::Recover(id) => {
            if server.node.is_some() {
                return Err(Mismatch::harness(
                    "the model recovers a server whose implementation node is running",
                ));
            }
            let mut storage = server.storage.clone();
            if perturbation == Some(Perturbation::ForgetVoteOnRestart) {
                storage.voted_for = None;
            }
            let node = RaftNode::restart(impl_config(cfg, (*id).into()), storage).map_err(|e| {
                Mismatch::new("restart", "a node restarted from storage", e.to_string())
            })?;
            server.node = Some(node);
            return Ok(ImplStep {
                server: Some(server),
                sent: Vec::new(),
            });
        }
        ActorModelAction::Deliver { src, dst, msg } => {
            let mut node = running(&mut server)?;
            let mut m = impl_message((*src).into(), (*dst).into(), msg);
            if let Some(p) = perturbation {
                p.perturb_input(&mut m);
            }
            let ready = node.step(m);
            server.node = Some(node);
            ready
        }
        ActorModelAction::Timeout(_, timer) => {
            let mut node = running(&mut server)?;
            let ready = match timer {
                Timer::Election => node.election_timeout(),
                Timer::Heartbeat => node.heartbeat_timeout(),
                Timer::Propose(v) => match node.propose(Bytes::from(vec![v.0])) {
                    Ok((_, ready)) => ready,
                    Err(e) => {
                        return Err(Mismatch::new(
                            "proposal",
                            format!("{v} appended by the leader"),
                            format!("refused: {e}"),
                        ))
                    }
                },
            };
            server.node = Some(node);
            ready
        }
        ActorModelAction::SelectRandom { .. } => {
            return Err(Mismatch::harness(
                "the model made a random choice; Raft servers make none",
            ))
        }
    };
    let messages = run_ready(ready, &mut server.storage, perturbation, cfg.servers);
    let sent = messages
        .iter()
        .map(|m| model_message(m, cfg.servers))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Mismatch::new("messages", "messages the model can represent", e))?;
    Ok(ImplStep {
        server: Some(server),
        sent,
    })
}

fn show_vote(v: Option<ServerId>) -> String {
    v.map_or("none".into(), |s| s.to_string())
}

fn show_set(set: ServerSet) -> String {
    let names: Vec<_> = set.iter().map(|s| s.to_string()).collect();
    format!("{{{}}}", names.join(", "))
}

fn show_peers(m: &PeerMap, servers: u8) -> String {
    let parts: Vec<_> = (0..servers)
        .map(ServerId)
        .map(|s| format!("{s}:{}", m.get(s)))
        .collect();
    format!("[{}]", parts.join(" "))
}

fn show_role(r: Role) -> &'static str {
    match r {
        Role::Follower => "follower",
        Role::Candidate => "candidate",
        Role::Leader => "leader",
    }
}

/// The first field where the model's and the implementation's server state
/// differ, named `sN.field`.
pub fn compare_server(
    s: ServerId,
    model: &ServerState,
    imp: &ServerState,
    servers: u8,
) -> Option<Mismatch> {
    let field = |name: &str, m: String, i: String| Some(Mismatch::new(format!("{s}.{name}"), m, i));
    if model.role != imp.role {
        return field(
            "role",
            show_role(model.role).into(),
            show_role(imp.role).into(),
        );
    }
    if model.term != imp.term {
        return field("term", model.term.to_string(), imp.term.to_string());
    }
    if model.voted_for != imp.voted_for {
        return field(
            "voted_for",
            show_vote(model.voted_for),
            show_vote(imp.voted_for),
        );
    }
    if model.log != imp.log {
        return field("log", model.log.to_string(), imp.log.to_string());
    }
    if model.commit_index != imp.commit_index {
        return field(
            "commit_index",
            model.commit_index.to_string(),
            imp.commit_index.to_string(),
        );
    }
    if model.votes_granted != imp.votes_granted {
        return field(
            "votes_granted",
            show_set(model.votes_granted),
            show_set(imp.votes_granted),
        );
    }
    if model.next_index != imp.next_index {
        return field(
            "next_index",
            show_peers(&model.next_index, servers),
            show_peers(&imp.next_index, servers),
        );
    }
    if model.match_index != imp.match_index {
        return field(
            "match_index",
            show_peers(&model.match_index, servers),
            show_peers(&imp.match_index, servers),
        );
    }
    None
}

fn show_durable(d: &Durable) -> String {
    format!(
        "term={} vote={} log={}",
        d.term,
        show_vote(d.voted_for),
        d.log
    )
}

/// Compares the acting server after one step: the abstract state, the
/// storage (against the model's saved `Durable`, and against the node's own
/// persistent state: the persistence contract), and the messages sent, as
/// multisets.
pub fn compare_step(
    cfg: &Config,
    next: &State,
    acting: Option<ServerId>,
    imp: &ImplStep,
    model_sent: &[Sent],
) -> Option<Mismatch> {
    if let (Some(s), Some(server)) = (acting, &imp.server) {
        let i = s.0 as usize;
        if !next.crashed[i] {
            let Some(node) = &server.node else {
                return Some(Mismatch::new(
                    format!("{s}.running"),
                    "running".to_string(),
                    "down".to_string(),
                ));
            };
            let abs = match abstract_state(node, cfg.servers) {
                Ok(a) => a,
                Err(e) => {
                    return Some(Mismatch::new(
                        format!("{s}.state"),
                        "a state the model can represent",
                        e,
                    ))
                }
            };
            if let Some(m) = compare_server(s, &next.actor_states[i], &abs, cfg.servers) {
                return Some(m);
            }
            let stored = match abstract_storage(&server.storage, cfg.servers) {
                Ok(d) => d,
                Err(e) => {
                    return Some(Mismatch::new(
                        format!("{s}.storage"),
                        "storage the model can represent",
                        e,
                    ))
                }
            };
            let own = abs.durable();
            let own = Durable { restarts: 0, ..own };
            if stored != own {
                return Some(Mismatch::new(
                    format!("{s}.storage (persistence contract: the node's term, vote and log)"),
                    show_durable(&own),
                    show_durable(&stored),
                ));
            }
            if let Some(model_storage) = &next.actor_storages[i] {
                let model_storage = Durable {
                    restarts: 0,
                    ..*model_storage
                };
                if model_storage != stored {
                    return Some(Mismatch::new(
                        format!("{s}.storage"),
                        show_durable(&model_storage),
                        show_durable(&stored),
                    ));
                }
            }
        }
    }
    let mut want = model_sent.to_vec();
    let mut got = imp.sent.clone();
    want.sort();
    got.sort();
    if want != got {
        let show = |v: &[Sent]| {
            if v.is_empty() {
                "nothing".to_string()
            } else {
                v.iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        };
        return Some(Mismatch::new("messages sent", show(&want), show(&got)));
    }
    None
}

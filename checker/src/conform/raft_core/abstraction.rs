//! The abstraction function: an implementation node and its storage, read
//! through their public observation API only, as the model's state.

use raft_core::{DurableState, RaftNode, Role as ImplRole};
use raft_spec::server::{Durable, Role, ServerState};
use raft_spec::types::{PeerMap, ServerSet};

use super::convert::{model_log, model_server, small};

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
        ..ServerState::default()
    })
}

/// Storage as the model's `Durable` (ghost restart count left 0).
pub fn abstract_storage(d: &DurableState, servers: u8) -> Result<Durable, String> {
    Ok(Durable {
        term: small(d.term, "durable term")?,
        voted_for: d.voted_for.map(|v| model_server(v, servers)).transpose()?,
        log: model_log(&d.log, 1)?,
        restarts: 0,
        commit_index: 0,
    })
}

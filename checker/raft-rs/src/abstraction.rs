//! The abstraction function: a raft-rs node and its storage, read through
//! raft-rs's public API, as the model's server state and durable state.

use raft::eraftpb::HardState;
use raft::storage::MemStorage;
use raft::{GetEntriesContext, RawNode, StateRole};
use raft_spec::server::{Durable, Role, ServerState};
use raft_spec::types::{PeerMap, ServerSet};

use crate::convert::{model_log, model_server, small};
use crate::node::DurableCopy;

fn vote(hs_vote: u64) -> Result<Option<raft_spec::types::ServerId>, String> {
    (hs_vote != raft::INVALID_ID)
        .then(|| model_server(hs_vote, "vote"))
        .transpose()
}

/// A running node as the model's server state. The model's ghost fields are
/// left 0 (false). A candidate's votes are raft-rs's tally (its own vote
/// included, as the model's); a leader's peers are its `Progress`es (its
/// own entry left 0, as the model's); a follower or candidate has no peer
/// state in the model, so raft-rs's stale progresses are not shown.
pub fn abstract_state(raw: &RawNode<MemStorage>) -> Result<ServerState, String> {
    let r = &raw.raft;
    let role = match r.state {
        StateRole::Follower => Role::Follower,
        StateRole::Candidate => Role::Candidate,
        StateRole::Leader => Role::Leader,
        StateRole::PreCandidate => {
            return Err("a pre-candidate (pre-vote is off: the model has none)".into())
        }
    };
    let mut votes_granted = ServerSet::default();
    if role == Role::Candidate {
        for (&id, &granted) in r.prs().votes() {
            if granted {
                votes_granted.insert(model_server(id, "voter")?);
            }
        }
    }
    let (mut next_index, mut match_index) = (PeerMap::default(), PeerMap::default());
    if role == Role::Leader {
        for (&id, pr) in r.prs().iter() {
            if id == r.id {
                continue;
            }
            let s = model_server(id, "peer")?;
            next_index.set(s, small(pr.next_idx, "next index")?);
            match_index.set(s, small(pr.matched, "match index")?);
        }
    }
    let first = r.raft_log.first_index();
    if first != 1 {
        return Err(format!(
            "the log starts at {first} (compacted: the model never compacts)"
        ));
    }
    let entries = r
        .raft_log
        .entries(first, None, GetEntriesContext::empty(false))
        .map_err(|e| format!("reading the log: {e}"))?;
    Ok(ServerState {
        role,
        term: small(r.term, "term")?,
        voted_for: vote(r.vote)?,
        log: model_log(&entries, first)?,
        commit_index: small(r.raft_log.committed, "commit index")?,
        votes_granted,
        vote_responses: 0,
        next_index,
        match_index,
        restarts: 0,
        out_of_range: false,
        leader: None,
        votes_refused: Default::default(),
        replicating: Default::default(),
        paused: Default::default(),
    })
}

/// Storage as the model's `Durable` (ghost restart count left 0). The hard
/// state's commit index has no model counterpart (the model persists none).
pub fn abstract_storage(d: &DurableCopy) -> Result<Durable, String> {
    let HardState { term, vote: v, .. } = &d.hard_state;
    Ok(Durable {
        term: small(*term, "durable term")?,
        voted_for: vote(*v)?,
        log: model_log(&d.entries, 1)?,
        restarts: 0,
        commit_index: 0,
    })
}

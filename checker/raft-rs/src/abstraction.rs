//! The abstraction function: a raft-rs node and its storage, read through
//! raft-rs's public API, as the model's server state and durable state.

use raft::eraftpb::HardState;
use raft::storage::MemStorage;
use raft::{GetEntriesContext, ProgressState, RawNode, StateRole};
use raft_spec::server::{Durable, Role, ServerState};
use raft_spec::types::{PeerMap, ServerSet};
use raft_spec::variant::{FlowControl, Variant};

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
///
/// What only a variant has, shown under it (the default otherwise, as the
/// model's): a follower's known leader (`leader_id`; raft-rs's leader
/// names itself, the model's does not), a candidate's refusers (its vote
/// tally's rejections), a leader's peers in `Replicate` state and its
/// probed peers that are paused.
pub fn abstract_state(raw: &RawNode<MemStorage>, variant: &Variant) -> Result<ServerState, String> {
    let r = &raw.raft;
    let role = match r.state {
        StateRole::Follower => Role::Follower,
        StateRole::Candidate => Role::Candidate,
        StateRole::Leader => Role::Leader,
        StateRole::PreCandidate => {
            return Err("a pre-candidate (pre-vote is off: the model has none)".into())
        }
    };
    let (mut votes_granted, mut votes_refused) = (ServerSet::default(), ServerSet::default());
    if role == Role::Candidate {
        for (&id, &granted) in r.prs().votes() {
            let voter = model_server(id, "voter")?;
            if granted {
                votes_granted.insert(voter);
            } else if variant.refused_candidate_steps_down {
                votes_refused.insert(voter);
            }
        }
    }
    let (mut next_index, mut match_index) = (PeerMap::default(), PeerMap::default());
    let (mut replicating, mut paused) = (ServerSet::default(), ServerSet::default());
    let probing = variant.flow_control == FlowControl::ProbeReplicate;
    if role == Role::Leader {
        for (&id, pr) in r.prs().iter() {
            if id == r.id {
                continue;
            }
            let s = model_server(id, "peer")?;
            next_index.set(s, small(pr.next_idx, "next index")?);
            match_index.set(s, small(pr.matched, "match index")?);
            if probing {
                match pr.state {
                    ProgressState::Replicate => replicating.insert(s),
                    ProgressState::Probe if pr.paused => paused.insert(s),
                    ProgressState::Probe => {}
                    ProgressState::Snapshot => {
                        return Err(format!("peer {s} is sent a snapshot (the model has none)"))
                    }
                }
            }
        }
    }
    let leader = if role == Role::Follower && variant.leader_stickiness {
        (r.leader_id != raft::INVALID_ID)
            .then(|| model_server(r.leader_id, "leader"))
            .transpose()?
    } else {
        None
    };
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
        leader,
        votes_refused,
        replicating,
        paused,
    })
}

/// Storage as the model's `Durable` (ghost restart count left 0). The hard
/// state's commit index is the model's under `persisted-commit`; else the
/// model persists none (0).
pub fn abstract_storage(d: &DurableCopy, variant: &Variant) -> Result<Durable, String> {
    let HardState {
        term,
        vote: v,
        commit,
        ..
    } = &d.hard_state;
    let commit_index = if variant.persisted_commit {
        small(*commit, "durable commit index")?
    } else {
        0
    };
    Ok(Durable {
        term: small(*term, "durable term")?,
        voted_for: vote(*v)?,
        log: model_log(&d.entries, 1)?,
        restarts: 0,
        commit_index,
    })
}

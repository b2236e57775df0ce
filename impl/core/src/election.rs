//! Figure 2, terms and elections: adopting a higher term, the election
//! timeout, RequestVote and its response, and taking office. Each action is
//! named after its raft.tla operator, as in the spec (`spec/src/server/`).

use crate::node::{Progress, RaftNode};
use crate::types::{EntryKind, MessageBody, NodeId, RequestVote, RequestVoteResponse, Role, Term};

impl RaftNode {
    /// raft.tla's UpdateTerm: "If RPC request or response contains term T >
    /// currentTerm: set currentTerm = T, convert to follower" (and forget
    /// the old vote).
    pub(crate) fn update_term(&mut self, term: Term) {
        self.term = term;
        self.voted_for = None;
        self.role = Role::Follower;
        self.leader_hint = None;
        self.votes.clear();
        self.mark_hard_state_dirty();
    }

    /// raft.tla's Timeout: followers and candidates start an election;
    /// leaders ignore the timer.
    pub(crate) fn timeout(&mut self) {
        if self.role == Role::Leader {
            return;
        }
        // A peer's message can carry any term, u64::MAX included; at the
        // last term there is no election left to start.
        let Some(term) = self.term.checked_add(1) else {
            return;
        };
        self.term = term;
        self.voted_for = Some(self.config.id);
        self.role = Role::Candidate;
        self.leader_hint = None;
        self.votes.clear();
        self.votes.insert(self.config.id);
        self.mark_hard_state_dirty();
        for i in 0..self.peers.len() {
            self.request_vote(i);
        }
        if self.votes.len() >= self.quorum() {
            self.become_leader();
        }
    }

    /// raft.tla's RequestVote: the candidate asks peer `i` for its vote.
    pub(crate) fn request_vote(&mut self, i: usize) {
        let request = RequestVote {
            term: self.term,
            candidate_id: self.config.id,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
        };
        let to = self.peers[i].id;
        self.send(to, MessageBody::RequestVote(request));
    }

    /// raft.tla's HandleRequestVoteRequest: grant iff the term is current,
    /// we have not voted for someone else, and the candidate's log is at
    /// least as up to date as ours (§5.4.1).
    pub(crate) fn handle_request_vote_request(&mut self, from: NodeId, rv: RequestVote) {
        // A higher term was already taken (`update_term`), so this is
        // [RequestVote receiver 1]: reply false if term < currentTerm.
        let current = rv.term == self.term;
        // [RequestVote receiver 2] Grant if votedFor is null or candidateId,
        // and the candidate's log is at least as up-to-date as ours.
        let granted = current
            && self.voted_for.unwrap_or(rv.candidate_id) == rv.candidate_id
            && self.log.is_up_to_date(rv.last_log_index, rv.last_log_term);
        if granted && self.voted_for.is_none() {
            self.voted_for = Some(rv.candidate_id);
            // The vote goes out in the same Ready, after this write is durable.
            self.mark_hard_state_dirty();
        }
        let reply = RequestVoteResponse {
            term: self.term,
            vote_granted: granted,
        };
        self.send(from, MessageBody::RequestVoteResponse(reply));
    }

    /// raft.tla's HandleRequestVoteResponse: count a vote of the current
    /// term; a majority makes us leader.
    pub(crate) fn handle_request_vote_response(&mut self, from: NodeId, r: RequestVoteResponse) {
        if self.role != Role::Candidate || r.term != self.term || !r.vote_granted {
            return;
        }
        self.votes.insert(from);
        if self.votes.len() >= self.quorum() {
            self.become_leader();
        }
    }

    /// raft.tla's BecomeLeader: reset every peer's progress, append the term's no-op, and announce
    /// ourselves with AppendEntries.
    pub(crate) fn become_leader(&mut self) {
        self.role = Role::Leader;
        self.votes.clear();
        self.leader_hint = Some(self.config.id);
        let next_index = self.log.last_index() + 1;
        for peer in &mut self.peers {
            peer.progress = Progress {
                next_index,
                match_index: 0,
            };
        }
        self.append_to_own_log(EntryKind::Noop);
        self.broadcast_append_entries();
        // A single-node cluster commits the no-op on its own.
        self.advance_commit_index();
    }
}

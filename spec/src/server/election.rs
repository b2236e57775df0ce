//! Elections (§5.2, §5.4.1): terms, votes, candidates and new leaders.

use std::borrow::Cow;

use super::{Effects, Outbox, RaftServer, RecordRange, Role, ServerState, Timer};
use crate::bug::Bug;
use crate::coverage::Rule;
use crate::message::{Msg, RequestVote, RequestVoteResponse};
use crate::types::{
    index_plus, next_term, Entry, Index, PeerMap, ServerId, ServerSet, Term, Value,
};

impl RaftServer {
    pub(super) fn peers(&self, me: ServerId) -> impl Iterator<Item = ServerId> {
        (0..self.cfg.servers)
            .map(ServerId)
            .filter(move |s| *s != me)
    }

    /// raft.tla's UpdateTerm. All servers: if an RPC carries term T >
    /// currentTerm, set currentTerm = T and convert to follower (§5.1).
    pub(super) fn update_term(
        &self,
        state: &mut Cow<ServerState>,
        term: Term,
        o: &mut impl Effects,
    ) {
        o.cover(Rule::StepDownOnHigherTerm);
        let s = state.to_mut();
        s.term = term;
        s.leader = None;
        // Bug::VoteKeptOnNewTerm: the old term's vote is kept.
        if !self.cfg.has_bug(Bug::VoteKeptOnNewTerm) {
            s.voted_for = None;
        }
        // Bug::NoStepDown: a leader keeps leading in the new term.
        if !(s.role == Role::Leader && self.cfg.has_bug(Bug::NoStepDown)) {
            self.become_follower(s, o);
        }
    }

    pub(super) fn become_follower(&self, s: &mut ServerState, o: &mut impl Effects) {
        if s.role == Role::Leader {
            o.cancel_timer(Timer::Heartbeat);
            for v in 1..=self.cfg.values {
                o.cancel_timer(Timer::Propose(Value(v)));
            }
            o.set_timer(Timer::Election);
        }
        s.role = Role::Follower;
        s.votes_granted = ServerSet::default();
        s.votes_refused = ServerSet::default();
        s.vote_responses = 0;
        s.next_index = PeerMap::default();
        s.match_index = PeerMap::default();
        s.replicating = ServerSet::default();
        s.paused = ServerSet::default();
    }

    /// raft.tla's Timeout. Followers and candidates: on election timeout,
    /// start an election: increment currentTerm, vote for self, send
    /// RequestVote to all other servers (§5.2).
    pub(super) fn timeout(
        &self,
        state: &mut Cow<ServerState>,
        me: ServerId,
        outbox: &mut Outbox,
        o: &mut impl Effects,
    ) {
        // Keep the timer set: a candidate may time out again.
        o.set_timer(Timer::Election);
        if state.role == Role::Leader || state.term >= self.cfg.max_term {
            return; // bound reached: the timeout is a no-op, so not a step
        }
        o.cover(Rule::StartElection);
        let s = state.to_mut();
        s.term = s.checked(next_term(s.term));
        s.role = Role::Candidate;
        s.voted_for = Some(me);
        s.leader = None;
        s.votes_granted = ServerSet::default();
        s.votes_granted.insert(me);
        s.votes_refused = ServerSet::default();
        s.vote_responses = 0;
        if self.has_majority(s.votes_granted.len()) {
            self.become_leader(state, me, outbox, o);
            return;
        }
        for peer in self.peers(me) {
            outbox.push((peer, self.request_vote(state)));
        }
    }

    /// raft.tla's RequestVote: the request a candidate sends each peer.
    pub(super) fn request_vote(&self, s: &ServerState) -> Msg {
        let (commit, commit_term) = self.commit_info(s);
        Msg::RequestVote(RequestVote {
            term: s.term,
            last_log_index: s.log.last_index(),
            last_log_term: s.log.last_term(),
            commit,
            commit_term,
        })
    }

    /// Variant::votes_carry_commit: the commit index and the term of the
    /// entry there, which votes carry ((0, 0) otherwise).
    fn commit_info(&self, s: &ServerState) -> (Index, Term) {
        if self.cfg.variant.votes_carry_commit {
            (s.commit_index, s.log.term_at(s.commit_index))
        } else {
            (0, 0)
        }
    }

    /// Variant::votes_carry_commit: a non-leader learns that `commit` (an
    /// entry of `commit_term`) is committed, and commits it if its log holds
    /// that entry: by Log Matching it then holds the whole committed prefix.
    fn commit_by_vote(
        &self,
        state: &mut Cow<ServerState>,
        commit: Index,
        commit_term: Term,
        o: &mut impl Effects,
    ) {
        if commit == 0 || commit_term == 0 || commit <= state.commit_index {
            return;
        }
        if state.role == Role::Leader || state.log.get(commit).map(|e| e.term) != Some(commit_term)
        {
            return;
        }
        o.cover(Rule::CommitByVote);
        state.to_mut().commit_index = commit;
    }

    pub(super) fn has_majority(&self, count: usize) -> bool {
        count >= self.cfg.majority()
    }

    /// raft.tla's HandleRequestVoteRequest: the RequestVote receiver.
    pub(super) fn handle_request_vote_request(
        &self,
        state: &mut Cow<ServerState>,
        candidate: ServerId,
        req: RequestVote,
        outbox: &mut Outbox,
        o: &mut impl Effects,
    ) {
        // The receiver has already taken a higher term (`update_term`).
        // [RequestVote receiver 1] Reply false if term < currentTerm.
        let rule = if req.term < state.term {
            Rule::RefuseVoteStaleTerm
        // [RequestVote receiver 2] Grant if votedFor is null or candidateId,
        // and the candidate's log is at least as up-to-date as ours.
        } else if !self.can_vote_for(state, candidate) {
            Rule::RefuseVoteAlreadyVoted
        // Variant::leader_stickiness: no new vote while a leader is known.
        } else if self.cfg.variant.leader_stickiness
            && state.voted_for.is_none()
            && state.leader.is_some()
        {
            Rule::RefuseVoteLeaderKnown
        } else if !self.candidate_log_is_up_to_date(state, req.last_log_index, req.last_log_term) {
            Rule::RefuseVoteLogNotUpToDate
        } else {
            Rule::GrantVote
        };
        o.cover(rule);
        let grant = rule == Rule::GrantVote;
        if grant {
            state.to_mut().voted_for = Some(candidate);
        }
        // A refusal carries the voter's commit (Variant::votes_carry_commit),
        // which the voter took before learning the candidate's.
        let (commit, commit_term) = if grant {
            (0, 0)
        } else {
            self.commit_info(state)
        };
        outbox.push((
            candidate,
            Msg::RequestVoteResponse(RequestVoteResponse {
                term: state.term,
                vote_granted: grant,
                commit,
                commit_term,
            }),
        ));
        if !grant {
            self.commit_by_vote(state, req.commit, req.commit_term, o);
        }
    }

    /// One vote per term: votedFor is null or already this candidate.
    pub(super) fn can_vote_for(&self, state: &ServerState, candidate: ServerId) -> bool {
        // Bug::DoubleVote: a second, different vote in the same term.
        self.cfg.has_bug(Bug::DoubleVote)
            || state.voted_for.is_none()
            || state.voted_for == Some(candidate)
    }

    /// §5.4.1: the candidate's last entry has a later term, or the same term
    /// and an index at least ours.
    pub(super) fn candidate_log_is_up_to_date(
        &self,
        state: &ServerState,
        last_log_index: Index,
        last_log_term: Term,
    ) -> bool {
        // Bug::VoteWithoutLogCheck: any log will do.
        self.cfg.has_bug(Bug::VoteWithoutLogCheck)
            || last_log_term > state.log.last_term()
            || (last_log_term == state.log.last_term() && last_log_index >= state.log.last_index())
    }

    /// raft.tla's HandleRequestVoteResponse. Candidates: count votes from
    /// distinct servers of the current term; with a majority, become leader
    /// (§5.2).
    pub(super) fn handle_request_vote_response(
        &self,
        state: &mut Cow<ServerState>,
        me: ServerId,
        voter: ServerId,
        resp: RequestVoteResponse,
        outbox: &mut Outbox,
        o: &mut impl Effects,
    ) {
        // Bug::StaleVoteCounted: a vote from an older term is counted too.
        let current = resp.term == state.term || self.cfg.has_bug(Bug::StaleVoteCounted);
        if state.role != Role::Candidate || !current {
            o.cover(Rule::IgnoreVoteResponse);
            return;
        }
        if !resp.vote_granted {
            self.count_refusal(state, voter, o);
            self.commit_by_vote(state, resp.commit, resp.commit_term, o);
            return;
        }
        let won = if self.cfg.has_bug(Bug::VotesNotDeduplicated) {
            // Counts responses, so a duplicated response counts twice.
            o.cover(Rule::CountVote);
            let s = state.to_mut();
            s.vote_responses += 1;
            self.has_majority(1 + s.vote_responses as usize)
        } else {
            if state.votes_granted.contains(voter) || state.votes_refused.contains(voter) {
                o.cover(Rule::IgnoreVoteResponse);
                return;
            }
            o.cover(Rule::CountVote);
            let s = state.to_mut();
            s.votes_granted.insert(voter);
            self.has_majority(s.votes_granted.len())
        };
        if won {
            self.become_leader(state, me, outbox, o);
        }
    }

    /// A refused vote. Variant::refused_candidate_steps_down: a candidate
    /// that can no longer win (the voters not yet heard from would not make
    /// a majority) becomes a follower of its term; otherwise it is ignored.
    fn count_refusal(&self, state: &mut Cow<ServerState>, voter: ServerId, o: &mut impl Effects) {
        if !self.cfg.variant.refused_candidate_steps_down
            || state.votes_granted.contains(voter)
            || state.votes_refused.contains(voter)
        {
            o.cover(Rule::IgnoreVoteResponse);
            return;
        }
        let s = state.to_mut();
        s.votes_refused.insert(voter);
        let unheard = self.cfg.servers as usize - s.votes_granted.len() - s.votes_refused.len();
        if self.has_majority(s.votes_granted.len() + unheard) {
            o.cover(Rule::CountRefusal);
        } else {
            o.cover(Rule::CandidateLoses);
            self.become_follower(s, o);
        }
    }

    /// raft.tla's BecomeLeader: nextIndex = last log index + 1 and
    /// matchIndex = 0 for each peer, then a no-op of its own term so earlier
    /// entries can commit (§8), then AppendEntries to every peer.
    pub(super) fn become_leader(
        &self,
        state: &mut Cow<ServerState>,
        me: ServerId,
        outbox: &mut Outbox,
        o: &mut impl Effects,
    ) {
        o.cover(Rule::BecomeLeader);
        let s = state.to_mut();
        s.role = Role::Leader;
        s.votes_granted = ServerSet::default();
        s.votes_refused = ServerSet::default();
        s.vote_responses = 0;
        // Every peer starts probed, not paused (FlowControl::ProbeReplicate).
        s.replicating = ServerSet::default();
        s.paused = ServerSet::default();
        let next = s.checked(index_plus(s.log.last_index(), 1));
        for peer in self.peers(me) {
            s.next_index.set(peer, next);
            s.match_index.set(peer, 0);
        }
        s.log.push(Entry {
            term: s.term,
            value: Value::NOOP,
        });
        o.cancel_timer(Timer::Election);
        o.set_timer(Timer::Heartbeat);
        for v in 1..=self.cfg.values {
            o.set_timer(Timer::Propose(Value(v)));
        }
        self.advance_commit_index(s, o);
        self.broadcast_append_entries(state, me, outbox, o);
    }
}

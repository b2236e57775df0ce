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
        s.vote_responses = 0;
        s.next_index = PeerMap::default();
        s.match_index = PeerMap::default();
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
        s.votes_granted = ServerSet::default();
        s.votes_granted.insert(me);
        s.vote_responses = 0;
        if self.has_majority(s.votes_granted.len()) {
            self.become_leader(s, me, outbox, o);
            return;
        }
        for peer in self.peers(me) {
            outbox.push((peer, self.request_vote(s)));
        }
    }

    /// raft.tla's RequestVote: the request a candidate sends each peer.
    pub(super) fn request_vote(&self, s: &ServerState) -> Msg {
        Msg::RequestVote(RequestVote {
            term: s.term,
            last_log_index: s.log.last_index(),
            last_log_term: s.log.last_term(),
        })
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
        outbox.push((
            candidate,
            Msg::RequestVoteResponse(RequestVoteResponse {
                term: state.term,
                vote_granted: grant,
            }),
        ));
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
        if state.role != Role::Candidate || !current || !resp.vote_granted {
            o.cover(Rule::IgnoreVoteResponse);
            return;
        }
        let won = if self.cfg.has_bug(Bug::VotesNotDeduplicated) {
            // Counts responses, so a duplicated response counts twice.
            o.cover(Rule::CountVote);
            let s = state.to_mut();
            s.vote_responses += 1;
            self.has_majority(1 + s.vote_responses as usize)
        } else {
            if state.votes_granted.contains(voter) {
                o.cover(Rule::IgnoreVoteResponse);
                return;
            }
            o.cover(Rule::CountVote);
            let s = state.to_mut();
            s.votes_granted.insert(voter);
            self.has_majority(s.votes_granted.len())
        };
        if won {
            self.become_leader(state.to_mut(), me, outbox, o);
        }
    }

    /// raft.tla's BecomeLeader: nextIndex = last log index + 1 and
    /// matchIndex = 0 for each peer, then a no-op of its own term so earlier
    /// entries can commit (§8), then AppendEntries to every peer.
    pub(super) fn become_leader(
        &self,
        s: &mut ServerState,
        me: ServerId,
        outbox: &mut Outbox,
        o: &mut impl Effects,
    ) {
        o.cover(Rule::BecomeLeader);
        s.role = Role::Leader;
        s.votes_granted = ServerSet::default();
        s.vote_responses = 0;
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
        self.broadcast_append_entries(s, me, outbox);
    }
}

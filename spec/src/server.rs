//! One Raft server as a stateright actor: the receiver rules of the Raft
//! paper's Figure 2, each in one small function named after its rule.
//!
//! A step of the model is atomic: what a handler saves (`Out::save`) and sends
//! happen together. The persistence contract (save before send) is what the
//! implementation must honour; here it is written in that order for readers.
//! Wrong rules from the bug catalogue are switched on per config and marked
//! `Bug::` at the one place each changes.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use stateright::actor::{model_timeout, Actor, Id, Out};
use stateright::{Rewrite, RewritePlan};

use crate::bug::Bug;
use crate::config::Config;
use crate::message::Msg;
use crate::types::{Entry, Index, Log, PeerMap, ServerId, ServerSet, Term, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
}

/// Timers are flags in stateright: any timer that is set may fire next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Timer {
    /// A follower or candidate starts an election.
    Election,
    /// A leader sends AppendEntries to every peer.
    Heartbeat,
    /// A client proposes a value to the leader.
    Propose(Value),
}

/// A server's whole state: persistent (term, vote, log) and volatile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ServerState {
    pub role: Role,
    pub term: Term,
    pub voted_for: Option<ServerId>,
    pub log: Log,
    pub commit_index: Index,
    /// A candidate's voters, itself included.
    pub votes_granted: ServerSet,
    /// Granted responses counted without regard to the voter: used only by
    /// `Bug::VotesNotDeduplicated`, zero otherwise.
    pub vote_responses: u8,
    /// A leader's next index per peer (zero when not leader).
    pub next_index: PeerMap,
    /// A leader's match index per peer (zero when not leader).
    pub match_index: PeerMap,
    /// Ghost: recoveries so far, so the model can bound crashes over a run.
    pub restarts: u8,
}

/// What survives a crash: Figure 2's persistent state.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Durable {
    pub term: Term,
    pub voted_for: Option<ServerId>,
    pub log: Log,
    /// Ghost (see `ServerState::restarts`).
    pub restarts: u8,
}

impl ServerState {
    fn recovered(d: &Durable) -> Self {
        ServerState {
            role: Role::Follower,
            term: d.term,
            voted_for: d.voted_for,
            log: d.log,
            commit_index: 0,
            votes_granted: ServerSet::default(),
            vote_responses: 0,
            next_index: PeerMap::default(),
            match_index: PeerMap::default(),
            restarts: d.restarts,
        }
    }

    pub fn durable(&self) -> Durable {
        Durable {
            term: self.term,
            voted_for: self.voted_for,
            log: self.log,
            restarts: self.restarts,
        }
    }
}

impl Rewrite<Id> for ServerState {
    fn rewrite<S>(&self, plan: &RewritePlan<Id, S>) -> Self {
        ServerState {
            voted_for: self.voted_for.map(|s| s.rewrite(plan)),
            votes_granted: self.votes_granted.rewrite(plan),
            next_index: self.next_index.rewrite(plan),
            match_index: self.match_index.rewrite(plan),
            ..*self
        }
    }
}

impl Rewrite<Id> for Durable {
    fn rewrite<S>(&self, plan: &RewritePlan<Id, S>) -> Self {
        Durable {
            voted_for: self.voted_for.map(|s| s.rewrite(plan)),
            ..*self
        }
    }
}

/// The actor. Every server runs the same value; its identity comes from the
/// `id` stateright passes in, which symmetry reduction requires.
#[derive(Clone, Debug)]
pub struct RaftServer {
    pub cfg: Config,
}

/// Messages a handler wants sent, emitted after the durable write.
type Outbox = Vec<(ServerId, Msg)>;

impl Actor for RaftServer {
    type Msg = Msg;
    type Timer = Timer;
    type State = ServerState;
    type Storage = Durable;
    type Random = ();

    fn on_start(&self, _id: Id, storage: &Option<Durable>, o: &mut Out<Self>) -> ServerState {
        // Saving at the first start too means every recovery finds storage,
        // so the restart count (and with it the crash budget) is exact.
        let durable = match storage {
            Some(d) => Durable {
                restarts: d.restarts + 1,
                ..*d
            },
            None => Durable::default(),
        };
        o.save(durable);
        o.set_timer(Timer::Election, model_timeout());
        ServerState::recovered(&durable)
    }

    fn on_msg(&self, id: Id, state: &mut Cow<ServerState>, src: Id, msg: Msg, o: &mut Out<Self>) {
        let me = ServerId::from(id);
        let from = ServerId::from(src);
        let before = state.durable();
        let mut outbox = Outbox::new();
        if msg.term() > state.term {
            self.update_term(state, msg.term(), o);
        }
        match msg {
            Msg::RequestVote {
                term,
                last_log_index,
                last_log_term,
            } => self.handle_request_vote(
                state,
                from,
                term,
                last_log_index,
                last_log_term,
                &mut outbox,
            ),
            Msg::RequestVoteResponse { term, vote_granted } => {
                self.handle_vote_response(state, me, from, term, vote_granted, &mut outbox, o)
            }
            Msg::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            } => self.handle_append_entries(
                state,
                me,
                from,
                AppendEntries {
                    term,
                    prev_log_index,
                    prev_log_term,
                    entries,
                    leader_commit,
                },
                &mut outbox,
                o,
            ),
            Msg::AppendEntriesResponse {
                term,
                success,
                match_index,
            } => self.handle_append_entries_response(
                state,
                from,
                term,
                success,
                match_index,
                &mut outbox,
            ),
        }
        // Bug::VoteNotPersisted: the vote (and the term it was cast in) is
        // answered without being saved, so a crash forgets it.
        let skip_save =
            self.cfg.has_bug(Bug::VoteNotPersisted) && matches!(msg, Msg::RequestVote { .. });
        if !skip_save {
            save_if_changed(&before, state, o);
        }
        send_all(outbox, o);
    }

    fn on_timeout(&self, id: Id, state: &mut Cow<ServerState>, timer: &Timer, o: &mut Out<Self>) {
        let me = ServerId::from(id);
        let before = state.durable();
        let mut outbox = Outbox::new();
        match *timer {
            Timer::Election => self.start_election(state, me, &mut outbox, o),
            Timer::Heartbeat => {
                if state.role == Role::Leader {
                    self.replicate_to_all(state, me, &mut outbox);
                }
                o.set_timer(Timer::Heartbeat, model_timeout());
            }
            Timer::Propose(value) => {
                self.client_request(state, me, value, &mut outbox);
                o.set_timer(Timer::Propose(value), model_timeout());
            }
        }
        save_if_changed(&before, state, o);
        send_all(outbox, o);
    }
}

/// The arguments of an AppendEntries, for the handler.
struct AppendEntries {
    term: Term,
    prev_log_index: Index,
    prev_log_term: Term,
    entries: Log,
    leader_commit: Index,
}

fn save_if_changed(before: &Durable, state: &ServerState, o: &mut Out<RaftServer>) {
    if state.durable() != *before {
        o.save(state.durable());
    }
}

fn send_all(outbox: Outbox, o: &mut Out<RaftServer>) {
    for (to, msg) in outbox {
        o.send(to.into(), msg);
    }
}

impl RaftServer {
    fn peers(&self, me: ServerId) -> impl Iterator<Item = ServerId> {
        (0..self.cfg.servers)
            .map(ServerId)
            .filter(move |s| *s != me)
    }

    /// All servers: if an RPC carries term T > currentTerm, set currentTerm = T
    /// and convert to follower (§5.1).
    fn update_term(&self, state: &mut Cow<ServerState>, term: Term, o: &mut Out<Self>) {
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

    fn become_follower(&self, s: &mut ServerState, o: &mut Out<Self>) {
        if s.role == Role::Leader {
            o.cancel_timer(Timer::Heartbeat);
            for v in 1..=self.cfg.values {
                o.cancel_timer(Timer::Propose(Value(v)));
            }
            o.set_timer(Timer::Election, model_timeout());
        }
        s.role = Role::Follower;
        s.votes_granted = ServerSet::default();
        s.vote_responses = 0;
        s.next_index = PeerMap::default();
        s.match_index = PeerMap::default();
    }

    /// Followers and candidates: on election timeout, start an election:
    /// increment currentTerm, vote for self, request votes from all (§5.2).
    fn start_election(
        &self,
        state: &mut Cow<ServerState>,
        me: ServerId,
        outbox: &mut Outbox,
        o: &mut Out<Self>,
    ) {
        // Keep the timer set: a candidate may time out again.
        o.set_timer(Timer::Election, model_timeout());
        if state.role == Role::Leader || state.term >= self.cfg.max_term {
            return; // bound reached: the timeout is a no-op, so not a step
        }
        let s = state.to_mut();
        s.term += 1;
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
            outbox.push((
                peer,
                Msg::RequestVote {
                    term: s.term,
                    last_log_index: s.log.last_index(),
                    last_log_term: s.log.last_term(),
                },
            ));
        }
    }

    fn has_majority(&self, count: usize) -> bool {
        count >= self.cfg.majority()
    }

    /// RequestVote receiver: reply false if term < currentTerm; grant if
    /// votedFor is null or candidateId, and the candidate's log is at least as
    /// up-to-date as ours.
    fn handle_request_vote(
        &self,
        state: &mut Cow<ServerState>,
        candidate: ServerId,
        term: Term,
        last_log_index: Index,
        last_log_term: Term,
        outbox: &mut Outbox,
    ) {
        let grant = term == state.term
            && self.can_vote_for(state, candidate)
            && self.candidate_log_is_up_to_date(state, last_log_index, last_log_term);
        if grant {
            state.to_mut().voted_for = Some(candidate);
        }
        outbox.push((
            candidate,
            Msg::RequestVoteResponse {
                term: state.term,
                vote_granted: grant,
            },
        ));
    }

    /// One vote per term: votedFor is null or already this candidate.
    fn can_vote_for(&self, state: &ServerState, candidate: ServerId) -> bool {
        // Bug::DoubleVote: a second, different vote in the same term.
        self.cfg.has_bug(Bug::DoubleVote)
            || state.voted_for.is_none()
            || state.voted_for == Some(candidate)
    }

    /// §5.4.1: the candidate's last entry has a later term, or the same term
    /// and an index at least ours.
    fn candidate_log_is_up_to_date(
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

    /// Candidates: count votes from distinct servers of the current term;
    /// with a majority, become leader (§5.2).
    #[allow(clippy::too_many_arguments)]
    fn handle_vote_response(
        &self,
        state: &mut Cow<ServerState>,
        me: ServerId,
        voter: ServerId,
        term: Term,
        vote_granted: bool,
        outbox: &mut Outbox,
        o: &mut Out<Self>,
    ) {
        // Bug::StaleVoteCounted: a vote from an older term is counted too.
        let current = term == state.term || self.cfg.has_bug(Bug::StaleVoteCounted);
        if state.role != Role::Candidate || !current || !vote_granted {
            return;
        }
        let won = if self.cfg.has_bug(Bug::VotesNotDeduplicated) {
            // Counts responses, so a duplicated response counts twice.
            let s = state.to_mut();
            s.vote_responses += 1;
            self.has_majority(1 + s.vote_responses as usize)
        } else {
            if state.votes_granted.contains(voter) {
                return;
            }
            let s = state.to_mut();
            s.votes_granted.insert(voter);
            self.has_majority(s.votes_granted.len())
        };
        if won {
            self.become_leader(state.to_mut(), me, outbox, o);
        }
    }

    /// A new leader: nextIndex = last log index + 1 and matchIndex = 0 for each
    /// peer, then a no-op of its own term so earlier entries can commit (§8),
    /// then AppendEntries to every peer.
    fn become_leader(
        &self,
        s: &mut ServerState,
        me: ServerId,
        outbox: &mut Outbox,
        o: &mut Out<Self>,
    ) {
        s.role = Role::Leader;
        s.votes_granted = ServerSet::default();
        s.vote_responses = 0;
        for peer in self.peers(me) {
            s.next_index.set(peer, s.log.last_index() + 1);
            s.match_index.set(peer, 0);
        }
        s.log.push(Entry {
            term: s.term,
            value: Value::NOOP,
        });
        o.cancel_timer(Timer::Election);
        o.set_timer(Timer::Heartbeat, model_timeout());
        for v in 1..=self.cfg.values {
            o.set_timer(Timer::Propose(Value(v)), model_timeout());
        }
        self.advance_leader_commit(s);
        self.replicate_to_all(s, me, outbox);
    }

    /// Leaders: a client command is appended to the local log, then sent to
    /// every peer. A full log (the bound) refuses it.
    fn client_request(
        &self,
        state: &mut Cow<ServerState>,
        me: ServerId,
        value: Value,
        outbox: &mut Outbox,
    ) {
        if state.role != Role::Leader || state.log.len() >= self.cfg.max_log_len {
            return;
        }
        let s = state.to_mut();
        s.log.push(Entry {
            term: s.term,
            value,
        });
        self.advance_leader_commit(s);
        self.replicate_to_all(s, me, outbox);
    }

    fn replicate_to_all(&self, s: &ServerState, me: ServerId, outbox: &mut Outbox) {
        for peer in self.peers(me) {
            outbox.push((peer, self.append_entries_for(s, peer)));
        }
    }

    /// AppendEntries for one peer: the entries from its nextIndex on (at most
    /// a batch), after the entry at nextIndex - 1 it must already hold.
    fn append_entries_for(&self, s: &ServerState, peer: ServerId) -> Msg {
        let next = s.next_index.get(peer);
        let prev_log_index = next - 1;
        Msg::AppendEntries {
            term: s.term,
            prev_log_index,
            prev_log_term: s.log.term_at(prev_log_index),
            entries: s.log.slice_from(next, self.cfg.max_batch),
            leader_commit: s.commit_index,
        }
    }

    /// AppendEntries receiver (Figure 2, rules 1-5).
    fn handle_append_entries(
        &self,
        state: &mut Cow<ServerState>,
        me: ServerId,
        leader: ServerId,
        req: AppendEntries,
        outbox: &mut Outbox,
        o: &mut Out<Self>,
    ) {
        let reply = |state: &ServerState, success: bool, match_index: Index| {
            (
                leader,
                Msg::AppendEntriesResponse {
                    term: state.term,
                    success,
                    match_index,
                },
            )
        };
        // 1. Reply false if term < currentTerm.
        if req.term < state.term {
            outbox.push(reply(state, false, 0));
            return;
        }
        match state.role {
            // Two leaders of one term only exist under a bug; ignore.
            Role::Leader => return,
            // A candidate learns of the term's leader: it steps down.
            Role::Candidate => self.become_follower(state.to_mut(), o),
            Role::Follower => {}
        }
        // 2. Reply false if the log has no entry at prevLogIndex whose term
        //    matches prevLogTerm.
        if !self.log_matches_prev(state, req.prev_log_index, req.prev_log_term) {
            let hint = req
                .prev_log_index
                .saturating_sub(1)
                .min(state.log.last_index());
            outbox.push(reply(state, false, hint));
            return;
        }
        // 3-4. Delete conflicting entries, append new ones.
        self.merge_entries(state, req.prev_log_index, &req.entries);
        // 5. Advance commitIndex.
        let last_new = req.prev_log_index + req.entries.len();
        self.advance_follower_commit(state, req.leader_commit, last_new);
        // Bug::AppendEntriesElects: accepting AppendEntries makes a leader.
        if self.cfg.has_bug(Bug::AppendEntriesElects) {
            self.become_leader(state.to_mut(), me, outbox, o);
        }
        outbox.push(reply(state, true, last_new));
    }

    /// Rule 2: the entry at prevLogIndex exists and has term prevLogTerm.
    fn log_matches_prev(
        &self,
        s: &ServerState,
        prev_log_index: Index,
        prev_log_term: Term,
    ) -> bool {
        if prev_log_index > s.log.last_index() {
            return false;
        }
        // Bug::NoConsistencyCheck: the term at prevLogIndex is not compared.
        self.cfg.has_bug(Bug::NoConsistencyCheck) || s.log.term_at(prev_log_index) == prev_log_term
    }

    /// Rules 3-4: an existing entry that conflicts with a new one (same index,
    /// different term) is deleted with all that follow it; entries already
    /// present are kept, so a stale or reordered message never shortens the log.
    fn merge_entries(&self, state: &mut Cow<ServerState>, prev_log_index: Index, entries: &Log) {
        // Bug::TruncateOnMatch: the log is cut after prevLogIndex regardless.
        if self.cfg.has_bug(Bug::TruncateOnMatch) {
            let mut log = state.log;
            log.truncate(prev_log_index);
            for e in entries.entries() {
                log.push(*e);
            }
            if log != state.log {
                state.to_mut().log = log;
            }
            return;
        }
        for (k, entry) in entries.entries().iter().enumerate() {
            let index = prev_log_index + 1 + k as Index;
            match state.log.get(index) {
                Some(existing) if existing.term == entry.term => continue,
                Some(_) => {
                    let s = state.to_mut();
                    s.log.truncate(index - 1);
                    s.log.push(*entry);
                }
                None => state.to_mut().log.push(*entry),
            }
        }
    }

    /// Rule 5: if leaderCommit > commitIndex, commitIndex = min(leaderCommit,
    /// index of last new entry). It never decreases.
    fn advance_follower_commit(
        &self,
        state: &mut Cow<ServerState>,
        leader_commit: Index,
        last_new: Index,
    ) {
        let commit = if self.cfg.has_bug(Bug::CommitRegresses) {
            leader_commit.min(last_new)
        } else if self.cfg.has_bug(Bug::CommitBeyondNewEntries) {
            state
                .commit_index
                .max(leader_commit.min(state.log.last_index()))
        } else {
            state.commit_index.max(leader_commit.min(last_new))
        };
        if commit != state.commit_index {
            state.to_mut().commit_index = commit;
        }
    }

    /// Leaders: on success, matchIndex and nextIndex move forward (never back)
    /// and a follower still behind gets its next batch; on failure, nextIndex
    /// backs off (to the follower's hint at most) and AppendEntries is retried.
    #[allow(clippy::too_many_arguments)]
    fn handle_append_entries_response(
        &self,
        state: &mut Cow<ServerState>,
        follower: ServerId,
        term: Term,
        success: bool,
        match_index: Index,
        outbox: &mut Outbox,
    ) {
        if state.role != Role::Leader || term != state.term {
            return;
        }
        if success {
            // Bug::MatchIndexRegresses: a stale response moves matchIndex back.
            let new_match = if self.cfg.has_bug(Bug::MatchIndexRegresses) {
                match_index
            } else {
                state.match_index.get(follower).max(match_index)
            };
            let new_next = state.next_index.get(follower).max(new_match + 1);
            if new_match != state.match_index.get(follower)
                || new_next != state.next_index.get(follower)
            {
                let s = state.to_mut();
                s.match_index.set(follower, new_match);
                s.next_index.set(follower, new_next);
                self.advance_leader_commit(s);
                // A batch-limited follower still behind gets the next batch
                // now rather than at the next heartbeat, as in production.
                if new_next <= s.log.last_index() {
                    outbox.push((follower, self.append_entries_for(s, follower)));
                }
            }
        } else {
            let next = state.next_index.get(follower);
            let backed_off = (state.match_index.get(follower) + 1)
                .max(next.saturating_sub(1).min(match_index + 1));
            if backed_off != next {
                state.to_mut().next_index.set(follower, backed_off);
            }
            outbox.push((follower, self.append_entries_for(state, follower)));
        }
    }

    /// Leaders: commitIndex = the largest N replicated on a majority (the
    /// leader included) with log[N].term == currentTerm (§5.4.2).
    fn advance_leader_commit(&self, s: &mut ServerState) {
        for n in (s.commit_index + 1..=s.log.last_index()).rev() {
            // Bug::CommitPreviousTerm: entries of earlier terms count too.
            let own_term = s.log.term_at(n) == s.term || self.cfg.has_bug(Bug::CommitPreviousTerm);
            let replicas = 1
                + (0..self.cfg.servers)
                    .map(ServerId)
                    .filter(|p| s.match_index.get(*p) >= n)
                    .count();
            if own_term && self.has_majority(replicas) {
                s.commit_index = n;
                return;
            }
        }
    }
}

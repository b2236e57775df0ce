//! Log replication (§5.3, §5.4.2): AppendEntries, its receiver rules, and
//! the leader's progress tracking and commit rule.

use std::borrow::Cow;

use super::{Effects, Outbox, RaftServer, RecordRange, Role, ServerState};
use crate::bug::Bug;
use crate::coverage::Rule;
use crate::message::{AppendEntries, AppendEntriesResponse, Msg};
use crate::types::{index_minus, index_plus, Entry, Index, Log, ServerId, Term, Value};

impl RaftServer {
    /// raft.tla's ClientRequest. Leaders: a client command is appended to the local log, then sent to
    /// every peer. A full log (the bound) refuses it.
    pub(super) fn client_request(
        &self,
        state: &mut Cow<ServerState>,
        me: ServerId,
        value: Value,
        outbox: &mut Outbox,
        o: &mut impl Effects,
    ) {
        if state.role != Role::Leader || state.log.len() >= self.cfg.max_log_len {
            return;
        }
        o.cover(Rule::ClientRequest);
        let s = state.to_mut();
        s.log.push(Entry {
            term: s.term,
            value,
        });
        self.advance_commit_index(s, o);
        self.broadcast_append_entries(s, me, outbox);
    }

    /// raft.tla's AppendEntries to every peer (a heartbeat, or new entries).
    pub(super) fn broadcast_append_entries(
        &self,
        s: &ServerState,
        me: ServerId,
        outbox: &mut Outbox,
    ) {
        for peer in self.peers(me) {
            outbox.push((peer, self.append_entries(s, peer)));
        }
    }

    /// raft.tla's AppendEntries for one peer: the entries from its nextIndex on (at most
    /// a batch), after the entry at nextIndex - 1 it must already hold.
    pub(super) fn append_entries(&self, s: &ServerState, peer: ServerId) -> Msg {
        let next = s.next_index.get(peer);
        // Clamped, not recorded: nextIndex >= 1 is itself checked in every
        // state ("indices in range"), so a state where this clamps is reported.
        let prev_log_index = index_minus(next, 1).value;
        Msg::AppendEntries(AppendEntries {
            term: s.term,
            prev_log_index,
            prev_log_term: s.log.term_at(prev_log_index),
            entries: s.log.slice_from(next, self.cfg.max_batch),
            leader_commit: s.commit_index,
        })
    }

    /// raft.tla's HandleAppendEntriesRequest: the AppendEntries receiver
    /// (Figure 2, receiver rules 1-5).
    pub(super) fn handle_append_entries_request(
        &self,
        state: &mut Cow<ServerState>,
        me: ServerId,
        leader: ServerId,
        req: AppendEntries,
        outbox: &mut Outbox,
        o: &mut impl Effects,
    ) {
        let reply = |state: &ServerState, success: bool, match_index: Index| {
            (
                leader,
                Msg::AppendEntriesResponse(AppendEntriesResponse {
                    term: state.term,
                    success,
                    match_index,
                }),
            )
        };
        // [AppendEntries receiver 1] Reply false if term < currentTerm.
        if req.term < state.term {
            o.cover(Rule::RejectAppendStaleTerm);
            outbox.push(reply(state, false, 0));
            return;
        }
        match state.role {
            // Two leaders of one term only exist under a bug; ignore (no
            // rule: correct Raft never takes this branch).
            Role::Leader => return,
            // A candidate learns of the term's leader: it steps down.
            Role::Candidate => {
                o.cover(Rule::CandidateStepsDown);
                self.become_follower(state.to_mut(), o)
            }
            Role::Follower => {}
        }
        // [AppendEntries receiver 2] Reply false if the log has no entry at
        // prevLogIndex whose term matches prevLogTerm.
        if !self.log_matches_prev(state, req.prev_log_index, req.prev_log_term) {
            o.cover(Rule::RejectAppendLogMismatch);
            let hint = req
                .prev_log_index
                .saturating_sub(1)
                .min(state.log.last_index());
            outbox.push(reply(state, false, hint));
            return;
        }
        // Receivers 3-4 (`merge_entries`): delete conflicting entries,
        // append new ones.
        self.merge_entries(state, req.prev_log_index, &req.entries, o);
        // Receiver 5 (`advance_follower_commit`): advance commitIndex.
        let last_new = state.checked(index_plus(req.prev_log_index, req.entries.len()));
        self.advance_follower_commit(state, req.leader_commit, last_new, o);
        // Bug::AppendEntriesElects: accepting AppendEntries makes a leader.
        if self.cfg.has_bug(Bug::AppendEntriesElects) {
            self.become_leader(state.to_mut(), me, outbox, o);
        }
        outbox.push(reply(state, true, last_new));
    }

    /// Receiver rule 2: the entry at prevLogIndex exists and has term prevLogTerm.
    pub(super) fn log_matches_prev(
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

    /// Receiver rules 3-4; entries already present are kept, so a stale or
    /// reordered message never shortens the log.
    pub(super) fn merge_entries(
        &self,
        state: &mut Cow<ServerState>,
        prev_log_index: Index,
        entries: &Log,
        o: &mut impl Effects,
    ) {
        // Bug::TruncateOnMatch: the log is cut after prevLogIndex regardless
        // (a cut counts as the rule it replaces, truncate-conflict).
        if self.cfg.has_bug(Bug::TruncateOnMatch) {
            let mut log = state.log;
            log.truncate(prev_log_index);
            for e in entries.entries() {
                log.push(*e);
            }
            o.cover(if !state.log.is_prefix_of(&log) {
                Rule::TruncateConflict
            } else if log != state.log {
                Rule::AppendNewEntries
            } else {
                Rule::AcceptNoNewEntries
            });
            if log != state.log {
                state.to_mut().log = log;
            }
            return;
        }
        let (mut truncated, mut appended) = (false, false);
        for (k, entry) in entries.entries().iter().enumerate() {
            let index = state.checked(index_plus(prev_log_index, 1 + k as Index));
            match state.log.get(index) {
                Some(existing) if existing.term == entry.term => continue,
                // [AppendEntries receiver 3] If an existing entry conflicts
                // with a new one (same index but different terms), delete the
                // existing entry and all that follow it.
                Some(_) => {
                    truncated = true;
                    let s = state.to_mut();
                    let keep = s.checked(index_minus(index, 1));
                    s.log.truncate(keep);
                    s.log.push(*entry);
                }
                // [AppendEntries receiver 4] Append any new entries not
                // already in the log.
                None => {
                    appended = true;
                    state.to_mut().log.push(*entry)
                }
            }
        }
        if truncated {
            o.cover(Rule::TruncateConflict);
        }
        if appended {
            o.cover(Rule::AppendNewEntries);
        }
        if !truncated && !appended {
            o.cover(Rule::AcceptNoNewEntries);
        }
    }

    /// [AppendEntries receiver 5] If leaderCommit > commitIndex, set
    /// commitIndex = min(leaderCommit, index of last new entry). It never
    /// decreases.
    pub(super) fn advance_follower_commit(
        &self,
        state: &mut Cow<ServerState>,
        leader_commit: Index,
        last_new: Index,
        o: &mut impl Effects,
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
            o.cover(Rule::AdvanceFollowerCommit);
            state.to_mut().commit_index = commit;
        }
    }

    /// raft.tla's HandleAppendEntriesResponse. Leaders: on success, matchIndex and nextIndex move forward (never back)
    /// and a follower still behind gets its next batch; on failure, nextIndex
    /// backs off (to the follower's hint at most) and AppendEntries is retried.
    pub(super) fn handle_append_entries_response(
        &self,
        state: &mut Cow<ServerState>,
        follower: ServerId,
        resp: AppendEntriesResponse,
        outbox: &mut Outbox,
        o: &mut impl Effects,
    ) {
        let AppendEntriesResponse {
            term,
            success,
            match_index,
        } = resp;
        if state.role != Role::Leader || term != state.term {
            o.cover(Rule::IgnoreAppendResponse);
            return;
        }
        if success {
            // Bug::MatchIndexRegresses: a stale response moves matchIndex back.
            let new_match = if self.cfg.has_bug(Bug::MatchIndexRegresses) {
                match_index
            } else {
                state.match_index.get(follower).max(match_index)
            };
            let new_next = state
                .next_index
                .get(follower)
                .max(state.checked(index_plus(new_match, 1)));
            if new_match != state.match_index.get(follower)
                || new_next != state.next_index.get(follower)
            {
                o.cover(Rule::AdvanceMatchIndex);
                let s = state.to_mut();
                s.match_index.set(follower, new_match);
                s.next_index.set(follower, new_next);
                self.advance_commit_index(s, o);
                // A batch-limited follower still behind gets the next batch
                // now rather than at the next heartbeat, as in production.
                if new_next <= s.log.last_index() {
                    o.cover(Rule::SendNextBatch);
                    outbox.push((follower, self.append_entries(s, follower)));
                }
            } else {
                o.cover(Rule::IgnoreAppendResponse);
            }
        } else {
            o.cover(Rule::RetryAfterRejection);
            let next = state.next_index.get(follower);
            // Bug::NextIndexNoFloor: one lower, whatever matchIndex and the hint say.
            let backed_off = if self.cfg.has_bug(Bug::NextIndexNoFloor) {
                state.checked(index_minus(next, 1))
            } else {
                let floor = state.checked(index_plus(state.match_index.get(follower), 1));
                let hint = state.checked(index_plus(match_index, 1));
                floor.max(next.saturating_sub(1).min(hint))
            };
            if backed_off != next {
                state.to_mut().next_index.set(follower, backed_off);
            }
            outbox.push((follower, self.append_entries(state, follower)));
        }
    }

    /// raft.tla's AdvanceCommitIndex. Leaders: commitIndex = the largest N replicated on a majority (the
    /// leader included) with log[N].term == currentTerm (§5.4.2).
    pub(super) fn advance_commit_index(&self, s: &mut ServerState, o: &mut impl Effects) {
        let first = s.checked(index_plus(s.commit_index, 1));
        for n in (first..=s.log.last_index()).rev() {
            // Bug::CommitPreviousTerm: entries of earlier terms count too.
            let own_term = s.log.term_at(n) == s.term || self.cfg.has_bug(Bug::CommitPreviousTerm);
            let replicas = 1
                + (0..self.cfg.servers)
                    .map(ServerId)
                    .filter(|p| s.match_index.get(*p) >= n)
                    .count();
            if own_term && self.has_majority(replicas) {
                o.cover(Rule::AdvanceLeaderCommit);
                s.commit_index = n;
                return;
            }
        }
    }
}

//! Log replication (§5.3, §5.4.2): AppendEntries, its receiver rules, and
//! the leader's progress tracking and commit rule.

use std::borrow::Cow;

use super::{Effects, Outbox, RaftServer, RecordRange, Role, ServerState};
use crate::bug::Bug;
use crate::coverage::Rule;
use crate::message::{AppendEntries, AppendEntriesResponse, Heartbeat, HeartbeatResponse, Msg};
use crate::types::{index_minus, index_plus, Checked, Entry, Index, Log, ServerId, Term, Value};
use crate::variant::{
    BatchLimit, FlowControl, HeartbeatKind, RejectionHint, NOOP_ENTRY_BYTES, VALUE_ENTRY_BYTES,
};

/// raft-rs's `find_conflict_by_term`: the last index at or below `index`
/// whose entry's term is at most `term` (0, the empty prefix, at worst).
/// An index past the log is returned as it is.
pub(crate) fn conflict_by_term(log: &Log, index: Index, term: Term) -> Index {
    if index > log.last_index() {
        return index;
    }
    let mut i = index;
    while i > 0 && log.term_at(i) > term {
        i -= 1;
    }
    i
}

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
        self.broadcast_append_entries(state, me, outbox, o);
    }

    /// raft.tla's AppendEntries to every peer (a heartbeat, or new entries).
    pub(super) fn broadcast_append_entries(
        &self,
        state: &mut Cow<ServerState>,
        me: ServerId,
        outbox: &mut Outbox,
        o: &mut impl Effects,
    ) {
        for peer in self.peers(me) {
            self.send_append(state, peer, true, outbox, o);
        }
    }

    /// A leader's heartbeat round: AppendEntries to every peer, or
    /// (Variant::heartbeat) a Heartbeat carrying the commit index as far as
    /// the peer is known to hold the log.
    pub(super) fn heartbeat(
        &self,
        state: &mut Cow<ServerState>,
        me: ServerId,
        outbox: &mut Outbox,
        o: &mut impl Effects,
    ) {
        match self.cfg.variant.heartbeat {
            HeartbeatKind::AppendEntries => self.broadcast_append_entries(state, me, outbox, o),
            HeartbeatKind::Rpc => {
                for peer in self.peers(me) {
                    let leader_commit = state.commit_index.min(state.match_index.get(peer));
                    outbox.push((
                        peer,
                        Msg::Heartbeat(Heartbeat {
                            term: state.term,
                            leader_commit,
                        }),
                    ));
                }
            }
        }
    }

    /// Sends `peer` an AppendEntries from its nextIndex; returns whether it
    /// did. Under FlowControl::ProbeReplicate a paused probe gets nothing,
    /// nothing is sent without entries unless `allow_empty`, and a sent
    /// batch pauses a probed peer or (replicate) moves its nextIndex past
    /// the batch. Otherwise it always sends.
    pub(super) fn send_append(
        &self,
        state: &mut Cow<ServerState>,
        peer: ServerId,
        allow_empty: bool,
        outbox: &mut Outbox,
        o: &mut impl Effects,
    ) -> bool {
        let msg = self.append_entries(state, peer);
        if self.cfg.variant.flow_control == FlowControl::Resend {
            outbox.push((peer, Msg::AppendEntries(msg)));
            return true;
        }
        let replicating = state.replicating.contains(peer);
        if !replicating && state.paused.contains(peer) {
            o.cover(Rule::SkipPausedProbe);
            return false;
        }
        let sent = msg.entries.len();
        if sent == 0 && !allow_empty {
            return false;
        }
        if sent > 0 {
            let s = state.to_mut();
            if replicating {
                let next = s.checked(index_plus(msg.prev_log_index, sent + 1));
                s.next_index.set(peer, next);
            } else {
                s.paused.insert(peer);
            }
        }
        outbox.push((peer, Msg::AppendEntries(msg)));
        true
    }

    /// raft.tla's AppendEntries for one peer: the entries from its nextIndex on (at most
    /// a batch), after the entry at nextIndex - 1 it must already hold.
    pub(super) fn append_entries(&self, s: &ServerState, peer: ServerId) -> AppendEntries {
        let next = s.next_index.get(peer);
        // Clamped, not recorded: nextIndex >= 1 is itself checked in every
        // state ("indices in range"), so a state where this clamps is reported.
        let prev_log_index = index_minus(next, 1).value;
        AppendEntries {
            term: s.term,
            prev_log_index,
            prev_log_term: s.log.term_at(prev_log_index),
            entries: s.log.slice_from(next, self.batch_len(&s.log, next)),
            leader_commit: s.commit_index,
        }
    }

    /// How many entries from `next` on one AppendEntries carries
    /// (Variant::batch_limit: counted in entries, or in bytes).
    fn batch_len(&self, log: &Log, next: Index) -> u8 {
        match self.cfg.variant.batch_limit {
            BatchLimit::Entries => self.cfg.max_batch,
            BatchLimit::Bytes => {
                let limit = u32::from(self.cfg.max_batch) * VALUE_ENTRY_BYTES;
                let mut bytes = 0;
                let mut n = 0;
                for e in log.entries().iter().skip(usize::from(next.max(1)) - 1) {
                    bytes += if e.value.is_noop() {
                        NOOP_ENTRY_BYTES
                    } else {
                        VALUE_ENTRY_BYTES
                    };
                    // The first entry always goes, whatever its size.
                    if n > 0 && bytes > limit {
                        break;
                    }
                    n += 1;
                }
                n.max(1)
            }
        }
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
                    prev_log_index: 0,
                    conflict_term: 0,
                }),
            )
        };
        // [AppendEntries receiver 1] Reply false if term < currentTerm.
        if req.term < state.term {
            o.cover(Rule::RejectAppendStaleTerm);
            outbox.push(reply(state, false, 0));
            return;
        }
        if !self.follow(state, leader, o) {
            return;
        }
        // Variant::rejection_hint: below the commit index the log is known
        // to match; the answer is the commit index, the entries dropped.
        if self.cfg.variant.rejection_hint == RejectionHint::ConflictByTerm
            && req.prev_log_index < state.commit_index
        {
            o.cover(Rule::AnswerBelowCommit);
            outbox.push(reply(state, true, state.commit_index));
            return;
        }
        // [AppendEntries receiver 2] Reply false if the log has no entry at
        // prevLogIndex whose term matches prevLogTerm.
        if !self.log_matches_prev(state, req.prev_log_index, req.prev_log_term) {
            o.cover(Rule::RejectAppendLogMismatch);
            let (hint, conflict_term) = match self.cfg.variant.rejection_hint {
                RejectionHint::Paper => (
                    req.prev_log_index
                        .saturating_sub(1)
                        .min(state.log.last_index()),
                    0,
                ),
                RejectionHint::ConflictByTerm => {
                    let at = req.prev_log_index.min(state.log.last_index());
                    let index = conflict_by_term(&state.log, at, req.prev_log_term);
                    (index, state.log.term_at(index))
                }
            };
            let prev_log_index = match self.cfg.variant.flow_control {
                FlowControl::Resend => 0,
                FlowControl::ProbeReplicate => req.prev_log_index,
            };
            outbox.push((
                leader,
                Msg::AppendEntriesResponse(AppendEntriesResponse {
                    term: state.term,
                    success: false,
                    match_index: hint,
                    prev_log_index,
                    conflict_term,
                }),
            ));
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
            self.become_leader(state, me, outbox, o);
        }
        outbox.push(reply(state, true, last_new));
    }

    /// A server hears from its term's leader: a candidate steps down, and
    /// (Variant::leader_stickiness) the leader is remembered. False for a
    /// leader, which ignores the request: two leaders of one term only
    /// exist under a bug (no rule: correct Raft never takes this branch).
    fn follow(&self, state: &mut Cow<ServerState>, leader: ServerId, o: &mut impl Effects) -> bool {
        match state.role {
            Role::Leader => return false,
            // A candidate learns of the term's leader: it steps down.
            Role::Candidate => {
                o.cover(Rule::CandidateStepsDown);
                self.become_follower(state.to_mut(), o)
            }
            Role::Follower => {}
        }
        if self.cfg.variant.leader_stickiness && state.leader != Some(leader) {
            state.to_mut().leader = Some(leader);
        }
        true
    }

    /// Variant::heartbeat: the Heartbeat receiver. No log check: the commit
    /// index it carries is at most what this server holds of the leader's
    /// log.
    pub(super) fn handle_heartbeat_request(
        &self,
        state: &mut Cow<ServerState>,
        leader: ServerId,
        req: Heartbeat,
        outbox: &mut Outbox,
        o: &mut impl Effects,
    ) {
        let reply = |state: &ServerState| {
            (
                leader,
                Msg::HeartbeatResponse(HeartbeatResponse { term: state.term }),
            )
        };
        if req.term < state.term {
            o.cover(Rule::RejectAppendStaleTerm);
            outbox.push(reply(state));
            return;
        }
        if !self.follow(state, leader, o) {
            return;
        }
        o.cover(Rule::AcceptHeartbeat);
        // A commit past the log is a leader's fault (raft-rs treats it as
        // fatal): recorded for "indices in range", and clamped.
        let last = state.log.last_index();
        let taken = state.checked(Checked {
            value: req.leader_commit.min(last),
            in_range: req.leader_commit <= last,
        });
        let commit = state.commit_index.max(taken);
        if commit != state.commit_index {
            o.cover(Rule::AdvanceFollowerCommit);
            state.to_mut().commit_index = commit;
        }
        outbox.push(reply(state));
    }

    /// Variant::heartbeat: a leader hears a follower is alive. A paused
    /// probe resumes, and a follower still behind gets an append.
    pub(super) fn handle_heartbeat_response(
        &self,
        state: &mut Cow<ServerState>,
        follower: ServerId,
        resp: HeartbeatResponse,
        outbox: &mut Outbox,
        o: &mut impl Effects,
    ) {
        if state.role != Role::Leader || resp.term != state.term {
            o.cover(Rule::IgnoreAppendResponse);
            return;
        }
        o.cover(Rule::HeartbeatResponse);
        if state.paused.contains(follower) {
            state.to_mut().paused.remove(follower);
        }
        if state.match_index.get(follower) < state.log.last_index() {
            self.send_append(state, follower, true, outbox, o);
        }
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
        me: ServerId,
        follower: ServerId,
        resp: AppendEntriesResponse,
        outbox: &mut Outbox,
        o: &mut impl Effects,
    ) {
        let AppendEntriesResponse {
            term,
            success,
            match_index,
            prev_log_index,
            conflict_term,
        } = resp;
        if state.role != Role::Leader || term != state.term {
            o.cover(Rule::IgnoreAppendResponse);
            return;
        }
        // Variant::rejection_hint: the leader moves the follower's hint back
        // to its own last index of a term at most the follower's there.
        let hint = if !success && conflict_term > 0 {
            conflict_by_term(&state.log, match_index, conflict_term)
        } else {
            match_index
        };
        if self.cfg.variant.flow_control == FlowControl::ProbeReplicate {
            if success {
                self.probe_replicate_success(state, me, follower, match_index, outbox, o);
            } else {
                self.probe_replicate_rejection(state, follower, prev_log_index, hint, outbox, o);
            }
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
                let commit = s.commit_index;
                self.advance_commit_index(s, o);
                if self.cfg.variant.commit_broadcast && s.commit_index != commit {
                    o.cover(Rule::BroadcastCommit);
                    self.broadcast_append_entries(state, me, outbox, o);
                // A batch-limited follower still behind gets the next batch
                // now rather than at the next heartbeat, as in production.
                } else if new_next <= s.log.last_index() {
                    o.cover(Rule::SendNextBatch);
                    self.send_append(state, follower, true, outbox, o);
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
                let hint = state.checked(index_plus(hint, 1));
                floor.max(next.saturating_sub(1).min(hint))
            };
            if backed_off != next {
                state.to_mut().next_index.set(follower, backed_off);
            }
            self.send_append(state, follower, true, outbox, o);
        }
    }

    /// FlowControl::ProbeReplicate, success: matchIndex moves forward (a
    /// response that moves nothing is ignored, and sends nothing); a probed
    /// follower becomes replicated; a new commit index is broadcast
    /// (Variant::commit_broadcast), else a follower whose probe was paused
    /// gets an append; then every batch still to send goes at once.
    fn probe_replicate_success(
        &self,
        state: &mut Cow<ServerState>,
        me: ServerId,
        follower: ServerId,
        match_index: Index,
        outbox: &mut Outbox,
        o: &mut impl Effects,
    ) {
        let matched = state.match_index.get(follower);
        // Bug::MatchIndexRegresses: a stale success moves matchIndex back.
        let regresses = self.cfg.has_bug(Bug::MatchIndexRegresses) && match_index != matched;
        if matched >= match_index && !regresses {
            o.cover(Rule::IgnoreAppendResponse);
            return;
        }
        o.cover(Rule::AdvanceMatchIndex);
        let was_paused = !state.replicating.contains(follower) && state.paused.contains(follower);
        let s = state.to_mut();
        s.match_index.set(follower, match_index);
        s.paused.remove(follower);
        let next = s.checked(index_plus(match_index, 1));
        if !s.replicating.contains(follower) {
            o.cover(Rule::ReplicateFollower);
            s.replicating.insert(follower);
            s.next_index.set(follower, next);
        } else if s.next_index.get(follower) < next {
            s.next_index.set(follower, next);
        }
        let commit = s.commit_index;
        self.advance_commit_index(s, o);
        if s.commit_index != commit && self.cfg.variant.commit_broadcast {
            o.cover(Rule::BroadcastCommit);
            self.broadcast_append_entries(state, me, outbox, o);
        } else if was_paused {
            self.send_append(state, follower, true, outbox, o);
        }
        while self.send_append(state, follower, false, outbox, o) {
            o.cover(Rule::SendNextBatch);
        }
    }

    /// FlowControl::ProbeReplicate, rejection: a replicated follower whose
    /// rejection is not stale (of an index past matchIndex) is probed again
    /// from matchIndex + 1; a probed one whose rejection answers its
    /// current probe backs off to the hint; either gets an append. Any other
    /// rejection is stale and ignored.
    fn probe_replicate_rejection(
        &self,
        state: &mut Cow<ServerState>,
        follower: ServerId,
        rejected: Index,
        hint: Index,
        outbox: &mut Outbox,
        o: &mut impl Effects,
    ) {
        let matched = state.match_index.get(follower);
        let next = state.next_index.get(follower);
        let replicating = state.replicating.contains(follower);
        let stale = if replicating {
            rejected <= matched
        } else {
            next.checked_sub(1) != Some(rejected)
        };
        if stale {
            o.cover(Rule::IgnoreAppendResponse);
            return;
        }
        o.cover(Rule::RetryAfterRejection);
        let s = state.to_mut();
        // Never at or below matchIndex: the follower holds the log that far
        // (raft-rs 0.7's `maybe_decr_to` has no such floor, so a reordered
        // rejection can take its nextIndex to matchIndex; etcd's has it).
        let floor = s.checked(index_plus(matched, 1));
        let new_next = if self.cfg.has_bug(Bug::NextIndexNoFloor) {
            // One lower, whatever matchIndex and the hint say.
            s.checked(index_minus(next, 1))
        } else if replicating {
            floor
        } else {
            s.checked(index_plus(hint, 1)).min(rejected).max(floor)
        };
        s.next_index.set(follower, new_next);
        s.replicating.remove(follower);
        s.paused.remove(follower);
        self.send_append(state, follower, true, outbox, o);
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

//! Figure 2, log replication: sending AppendEntries, the follower's
//! consistency check and merge, the leader's progress tracking with fast
//! backtracking, and advancing the commit index. Actions are named after
//! raft.tla's operators, as in the spec (`spec/src/server/`).

use crate::node::RaftNode;
use crate::types::{
    AppendEntries, AppendEntriesResponse, Entry, LogIndex, MessageBody, NodeId, Role,
};
use alloc::vec::Vec;

impl RaftNode {
    /// raft.tla's AppendEntries to every peer (a heartbeat, or new entries).
    pub(crate) fn broadcast_append_entries(&mut self) {
        for i in 0..self.peers.len() {
            self.append_entries(i);
        }
    }

    /// raft.tla's AppendEntries: send `log[next..=last]` (capped by the batching limits) to peer `i`.
    /// `next` is not advanced here: it only moves when the peer answers.
    pub(crate) fn append_entries(&mut self, i: usize) {
        let next_index = self.peers[i].progress.next_index;
        // Invariant: nextIndex starts at 1 (or lastIndex + 1) and every
        // update keeps it above matchIndex.
        let prev_log_index = next_index
            .checked_sub(1)
            .expect("nextIndex >= 1 (it stays above matchIndex)");
        debug_assert!(prev_log_index <= self.log.last_index());
        let prev_log_term = self.log.term_at(prev_log_index).unwrap_or(0);
        let suffix = self.log.slice(next_index, self.log.last_index());
        let count = self.batch_len(suffix);
        let entries = suffix[..count].to_vec();
        let message = AppendEntries {
            term: self.term,
            leader_id: self.config.id,
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit: self.commit_index,
        };
        let to = self.peers[i].id;
        self.send(to, MessageBody::AppendEntries(message));
    }

    /// How many of `suffix` fit in one message; at least one if any, so a
    /// single oversized entry still gets through.
    fn batch_len(&self, suffix: &[Entry]) -> usize {
        let max_entries = self.config.max_entries_per_message.min(suffix.len());
        if self.config.max_bytes_per_message == usize::MAX {
            return max_entries;
        }
        let mut bytes = 0usize;
        for (n, entry) in suffix[..max_entries].iter().enumerate() {
            bytes = bytes.saturating_add(entry.payload_len());
            if bytes > self.config.max_bytes_per_message && n > 0 {
                return n;
            }
        }
        max_entries
    }

    /// raft.tla's HandleAppendEntriesRequest: the AppendEntries receiver
    /// (Figure 2, receiver rules 1-5).
    pub(crate) fn handle_append_entries_request(&mut self, from: NodeId, ae: AppendEntries) {
        // Entries must sit at prevLogIndex + 1, + 2, ...: anything else is
        // not a message a leader sends, and appending it would corrupt the
        // log. Dropped (a reply could only make the sender retry it).
        let Some(proved) = contiguous_after(ae.prev_log_index, &ae.entries) else {
            return;
        };
        // [AppendEntries receiver 1] Reply false if term < currentTerm.
        if ae.term < self.term {
            // A stale leader learns our term from the reply; it is no longer
            // leader, so a conflict hint would be meaningless: send 0.
            self.reply_append_entries(from, false, 0);
            return;
        }
        match self.role {
            // Two leaders in one term cannot happen; never let one overwrite the other.
            Role::Leader => return,
            Role::Candidate => {
                self.role = Role::Follower;
                self.votes.clear();
            }
            Role::Follower => {}
        }
        self.leader_hint = Some(ae.leader_id);
        // [AppendEntries receiver 2] Reply false if the log has no entry at
        // prevLogIndex whose term matches prevLogTerm.
        if self.log.term_at(ae.prev_log_index) != Some(ae.prev_log_term) {
            let conflict_hint = ae
                .prev_log_index
                .saturating_sub(1)
                .min(self.log.last_index());
            self.reply_append_entries(from, false, conflict_hint);
            return;
        }
        // Receivers 3-4 (`merge_entries`).
        self.merge_entries(ae.entries);
        // [AppendEntries receiver 5] If leaderCommit > commitIndex, set
        // commitIndex = min(leaderCommit, index of last new entry).
        if ae.leader_commit.min(proved) > self.commit_index {
            self.commit_index = ae.leader_commit.min(proved);
        }
        self.reply_append_entries(from, true, proved);
    }

    /// Skip entries we already have; at the first entry whose term differs,
    /// truncate our suffix and append the rest. A matching entry never
    /// truncates, so a stale or reordered message cannot shorten the log.
    fn merge_entries(&mut self, mut entries: Vec<Entry>) {
        let first_new = entries
            .iter()
            .position(|e| self.log.term_at(e.index) != Some(e.term));
        let Some(k) = first_new else { return };
        let start = entries[k].index;
        // [AppendEntries receiver 3] If an existing entry conflicts with a
        // new one (same index but different terms), delete the existing
        // entry and all that follow it.
        if start <= self.log.last_index() {
            self.log.truncate_from(start);
            self.record_truncate(start);
        }
        // [AppendEntries receiver 4] Append any new entries not already in
        // the log.
        let rest = entries.split_off(k);
        self.record_append(&rest);
        for entry in rest {
            self.log.push(entry);
        }
    }

    fn reply_append_entries(&mut self, to: NodeId, success: bool, match_index: u64) {
        let reply = AppendEntriesResponse {
            term: self.term,
            success,
            match_index,
        };
        self.send(to, MessageBody::AppendEntriesResponse(reply));
    }

    /// raft.tla's HandleAppendEntriesResponse: the leader's progress
    /// tracking, and the next batch or the retry.
    pub(crate) fn handle_append_entries_response(
        &mut self,
        from: NodeId,
        r: AppendEntriesResponse,
    ) {
        if self.role != Role::Leader || r.term != self.term {
            return;
        }
        let Some(i) = self.peers.iter().position(|p| p.id == from) else {
            return;
        };
        let last_index = self.log.last_index();
        let progress = &mut self.peers[i].progress;
        if r.success && r.match_index > last_index {
            // A follower acknowledges only entries this leader sent in this
            // term, and its log only grew since: past the end is not a reply
            // a correct peer sends. Ignored rather than trusted.
            return;
        }
        if r.success {
            let match_index = progress.match_index.max(r.match_index);
            // match_index <= last_index (checked above), so no overflow.
            let next_index = progress.next_index.max(match_index + 1);
            let advanced = match_index != progress.match_index || next_index != progress.next_index;
            if !advanced {
                // A duplicate or stale success: nothing new to send.
                return;
            }
            progress.match_index = match_index;
            progress.next_index = next_index;
            self.advance_commit_index();
            // The follower moved forward and is still behind (a batch limit
            // cut the last message short, or entries were appended since):
            // send the next batch now rather than at the next heartbeat.
            if next_index <= self.log.last_index() {
                self.append_entries(i);
            }
        } else {
            // Fast backtracking: jump to just past the follower's hint, but
            // never below what is known to match. The hint is the peer's
            // word: u64::MAX must not overflow.
            let backed_off = progress
                .next_index
                .saturating_sub(1)
                .min(r.match_index.saturating_add(1));
            // match_index <= last_index (acknowledgements past it are ignored).
            progress.next_index = (progress.match_index + 1).max(backed_off);
            self.append_entries(i);
        }
    }

    /// raft.tla's AdvanceCommitIndex: commit the largest N of the current term that a majority (counting
    /// the leader) has replicated. Log terms never decrease, so checking the
    /// quorum's N is enough.
    pub(crate) fn advance_commit_index(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let mut matched: Vec<u64> = self.peers.iter().map(|p| p.progress.match_index).collect();
        matched.push(self.log.last_index());
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let candidate = matched[self.quorum() - 1];
        if candidate > self.commit_index && self.log.term_at(candidate) == Some(self.term) {
            self.commit_index = candidate;
        }
    }
}

/// The last index `entries` cover if they are contiguous from
/// `prev_log_index + 1`; `None` if they are not (or would pass `u64::MAX`).
fn contiguous_after(prev_log_index: LogIndex, entries: &[Entry]) -> Option<LogIndex> {
    let mut last = prev_log_index;
    for entry in entries {
        last = last.checked_add(1)?;
        if entry.index != last {
            return None;
        }
    }
    Some(last)
}

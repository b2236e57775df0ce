//! The bug catalogue's entries: for each [`Bug`], its name, the rule it
//! breaks, the property that must catch it, and the smallest bounds that
//! exhibit it.

use crate::bug::{Bug, BugInfo};
use crate::config::{Config, NetworkKind};
use crate::properties as prop;

impl Bug {
    pub fn info(self) -> BugInfo {
        let (name, description, correct_rule, violates, why) = match self {
            Bug::VoteWithoutLogCheck => (
                "vote-without-log-check",
                "grant a vote without the §5.4.1 up-to-date check",
                "grant a vote only if the candidate's last log term is higher, or equal with a last index at least ours",
                prop::LEADER_COMPLETENESS,
                "a server whose log lacks a committed entry collects votes from servers that hold it, and leads a later term without it",
            ),
            Bug::CommitPreviousTerm => (
                "commit-previous-term",
                "commit an entry of an earlier term by counting replicas (the paper's Figure 8)",
                "a leader commits by counting replicas only entries of its own term",
                prop::LEADER_COMPLETENESS,
                "an entry of an earlier term on a majority can still be overwritten: a server whose last entry has a later term than those replicas wins their votes, so the next leader lacks an entry the old leader counted as committed (the paper's Figure 8)",
            ),
            Bug::VoteNotPersisted => (
                "vote-not-persisted",
                "answer RequestVote before term and vote are saved, so a crash forgets the vote",
                "persist currentTerm and votedFor before responding to RequestVote",
                prop::ELECTION_SAFETY,
                "a server votes, crashes and recovers with the vote forgotten, then votes for a second candidate of the same term: both candidates reach a majority and lead the same term",
            ),
            Bug::DoubleVote => (
                "double-vote",
                "grant a second, different vote in the same term",
                "grant only if votedFor is null or the candidate",
                prop::ELECTION_SAFETY,
                "with two candidates in one term, a server that votes for both gives each a majority: two leaders in one term",
            ),
            Bug::StaleVoteCounted => (
                "stale-vote-counted",
                "a candidate counts a vote response from an older term",
                "a candidate counts only votes granted in its current term",
                prop::ELECTION_SAFETY,
                "a candidate that starts a new election counts a vote granted to its previous candidacy, reaching a false majority in a term where another server wins with real votes",
            ),
            Bug::VotesNotDeduplicated => (
                "votes-not-deduplicated",
                "count granted responses rather than distinct voters (a duplicated response elects)",
                "a candidate wins with votes from a majority of distinct servers",
                prop::ELECTION_SAFETY,
                "in a cluster of five, one voter's response delivered twice counts as two votes: a candidate leads with two voters of five while the other three elect a second leader in the same term",
            ),
            Bug::TruncateOnMatch => (
                "truncate-on-match",
                "a follower truncates its log on an AppendEntries whose entries already match (a stale or reordered message)",
                "delete an existing entry and all that follow it only if it conflicts with a new one (same index, different term)",
                prop::STATE_MACHINE_SAFETY,
                "a delayed AppendEntries cuts a follower's log back below its commit index, so an entry it already applied is gone (the catalogue first claimed Leader Completeness; that breaks too, but only two steps later, when a server without the entry is elected)",
            ),
            Bug::NoConsistencyCheck => (
                "no-consistency-check",
                "AppendEntries succeeds without the prevLogIndex/prevLogTerm check",
                "reply false if the log has no entry at prevLogIndex whose term matches prevLogTerm",
                prop::LOG_MATCHING,
                "a follower appends after an entry of a different term at prevLogIndex, so two logs share an entry (same index and term) yet differ before it",
            ),
            Bug::NoStepDown => (
                "no-step-down",
                "a leader that sees a higher term takes it but keeps leading",
                "if RPC request or response contains term T > currentTerm: set currentTerm = T, convert to follower",
                prop::ELECTION_SAFETY,
                "a leader that learns of a higher term keeps leading in it; when another server is elected in that term, it has two leaders",
            ),
            Bug::CommitRegresses => (
                "commit-regresses",
                "a follower lowers its commitIndex to min(leaderCommit, last index)",
                "commitIndex = min(leaderCommit, index of last new entry) only if leaderCommit > commitIndex: it never decreases",
                prop::COMMIT_MONOTONIC,
                "a delayed AppendEntries carrying an older leaderCommit lowers the follower's commit index below entries it already applied",
            ),
            Bug::CommitBeyondNewEntries => (
                "commit-beyond-new-entries",
                "a follower advances commitIndex past the last entry the message proved",
                "commitIndex = min(leaderCommit, index of last new entry)",
                prop::STATE_MACHINE_SAFETY,
                "a follower whose log still holds a stale entry past the entries an AppendEntries proved marks it committed because leaderCommit reaches that index, while the leader committed a different entry there. Here the leader's nextIndex falls below the conflict because the follower refuses an AppendEntries of the leader's earlier term with the current term, which reads as a rejection",
            ),
            Bug::MatchIndexRegresses => (
                "match-index-regresses",
                "a stale AppendEntries response lowers the leader's matchIndex",
                "matchIndex increases monotonically",
                prop::MATCH_MONOTONIC,
                "a reordered success response for fewer entries moves the leader's matchIndex back",
            ),
            Bug::AppendEntriesElects => (
                "append-entries-elects",
                "a server that accepts AppendEntries makes itself leader",
                "a server that accepts AppendEntries of its term is a follower of its sender",
                prop::ELECTION_SAFETY,
                "a follower that accepts AppendEntries declares itself leader of the sender's term, which already has a leader",
            ),
            Bug::VoteKeptOnNewTerm => (
                "vote-kept-on-new-term",
                "votedFor is not cleared when the term advances, so an old vote binds the server forever",
                "on a new term, votedFor is reset (to null)",
                prop::VOTE_MOVES,
                "a server that voted in one term refuses every other candidate in every later term, so once votes are split no election can gather a majority (a liveness bug: no safety property fails; the checker proves the step \"vote for a new candidate in a later term\", which correct Raft takes, is never taken)",
            ),
            Bug::NextIndexNoFloor => (
                "next-index-no-floor",
                "on a rejection the leader sets nextIndex = nextIndex - 1, with no floor",
                "on a rejection nextIndex backs off, but never below matchIndex + 1 (so never below 1)",
                prop::INDEX_RANGE,
                "two rejections from one follower are in flight at once (of the new leader's first AppendEntries and of a heartbeat's): each takes nextIndex one lower, from 2 to 1 and then to 0, below any index. The next AppendEntries would claim prevLogIndex 0 - 1, which u8 arithmetic in a release build wraps to 255, an AppendEntries no follower can accept, unnoticed by every other property; the model's checked arithmetic clamps and flags it instead",
            ),
        };
        BugInfo {
            name,
            description,
            correct_rule,
            violates,
            why,
        }
    }

    /// [`info`](Self::info) in the protocol `variant`: the property the
    /// shortest counterexample breaks there, where it differs. Under
    /// raft-rs's preset a follower that cuts its log on every append is
    /// then sent a heartbeat whose commit (the leader's matchIndex for it)
    /// lies past its log's end, which raft-rs treats as fatal (indices in
    /// range, depth 14), before a later leader lacks a committed entry
    /// (leader completeness, depth 15).
    pub fn info_under(self, variant: &crate::Variant) -> BugInfo {
        let info = self.info();
        match self {
            Bug::TruncateOnMatch if *variant == crate::Variant::RAFT_RS => BugInfo {
                violates: prop::INDEX_RANGE,
                ..info
            },
            _ => info,
        }
    }

    /// Why the wrong rule can do no harm in the protocol `variant`, if it
    /// cannot: the catalogue then checks that every property holds with it
    /// switched on, at its bounds, rather than expecting a violation.
    pub fn harmless_under(self, variant: &crate::Variant) -> Option<&'static str> {
        match self {
            // The paper reaches it through a stale-term answer read as a
            // rejection, which takes nextIndex below where the logs agree.
            Bug::CommitBeyondNewEntries if *variant == crate::Variant::RAFT_RS => Some(
                "stale requests go unanswered, and while a follower still holds a stale entry a \
                 rejection's hint (the follower's, then the leader's refinement, then the \
                 matchIndex + 1 floor) never takes nextIndex below the last index where the two \
                 logs agree; so every append that reaches a \
                 follower's stale entry carries the leader's entry there and truncates it, and no \
                 follower holds a stale entry past an append's last new entry for \
                 min(leaderCommit, lastIndex) to commit",
            ),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The smallest bounds that exhibit the bug (found by trying smaller
    /// ones with `raftcheck bugs`). Two messages in flight is the least that
    /// lets a three-server election happen at all. Most bugs need no client
    /// value: leaders' no-op entries are entries enough, and without
    /// proposals the space to search is a third to a half smaller.
    /// The bug's bounds in the protocol `variant`: [`config`](Self::config)
    /// with the variant, raised where the variant needs more to show the
    /// wrong rule (found by trying, as the catalogue's own).
    pub fn config_under(self, variant: crate::Variant) -> Config {
        Config {
            variant,
            ..self.config()
        }
    }

    pub fn config(self) -> Config {
        let base = Config {
            servers: 3,
            max_term: 2,
            max_log_len: 2,
            max_batch: 1,
            values: 0,
            max_crashes: 0,
            max_in_flight: 2,
            network: NetworkKind::Lossy,
            bug: Some(self),
            variant: crate::Variant::PAPER,
        };
        match self {
            // One crash between two votes of the same term.
            Bug::VoteNotPersisted => Config {
                max_term: 1,
                max_log_len: 1,
                max_crashes: 1,
                ..base
            },
            // With three servers one response already makes a majority, so a
            // duplicate changes nothing: five servers, and a candidate's four
            // RequestVotes in flight at once.
            Bug::VotesNotDeduplicated => Config {
                servers: 5,
                max_term: 1,
                max_log_len: 1,
                max_in_flight: 5,
                network: NetworkKind::LossyDuplicating,
                ..base
            },
            // Figure 8 needs four leaderships: an entry's term, a rival
            // entry's term, the term that commits the old entry by counting,
            // and the term of the leader that lacks it.
            Bug::CommitPreviousTerm => Config {
                max_term: 4,
                ..base
            },
            // Logs must diverge at one index under two leaders before a third
            // leader's AppendEntries skips the term comparison.
            Bug::NoConsistencyCheck => Config {
                max_term: 3,
                ..base
            },
            // A stale entry must survive past the entries a message carries.
            // Three terms: the entry both logs share, the follower's own
            // later entry, and the leader that commits a different one. The
            // leader's nextIndex must fall below the conflict: an
            // AppendEntries of its first term, still in flight, is refused
            // with the current term, which the leader reads as a rejection.
            Bug::CommitBeyondNewEntries => Config {
                max_term: 3,
                max_in_flight: 3,
                ..base
            },
            // The stale message (a vote of the previous election) must still
            // be in flight while the next round of messages is sent.
            Bug::StaleVoteCounted => Config {
                max_in_flight: 3,
                ..base
            },
            // As above, an old AppendEntries or a reordered response; here a
            // client value keeps the counterexample short (with no-ops only
            // it needs a later term: 20 steps rather than 13).
            Bug::TruncateOnMatch | Bug::MatchIndexRegresses => Config {
                max_in_flight: 3,
                values: 1,
                ..base
            },
            // Two rejections in flight for one follower: its reply to the
            // new leader's first AppendEntries and to a heartbeat's.
            Bug::NextIndexNoFloor => Config {
                max_in_flight: 3,
                ..base
            },
            // A liveness bug: the checker must exhaust the space, so the
            // bounds are the least that let correct Raft move a vote.
            Bug::VoteKeptOnNewTerm => Config {
                max_log_len: 1,
                ..base
            },
            _ => base,
        }
    }
}

impl std::str::FromStr for Bug {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Bug::from_name(s).ok_or_else(|| {
            let names: Vec<_> = Bug::ALL.iter().map(|b| b.name()).collect();
            format!("unknown bug {s:?}: expected one of {}", names.join(", "))
        })
    }
}

impl std::fmt::Display for Bug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

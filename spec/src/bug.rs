//! The bug catalogue: single wrong rules, each documented in public Raft bug
//! reports, that a config can switch on. Each names the Figure-2 rule it
//! breaks, the property the checker must then find violated, and the smallest
//! bounds that exhibit it.

use serde::{Deserialize, Serialize};

use crate::config::{Config, NetworkKind};
use crate::properties as prop;

/// One wrong rule. The serde and CLI name is the kebab-case `name()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bug {
    VoteWithoutLogCheck,
    CommitPreviousTerm,
    VoteNotPersisted,
    DoubleVote,
    StaleVoteCounted,
    VotesNotDeduplicated,
    TruncateOnMatch,
    NoConsistencyCheck,
    NoStepDown,
    CommitRegresses,
    CommitBeyondNewEntries,
    MatchIndexRegresses,
    AppendEntriesElects,
    VoteKeptOnNewTerm,
}

/// What the catalogue says about one bug.
#[derive(Clone, Copy, Debug)]
pub struct BugInfo {
    pub name: &'static str,
    /// The wrong rule, in one line.
    pub description: &'static str,
    /// The Figure-2 rule it breaks.
    pub correct_rule: &'static str,
    /// The property the checker must report.
    pub violates: &'static str,
}

impl Bug {
    pub const ALL: [Bug; 14] = [
        Bug::VoteWithoutLogCheck,
        Bug::CommitPreviousTerm,
        Bug::VoteNotPersisted,
        Bug::DoubleVote,
        Bug::StaleVoteCounted,
        Bug::VotesNotDeduplicated,
        Bug::TruncateOnMatch,
        Bug::NoConsistencyCheck,
        Bug::NoStepDown,
        Bug::CommitRegresses,
        Bug::CommitBeyondNewEntries,
        Bug::MatchIndexRegresses,
        Bug::AppendEntriesElects,
        Bug::VoteKeptOnNewTerm,
    ];

    pub fn info(self) -> BugInfo {
        let (name, description, correct_rule, violates) = match self {
            Bug::VoteWithoutLogCheck => (
                "vote-without-log-check",
                "grant a vote without the §5.4.1 up-to-date check",
                "grant a vote only if the candidate's last log term is higher, or equal with a last index at least ours",
                prop::LEADER_COMPLETENESS,
            ),
            Bug::CommitPreviousTerm => (
                "commit-previous-term",
                "commit an entry of an earlier term by counting replicas (the paper's Figure 8)",
                "a leader commits by counting replicas only entries of its own term",
                prop::LEADER_COMPLETENESS,
            ),
            Bug::VoteNotPersisted => (
                "vote-not-persisted",
                "answer RequestVote before term and vote are saved, so a crash forgets the vote",
                "persist currentTerm and votedFor before responding to RequestVote",
                prop::ELECTION_SAFETY,
            ),
            Bug::DoubleVote => (
                "double-vote",
                "grant a second, different vote in the same term",
                "grant only if votedFor is null or the candidate",
                prop::ELECTION_SAFETY,
            ),
            Bug::StaleVoteCounted => (
                "stale-vote-counted",
                "a candidate counts a vote response from an older term",
                "a candidate counts only votes granted in its current term",
                prop::ELECTION_SAFETY,
            ),
            Bug::VotesNotDeduplicated => (
                "votes-not-deduplicated",
                "count granted responses rather than distinct voters (a duplicated response elects)",
                "a candidate wins with votes from a majority of distinct servers",
                prop::ELECTION_SAFETY,
            ),
            Bug::TruncateOnMatch => (
                "truncate-on-match",
                "a follower truncates its log on an AppendEntries whose entries already match (a stale or reordered message)",
                "delete an existing entry and all that follow it only if it conflicts with a new one (same index, different term)",
                prop::LEADER_COMPLETENESS,
            ),
            Bug::NoConsistencyCheck => (
                "no-consistency-check",
                "AppendEntries succeeds without the prevLogIndex/prevLogTerm check",
                "reply false if the log has no entry at prevLogIndex whose term matches prevLogTerm",
                prop::LOG_MATCHING,
            ),
            Bug::NoStepDown => (
                "no-step-down",
                "a leader that sees a higher term takes it but keeps leading",
                "if RPC request or response contains term T > currentTerm: set currentTerm = T, convert to follower",
                prop::ELECTION_SAFETY,
            ),
            Bug::CommitRegresses => (
                "commit-regresses",
                "a follower lowers its commitIndex to min(leaderCommit, last index)",
                "commitIndex = min(leaderCommit, index of last new entry) only if leaderCommit > commitIndex: it never decreases",
                prop::COMMIT_MONOTONIC,
            ),
            Bug::CommitBeyondNewEntries => (
                "commit-beyond-new-entries",
                "a follower advances commitIndex past the last entry the message proved",
                "commitIndex = min(leaderCommit, index of last new entry)",
                prop::STATE_MACHINE_SAFETY,
            ),
            Bug::MatchIndexRegresses => (
                "match-index-regresses",
                "a stale AppendEntries response lowers the leader's matchIndex",
                "matchIndex increases monotonically",
                prop::MATCH_MONOTONIC,
            ),
            Bug::AppendEntriesElects => (
                "append-entries-elects",
                "a server that accepts AppendEntries makes itself leader",
                "a server that accepts AppendEntries of its term is a follower of its sender",
                prop::ELECTION_SAFETY,
            ),
            Bug::VoteKeptOnNewTerm => (
                "vote-kept-on-new-term",
                "votedFor is not cleared when the term advances, so an old vote binds the server forever",
                "on a new term, votedFor is reset (to null)",
                prop::VOTE_MOVES,
            ),
        };
        BugInfo {
            name,
            description,
            correct_rule,
            violates,
        }
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The smallest bounds that exhibit the bug (found by trying smaller ones).
    pub fn config(self) -> Config {
        let base = Config {
            servers: 3,
            max_term: 2,
            max_log_len: 2,
            max_batch: 1,
            values: 1,
            max_crashes: 0,
            max_in_flight: 3,
            network: NetworkKind::Lossy,
            bug: Some(self),
        };
        match self {
            Bug::VoteNotPersisted => Config {
                max_term: 1,
                max_log_len: 1,
                max_crashes: 1,
                ..base
            },
            Bug::VotesNotDeduplicated => Config {
                servers: 5,
                max_term: 1,
                max_log_len: 1,
                network: NetworkKind::LossyDuplicating,
                ..base
            },
            Bug::CommitPreviousTerm => Config {
                max_term: 4,
                ..base
            },
            Bug::NoConsistencyCheck => Config {
                max_term: 3,
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

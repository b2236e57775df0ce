//! The bug catalogue: single wrong rules, each documented in public Raft bug
//! reports, that a config can switch on. Each names the Figure-2 rule it
//! breaks, the property the checker must then find violated, and the smallest
//! bounds that exhibit it: that entry, and each bug's name, is in
//! [`crate::catalogue`]; this module is only the bugs, so that a config can
//! name one without depending on the catalogue.

use serde::{Deserialize, Serialize};

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
    NextIndexNoFloor,
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
    /// How the wrong rule leads to the property's violation, in a sentence
    /// or two (the saved counterexample shows it step by step).
    pub why: &'static str,
}

impl Bug {
    pub const ALL: [Bug; 15] = [
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
        Bug::NextIndexNoFloor,
    ];
}

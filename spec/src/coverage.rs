//! Rule coverage: which rule, and which branch of a handler, each step took
//! (as TLC reports action coverage).
//!
//! A wrong rule that can never fire at a run's bounds is invisible to the
//! checker, so every report says how often each [`Rule`] fired and where it
//! first did, and lists the rules that never fired. Handlers record the
//! branch they take through [`Effects::cover`](crate::server::Effects::cover):
//! a no-op for stateright's `Out`, recorded by the flat model's step.
//! docs/rules.md has one row per rule (its raft.tla operator, spec and
//! implementation functions, a test, the catalogued bugs that break it)
//! and one per action (its one name, raft.tla's operator in snake_case, in
//! the spec and raft-core); spec/tests/rules_doc.rs keeps the two in step.
//!
//! A catalogued bug changes the condition of one branch; a transition that
//! takes the changed branch counts under the rule it replaces (under
//! `double-vote`, a second vote counts as `grant-vote`), so a bug run's
//! coverage reads row for row like correct Raft's.

use serde::Serialize;

use crate::config::Config;
use crate::variant::{FlowControl, HeartbeatKind, RejectionHint, StaleTerm, Variant};

macro_rules! rules {
    ($($variant:ident => $name:literal, $tla:literal, $what:literal;)*) => {
        /// One rule of the model, or one branch of a handler. The name is
        /// stable (kebab-case): docs/rules.md and reports use it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Rule {
            $($variant,)*
        }

        impl Rule {
            pub const ALL: &'static [Rule] = &[$(Rule::$variant,)*];

            pub fn name(self) -> &'static str {
                match self {
                    $(Rule::$variant => $name,)*
                }
            }

            /// The ongardie/raft.tla operator the rule belongs to.
            pub fn tla_operator(self) -> &'static str {
                match self {
                    $(Rule::$variant => $tla,)*
                }
            }

            /// What the rule does, in a line.
            pub fn description(self) -> &'static str {
                match self {
                    $(Rule::$variant => $what,)*
                }
            }
        }
    };
}

rules! {
    StepDownOnHigherTerm => "step-down-on-higher-term", "UpdateTerm",
        "an RPC carries a higher term: take it, forget the vote, become follower";
    StartElection => "start-election", "Timeout",
        "election timeout: next term, vote for self, RequestVote to every peer";
    GrantVote => "grant-vote", "HandleRequestVoteRequest",
        "grant: same term, not voted for another, candidate's log up to date";
    RefuseVoteStaleTerm => "refuse-vote-stale-term", "HandleRequestVoteRequest",
        "refuse: the request's term is older than ours";
    RefuseVoteAlreadyVoted => "refuse-vote-already-voted", "HandleRequestVoteRequest",
        "refuse: already voted for another candidate in this term";
    RefuseVoteLogNotUpToDate => "refuse-vote-log-not-up-to-date", "HandleRequestVoteRequest",
        "refuse: the candidate's log is less up to date than ours (§5.4.1)";
    CountVote => "count-vote", "HandleRequestVoteResponse",
        "a candidate counts a vote granted in its term by a new voter";
    IgnoreVoteResponse => "ignore-vote-response", "HandleRequestVoteResponse",
        "a response not counted: refused, of another term, to a non-candidate, or from a voter already counted";
    BecomeLeader => "become-leader", "BecomeLeader",
        "a majority of votes: lead, reset next/match index, append a no-op";
    ClientRequest => "client-request", "ClientRequest",
        "a leader appends a client value and replicates it";
    Heartbeat => "heartbeat", "AppendEntries",
        "a leader's heartbeat timer: AppendEntries (heartbeat=rpc: a Heartbeat) to every peer";
    RejectAppendStaleTerm => "reject-append-stale-term", "HandleAppendEntriesRequest",
        "reject: the request's term is older than ours";
    CandidateStepsDown => "candidate-steps-down", "HandleAppendEntriesRequest",
        "a candidate hears from its term's leader and becomes follower";
    RejectAppendLogMismatch => "reject-append-log-mismatch", "HandleAppendEntriesRequest",
        "reject: no entry at prevLogIndex with prevLogTerm";
    TruncateConflict => "truncate-conflict", "HandleAppendEntriesRequest",
        "an existing entry conflicts with a new one: delete it and all after it";
    AppendNewEntries => "append-new-entries", "HandleAppendEntriesRequest",
        "append entries not already in the log";
    AcceptNoNewEntries => "accept-no-new-entries", "HandleAppendEntriesRequest",
        "success with every entry already present (a heartbeat or a repeat)";
    AdvanceFollowerCommit => "advance-follower-commit", "HandleAppendEntriesRequest",
        "commitIndex = min(leaderCommit, index of last new entry) when that is higher";
    AdvanceLeaderCommit => "advance-leader-commit", "AdvanceCommitIndex",
        "a leader commits the largest index of its term on a majority";
    AdvanceMatchIndex => "advance-match-index", "HandleAppendEntriesResponse",
        "success: matchIndex and nextIndex move forward";
    SendNextBatch => "send-next-batch", "HandleAppendEntriesResponse",
        "success, follower still behind: send the next batch at once";
    RetryAfterRejection => "retry-after-rejection", "HandleAppendEntriesResponse",
        "failure: back nextIndex off (to the follower's hint at most) and retry";
    IgnoreAppendResponse => "ignore-append-response", "HandleAppendEntriesResponse",
        "a response ignored: not leader, another term, or a stale success (probe-replicate: or a stale rejection)";
    IgnoreStaleRequest => "ignore-stale-request", "Receive",
        "stale-term=ignore: a request of an older term goes unanswered";
    RefuseVoteLeaderKnown => "refuse-vote-leader-known", "HandleRequestVoteRequest",
        "leader-stickiness: refuse, not having voted, while the term's leader is known";
    CountRefusal => "count-refusal", "HandleRequestVoteResponse",
        "refused-candidate-steps-down: a candidate counts a refusal and can still win";
    CandidateLoses => "candidate-loses", "HandleRequestVoteResponse",
        "refused-candidate-steps-down: refusals leave no majority: become follower";
    CommitByVote => "commit-by-vote", "HandleRequestVoteRequest",
        "votes-carry-commit: a vote's commit index is an entry this server holds: commit it";
    AcceptHeartbeat => "accept-heartbeat", "HandleHeartbeatRequest",
        "heartbeat=rpc: a follower hears its leader: commit as far as the heartbeat says";
    HeartbeatResponse => "heartbeat-response", "HandleHeartbeatResponse",
        "heartbeat=rpc: a leader hears a follower: resume its probe, append if it is behind";
    AnswerBelowCommit => "answer-below-commit", "HandleAppendEntriesRequest",
        "rejection-hint=conflict-by-term: prevLogIndex below commitIndex: answer commitIndex";
    BroadcastCommit => "broadcast-commit", "HandleAppendEntriesResponse",
        "commit-broadcast: a new commit index: an append to every peer";
    SkipPausedProbe => "skip-paused-probe", "AppendEntries",
        "flow-control=probe-replicate: a probe is in flight: send the peer nothing";
    ReplicateFollower => "replicate-follower", "HandleAppendEntriesResponse",
        "flow-control=probe-replicate: a probe succeeded: pipeline appends to the follower";
    Crash => "crash", "Restart",
        "a server stops; volatile state is lost";
    Restart => "restart", "Restart",
        "a crashed server recovers from its storage as a follower";
    DropMessage => "drop-message", "DropMessage",
        "the network loses a message";
    DuplicateMessage => "duplicate-message", "DuplicateMessage",
        "a delivery on a duplicating network leaves the message to be delivered again";
}

impl Rule {
    pub fn from_name(name: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.name() == name)
    }

    fn bit(self) -> u64 {
        1 << self as u32
    }

    /// Why the bounds of `cfg` rule this rule out, if they do: such a rule
    /// is reported as excluded, not as uncovered.
    pub fn excluded_by(self, cfg: &Config) -> Option<&'static str> {
        if let Some(why) = self.excluded_by_variant(&cfg.variant) {
            return Some(why);
        }
        match self {
            Rule::Crash | Rule::Restart if cfg.max_crashes == 0 => Some("no crash budget"),
            Rule::DropMessage if !cfg.network.is_lossy() => Some("the network loses no message"),
            Rule::DuplicateMessage if !cfg.network.is_duplicating() => {
                Some("the network duplicates no message")
            }
            Rule::ClientRequest if cfg.values == 0 => Some("no client values"),
            // A paused probe's answer sends one batch, so a second is left
            // for the pipeline only with two entries past the match.
            Rule::SendNextBatch
                if cfg.variant.flow_control == FlowControl::ProbeReplicate
                    && cfg.max_log_len < 3 =>
            {
                Some("probe-replicate with fewer than 3 entries: no second batch to pipeline")
            }
            Rule::RefuseVoteStaleTerm | Rule::RejectAppendStaleTerm | Rule::TruncateConflict
                if cfg.max_term < 2 =>
            {
                Some("one term: no older term, no conflicting entry")
            }
            _ if cfg.servers < 2 && !matches!(self, Rule::StartElection | Rule::BecomeLeader) => {
                Some("one server: no peer")
            }
            _ => None,
        }
    }
}

impl Rule {
    /// Why the variant rules this rule out, if it does: each rule of an
    /// option fires only under it, and a rule an option replaces only
    /// without it.
    pub fn excluded_by_variant(self, v: &Variant) -> Option<&'static str> {
        let off = |on: bool, why: &'static str| (!on).then_some(why);
        match self {
            Rule::IgnoreStaleRequest => off(
                v.stale_term == StaleTerm::Ignore,
                "variant: stale-term=answer",
            ),
            Rule::RefuseVoteStaleTerm | Rule::RejectAppendStaleTerm => off(
                v.stale_term == StaleTerm::Answer,
                "variant: stale-term=ignore: no stale request is answered",
            ),
            Rule::RefuseVoteLeaderKnown => {
                off(v.leader_stickiness, "variant: no leader-stickiness")
            }
            Rule::CountRefusal | Rule::CandidateLoses => off(
                v.refused_candidate_steps_down,
                "variant: no refused-candidate-steps-down",
            ),
            Rule::CommitByVote => off(v.votes_carry_commit, "variant: no votes-carry-commit"),
            Rule::AcceptHeartbeat | Rule::HeartbeatResponse => off(
                v.heartbeat == HeartbeatKind::Rpc,
                "variant: heartbeat=append-entries",
            ),
            Rule::AnswerBelowCommit => off(
                v.rejection_hint == RejectionHint::ConflictByTerm,
                "variant: rejection-hint=paper",
            ),
            Rule::BroadcastCommit => off(v.commit_broadcast, "variant: no commit-broadcast"),
            Rule::SkipPausedProbe | Rule::ReplicateFollower => off(
                v.flow_control == FlowControl::ProbeReplicate,
                "variant: flow-control=resend",
            ),
            _ => None,
        }
    }
}

const _: () = assert!(Rule::ALL.len() <= 64, "a RuleSet holds at most 64 rules");

/// A set of rules (one bit each): the rules one step took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleSet(pub u64);

impl RuleSet {
    pub fn insert(&mut self, rule: Rule) {
        self.0 |= rule.bit();
    }

    pub fn contains(self, rule: Rule) -> bool {
        self.0 & rule.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The indices (into [`Rule::ALL`]) of the rules in the set.
    pub fn indices(self) -> impl Iterator<Item = usize> {
        let mut m = self.0;
        std::iter::from_fn(move || {
            (m != 0).then(|| {
                let i = m.trailing_zeros() as usize;
                m &= m - 1;
                i
            })
        })
    }
}

/// Whether a rule fired over a run; serialised as `covered`, `uncovered`,
/// `excluded`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CoverageStatus {
    Covered,
    /// The bounds allow it, yet no transition took it.
    Uncovered,
    /// A bound rules it out (e.g. no crash budget).
    Excluded,
}

/// How often a rule fired over a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleCoverage {
    pub rule: &'static str,
    pub tla_operator: &'static str,
    pub status: CoverageStatus,
    /// Transitions that took the rule.
    pub transitions: u64,
    /// Depth of the state the first such transition reached.
    pub first_depth: Option<usize>,
    /// For an excluded rule: which bound rules it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excluded_by: Option<&'static str>,
}

/// One row per rule, in [`Rule::ALL`]'s order, from per-rule transition
/// counts and first depths (indexed as `Rule::ALL`).
pub fn table(cfg: &Config, counts: &[u64], first_depths: &[Option<usize>]) -> Vec<RuleCoverage> {
    Rule::ALL
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let transitions = counts.get(i).copied().unwrap_or(0);
            let excluded_by = rule.excluded_by(cfg);
            let status = match (transitions, excluded_by) {
                (0, Some(_)) => CoverageStatus::Excluded,
                (0, None) => CoverageStatus::Uncovered,
                _ => CoverageStatus::Covered,
            };
            RuleCoverage {
                rule: rule.name(),
                tla_operator: rule.tla_operator(),
                status,
                transitions,
                first_depth: first_depths.get(i).copied().flatten(),
                excluded_by: excluded_by.filter(|_| transitions == 0),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_kebab_case_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for r in Rule::ALL {
            assert!(seen.insert(r.name()), "{} twice", r.name());
            assert!(r.name().chars().all(|c| c.is_ascii_lowercase() || c == '-'));
            assert_eq!(Rule::from_name(r.name()), Some(*r));
        }
    }

    #[test]
    fn a_rule_set_lists_its_rules_in_order() {
        let mut s = RuleSet::default();
        assert!(s.is_empty());
        s.insert(Rule::Restart);
        s.insert(Rule::GrantVote);
        assert!(s.contains(Rule::GrantVote) && !s.contains(Rule::Crash));
        let got: Vec<Rule> = s.indices().map(|i| Rule::ALL[i]).collect();
        assert_eq!(got, [Rule::GrantVote, Rule::Restart]);
    }

    #[test]
    fn bounds_exclude_rules_they_make_impossible() {
        let quick = crate::Profile::Quick.config();
        assert_eq!(Rule::Crash.excluded_by(&quick), Some("no crash budget"));
        assert_eq!(Rule::GrantVote.excluded_by(&quick), None);
        let ci = crate::Profile::Ci.config();
        // Under the paper's variant only the duplicating network and the
        // other variants' rules are out of ci's reach; under raft-rs's, only
        // the duplicating network, the pipeline's second batch (a third
        // entry), and the stale-term answers it never gives.
        for r in Rule::ALL {
            let why = r.excluded_by(&ci);
            let variant_rule = r.excluded_by_variant(&crate::Variant::RAFT_RS).is_none()
                && r.excluded_by_variant(&crate::Variant::PAPER).is_some();
            assert_eq!(
                why.is_some(),
                *r == Rule::DuplicateMessage || variant_rule,
                "{r:?}: {why:?}"
            );
        }
        let rs = Config {
            variant: crate::Variant::RAFT_RS,
            ..ci.clone()
        };
        let excluded: Vec<Rule> = Rule::ALL
            .iter()
            .copied()
            .filter(|r| r.excluded_by(&rs).is_some())
            .collect();
        assert_eq!(
            excluded,
            [
                Rule::RefuseVoteStaleTerm,
                Rule::RejectAppendStaleTerm,
                Rule::SendNextBatch,
                Rule::DuplicateMessage
            ]
        );
        let rows = table(&quick, &[0; 64], &[None; 64]);
        let status = |name: &str| rows.iter().find(|r| r.rule == name).unwrap().status;
        assert_eq!(status("crash"), CoverageStatus::Excluded);
        assert_eq!(status("grant-vote"), CoverageStatus::Uncovered);
    }
}

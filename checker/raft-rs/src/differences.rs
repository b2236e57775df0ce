//! raft-rs's known design differences from the paper's model (Figure 2)
//! that no loosening hides, by the divergence they make: a paper-mode run
//! (`conform --past-known`) stops exploring at one named here. Each is
//! safe, and each is an option of `Variant::RAFT_RS`, under which it is no
//! divergence at all: the gate checks raft-rs there, where the only
//! divergence named is a [`Deviation`] of raft-rs from its own model.

/// One known difference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DesignDifference {
    /// raft-rs grants a vote only if it has not voted and knows no leader
    /// of the term (`can_vote`): a follower of a known leader refuses even
    /// that leader's own delayed RequestVote, which the model grants.
    LeaderStickiness,
    /// An AppendEntries whose prev index is below the follower's commit
    /// index is answered with the commit index and its entries dropped
    /// (`handle_append_entries`: `m.index < committed`), where the model
    /// appends what is new.
    AppendBelowCommit,
    /// raft-rs sent other messages than the model (loosened as
    /// `messages-sent`), so a trace of the model delivers a message raft-rs
    /// never sent: the replay is inconclusive past that step (a reply
    /// raft-rs wrongly left out looks the same; the product modes, which
    /// deliver only what raft-rs sent, are what check past it).
    OtherMessages,
}

impl DesignDifference {
    pub fn name(self) -> &'static str {
        match self {
            DesignDifference::LeaderStickiness => "leader-stickiness",
            DesignDifference::AppendBelowCommit => "append-below-commit",
            DesignDifference::OtherMessages => "other-messages",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            DesignDifference::LeaderStickiness => {
                "leader stickiness: raft-rs refuses a vote while it knows a leader of the term (even that leader's own delayed RequestVote)"
            }
            DesignDifference::AppendBelowCommit => {
                "an append whose prev index is below the follower's commit index is answered with the commit index and its new entries dropped"
            }
            DesignDifference::OtherMessages => {
                "raft-rs sent other messages than the model (messages-sent loosened): the trace delivers one raft-rs never sent and cannot go on"
            }
        }
    }
}

/// The known difference a divergence is, if any: by the field that
/// differs, the two values, and the action (as raftcheck prints them).
pub fn classify(
    field: &str,
    model: &str,
    implementation: &str,
    action: &str,
) -> Option<DesignDifference> {
    let delivered = |rpc: &str| action.contains(&format!(" {rpc}("));
    // "sA → sB RPC(...)": the sender.
    let sender = action.split(' ').next().unwrap_or_default();
    // The model granted the sender the vote raft-rs did not grant anyone.
    if field.ends_with(".voted_for")
        && delivered("RequestVote")
        && model == sender
        && implementation == "none"
    {
        return Some(DesignDifference::LeaderStickiness);
    }
    // The follower kept a non-empty log that is a proper prefix of the
    // model's, longer than the append's prev index (so its commit index
    // may lie beyond prev: an empty or shorter log is some other fault).
    if field.ends_with(".log") && delivered("AppendEntries") {
        let entries = |log: &str| -> Vec<String> {
            log.trim_start_matches('[')
                .trim_end_matches(']')
                .split_whitespace()
                .map(str::to_string)
                .collect()
        };
        let (want, got) = (entries(model), entries(implementation));
        let prev = action
            .split("prev=")
            .nth(1)
            .and_then(|r| r.split('@').next())
            .and_then(|n| n.parse::<usize>().ok());
        if !got.is_empty()
            && got.len() < want.len()
            && want.starts_with(&got)
            && prev.is_some_and(|p| p < got.len())
        {
            return Some(DesignDifference::AppendBelowCommit);
        }
    }
    if field == "messages in flight" {
        return Some(DesignDifference::OtherMessages);
    }
    None
}

/// A known deviation of raft-rs 0.7 from its own model (`Variant::RAFT_RS`),
/// saved as a counterexample under `counterexamples/raft-rs/`: not a design
/// choice of the family, so no variant option models it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Deviation {
    /// A stale rejection that arrives while the follower is probed again
    /// at the index it rejected takes nextIndex to `min(rejected, hint + 1)`
    /// with no floor at matchIndex + 1 (`Progress::maybe_decr_to`, raft-rs
    /// 0.7 `src/tracker/progress.rs`; etcd's has the floor), so nextIndex
    /// falls to matchIndex or below. Safe: the next append's log check is
    /// one the follower passes, and matchIndex never moves back.
    NextIndexBelowMatch,
}

impl Deviation {
    pub const ALL: [Deviation; 1] = [Deviation::NextIndexBelowMatch];

    pub fn name(self) -> &'static str {
        match self {
            Deviation::NextIndexBelowMatch => "next-index-below-match",
        }
    }

    /// Its counterexample, under the counterexamples directory.
    pub fn trace(self) -> &'static str {
        match self {
            Deviation::NextIndexBelowMatch => "raft-rs/next-index-below-match.json",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Deviation::NextIndexBelowMatch => {
                "raft-rs 0.7's maybe_decr_to has no matchIndex + 1 floor: a stale rejection takes a probed follower's nextIndex to its match index or below (safe; see counterexamples/raft-rs/next-index-below-match.md)"
            }
        }
    }
}

/// The known raft-rs deviation a divergence under `Variant::RAFT_RS` is,
/// if any: after a rejection, the leader's nextIndex for the rejecting
/// follower (and for no other peer) is lower than the model's, and no
/// higher than the index the rejection refused, as raft-rs's unfloored
/// `min(rejected, hint + 1)` makes it (the model's is floored at
/// matchIndex + 1). The divergence names the first field that differs, so
/// role, term, vote, log, commit index and granted votes are equal; fields
/// compared after nextIndex are not seen here, and `--past-known` explores
/// no further from the step.
pub fn classify_deviation(
    field: &str,
    model: &str,
    implementation: &str,
    action: &str,
) -> Option<Deviation> {
    if !field.ends_with(".next_index") || !action.contains(" AppendEntriesResponse(") {
        return None;
    }
    if !action.contains(", reject,") {
        return None;
    }
    // "s1 → s0 AppendEntriesResponse(t1, reject, match=1@t1, prev=2)".
    let follower = action.split(' ').next()?;
    let rejected: u8 = action
        .split("prev=")
        .nth(1)?
        .trim_end_matches(')')
        .parse()
        .ok()?;
    // "[s0:3 s1:0]": per peer.
    let peers = |s: &str| -> Vec<(String, Option<u8>)> {
        s.trim_start_matches('[')
            .trim_end_matches(']')
            .split_whitespace()
            .filter_map(|p| p.split_once(':'))
            .map(|(peer, v)| (peer.to_string(), v.parse().ok()))
            .collect()
    };
    let (want, got) = (peers(model), peers(implementation));
    if want.len() != got.len() {
        return None;
    }
    let only_the_follower_lower = want.iter().zip(&got).all(|((wp, w), (gp, g))| {
        wp == gp
            && match (w, g) {
                (Some(w), Some(g)) if wp == follower => g < w && *g <= rejected,
                (w, g) => w == g,
            }
    });
    let differs = want.iter().zip(&got).any(|(w, g)| w != g);
    (only_the_follower_lower && differs).then_some(Deviation::NextIndexBelowMatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lower_next_index_after_a_rejection_is_the_known_deviation() {
        let reject = "s1 → s0 AppendEntriesResponse(t1, reject, match=1@t1, prev=2)";
        let got = classify_deviation("s0.next_index", "[s0:0 s1:3]", "[s0:0 s1:2]", reject);
        assert_eq!(got, Some(Deviation::NextIndexBelowMatch));
        // Higher than the model's, on another action, or another field: no.
        let higher = classify_deviation("s0.next_index", "[s0:0 s1:2]", "[s0:0 s1:3]", reject);
        assert_eq!(higher, None);
        // Another peer's nextIndex, or one above the rejected index: no.
        let other = classify_deviation(
            "s0.next_index",
            "[s0:0 s1:3 s2:3]",
            "[s0:0 s1:3 s2:2]",
            reject,
        );
        assert_eq!(other, None);
        let wide = "s1 → s0 AppendEntriesResponse(t1, reject, match=1@t1, prev=1)";
        let above = classify_deviation("s0.next_index", "[s0:0 s1:3]", "[s0:0 s1:2]", wide);
        assert_eq!(above, None);
        let ok = "s1 → s0 AppendEntriesResponse(t1, ok, match=2)";
        let success = classify_deviation("s0.next_index", "[s0:0 s1:3]", "[s0:0 s1:2]", ok);
        assert_eq!(success, None);
        assert_eq!(
            classify_deviation("s0.match_index", "[s0:0 s1:3]", "[s0:0 s1:2]", reject),
            None
        );
    }

    const VOTE: &str = "s2 → s1 RequestVote(t2, last=1@t1)";

    #[test]
    fn a_refused_vote_to_the_known_leader_is_stickiness() {
        let stuck = classify("s1.voted_for", "s2", "none", VOTE);
        assert_eq!(stuck, Some(DesignDifference::LeaderStickiness));
        // A vote for the wrong server is no design difference, nor is a
        // vote the model gives someone other than the sender.
        assert_eq!(classify("s1.voted_for", "s2", "s0", VOTE), None);
        assert_eq!(classify("s1.voted_for", "s0", "none", VOTE), None);
        let timeout = "s1 election timeout";
        assert_eq!(classify("s1.voted_for", "s2", "none", timeout), None);
    }

    #[test]
    fn a_log_missing_its_new_entries_is_append_below_commit() {
        let action = "s0 → s1 AppendEntries(t1, prev=0@t0, [1:noop 1:v1], commit=1)";
        let dropped = classify("s1.log", "[1:noop 1:v1]", "[1:noop]", action);
        assert_eq!(dropped, Some(DesignDifference::AppendBelowCommit));
        // A log with a different entry is no design difference, nor an
        // empty one, nor one no longer than the append's prev index.
        assert_eq!(
            classify("s1.log", "[1:noop 1:v1]", "[2:noop]", action),
            None
        );
        assert_eq!(classify("s1.log", "[1:noop 1:v1]", "[]", action), None);
        let later = "s0 → s1 AppendEntries(t1, prev=1@t1, [1:v1], commit=1)";
        assert_eq!(classify("s1.log", "[1:noop 1:v1]", "[1:noop]", later), None);
    }

    #[test]
    fn anything_else_is_unknown() {
        assert_eq!(classify("s0.role", "candidate", "follower", "x"), None);
        assert_eq!(classify("s0.term", "2", "1", "x"), None);
    }
}

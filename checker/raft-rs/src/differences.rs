//! raft-rs's known design differences from the model (Figure 2) that no
//! loosening hides, by the divergence they make: the harness's gate
//! accepts a divergence named here as a known difference (and fails on
//! any other). Each is safe; each is a configuration option of the spec
//! to come, after which it is no divergence at all.

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
    /// never sent and cannot be followed past it.
    OtherMessages,
}

impl DesignDifference {
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
    if field.ends_with(".voted_for")
        && delivered("RequestVote")
        && model != "none"
        && implementation == "none"
    {
        return Some(DesignDifference::LeaderStickiness);
    }
    if field.ends_with(".log")
        && delivered("AppendEntries")
        && implementation.len() < model.len()
        && model.starts_with(implementation.trim_end_matches(']'))
    {
        return Some(DesignDifference::AppendBelowCommit);
    }
    if field == "messages in flight" {
        return Some(DesignDifference::OtherMessages);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_vote_to_the_known_leader_is_stickiness() {
        assert_eq!(
            classify(
                "s1.voted_for",
                "s2",
                "none",
                "s2 → s1 RequestVote(t2, last=1@t1)"
            ),
            Some(DesignDifference::LeaderStickiness)
        );
        // A vote for the wrong server is no design difference.
        assert_eq!(
            classify(
                "s1.voted_for",
                "s2",
                "s0",
                "s2 → s1 RequestVote(t2, last=1@t1)"
            ),
            None
        );
        assert_eq!(
            classify("s1.voted_for", "s2", "none", "s1 election timeout"),
            None
        );
    }

    #[test]
    fn a_log_missing_its_new_entries_is_append_below_commit() {
        let action = "s0 → s1 AppendEntries(t1, prev=0@t0, [1:noop 1:v1], commit=1)";
        assert_eq!(
            classify("s1.log", "[1:noop 1:v1]", "[1:noop]", action),
            Some(DesignDifference::AppendBelowCommit)
        );
        // A log with a different entry is no design difference.
        assert_eq!(
            classify("s1.log", "[1:noop 1:v1]", "[2:noop]", action),
            None
        );
    }

    #[test]
    fn anything_else_is_unknown() {
        assert_eq!(classify("s0.role", "candidate", "follower", "x"), None);
        assert_eq!(classify("s0.term", "2", "1", "x"), None);
    }
}

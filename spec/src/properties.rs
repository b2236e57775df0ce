//! Raft's safety properties (the paper's Figure 3) plus monotonicity rules,
//! and the "sometimes" properties that prove the interesting states are
//! reached, so that no safety property can hold vacuously. The safety
//! predicates themselves are [`crate::safety`]'s, shared with the
//! simulator; this module applies them to every server of a model state.

use stateright::{Expectation, Model, Property};

use crate::cluster::Cluster;
use crate::config::Config;
use crate::ghost::Flags;
use crate::safety;
use crate::view::At;

pub use crate::state::State;

pub const ELECTION_SAFETY: &str = "election safety";
pub const LEADER_APPEND_ONLY: &str = "leader append-only";
pub const LOG_MATCHING: &str = "log matching";
pub const LEADER_COMPLETENESS: &str = "leader completeness";
pub const STATE_MACHINE_SAFETY: &str = "state machine safety";
pub const COMMIT_MONOTONIC: &str = "commit index never decreases";
pub const MATCH_MONOTONIC: &str = "match index never decreases";
pub const INDEX_RANGE: &str = "indices in range";

pub const LEADER_ELECTED: &str = "a leader is elected";
pub const VALUE_COMMITTED: &str = "a client value is committed";
pub const LATER_LEADER: &str = "a leader is elected in a later term";
pub const COMMIT_SURVIVES_CRASH: &str = "a committed entry survives a crash";
pub const VOTE_MOVES: &str = "a server votes for a new candidate in a later term";

/// Every property of a model with these bounds. "Sometimes" properties that
/// the bounds make unreachable (a crash property with no crash budget) are
/// left out rather than reported as missed.
pub fn all<M>(cfg: &Config) -> Vec<Property<M>>
where
    M: Model,
    M::State: Cluster,
{
    let mut props = vec![
        Property::always(ELECTION_SAFETY, |_, s: &M::State| election_safety(s)),
        Property::always(LEADER_APPEND_ONLY, |_, s: &M::State| {
            !s.ghost().flags.has(Flags::LEADER_LOG_REWRITTEN)
        }),
        Property::always(LOG_MATCHING, |_, s: &M::State| log_matching(s)),
        Property::always(LEADER_COMPLETENESS, |_, s: &M::State| {
            leader_completeness(s)
        }),
        Property::always(STATE_MACHINE_SAFETY, |_, s: &M::State| {
            state_machine_safety(s)
        }),
        Property::always(COMMIT_MONOTONIC, |_, s: &M::State| {
            !s.ghost().flags.has(Flags::COMMIT_DECREASED)
        }),
        Property::always(MATCH_MONOTONIC, |_, s: &M::State| {
            !s.ghost().flags.has(Flags::MATCH_DECREASED)
        }),
        Property::always(INDEX_RANGE, |_, s: &M::State| indices_in_range(s)),
        Property::sometimes(LEADER_ELECTED, |_, s: &M::State| {
            s.ghost().leaders.iter().any(|l| !l.is_empty())
        }),
    ];
    if cfg.max_log_len >= 2 && cfg.values >= 1 {
        props.push(Property::sometimes(VALUE_COMMITTED, |_, s: &M::State| {
            s.ghost()
                .committed_entries()
                .any(|(_, c)| !c.entry.value.is_noop())
        }));
    }
    if cfg.max_term >= 2 {
        props.push(Property::sometimes(LATER_LEADER, |_, s: &M::State| {
            s.ghost().leaders.iter().filter(|l| !l.is_empty()).count() >= 2
        }));
    }
    if cfg.max_crashes >= 1 {
        props.push(Property::sometimes(
            COMMIT_SURVIVES_CRASH,
            |_, s: &M::State| s.ghost().flags.has(Flags::COMMIT_SURVIVED_CRASH),
        ));
    }
    if cfg.max_term >= 2 && cfg.servers >= 3 {
        props.push(Property::sometimes(VOTE_MOVES, |_, s: &M::State| {
            s.ghost().flags.has(Flags::VOTE_MOVED)
        }));
    }
    props
}

/// Whether a property must hold in every state (as opposed to being reached).
pub fn is_safety<M: Model>(p: &Property<M>) -> bool {
    matches!(p.expectation, Expectation::Always)
}

fn all_servers(s: &impl Cluster) -> impl Iterator<Item = At<'_>> {
    (0..s.server_count()).map(move |i| At::new(s, i))
}

fn running_servers(s: &impl Cluster) -> impl Iterator<Item = At<'_>> {
    (0..s.server_count())
        .filter(|&i| !s.is_crashed(i))
        .map(move |i| At::new(s, i))
}

/// At most one leader can be elected in a given term, ever (§5.2).
pub fn election_safety(s: &impl Cluster) -> bool {
    safety::election_safety(s.ghost()).is_ok()
}

/// If two logs contain an entry with the same index and term, the logs are
/// identical in all entries up through that index (§5.3).
pub fn log_matching(s: &impl Cluster) -> bool {
    all_servers(s).enumerate().all(|(i, a)| {
        all_servers(s)
            .skip(i + 1)
            .all(|b| safety::log_matching(&a, &b).is_ok())
    })
}

/// If an entry is committed in a term, it is in the log of every running
/// leader of a later term (§5.4).
pub fn leader_completeness(s: &impl Cluster) -> bool {
    running_servers(s).all(|a| safety::leader_completeness(&a, s.ghost()).is_ok())
}

/// No two servers ever apply different entries at the same index (§5.4.3).
pub fn state_machine_safety(s: &impl Cluster) -> bool {
    all_servers(s).all(|a| safety::state_machine_safety(&a, s.ghost()).is_ok())
}

/// Every index a server keeps is in its range, and no index or term
/// arithmetic of a server left its range (a result that would have wrapped
/// is clamped and flagged instead, see `types::Checked`). A follower's
/// conflict hint is min(prevLogIndex - 1, lastIndex) by construction; the
/// leader's arithmetic on it is checked where it lands.
pub fn indices_in_range(s: &impl Cluster) -> bool {
    all_servers(s).all(|a| safety::indices_in_range(&a).is_ok())
}

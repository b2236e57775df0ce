//! Raft's safety properties (the paper's Figure 3) plus monotonicity rules,
//! and the "sometimes" properties that prove the interesting states are
//! reached, so that no safety property can hold vacuously.

use stateright::actor::ActorModelState;
use stateright::{Expectation, Property};

use crate::ghost::{Flags, Ghost};
use crate::model::RaftModel;
use crate::server::{RaftServer, Role, ServerState};

pub type State = ActorModelState<RaftServer, Ghost>;

pub const ELECTION_SAFETY: &str = "election safety";
pub const LEADER_APPEND_ONLY: &str = "leader append-only";
pub const LOG_MATCHING: &str = "log matching";
pub const LEADER_COMPLETENESS: &str = "leader completeness";
pub const STATE_MACHINE_SAFETY: &str = "state machine safety";
pub const COMMIT_MONOTONIC: &str = "commit index never decreases";
pub const MATCH_MONOTONIC: &str = "match index never decreases";

pub const LEADER_ELECTED: &str = "a leader is elected";
pub const VALUE_COMMITTED: &str = "a client value is committed";
pub const LATER_LEADER: &str = "a leader is elected in a later term";
pub const COMMIT_SURVIVES_CRASH: &str = "a committed entry survives a crash";
pub const VOTE_MOVES: &str = "a server votes for a new candidate in a later term";

/// Every property of a model with these bounds. "Sometimes" properties that
/// the bounds make unreachable (a crash property with no crash budget) are
/// left out rather than reported as missed.
pub fn all(model: &RaftModel) -> Vec<Property<RaftModel>> {
    let cfg = &model.cfg;
    let mut props = vec![
        Property::always(ELECTION_SAFETY, |_, s: &State| election_safety(s)),
        Property::always(LEADER_APPEND_ONLY, |_, s: &State| {
            !s.history.flags.has(Flags::LEADER_LOG_REWRITTEN)
        }),
        Property::always(LOG_MATCHING, |_, s: &State| log_matching(s)),
        Property::always(LEADER_COMPLETENESS, |_, s: &State| leader_completeness(s)),
        Property::always(STATE_MACHINE_SAFETY, |_, s: &State| state_machine_safety(s)),
        Property::always(COMMIT_MONOTONIC, |_, s: &State| {
            !s.history.flags.has(Flags::COMMIT_DECREASED)
        }),
        Property::always(MATCH_MONOTONIC, |_, s: &State| {
            !s.history.flags.has(Flags::MATCH_DECREASED)
        }),
        Property::sometimes(LEADER_ELECTED, |_, s: &State| {
            s.history.leaders.iter().any(|l| !l.is_empty())
        }),
    ];
    if cfg.max_log_len >= 2 && cfg.values >= 1 {
        props.push(Property::sometimes(VALUE_COMMITTED, |_, s: &State| {
            s.history
                .committed_entries()
                .any(|(_, c)| !c.entry.value.is_noop())
        }));
    }
    if cfg.max_term >= 2 {
        props.push(Property::sometimes(LATER_LEADER, |_, s: &State| {
            s.history.leaders.iter().filter(|l| !l.is_empty()).count() >= 2
        }));
    }
    if cfg.max_crashes >= 1 {
        props.push(Property::sometimes(
            COMMIT_SURVIVES_CRASH,
            |_, s: &State| s.history.flags.has(Flags::COMMIT_SURVIVED_CRASH),
        ));
    }
    if cfg.max_term >= 2 && cfg.servers >= 3 {
        props.push(Property::sometimes(VOTE_MOVES, |_, s: &State| {
            s.history.flags.has(Flags::VOTE_MOVED)
        }));
    }
    props
}

/// Whether a property must hold in every state (as opposed to being reached).
pub fn is_safety(p: &Property<RaftModel>) -> bool {
    matches!(p.expectation, Expectation::Always)
}

fn running(s: &State) -> impl Iterator<Item = &ServerState> {
    s.actor_states
        .iter()
        .zip(&s.crashed)
        .filter(|(_, crashed)| !**crashed)
        .map(|(a, _)| &**a)
}

/// At most one leader can be elected in a given term, ever (§5.2).
pub fn election_safety(s: &State) -> bool {
    s.history.leaders.iter().all(|l| l.len() <= 1)
}

/// If two logs contain an entry with the same index and term, the logs are
/// identical in all entries up through that index (§5.3).
pub fn log_matching(s: &State) -> bool {
    let servers = &s.actor_states;
    servers.iter().enumerate().all(|(i, a)| {
        servers[i + 1..].iter().all(|b| {
            let shared = a.log.len().min(b.log.len());
            // The last index where the terms agree decides the whole prefix.
            match (1..=shared)
                .rev()
                .find(|&n| a.log.term_at(n) == b.log.term_at(n))
            {
                Some(n) => a.log.entries()[..n as usize] == b.log.entries()[..n as usize],
                None => true,
            }
        })
    })
}

/// If an entry is committed in a term, it is in the log of every leader of a
/// later term (§5.4).
pub fn leader_completeness(s: &State) -> bool {
    running(s).filter(|a| a.role == Role::Leader).all(|leader| {
        s.history
            .committed_entries()
            .filter(|(_, c)| c.in_term < leader.term)
            .all(|(index, c)| leader.log.get(index) == Some(c.entry))
    })
}

/// No two servers ever apply different entries at the same index (§5.4.3):
/// every server's committed prefix agrees with the entries committed first.
pub fn state_machine_safety(s: &State) -> bool {
    s.actor_states.iter().all(|a| {
        (1..=a.commit_index)
            .all(|index| s.history.committed_at(index).map(|c| c.entry) == a.log.get(index))
    })
}

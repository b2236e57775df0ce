//! Human-readable renderings of model states.

use crate::server::Role;
use crate::state::State;
use crate::types::ServerId;

/// One line per server: role, term, vote, log, commit, and what a variant
/// adds when it is set (the known leader, a candidate's refusals, a
/// leader's replicated and paused peers), so the paper's lines read as
/// they always did.
pub fn states(state: &State) -> String {
    let mut out = String::new();
    for (i, s) in state.actor_states.iter().enumerate() {
        let id = ServerId(i as u8);
        let role = if state.crashed[i] {
            "crashed"
        } else {
            match s.role {
                Role::Follower => "follower",
                Role::Candidate => "candidate",
                Role::Leader => "leader",
            }
        };
        let vote = s.voted_for.map_or("-".to_string(), |v| v.to_string());
        out.push_str(&format!(
            "  {id}: {role:<9} term={} vote={vote} log={} commit={}",
            s.term, s.log, s.commit_index
        ));
        if let Some(l) = s.leader {
            out.push_str(&format!(" leader={l}"));
        }
        for (name, set) in [
            ("refused", s.votes_refused),
            ("replicating", s.replicating),
            ("paused", s.paused),
        ] {
            if !set.is_empty() {
                let members: Vec<String> = set.iter().map(|m| m.to_string()).collect();
                out.push_str(&format!(" {name}={{{}}}", members.join(",")));
            }
        }
        out.push('\n');
    }
    out
}

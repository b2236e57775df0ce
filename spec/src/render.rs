//! Human-readable renderings of model states.

use crate::server::Role;
use crate::state::State;
use crate::types::ServerId;

/// One line per server: role, term, vote, log, commit.
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
            "  {id}: {role:<9} term={} vote={vote} log={} commit={}\n",
            s.term, s.log, s.commit_index
        ));
    }
    out
}

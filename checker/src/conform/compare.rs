//! Comparing the implementation with the model after one step: the first
//! field that differs, as a [`Mismatch`]. Everything here is in the
//! model's vocabulary (the adapter's images), so it serves every
//! implementation.

use raft_spec::server::{Durable, Role, ServerState};
use raft_spec::types::{PeerMap, ServerId, ServerSet};
use raftcheck_adapter::{Loosening, Sent};

use super::divergence::Mismatch;

fn show_vote(v: Option<ServerId>) -> String {
    v.map_or("none".into(), |s| s.to_string())
}

fn show_set(set: ServerSet) -> String {
    let names: Vec<_> = set.iter().map(|s| s.to_string()).collect();
    format!("{{{}}}", names.join(", "))
}

fn show_peers(m: &PeerMap, servers: u8) -> String {
    let parts: Vec<_> = (0..servers)
        .map(ServerId)
        .map(|s| format!("{s}:{}", m.get(s)))
        .collect();
    format!("[{}]", parts.join(" "))
}

fn show_role(r: Role) -> &'static str {
    match r {
        Role::Follower => "follower",
        Role::Candidate => "candidate",
        Role::Leader => "leader",
    }
}

/// The first field where the model's and the implementation's server state
/// differ, named `sN.field`.
pub fn compare_server(
    s: ServerId,
    model: &ServerState,
    imp: &ServerState,
    servers: u8,
    rules: &Rules,
) -> Option<Mismatch> {
    let field = |name: &str, m: String, i: String| Some(Mismatch::new(format!("{s}.{name}"), m, i));
    let stepped_down = rules.loosened(Loosening::RefusedCandidate)
        && model.role == Role::Candidate
        && imp.role == Role::Follower
        && model.term == imp.term
        && model.voted_for == Some(s)
        && imp.voted_for == Some(s);
    let imp = &if stepped_down {
        ServerState {
            role: model.role,
            votes_granted: model.votes_granted,
            ..*imp
        }
    } else {
        *imp
    };
    if model.role != imp.role {
        return field(
            "role",
            show_role(model.role).into(),
            show_role(imp.role).into(),
        );
    }
    if model.term != imp.term {
        return field("term", model.term.to_string(), imp.term.to_string());
    }
    if model.voted_for != imp.voted_for {
        return field(
            "voted_for",
            show_vote(model.voted_for),
            show_vote(imp.voted_for),
        );
    }
    if model.log != imp.log {
        return field("log", model.log.to_string(), imp.log.to_string());
    }
    if model.commit_index != imp.commit_index && !rules.loosened(Loosening::CommitIndex) {
        return field(
            "commit_index",
            model.commit_index.to_string(),
            imp.commit_index.to_string(),
        );
    }
    if model.votes_granted != imp.votes_granted && !rules.loosened(Loosening::VotesGranted) {
        return field(
            "votes_granted",
            show_set(model.votes_granted),
            show_set(imp.votes_granted),
        );
    }
    if model.next_index != imp.next_index && !rules.loosened(Loosening::NextIndex) {
        return field(
            "next_index",
            show_peers(&model.next_index, servers),
            show_peers(&imp.next_index, servers),
        );
    }
    if model.match_index != imp.match_index && !rules.loosened(Loosening::MatchIndex) {
        return field(
            "match_index",
            show_peers(&model.match_index, servers),
            show_peers(&imp.match_index, servers),
        );
    }
    None
}

fn show_durable(d: &Durable) -> String {
    format!(
        "term={} vote={} log={}",
        d.term,
        show_vote(d.voted_for),
        d.log
    )
}

/// What a comparison checks: every field the model fixes, less the
/// adapter's loosenings; and whether the network may lose messages (then a
/// message the model sent and the implementation did not is a loss, not a
/// divergence).
#[derive(Clone, Debug, Default)]
pub struct Rules {
    pub loosened: Vec<Loosening>,
    pub lossy: bool,
}

impl Rules {
    pub fn loosened(&self, l: Loosening) -> bool {
        self.loosened.contains(&l)
    }
}

/// The model's side of one step, for the acting server.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    pub state: &'a ServerState,
    pub crashed: bool,
    /// The model's saved storage (none before the server first saved).
    pub storage: Option<&'a Durable>,
    /// What the model's handler sent, in order.
    pub sent: &'a [Sent],
}

/// What the implementation showed after the same step, through its
/// adapter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// `None`: the node is down.
    pub state: Option<ServerState>,
    pub storage: Durable,
    pub sent: Vec<Sent>,
}

fn show_sent(v: &[Sent]) -> String {
    if v.is_empty() {
        "nothing".to_string()
    } else {
        v.iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Compares the acting server `s` after one step: the abstract state, the
/// storage (against the model's saved `Durable`, and against the node's
/// own persistent state: the persistence contract), and the messages sent,
/// as multisets. On a match, returns the messages the model sent that the
/// implementation did not (losses a lossy network could have made).
pub fn compare_step(
    s: ServerId,
    servers: u8,
    expected: Expected<'_>,
    observed: &Observed,
    rules: &Rules,
) -> Result<Vec<Sent>, Mismatch> {
    for m in &observed.sent {
        if m.from != s || m.to.0 >= servers || m.to == s {
            return Err(Mismatch::new(
                "messages sent",
                format!("messages from {s} to its peers"),
                format!("{m}"),
            ));
        }
    }
    match (&observed.state, expected.crashed) {
        (None, false) => {
            return Err(Mismatch::new(format!("{s}.running"), "running", "down"));
        }
        (Some(_), true) => {
            return Err(Mismatch::new(format!("{s}.running"), "down", "running"));
        }
        (None, true) => {}
        (Some(imp), false) => {
            if let Some(m) = compare_server(s, expected.state, imp, servers, rules) {
                return Err(m);
            }
            let own = Durable {
                restarts: 0,
                ..imp.durable()
            };
            if observed.storage != own {
                return Err(Mismatch::new(
                    format!("{s}.storage (persistence contract: the node's term, vote and log)"),
                    show_durable(&own),
                    show_durable(&observed.storage),
                ));
            }
        }
    }
    if let Some(model_storage) = expected.storage {
        let model_storage = Durable {
            restarts: 0,
            ..*model_storage
        };
        if model_storage != observed.storage {
            return Err(Mismatch::new(
                format!("{s}.storage"),
                show_durable(&model_storage),
                show_durable(&observed.storage),
            ));
        }
    }
    if rules.loosened(Loosening::MessagesSent) || expected.sent == observed.sent.as_slice() {
        return Ok(Vec::new());
    }
    let mut want = expected.sent.to_vec();
    let mut got = observed.sent.clone();
    want.sort();
    got.sort();
    // Multiset difference: what the model sent and the implementation did
    // not, and what the implementation sent beyond the model.
    let mut lost = Vec::new();
    let mut extra = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < want.len() || j < got.len() {
        match (want.get(i), got.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a < b => {
                lost.push(*a);
                i += 1;
            }
            (Some(_), Some(b)) => {
                extra.push(*b);
                j += 1;
            }
            (Some(a), None) => {
                lost.push(*a);
                i += 1;
            }
            (None, Some(b)) => {
                extra.push(*b);
                j += 1;
            }
            (None, None) => unreachable!("the loop runs while either side has more"),
        }
    }
    if !extra.is_empty() || (!lost.is_empty() && !rules.lossy) {
        return Err(Mismatch::new(
            "messages sent",
            show_sent(&want),
            show_sent(&got),
        ));
    }
    Ok(lost)
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft_spec::message::{Msg, RequestVoteResponse};

    fn vote(from: u8, to: u8, granted: bool) -> Sent {
        Sent {
            from: ServerId(from),
            to: ServerId(to),
            msg: Msg::RequestVoteResponse(RequestVoteResponse {
                term: 1,
                vote_granted: granted,
                ..Default::default()
            }),
        }
    }

    fn observed(sent: Vec<Sent>) -> Observed {
        let state = ServerState::recovered(&Durable::default());
        Observed {
            state: Some(state),
            storage: Durable {
                restarts: 0,
                ..state.durable()
            },
            sent,
        }
    }

    fn compare(model_sent: &[Sent], got: Vec<Sent>, rules: &Rules) -> Result<Vec<Sent>, Mismatch> {
        let state = ServerState::recovered(&Durable::default());
        let expected = Expected {
            state: &state,
            crashed: false,
            storage: None,
            sent: model_sent,
        };
        compare_step(ServerId(0), 3, expected, &observed(got), rules)
    }

    #[test]
    fn fewer_messages_are_losses_only_on_a_lossy_network() {
        let model = [vote(0, 1, true), vote(0, 2, true)];
        let lossy = Rules {
            lossy: true,
            ..Rules::default()
        };
        assert_eq!(
            compare(&model, vec![vote(0, 2, true)], &lossy),
            Ok(vec![vote(0, 1, true)])
        );
        let err = compare(&model, vec![vote(0, 2, true)], &Rules::default()).unwrap_err();
        assert_eq!(err.field, "messages sent");
    }

    #[test]
    fn a_message_beyond_the_model_diverges_even_on_a_lossy_network() {
        let lossy = Rules {
            lossy: true,
            ..Rules::default()
        };
        let err = compare(&[vote(0, 1, true)], vec![vote(0, 1, false)], &lossy).unwrap_err();
        assert_eq!(err.field, "messages sent");
        assert!(err.implementation.contains("refused"), "{err:?}");
    }

    #[test]
    fn loosened_messages_are_not_compared() {
        let rules = Rules {
            loosened: vec![Loosening::MessagesSent],
            lossy: false,
        };
        assert_eq!(compare(&[], vec![vote(0, 1, true)], &rules), Ok(vec![]));
    }

    #[test]
    fn a_message_from_another_server_or_to_a_stranger_is_refused() {
        let rules = Rules {
            loosened: vec![Loosening::MessagesSent],
            lossy: true,
        };
        assert!(compare(&[], vec![vote(1, 2, true)], &rules).is_err());
        assert!(compare(&[], vec![vote(0, 3, true)], &rules).is_err());
        assert!(compare(&[], vec![vote(0, 0, true)], &rules).is_err());
    }
}

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
            votes_refused: model.votes_refused,
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
    // The variants' fields (each the default under the paper, on both
    // sides).
    if model.leader != imp.leader {
        return field("leader", show_vote(model.leader), show_vote(imp.leader));
    }
    if model.votes_refused != imp.votes_refused && !rules.loosened(Loosening::VotesGranted) {
        return field(
            "votes_refused",
            show_set(model.votes_refused),
            show_set(imp.votes_refused),
        );
    }
    if model.replicating != imp.replicating {
        return field(
            "replicating",
            show_set(model.replicating),
            show_set(imp.replicating),
        );
    }
    if model.paused != imp.paused {
        return field("paused", show_set(model.paused), show_set(imp.paused));
    }
    None
}

fn show_durable(d: &Durable) -> String {
    let mut s = format!(
        "term={} vote={} log={}",
        d.term,
        show_vote(d.voted_for),
        d.log
    );
    if d.commit_index != 0 {
        s.push_str(&format!(" commit={}", d.commit_index));
    }
    s
}

/// What a comparison checks: every field the model fixes, less the
/// adapter's loosenings; and whether the network may lose messages (then a
/// message the model sent and the implementation did not is a loss, not a
/// divergence).
#[derive(Clone, Debug, Default)]
pub struct Rules {
    pub loosened: Vec<Loosening>,
    pub lossy: bool,
    /// `Variant::persisted_commit`: the node's storage holds its commit
    /// index too.
    pub persisted_commit: bool,
}

impl Rules {
    /// The rules of the model `cfg` (its network and variant).
    pub fn new(cfg: &raft_spec::Config, loosened: Vec<Loosening>) -> Self {
        Rules {
            loosened,
            lossy: cfg.network.is_lossy(),
            persisted_commit: cfg.variant.persisted_commit,
        }
    }

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
                commit_index: if rules.persisted_commit {
                    imp.commit_index
                } else {
                    0
                },
                ..imp.durable()
            };
            if observed.storage != own {
                let what = if rules.persisted_commit {
                    "term, vote, log and commit index"
                } else {
                    "term, vote and log"
                };
                return Err(Mismatch::new(
                    format!("{s}.storage (persistence contract: the node's {what})"),
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
            ..Rules::default()
        };
        assert_eq!(compare(&[], vec![vote(0, 1, true)], &rules), Ok(vec![]));
    }

    #[test]
    fn a_message_from_another_server_or_to_a_stranger_is_refused() {
        let rules = Rules {
            loosened: vec![Loosening::MessagesSent],
            lossy: true,
            ..Rules::default()
        };
        assert!(compare(&[], vec![vote(1, 2, true)], &rules).is_err());
        assert!(compare(&[], vec![vote(0, 3, true)], &rules).is_err());
        assert!(compare(&[], vec![vote(0, 0, true)], &rules).is_err());
    }

    /// Each variant field of the server state is compared, by its name.
    #[test]
    fn the_variant_fields_are_compared() {
        let model = ServerState::default();
        let one = |f: fn(&mut ServerState)| {
            let mut imp = model;
            f(&mut imp);
            compare_server(ServerId(0), &model, &imp, 3, &Rules::default())
                .map(|m| (m.field, m.model, m.implementation))
        };
        let found =
            |field: &str, i: &str| Some((format!("s0.{field}"), model_value(field), i.into()));
        fn model_value(field: &str) -> String {
            if field == "leader" {
                "none".into()
            } else {
                "{}".into()
            }
        }
        assert_eq!(one(|s| s.leader = Some(ServerId(2))), found("leader", "s2"));
        assert_eq!(
            one(|s| s.votes_refused.insert(ServerId(1))),
            found("votes_refused", "{s1}")
        );
        assert_eq!(
            one(|s| s.replicating.insert(ServerId(1))),
            found("replicating", "{s1}")
        );
        assert_eq!(
            one(|s| s.paused.insert(ServerId(2))),
            found("paused", "{s2}")
        );
        assert_eq!(one(|_| {}), None);
    }

    /// Under `persisted-commit` the storage holds the commit index: the
    /// model's and the node's own are both compared with it.
    #[test]
    fn the_durable_commit_is_compared_when_persisted() {
        let mut state = ServerState::recovered(&Durable::default());
        state.commit_index = 1;
        let rules = Rules {
            persisted_commit: true,
            ..Rules::default()
        };
        let saved = Durable {
            commit_index: 1,
            ..state.durable()
        };
        let expected = |storage| Expected {
            state: &state,
            crashed: false,
            storage,
            sent: &[],
        };
        let observed = |commit_index| Observed {
            state: Some(state),
            storage: Durable {
                commit_index,
                ..state.durable()
            },
            sent: vec![],
        };
        let run = |storage, commit, rules: &Rules| {
            compare_step(ServerId(0), 3, expected(storage), &observed(commit), rules)
        };
        assert_eq!(run(Some(&saved), 1, &rules), Ok(vec![]));
        // The node's storage lacks the commit its state has.
        let err = run(None, 0, &rules).unwrap_err();
        assert!(err.field.contains("commit index"), "{err:?}");
        assert_eq!(
            (err.model.as_str(), err.implementation.as_str()),
            (
                "term=0 vote=none log=[] commit=1",
                "term=0 vote=none log=[]"
            )
        );
        // The model saved another commit than the node.
        let other = Durable {
            commit_index: 2,
            ..saved
        };
        let err = run(Some(&other), 1, &rules).unwrap_err();
        assert_eq!(err.field, "s0.storage");
        assert!(err.model.ends_with("commit=2"), "{err:?}");
        // Without the option a storage holding a commit index diverges.
        assert!(run(None, 1, &Rules::default()).is_err());
        assert_eq!(run(None, 0, &Rules::default()), Ok(vec![]));
    }
}

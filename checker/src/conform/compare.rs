//! Comparing the implementation with the model after one step: the first
//! field that differs, as a [`Mismatch`].

use raft_spec::server::{Durable, Role, ServerState};
use raft_spec::types::{PeerMap, ServerId, ServerSet};
use raft_spec::{Config, State};

use super::abstraction::{abstract_state, abstract_storage};
use super::divergence::Mismatch;
use super::step::ImplStep;
use crate::trace::Sent;

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
) -> Option<Mismatch> {
    let field = |name: &str, m: String, i: String| Some(Mismatch::new(format!("{s}.{name}"), m, i));
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
    if model.commit_index != imp.commit_index {
        return field(
            "commit_index",
            model.commit_index.to_string(),
            imp.commit_index.to_string(),
        );
    }
    if model.votes_granted != imp.votes_granted {
        return field(
            "votes_granted",
            show_set(model.votes_granted),
            show_set(imp.votes_granted),
        );
    }
    if model.next_index != imp.next_index {
        return field(
            "next_index",
            show_peers(&model.next_index, servers),
            show_peers(&imp.next_index, servers),
        );
    }
    if model.match_index != imp.match_index {
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

/// Compares the acting server after one step: the abstract state, the
/// storage (against the model's saved `Durable`, and against the node's own
/// persistent state: the persistence contract), and the messages sent, as
/// multisets.
pub fn compare_step(
    cfg: &Config,
    next: &State,
    acting: Option<ServerId>,
    imp: &ImplStep,
    model_sent: &[Sent],
) -> Option<Mismatch> {
    if let (Some(s), Some(server)) = (acting, &imp.server) {
        let i = s.0 as usize;
        if !next.crashed[i] {
            let Some(node) = server.node() else {
                return Some(Mismatch::new(
                    format!("{s}.running"),
                    "running".to_string(),
                    "down".to_string(),
                ));
            };
            let abs = match abstract_state(node, cfg.servers) {
                Ok(a) => a,
                Err(e) => {
                    return Some(Mismatch::new(
                        format!("{s}.state"),
                        "a state the model can represent",
                        e,
                    ))
                }
            };
            if let Some(m) = compare_server(s, &next.actor_states[i], &abs, cfg.servers) {
                return Some(m);
            }
            let stored = match abstract_storage(server.durable(), cfg.servers) {
                Ok(d) => d,
                Err(e) => {
                    return Some(Mismatch::new(
                        format!("{s}.storage"),
                        "storage the model can represent",
                        e,
                    ))
                }
            };
            let own = abs.durable();
            let own = Durable { restarts: 0, ..own };
            if stored != own {
                return Some(Mismatch::new(
                    format!("{s}.storage (persistence contract: the node's term, vote and log)"),
                    show_durable(&own),
                    show_durable(&stored),
                ));
            }
            if let Some(model_storage) = &next.actor_storages[i] {
                let model_storage = Durable {
                    restarts: 0,
                    ..*model_storage
                };
                if model_storage != stored {
                    return Some(Mismatch::new(
                        format!("{s}.storage"),
                        show_durable(&model_storage),
                        show_durable(&stored),
                    ));
                }
            }
        }
    }
    let mut want = model_sent.to_vec();
    let mut got = imp.sent.clone();
    want.sort();
    got.sort();
    if want != got {
        let show = |v: &[Sent]| {
            if v.is_empty() {
                "nothing".to_string()
            } else {
                v.iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        };
        return Some(Mismatch::new("messages sent", show(&want), show(&got)));
    }
    None
}

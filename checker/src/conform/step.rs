//! The action mapping: one model action taken on the implementation server
//! it acts on, through the one in-memory driver ([`MemNode`]), with the
//! harness's planted faults ([`Perturbation`]) where a faulty runtime would
//! make them.

use raft_core::{Bytes, DurableState, DurableWrite, Ready};
use raft_sim::{MemNode, RestartError};
use raft_spec::server::Timer;
use raft_spec::types::ServerId;
use raft_spec::{Action, Config};
use stateright::actor::ActorModelAction;

use super::adapter::{impl_message, model_message};
use super::divergence::Mismatch;
use super::perturb::Perturbation;
pub use crate::trace::Sent;

/// The server a model action acts on (none for a network drop).
pub fn acting_server(action: &Action) -> Option<ServerId> {
    match action {
        ActorModelAction::Deliver { dst, .. } => Some((*dst).into()),
        ActorModelAction::Timeout(id, _)
        | ActorModelAction::Crash(id)
        | ActorModelAction::Recover(id) => Some((*id).into()),
        ActorModelAction::SelectRandom { actor, .. } => Some((*actor).into()),
        ActorModelAction::Drop(_) => None,
    }
}

/// What the acting server sent in one model step (the handler run on its
/// own; see [`crate::trace::sent_by`]).
pub use crate::trace::sent_by as model_sent;

/// What the implementation did for one model action.
#[derive(Debug)]
pub struct ImplStep {
    /// The acting server after the step (unchanged clone for a drop).
    pub server: Option<MemNode>,
    /// The messages it released after persisting, in the model's vocabulary.
    pub sent: Vec<Sent>,
}

/// A storage engine that never truncates: appends overwrite in place and
/// the old suffix beyond them survives ([`Perturbation::SkipTruncation`]).
fn write_skipping_truncation(storage: &mut DurableState, w: &DurableWrite) {
    match w {
        DurableWrite::TruncateFrom { .. } => {}
        DurableWrite::Append { entries } => {
            for e in entries {
                match usize::try_from(e.index - 1) {
                    Ok(i) if i < storage.log.len() => storage.log[i] = e.clone(),
                    _ => storage.log.push(e.clone()),
                }
            }
        }
        _ => storage.apply(w),
    }
}

/// Persists a `Ready` through the driver (its writes first), then releases
/// its messages, perturbed as a faulty runtime would.
fn persist(
    server: &mut MemNode,
    ready: Ready,
    perturbation: Option<Perturbation>,
    servers: u8,
) -> Vec<raft_core::Message> {
    let output = match perturbation {
        Some(Perturbation::SkipTruncation) => server.persist_with(ready, write_skipping_truncation),
        _ => server.persist(ready),
    };
    let mut messages = output.messages;
    if let Some(p) = perturbation {
        p.perturb_messages(&mut messages, servers);
    }
    messages
}

/// Takes one model action on the implementation. `before` is the acting
/// server's implementation state (cloned, never changed in place).
pub fn impl_step(
    cfg: &Config,
    action: &Action,
    before: &MemNode,
    perturbation: Option<Perturbation>,
) -> Result<ImplStep, Mismatch> {
    let mut server = before.clone();
    let down = || Mismatch::harness("the model acts on a server whose implementation node is down");
    let ready = match action {
        ActorModelAction::Drop(_) => {
            return Ok(ImplStep {
                server: Some(server),
                sent: Vec::new(),
            })
        }
        ActorModelAction::Crash(_) => {
            server.crash();
            return Ok(ImplStep {
                server: Some(server),
                sent: Vec::new(),
            });
        }
        ActorModelAction::Recover(_) => {
            let restarted = server.restart_with(|storage| {
                let mut storage = storage.clone();
                if perturbation == Some(Perturbation::ForgetVoteOnRestart) {
                    storage.voted_for = None;
                }
                storage
            });
            match restarted {
                Ok(_) => {}
                Err(RestartError::Running) => {
                    return Err(Mismatch::harness(
                        "the model recovers a server whose implementation node is running",
                    ))
                }
                Err(RestartError::Storage(e)) => {
                    return Err(Mismatch::new(
                        "restart",
                        "a node restarted from storage",
                        e.to_string(),
                    ))
                }
            }
            return Ok(ImplStep {
                server: Some(server),
                sent: Vec::new(),
            });
        }
        ActorModelAction::Deliver { src, dst, msg } => {
            let node = server.node_mut().ok_or_else(down)?;
            let mut m = impl_message((*src).into(), (*dst).into(), msg);
            if let Some(p) = perturbation {
                p.perturb_input(&mut m);
            }
            node.step(m)
        }
        ActorModelAction::Timeout(_, timer) => {
            let node = server.node_mut().ok_or_else(down)?;
            match timer {
                Timer::Election => node.election_timeout(),
                Timer::Heartbeat => node.heartbeat_timeout(),
                Timer::Propose(v) => match node.propose(Bytes::from(vec![v.0])) {
                    Ok((_, ready)) => ready,
                    Err(e) => {
                        return Err(Mismatch::new(
                            "proposal",
                            format!("{v} appended by the leader"),
                            format!("refused: {e}"),
                        ))
                    }
                },
            }
        }
        ActorModelAction::SelectRandom { .. } => {
            return Err(Mismatch::harness(
                "the model made a random choice; Raft servers make none",
            ))
        }
    };
    let messages = persist(&mut server, ready, perturbation, cfg.servers);
    let sent = messages
        .iter()
        .map(|m| model_message(m, cfg.servers))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Mismatch::new("messages", "messages the model can represent", e))?;
    Ok(ImplStep {
        server: Some(server),
        sent,
    })
}

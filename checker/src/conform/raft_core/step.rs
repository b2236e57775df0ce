//! The action mapping: one model input taken on a raft-core node through
//! the one in-memory driver ([`MemNode`]), with the harness's planted
//! faults ([`Perturbation`]) where a faulty runtime would make them.

use raft_core::{Bytes, DurableState, DurableWrite, Message, Ready};
use raft_sim::{MemNode, RestartError};
use raftcheck_adapter::{AdapterError, Input};

use super::perturb::Perturbation;

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
    servers: usize,
) -> Vec<Message> {
    let output = match perturbation {
        Some(Perturbation::SkipTruncation) => server.persist_with(ready, write_skipping_truncation),
        _ => server.persist(ready),
    };
    let mut messages = output.messages;
    if let Some(p) = perturbation {
        p.perturb_messages(&mut messages, servers as u8);
    }
    messages
}

/// One input on a running node; its released messages.
pub(super) fn step(
    server: &mut MemNode,
    input: Input<'_, Message>,
    perturbation: Option<Perturbation>,
) -> Result<Vec<Message>, AdapterError> {
    let servers = server.config().voters.len();
    let node = server
        .node_mut()
        .ok_or_else(|| AdapterError::adapter("an input to a node that is down"))?;
    let ready = match input {
        Input::Deliver(m) => {
            let mut m = m.clone();
            if let Some(p) = perturbation {
                p.perturb_input(&mut m);
            }
            node.step(m)
        }
        Input::ElectionTimeout => node.election_timeout(),
        Input::HeartbeatTimeout => node.heartbeat_timeout(),
        Input::Propose(v) => match node.propose(Bytes::from(vec![v.0])) {
            Ok((_, ready)) => ready,
            Err(e) => return Err(AdapterError::refused(format!("proposal of {v}"), e)),
        },
    };
    Ok(persist(server, ready, perturbation, servers))
}

/// A crashed node restarts from its storage (which a planted fault may
/// hand it without its vote).
pub(super) fn recover(
    server: &mut MemNode,
    perturbation: Option<Perturbation>,
) -> Result<(), AdapterError> {
    let restarted = server.restart_with(|storage| {
        let mut storage = storage.clone();
        if perturbation == Some(Perturbation::ForgetVoteOnRestart) {
            storage.voted_for = None;
        }
        storage
    });
    match restarted {
        Ok(_) => Ok(()),
        Err(RestartError::Running) => Err(AdapterError::adapter(
            "a recovery of a node that is running",
        )),
        Err(RestartError::Storage(e)) => Err(AdapterError::refused("restart from storage", e)),
    }
}

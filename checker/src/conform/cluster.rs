//! A cluster of implementation nodes driven along one behaviour of the
//! model (replay and random walks), step by step, in place: no node is
//! ever copied.
//!
//! The network carries the implementation's messages: the behaviour's
//! "deliver m" delivers the in-flight message the implementation sent
//! whose image is m.

use raft_spec::server::RaftServer;
use raft_spec::types::ServerId;
use raft_spec::{Action, Config, State};
use raftcheck_adapter::{AdapterError, Implementation, Input, Loosening, Sent};
use stateright::actor::{ActorModelAction, Envelope};

use super::compare::{compare_server, compare_step, Expected, Observed, Rules};
use super::divergence::Mismatch;
use crate::trace::sent_by;

/// What an adapter error is, as a divergence.
pub fn adapter_mismatch(s: ServerId, e: AdapterError) -> Mismatch {
    match e {
        AdapterError::Refused { input, reason } => Mismatch::new(
            format!("{s} {input}"),
            "accepted",
            format!("refused: {reason}"),
        ),
        AdapterError::Unrepresentable { what, reason } => Mismatch::new(
            format!("{s}: {what}"),
            "something the model can represent",
            reason,
        ),
        AdapterError::Adapter(reason) => Mismatch::harness(&reason),
    }
}

/// Implementation nodes and the messages they sent that are in flight.
pub struct Cluster<'a, I: Implementation> {
    imp: &'a I,
    cfg: Config,
    rules: Rules,
    server: RaftServer,
    nodes: Vec<I::Node>,
    in_flight: Vec<(Sent, I::Message)>,
    /// Messages the model sent and the implementation did not.
    lost: Vec<Sent>,
}

impl<'a, I: Implementation> Cluster<'a, I> {
    /// Fresh nodes, each compared with the model's initial server state.
    pub fn new(
        imp: &'a I,
        cfg: &Config,
        init: &State,
        loosened: Vec<Loosening>,
    ) -> Result<Self, Mismatch> {
        let rules = Rules::new(cfg, loosened);
        let mut nodes = Vec::with_capacity(cfg.servers as usize);
        for i in 0..cfg.servers {
            let s = ServerId(i);
            let node = imp.fresh(cfg, s).map_err(|e| adapter_mismatch(s, e))?;
            let state = imp
                .state(&node)
                .map_err(|e| adapter_mismatch(s, e))?
                .ok_or_else(|| Mismatch::new(format!("{s}.running"), "running", "down"))?;
            if let Some(m) = compare_server(
                s,
                &init.actor_states[i as usize],
                &state,
                cfg.servers,
                &rules,
            ) {
                return Err(m);
            }
            nodes.push(node);
        }
        Ok(Cluster {
            imp,
            cfg: cfg.clone(),
            rules,
            server: RaftServer { cfg: cfg.clone() },
            nodes,
            in_flight: Vec::new(),
            lost: Vec::new(),
        })
    }

    /// Messages the model sent that the implementation did not, so far.
    pub fn lost(&self) -> &[Sent] {
        &self.lost
    }

    /// Takes the `last` → `next` step of the model on the implementation
    /// and compares.
    pub fn step(&mut self, last: &State, action: &Action, next: &State) -> Result<(), Mismatch> {
        let duplicating = self.cfg.network.is_duplicating();
        let imp = self.imp;
        let (i, released) = match action {
            ActorModelAction::Drop(Envelope { src, dst, msg }) => {
                let m = Sent {
                    from: (*src).into(),
                    to: (*dst).into(),
                    msg: *msg,
                };
                if let Some(k) = self.in_flight.iter().position(|(image, _)| *image == m) {
                    self.in_flight.remove(k);
                } else if let Some(k) = self.lost.iter().position(|l| *l == m) {
                    self.lost.remove(k);
                }
                return Ok(());
            }
            ActorModelAction::Deliver { src, dst, msg } => {
                let m = Sent {
                    from: (*src).into(),
                    to: (*dst).into(),
                    msg: *msg,
                };
                let Some(k) = self.in_flight.iter().position(|(image, _)| *image == m) else {
                    let why = if self.lost.contains(&m) {
                        "it was never sent (the implementation did not send it where the model did)"
                    } else {
                        "no node sent it"
                    };
                    return Err(Mismatch::new(
                        "messages in flight",
                        format!("{m} in flight"),
                        why,
                    ));
                };
                let message = if duplicating {
                    self.in_flight[k].1.clone()
                } else {
                    self.in_flight.remove(k).1
                };
                let i = usize::from(*dst);
                let s = ServerId(i as u8);
                let r = imp.step(&mut self.nodes[i], Input::Deliver(&message));
                (i, r.map_err(|e| adapter_mismatch(s, e))?)
            }
            ActorModelAction::Timeout(id, timer) => {
                use raft_spec::server::Timer;
                let i = usize::from(*id);
                let input = match timer {
                    Timer::Election => Input::ElectionTimeout,
                    Timer::Heartbeat => Input::HeartbeatTimeout,
                    Timer::Propose(v) => Input::Propose(*v),
                };
                let r = imp.step(&mut self.nodes[i], input);
                (i, r.map_err(|e| adapter_mismatch(ServerId(i as u8), e))?)
            }
            ActorModelAction::Crash(id) => {
                let i = usize::from(*id);
                imp.crash(&mut self.nodes[i]);
                (i, Vec::new())
            }
            ActorModelAction::Recover(id) => {
                let i = usize::from(*id);
                imp.recover(&mut self.nodes[i])
                    .map_err(|e| adapter_mismatch(ServerId(i as u8), e))?;
                (i, Vec::new())
            }
            ActorModelAction::SelectRandom { .. } => {
                return Err(Mismatch::harness(
                    "the model made a random choice; Raft servers make none",
                ))
            }
        };
        let s = ServerId(i as u8);
        let node = &self.nodes[i];
        let mut sent = Vec::with_capacity(released.len());
        for m in &released {
            sent.push(
                imp.model_message(&self.cfg, m)
                    .map_err(|e| adapter_mismatch(s, e))?,
            );
        }
        let observed = Observed {
            state: imp.state(node).map_err(|e| adapter_mismatch(s, e))?,
            storage: imp.storage(node).map_err(|e| adapter_mismatch(s, e))?,
            sent,
        };
        let model_sent = sent_by(&self.server, last, action);
        let expected = Expected {
            state: &next.actor_states[i],
            crashed: next.crashed[i],
            storage: next.actor_storages[i].as_ref(),
            sent: &model_sent,
        };
        let lost = compare_step(s, self.cfg.servers, expected, &observed, &self.rules)?;
        self.lost.extend(lost);
        for (image, m) in observed.sent.into_iter().zip(released) {
            // A duplicating network holds each message once (by the whole
            // message, not its image: two may share one).
            let fp = imp.message_fingerprint(&m);
            let again = duplicating
                && self
                    .in_flight
                    .iter()
                    .any(|(_, other)| imp.message_fingerprint(other) == fp);
            if !again {
                self.in_flight.push((image, m));
            }
        }
        Ok(())
    }
}

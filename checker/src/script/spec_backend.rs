//! The model's backend: `raft-spec`'s `RaftModel` from its initial state,
//! each script input one of the model's own actions, taken only when the
//! model enables it and computed by its own `next_state`. What a step did
//! is read off the two states (storage, commit index) and the handler's
//! sends, then mapped into the implementation's vocabulary with the
//! conformance adapter, so both backends print one transcript.
//!
//! Bounds: the model is built with the largest bounds its config allows
//! (max term 7, logs of 6 entries plus a new leader's no-op, 6 distinct
//! client values, one crash per server). A script that needs more gets an
//! error naming the bound; no step is skipped. The in-flight bound only
//! prunes exploration; the actor model's network itself holds any number.

use std::panic::{catch_unwind, AssertUnwindSafe};

use raft_core::{DurableWrite, Entry as ImplEntry, EntryKind, MessageBody, NodeId};
use raft_spec::config::limits;
use raft_spec::server::{Durable, RaftServer, Role, Timer};
use raft_spec::types::{Entry, ServerId, Value, MAX_IN_FLIGHT_BOUND};
use raft_spec::{Action, Config, NetworkKind, RaftModel, State, Variant};
use stateright::actor::{ActorModelAction, Envelope};
use stateright::Model;

use super::driver::{Backend, Effects, Proposal, Status};
use crate::conform::raft_core::convert::{entry_kind, impl_message, node_id};
use crate::trace::{sent_by, Sent};

#[derive(Default)]
pub struct SpecBackend {
    model: Option<(RaftModel, State)>,
    /// The script's values: `Value(k)` is `values[k - 1]`.
    values: Vec<String>,
}

impl SpecBackend {
    fn model(&self) -> &RaftModel {
        &self.model.as_ref().expect("started").0
    }

    fn state(&self) -> &State {
        &self.model.as_ref().expect("started").1
    }

    fn server(n: NodeId) -> ServerId {
        ServerId((n - 1) as u8)
    }

    fn index(n: NodeId) -> usize {
        (n - 1) as usize
    }

    fn enabled(&self, action: &Action) -> bool {
        let mut actions = Vec::new();
        self.model().actions(self.state(), &mut actions);
        actions.contains(action)
    }

    /// Takes `action` with the model's `next_state`; `None` if the model
    /// counts it as no step (nothing changes).
    fn take(&mut self, action: &Action) -> Result<Option<State>, String> {
        let (model, state) = self.model.as_ref().expect("started");
        // The log's fixed capacity is the one bound `next_state` asserts
        // rather than reports (a leader's no-op past it).
        let next = catch_unwind(AssertUnwindSafe(|| model.next_state(state, action.clone())))
            .map_err(|panic| {
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                format!(
                    "the model cannot take `{}`: {why}",
                    RaftModel::describe_action(action)
                )
            })?;
        Ok(next)
    }

    /// Takes an input of server `n` and reports its effects.
    fn act(&mut self, n: NodeId, action: Action) -> Result<Effects<Sent>, String> {
        let Some(next) = self.take(&action)? else {
            return Ok(Effects::default());
        };
        let before = self.state();
        let i = Self::index(n);
        let server = RaftServer {
            cfg: self.model().cfg.clone(),
        };
        let sent = sent_by(&server, before, &action);
        let delivered = usize::from(matches!(action, ActorModelAction::Deliver { .. }));
        if next.network.len() + delivered != before.network.len() + sent.len() {
            return Err(format!(
                "the model's network after `{}` does not hold what the server sent",
                RaftModel::describe_action(&action)
            ));
        }
        let storage = |s: &State| s.actor_storages[i].unwrap_or_default();
        let writes = self.writes(&storage(before), &storage(&next));
        let (old, new) = (&before.actor_states[i], &next.actor_states[i]);
        let applied = (old.commit_index..new.commit_index)
            .map(|k| self.entry(u64::from(k) + 1, new.log.entries()[k as usize]))
            .collect();
        self.set(next);
        Ok(Effects {
            writes,
            sent,
            applied,
        })
    }

    fn set(&mut self, next: State) {
        self.model.as_mut().expect("started").1 = next;
    }

    /// The durable writes that turn storage `before` into `after`.
    fn writes(&self, before: &Durable, after: &Durable) -> Vec<DurableWrite> {
        let mut writes = Vec::new();
        if (before.term, before.voted_for) != (after.term, after.voted_for) {
            writes.push(DurableWrite::HardState {
                term: after.term.into(),
                voted_for: after.voted_for.map(node_id),
            });
        }
        let (old, new) = (before.log.entries(), after.log.entries());
        let kept = old.iter().zip(new).take_while(|(a, b)| a == b).count();
        if old.len() > kept {
            writes.push(DurableWrite::TruncateFrom {
                index: kept as u64 + 1,
            });
        }
        if new.len() > kept {
            writes.push(DurableWrite::Append {
                entries: self.entries(&new[kept..], kept as u64 + 1),
            });
        }
        writes
    }

    /// A model entry at `index` in the implementation's form, with the
    /// script's value.
    fn entry(&self, index: u64, e: Entry) -> ImplEntry {
        ImplEntry {
            index,
            term: e.term.into(),
            kind: self.named(entry_kind(e.value)),
        }
    }

    fn entries(&self, entries: &[Entry], first: u64) -> Vec<ImplEntry> {
        entries
            .iter()
            .enumerate()
            .map(|(k, e)| self.entry(first + k as u64, *e))
            .collect()
    }

    /// The adapter's payload of `Value(k)` (the byte k) as the script's
    /// k-th value.
    fn named(&self, kind: EntryKind) -> EntryKind {
        match kind {
            EntryKind::Normal(b) if b.len() == 1 && b[0] >= 1 => {
                match self.values.get(b[0] as usize - 1) {
                    Some(name) => EntryKind::Normal(name.clone().into()),
                    None => EntryKind::Normal(b),
                }
            }
            other => other,
        }
    }

    /// The model's value for `name`, numbered in order of first proposal.
    fn value(&mut self, name: &str) -> Result<Value, String> {
        if let Some(k) = self.values.iter().position(|v| v == name) {
            return Ok(Value(k as u8 + 1));
        }
        let max = self.model().cfg.values as usize;
        if self.values.len() >= max {
            return Err(format!(
                "the model has {max} client values; this script proposes a {}th distinct one ({name:?})",
                max + 1
            ));
        }
        self.values.push(name.to_string());
        Ok(Value(self.values.len() as u8))
    }

    fn envelope(m: &Sent) -> Envelope<raft_spec::message::Msg> {
        Envelope {
            src: m.from.into(),
            dst: m.to.into(),
            msg: m.msg,
        }
    }
}

impl Backend for SpecBackend {
    type Msg = Sent;

    fn start(&mut self, servers: usize, batch: Option<usize>) -> Result<(), String> {
        let most = *limits::SERVERS.end();
        let servers = u8::try_from(servers)
            .ok()
            .filter(|&n| n <= most)
            .ok_or_else(|| format!("the model has at most {most} servers, not {servers}"));
        let max_batch = *limits::BATCH.end();
        let batch = match batch {
            None => max_batch,
            Some(k) => u8::try_from(k).map_err(|_| {
                format!("the model's AppendEntries carries at most {max_batch} entries, not {k}")
            })?,
        };
        let servers = servers?;
        let cfg = Config {
            servers,
            max_term: *limits::MAX_TERM.end(),
            max_log_len: *limits::MAX_LOG.end(),
            max_batch: batch,
            values: *limits::VALUES.end(),
            max_crashes: servers,
            max_in_flight: MAX_IN_FLIGHT_BOUND,
            network: NetworkKind::Lossy,
            bug: None,
            variant: Variant::PAPER,
        };
        let model = RaftModel::new(cfg).map_err(|e| format!("the model: {e}"))?;
        let state = model
            .init_states()
            .into_iter()
            .next()
            .ok_or("the model has no initial state")?;
        self.model = Some((model, state));
        Ok(())
    }

    fn election_timeout(&mut self, n: NodeId) -> Result<Effects<Sent>, String> {
        let action = ActorModelAction::Timeout(Self::server(n).into(), Timer::Election);
        // A leader's election timer is not set: the timeout is no step.
        if !self.enabled(&action) {
            return Ok(Effects::default());
        }
        let s = &self.state().actor_states[Self::index(n)];
        let max = self.model().cfg.max_term;
        if s.role != Role::Leader && s.term >= max {
            return Err(format!(
                "an election at node {n} needs term {}, past the model's max term {max}",
                s.term + 1
            ));
        }
        self.act(n, action)
    }

    fn heartbeat_timeout(&mut self, n: NodeId) -> Result<Effects<Sent>, String> {
        let action = ActorModelAction::Timeout(Self::server(n).into(), Timer::Heartbeat);
        // Only a leader's heartbeat timer is set.
        if !self.enabled(&action) {
            return Ok(Effects::default());
        }
        self.act(n, action)
    }

    fn propose(&mut self, n: NodeId, value: &str) -> Result<Proposal<Sent>, String> {
        let s = &self.state().actor_states[Self::index(n)];
        if s.role != Role::Leader {
            return Ok(Proposal::NotLeader);
        }
        let max = self.model().cfg.max_log_len;
        if s.log.len() >= max {
            return Err(format!(
                "node {n}'s log holds {} entries, the model's max log length",
                s.log.len()
            ));
        }
        let v = self.value(value)?;
        let action = ActorModelAction::Timeout(Self::server(n).into(), Timer::Propose(v));
        if !self.enabled(&action) {
            return Err(format!("the model does not let leader {n} take a proposal"));
        }
        let effects = self.act(n, action)?;
        let log = &self.state().actor_states[Self::index(n)].log;
        Ok(Proposal::Appended {
            index: log.last_index().into(),
            term: log.last_term().into(),
            effects,
        })
    }

    fn deliver(&mut self, m: Sent) -> Result<Effects<Sent>, String> {
        let action = ActorModelAction::Deliver {
            src: m.from.into(),
            dst: m.to.into(),
            msg: m.msg,
        };
        if !self.enabled(&action) {
            return Err(format!("the model cannot deliver {m}"));
        }
        self.act(node_id(m.to), action)
    }

    fn lose(&mut self, m: Sent) -> Result<(), String> {
        let action = ActorModelAction::Drop(Self::envelope(&m));
        match self.take(&action)? {
            Some(next) => {
                self.set(next);
                Ok(())
            }
            None => Err(format!("the model cannot drop {m}")),
        }
    }

    fn crash(&mut self, n: NodeId) -> Result<(), String> {
        let action = ActorModelAction::Crash(Self::server(n).into());
        if !self.enabled(&action) {
            return Err(format!(
                "the model allows {} crashes in a run, and they are spent",
                self.model().cfg.max_crashes
            ));
        }
        self.act(n, action).map(drop)
    }

    fn restart(&mut self, n: NodeId) -> Result<(), String> {
        self.act(n, ActorModelAction::Recover(Self::server(n).into()))
            .map(drop)
    }

    fn is_crashed(&self, n: NodeId) -> bool {
        self.state().crashed[Self::index(n)]
    }

    fn status(&self, n: NodeId) -> Result<Status, String> {
        let i = Self::index(n);
        let state = self.state();
        if state.crashed[i] {
            let d = state.actor_storages[i].unwrap_or_default();
            return Ok(Status::Crashed {
                term: d.term.into(),
                vote: d.voted_for.map(node_id),
                log: self.entries(d.log.entries(), 1),
            });
        }
        let s = &state.actor_states[i];
        let me = Self::server(n);
        let peers = (0..self.model().cfg.servers)
            .map(ServerId)
            .filter(|&p| p != me);
        Ok(Status::Up {
            role: match s.role {
                Role::Follower => raft_core::Role::Follower,
                Role::Candidate => raft_core::Role::Candidate,
                Role::Leader => raft_core::Role::Leader,
            },
            term: s.term.into(),
            vote: s.voted_for.map(node_id),
            commit: s.commit_index.into(),
            log: self.entries(s.log.entries(), 1),
            votes: (s.role == Role::Candidate)
                .then(|| s.votes_granted.iter().map(node_id).collect()),
            progress: if s.role == Role::Leader {
                peers
                    .map(|p| {
                        (
                            node_id(p),
                            s.next_index.get(p).into(),
                            s.match_index.get(p).into(),
                        )
                    })
                    .collect()
            } else {
                Vec::new()
            },
        })
    }

    fn endpoints(&self, m: &Sent) -> (NodeId, NodeId) {
        (node_id(m.from), node_id(m.to))
    }

    fn show(&self, m: &Sent) -> String {
        let Some(mut msg) = impl_message(m.from, m.to, &m.msg) else {
            return m.msg.to_string();
        };
        if let MessageBody::AppendEntries(ae) = &mut msg.body {
            for e in &mut ae.entries {
                e.kind = self.named(std::mem::replace(&mut e.kind, EntryKind::Noop));
            }
        }
        msg.to_string()
    }
}

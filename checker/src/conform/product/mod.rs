//! The sound exhaustive mode: the product of the model and the
//! implementation, explored breadth-first.
//!
//! A product state is a model state, the key of every server's
//! implementation node (the adapter's fingerprint of its whole state), and
//! the implementation's messages in flight (by fingerprint). Two product
//! states are the same only if the model state, every node and every
//! message are: state the abstraction does not show is never merged away.
//!
//! A step takes one model action: the model's handler runs
//! ([`FlatModel`], the model checker's own representation, which also
//! reports the rules the step took), and the acting server's node takes the
//! same input ([`memo`]: each distinct (node, input) pair runs once). The
//! acting server's abstract state, storage and messages are compared with
//! the model's ([`compare_step`]); a divergence marks the successor, which
//! violates the always-property `conforms`, so the engine stops and
//! rebuilds the shortest behaviour to it.
//!
//! The network carries the implementation's messages: a deliver action
//! delivers one of them, and the model's network is always their images.
//! A message the model sent and the implementation did not is accepted
//! where the network may lose messages (counted as a loss), and a
//! divergence where it may not.
//!
//! Symmetry reduction is off: renaming servers would rename the nodes too,
//! and a node's fingerprint under another name is not known without
//! rebuilding it. The product explores every state the model does without
//! symmetry.

mod codec;
pub mod memo;

pub use codec::codec;

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use stateright::actor::{ActorModelAction, Envelope, Id};
use stateright::{Model, Property};

use raft_spec::cluster::Cluster;
use raft_spec::coverage::RuleSet;
use raft_spec::flat::{FlatModel, FlatNetwork, FlatState, Packet, NETWORK_CAPACITY};
use raft_spec::server::Timer;
use raft_spec::servers::Servers;
use raft_spec::types::{ServerId, MAX_SERVERS};
use raft_spec::{Action, Config, RaftModel};
use raftcheck_adapter::{Implementation, Loosening, Sent};
use raftcheck_engine::StepInPlace;

use super::compare::{compare_server, compare_step, Expected, Rules};
use super::divergence::Mismatch;
use crate::error::{Error, Result};
pub use memo::Keying;
use memo::{InputKey, Memo};

/// The name of the conformance property.
pub const CONFORMS: &str = "conforms";

/// The implementation's messages in flight, by fingerprint: a sorted
/// multiset (a set on a duplicating network).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Wires {
    len: u8,
    fps: [u64; NETWORK_CAPACITY],
}

impl Default for Wires {
    fn default() -> Self {
        Wires {
            len: 0,
            fps: [0; NETWORK_CAPACITY],
        }
    }
}

impl Wires {
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.fps[..self.len as usize].iter().copied()
    }

    fn remove_one(&mut self, fp: u64) {
        let len = self.len as usize;
        if let Some(k) = self.fps[..len].iter().position(|&f| f == fp) {
            self.fps.copy_within(k + 1..len, k);
            self.fps[len - 1] = 0;
            self.len -= 1;
        }
    }

    /// False if the network is full (more than the model can hold).
    fn add(&mut self, fp: u64, duplicating: bool) -> bool {
        let len = self.len as usize;
        if duplicating && self.fps[..len].contains(&fp) {
            return true;
        }
        if len == NETWORK_CAPACITY {
            return false;
        }
        let k = self.fps[..len].partition_point(|&f| f <= fp);
        self.fps.copy_within(k..len, k + 1);
        self.fps[k] = fp;
        self.len += 1;
        true
    }
}

/// A state of the product (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductState {
    pub spec: FlatState,
    /// Each server's node key (0 beyond the cluster).
    pub nodes: [u64; MAX_SERVERS],
    pub wires: Wires,
    /// Set when the step into this state diverged.
    pub divergence: Option<Arc<Mismatch>>,
    /// Set when the step into this state reached a known design difference
    /// of the implementation (with `past_known`): not explored further,
    /// and no violation.
    pub known: bool,
}

impl Hash for ProductState {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.spec.hash(h);
        self.nodes.hash(h);
        self.wires.hash(h);
        self.divergence.is_some().hash(h);
        self.known.hash(h);
    }
}

/// A model action, and for a delivery or a drop, which implementation
/// message (several may share one image).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProductAction {
    pub action: Action,
    pub wire: u64,
}

/// The product of the model and an implementation.
pub struct ProductModel<'a, I: Implementation> {
    pub cfg: Config,
    imp: &'a I,
    model: FlatModel,
    memo: Memo<'a, I>,
    rules: Rules,
    init: ProductState,
    lost: AtomicU64,
    /// Stop at known design differences instead of stopping the run.
    past_known: bool,
    /// Per known difference: transitions that reached it, and the first
    /// one seen (action, mismatch).
    pub known: dashmap::DashMap<&'static str, (u64, String, Mismatch)>,
}

impl<'a, I: Implementation> ProductModel<'a, I> {
    /// Builds the product and checks the initial state: every fresh node
    /// must abstract to the model's initial server state.
    pub fn new(imp: &'a I, cfg: &Config, keying: Keying, loosened: Vec<Loosening>) -> Result<Self> {
        crate::conform::check_supported(imp, cfg)?;
        let model = FlatModel::new(cfg.clone())?;
        let memo = Memo::new(imp, cfg, keying);
        let rules = Rules::new(cfg, loosened);
        let spec = model.init_states()[0];
        let mut nodes = [0; MAX_SERVERS];
        for (i, node) in nodes.iter_mut().enumerate().take(cfg.servers as usize) {
            let s = ServerId(i as u8);
            let fresh = |m: Mismatch| Error::FreshNode {
                field: m.field,
                model: m.model,
                implementation: m.implementation,
            };
            let (key, observed) = memo.fresh(s).map_err(fresh)?;
            let Some(state) = observed.state else {
                return Err(fresh(Mismatch::new(
                    format!("{s}.running"),
                    "running",
                    "down",
                )));
            };
            if let Some(m) = compare_server(s, spec.server(i), &state, cfg.servers, &rules) {
                return Err(fresh(m));
            }
            *node = key;
        }
        Ok(ProductModel {
            cfg: cfg.clone(),
            imp,
            model,
            memo,
            rules,
            init: ProductState {
                spec,
                nodes,
                wires: Wires::default(),
                divergence: None,
                known: false,
            },
            lost: AtomicU64::new(0),
            past_known: false,
            known: dashmap::DashMap::new(),
        })
    }

    /// Stop exploring at the implementation's known design differences
    /// (its `known_difference`) rather than stopping the run.
    pub fn past_known(mut self, on: bool) -> Self {
        self.past_known = on;
        self
    }

    /// Messages the model sent that the implementation did not, over all
    /// transitions checked.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    pub fn memo(&self) -> &Memo<'a, I> {
        &self.memo
    }

    fn packet(&self, fp: u64) -> Option<Packet> {
        self.memo.wire(fp).map(|w| Packet {
            src: w.image.from,
            dst: w.image.to,
            msg: w.image.msg,
        })
    }

    /// The implementation's side of a step, compared; sets the node key and
    /// the wires after it. True if the implementation sent exactly what the
    /// model did, so the model's network is already the images of the
    /// wires. Every transition the product takes is checked
    /// here (a network drop runs no node), so the engine's transition count
    /// is the count of transitions checked.
    fn check(
        &self,
        last: &ProductState,
        action: &ProductAction,
        next: &mut ProductState,
        model_sent: &[Sent],
    ) -> std::result::Result<bool, Mismatch> {
        let duplicating = self.cfg.network.is_duplicating();
        let (i, input) = match &action.action {
            ActorModelAction::Drop(e) => {
                if duplicating {
                    // The model's network is a set of images: dropping one
                    // drops every message with that image.
                    let p = Packet::from(e);
                    let doomed: Vec<u64> = next
                        .wires
                        .iter()
                        .filter(|fp| self.packet(*fp) == Some(p))
                        .collect();
                    for fp in doomed {
                        next.wires.remove_one(fp);
                    }
                } else {
                    next.wires.remove_one(action.wire);
                }
                return Ok(true);
            }
            ActorModelAction::Deliver { dst, .. } => {
                if !duplicating {
                    next.wires.remove_one(action.wire);
                }
                (usize::from(*dst), InputKey::Deliver(action.wire))
            }
            ActorModelAction::Timeout(id, timer) => (
                usize::from(*id),
                match timer {
                    Timer::Election => InputKey::ElectionTimeout,
                    Timer::Heartbeat => InputKey::HeartbeatTimeout,
                    Timer::Propose(v) => InputKey::Propose(v.0),
                },
            ),
            ActorModelAction::Crash(id) => (usize::from(*id), InputKey::Crash),
            ActorModelAction::Recover(id) => (usize::from(*id), InputKey::Recover),
            ActorModelAction::SelectRandom { .. } => {
                return Err(Mismatch::harness(
                    "the model made a random choice; Raft servers make none",
                ))
            }
        };
        let s = ServerId(i as u8);
        let rules = &self.rules;
        let exact = self.memo.step(s, last.nodes[i], input, |outcome| {
            let outcome = outcome.as_ref().map_err(Mismatch::clone)?;
            let expected = Expected {
                state: next.spec.server(i),
                crashed: next.spec.is_crashed(i),
                storage: next.spec.storage(i).as_ref(),
                sent: model_sent,
            };
            let lost = compare_step(s, self.cfg.servers, expected, &outcome.observed, rules)?;
            if !lost.is_empty() {
                self.lost.fetch_add(lost.len() as u64, Ordering::Relaxed);
            }
            next.nodes[i] = outcome.after;
            for &fp in &outcome.sent {
                if !next.wires.add(fp, duplicating) {
                    return Err(Mismatch::harness(&format!(
                        "the implementation has more than {NETWORK_CAPACITY} messages in flight, more than the model holds"
                    )));
                }
            }
            Ok(lost.is_empty() && !rules.loosened(Loosening::MessagesSent))
        })?;
        Ok(exact)
    }

    /// The model's network as the images of the implementation's messages.
    fn set_network(&self, state: &mut ProductState) -> std::result::Result<(), Mismatch> {
        let duplicating = self.cfg.network.is_duplicating();
        let mut network = FlatNetwork::default();
        for fp in state.wires.iter() {
            let p = self
                .packet(fp)
                .ok_or_else(|| Mismatch::harness("a message in flight that no node sent"))?;
            network.send(p, duplicating);
        }
        state.spec.network = network;
        Ok(())
    }

    /// The product path as a behaviour of the model: each step's model
    /// state, with the messages the implementation did not send dropped by
    /// the network right after the step (so a saved trace replays in the
    /// model). `None` if the path is no model behaviour (messages
    /// loosened, and the implementation sent what the model did not).
    pub fn behaviour(
        &self,
        init: &ProductState,
        steps: &[(ProductAction, ProductState)],
    ) -> Option<crate::behaviour::Behaviour> {
        let model = RaftModel::new(self.cfg.clone()).ok()?;
        let mut state = init.spec.to_actor_state();
        let start = state.clone();
        let mut out = Vec::new();
        for (a, next) in steps {
            let target = next.spec.to_actor_state();
            let mut reached = model.next_state(&state, a.action.clone())?;
            out.push((a.action.clone(), reached.clone()));
            if next.divergence.is_none() {
                let want = FlatState::from(&target).network;
                let got = FlatState::from(&reached).network;
                for (p, count) in got.packets() {
                    let keep = want
                        .packets()
                        .iter()
                        .find(|(q, _)| q == p)
                        .map_or(0, |(_, c)| *c);
                    for _ in keep..*count {
                        let drop = ActorModelAction::Drop(Envelope {
                            src: Id::from(p.src),
                            dst: Id::from(p.dst),
                            msg: p.msg,
                        });
                        reached = model.next_state(&reached, drop.clone())?;
                        out.push((drop, reached.clone()));
                    }
                }
                if FlatState::from(&reached) != FlatState::from(&target) {
                    return None;
                }
            }
            state = reached;
        }
        Some((start, out))
    }
}

impl<I: Implementation> Model for ProductModel<'_, I> {
    type State = ProductState;
    type Action = ProductAction;

    fn init_states(&self) -> Vec<ProductState> {
        vec![self.init.clone()]
    }

    fn actions(&self, state: &ProductState, actions: &mut Vec<ProductAction>) {
        if state.divergence.is_some() || state.known {
            return;
        }
        let mut wires = [(0u64, None); NETWORK_CAPACITY];
        let mut distinct = 0;
        for fp in state.wires.iter() {
            if distinct == 0 || wires[distinct - 1].0 != fp {
                wires[distinct] = (fp, self.packet(fp));
                distinct += 1;
            }
        }
        let wires = &wires[..distinct];
        let mut model_actions = Vec::new();
        self.model.actions(&state.spec, &mut model_actions);
        for action in model_actions {
            let packet = match &action {
                ActorModelAction::Deliver { src, dst, msg } => Some(Packet {
                    src: (*src).into(),
                    dst: (*dst).into(),
                    msg: *msg,
                }),
                ActorModelAction::Drop(e) => Some(Packet::from(e)),
                _ => None,
            };
            match packet {
                None => actions.push(ProductAction { action, wire: 0 }),
                Some(p) => {
                    for (fp, _) in wires.iter().filter(|(_, q)| *q == Some(p)) {
                        actions.push(ProductAction {
                            action: action.clone(),
                            wire: *fp,
                        });
                    }
                }
            }
        }
    }

    fn next_state(&self, last: &ProductState, action: ProductAction) -> Option<ProductState> {
        let mut next = last.clone();
        self.next_state_covered(last, action, &mut next, &mut 0)
            .then_some(next)
    }

    fn format_action(&self, action: &ProductAction) -> String {
        RaftModel::describe_action(&action.action)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![Property::always(CONFORMS, |_, s: &ProductState| {
            s.divergence.is_none()
        })]
    }

    fn within_boundary(&self, state: &ProductState) -> bool {
        state.divergence.is_none() && !state.known && state.spec.within_bounds(&self.cfg)
    }
}

impl<I: Implementation> StepInPlace for ProductModel<'_, I> {
    fn rule_count(&self) -> usize {
        raft_spec::coverage::Rule::ALL.len()
    }

    fn next_state_covered(
        &self,
        last: &ProductState,
        action: ProductAction,
        next: &mut ProductState,
        fired: &mut u64,
    ) -> bool {
        thread_local! {
            static SENT: std::cell::RefCell<(Vec<Packet>, Vec<Sent>)> =
                const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
        }
        SENT.with(|buffers| {
            let (sent, images) = &mut *buffers.borrow_mut();
            sent.clear();
            let mut rules = RuleSet(*fired);
            let mut stutter = false;
            if !self.model.next_state_sending(
                &last.spec,
                action.action.clone(),
                &mut next.spec,
                &mut rules,
                Some(sent),
            ) {
                // On a duplicating network the model takes no step for a
                // message its server ignores (stateright's no-op). The
                // node still receives it: if it changes or sends anything,
                // that is a step of the product, compared with the
                // unchanged model state.
                let ignored = matches!(action.action, ActorModelAction::Deliver { dst, .. }
                    if self.cfg.network.is_duplicating() && !last.spec.is_crashed(usize::from(dst)));
                if !ignored {
                    return false;
                }
                next.spec = last.spec;
                sent.clear();
                stutter = true;
            }
            *fired = rules.0;
            images.clear();
            images.extend(sent.iter().map(|p| Sent {
                from: p.src,
                to: p.dst,
                msg: p.msg,
            }));
            next.nodes = last.nodes;
            next.wires = last.wires;
            next.divergence = None;
            next.known = false;
            let checked = self.check(last, &action, next, images).and_then(|exact| {
                if exact {
                    Ok(())
                } else {
                    self.set_network(next)
                }
            });
            if let Err(m) = checked {
                let action_text = RaftModel::describe_action(&action.action);
                let known = self
                    .past_known
                    .then(|| {
                        self.imp
                            .known_difference(&self.cfg, &m.field, &m.model, &m.implementation, &action_text)
                    })
                    .flatten();
                match known {
                    Some(name) => {
                        next.known = true;
                        self.known
                            .entry(name)
                            .or_insert_with(|| (0, action_text, m))
                            .0 += 1;
                    }
                    None => next.divergence = Some(Arc::new(m)),
                }
            } else if stutter && next.nodes == last.nodes && next.wires == last.wires {
                // Ignored by both: no step.
                return false;
            }
            true
        })
    }
}

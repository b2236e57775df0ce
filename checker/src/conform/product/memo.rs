//! The implementation side of the product: nodes by fingerprint, the
//! messages they sent, and every (node, input) step taken once.
//!
//! The implementation is deterministic, so a node in state F given input I
//! always ends in the same state with the same messages: the step is run
//! once and its outcome kept under (server, F, I). The product then takes
//! each of its millions of transitions with a lookup, and the
//! implementation runs once per distinct (node state, input) pair.
//!
//! A node needed to run a new step is copied with the adapter's snapshot
//! if it offers one, or else taken from the slot (each slot keeps the node
//! that first reached it) or, once that one is used, rebuilt: its inputs
//! since it was fresh replayed on a fresh node, which must end with the
//! same fingerprint (otherwise the implementation is not deterministic,
//! and the harness says so).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use dashmap::DashMap;
use raft_spec::types::{ServerId, Value};
use raft_spec::Config;
use raftcheck_adapter::{fingerprint, Implementation, Input, Sent};

use super::super::cluster::adapter_mismatch;
use super::super::compare::Observed;
use super::super::divergence::Mismatch;

/// How implementation nodes are told apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Keying {
    /// By the adapter's fingerprint of the node's whole state: sound.
    #[default]
    Fingerprint,
    /// By the node's abstract state and storage only, which merges nodes
    /// that differ in state the abstraction does not show. Unsound: kept to
    /// show what it misses (see the planted hidden-state test).
    AbstractState,
}

/// A model input, as a memo key (a message by its fingerprint).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputKey {
    Deliver(u64),
    ElectionTimeout,
    HeartbeatTimeout,
    Propose(u8),
    Crash,
    Recover,
}

/// A message in flight: the implementation's own, and its model image.
pub struct Wire<M> {
    pub image: Sent,
    pub message: M,
}

/// The outcome of one (node, input) step.
#[derive(Debug)]
pub struct Outcome {
    /// The node's key after the step.
    pub after: u64,
    pub observed: Observed,
    /// Fingerprints of the messages sent, in `observed.sent`'s order.
    pub sent: Vec<u64>,
}

/// The inputs that derived a node from a fresh one (newest first).
struct Derivation {
    input: InputKey,
    before: Option<Arc<Derivation>>,
}

/// The nodes reached in one (server, key).
struct Slot<N> {
    derivation: Option<Arc<Derivation>>,
    /// The node that reached it first, until a step takes it (kept for
    /// good when the adapter can snapshot).
    spare: Mutex<Option<N>>,
}

/// Counts for the report.
#[derive(Default)]
pub struct MemoCounts {
    /// Steps the implementation ran (distinct (node, input) pairs, plus
    /// the replays of rebuilds).
    pub steps_run: AtomicU64,
    /// Nodes rebuilt by replaying their inputs.
    pub rebuilds: AtomicU64,
}

pub struct Memo<'a, I: Implementation> {
    imp: &'a I,
    cfg: Config,
    keying: Keying,
    slots: DashMap<(u8, u64), Arc<Slot<I::Node>>, ahash::RandomState>,
    steps: DashMap<(u8, u64, InputKey), Result<Outcome, Mismatch>, ahash::RandomState>,
    messages: DashMap<u64, Arc<Wire<I::Message>>, ahash::RandomState>,
    pub counts: MemoCounts,
}

impl<'a, I: Implementation> Memo<'a, I> {
    pub fn new(imp: &'a I, cfg: &Config, keying: Keying) -> Self {
        Memo {
            imp,
            cfg: cfg.clone(),
            keying,
            slots: DashMap::default(),
            steps: DashMap::default(),
            messages: DashMap::default(),
            counts: MemoCounts::default(),
        }
    }

    /// Distinct (server, node key) pairs reached.
    pub fn node_states(&self) -> usize {
        self.slots.len()
    }

    /// A fresh node of server `s`: its key, and what it shows.
    pub fn fresh(&self, s: ServerId) -> Result<(u64, Observed), Mismatch> {
        let node = self
            .imp
            .fresh(&self.cfg, s)
            .map_err(|e| adapter_mismatch(s, e))?;
        let observed = self.observe(s, &node, Vec::new())?;
        let key = self.key(&node, &observed);
        self.slots.entry((s.0, key)).or_insert_with(|| {
            Arc::new(Slot {
                derivation: None,
                spare: Mutex::new(Some(node)),
            })
        });
        Ok((key, observed))
    }

    /// A message in flight, by fingerprint.
    pub fn wire(&self, fp: u64) -> Option<Arc<Wire<I::Message>>> {
        self.messages.get(&fp).map(|w| Arc::clone(&w))
    }

    fn key(&self, node: &I::Node, observed: &Observed) -> u64 {
        match self.keying {
            Keying::Fingerprint => self.imp.fingerprint(node),
            Keying::AbstractState => fingerprint(&(observed.state, observed.storage)),
        }
    }

    fn observe(&self, s: ServerId, node: &I::Node, sent: Vec<Sent>) -> Result<Observed, Mismatch> {
        Ok(Observed {
            state: self.imp.state(node).map_err(|e| adapter_mismatch(s, e))?,
            storage: self.imp.storage(node).map_err(|e| adapter_mismatch(s, e))?,
            sent,
        })
    }

    /// Server `s` in node state `key` takes `input`: `then` sees the
    /// outcome, run now or kept from the first time. (A closure rather
    /// than a returned `Arc`: the outcomes of a busy state are read by
    /// every thread, and counting references to them would bounce their
    /// cache lines between cores.)
    pub fn step<T>(
        &self,
        s: ServerId,
        key: u64,
        input: InputKey,
        then: impl FnOnce(&Result<Outcome, Mismatch>) -> T,
    ) -> T {
        if let Some(done) = self.steps.get(&(s.0, key, input)) {
            return then(&done);
        }
        let outcome = self.run(s, key, input);
        let done = self.steps.entry((s.0, key, input)).or_insert(outcome);
        then(&done.downgrade())
    }

    fn run(&self, s: ServerId, key: u64, input: InputKey) -> Result<Outcome, Mismatch> {
        let slot = self
            .slots
            .get(&(s.0, key))
            .map(|r| Arc::clone(&r))
            .ok_or_else(|| Mismatch::harness("a node state the harness never reached"))?;
        let mut node = self.node_of(s, key, &slot)?;
        let released = self.apply(s, &mut node, input)?;
        let mut images = Vec::with_capacity(released.len());
        let mut sent = Vec::with_capacity(released.len());
        for m in released {
            let image = self
                .imp
                .model_message(&self.cfg, &m)
                .map_err(|e| adapter_mismatch(s, e))?;
            let fp = self.imp.message_fingerprint(&m);
            let wire = self
                .messages
                .entry(fp)
                .or_insert_with(|| Arc::new(Wire { image, message: m }));
            if wire.image != image {
                return Err(Mismatch::harness(
                    "two messages with one fingerprint and different images (the adapter's message fingerprint is too weak)",
                ));
            }
            images.push(image);
            sent.push(fp);
        }
        let observed = self.observe(s, &node, images)?;
        let after = self.key(&node, &observed);
        let derivation = Some(Arc::new(Derivation {
            input,
            before: slot.derivation.clone(),
        }));
        let next = self
            .slots
            .entry((s.0, after))
            .or_insert_with(|| {
                Arc::new(Slot {
                    derivation,
                    spare: Mutex::new(None),
                })
            })
            .clone();
        let mut spare = next.spare.lock().unwrap_or_else(|p| p.into_inner());
        if spare.is_none() {
            *spare = Some(node);
        }
        Ok(Outcome {
            after,
            observed,
            sent,
        })
    }

    /// A node in the slot's state, to step (see the module docs).
    fn node_of(&self, s: ServerId, key: u64, slot: &Slot<I::Node>) -> Result<I::Node, Mismatch> {
        {
            let mut spare = slot.spare.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(node) = spare.as_ref() {
                if let Some(copy) = self.imp.snapshot(node) {
                    return Ok(copy);
                }
            }
            if let Some(node) = spare.take() {
                return Ok(node);
            }
        }
        self.counts.rebuilds.fetch_add(1, Ordering::Relaxed);
        let mut inputs = Vec::new();
        let mut d = slot.derivation.as_deref();
        while let Some(step) = d {
            inputs.push(step.input);
            d = step.before.as_deref();
        }
        let mut node = self
            .imp
            .fresh(&self.cfg, s)
            .map_err(|e| adapter_mismatch(s, e))?;
        for input in inputs.into_iter().rev() {
            self.apply(s, &mut node, input)?;
        }
        if self.keying == Keying::Fingerprint && self.imp.fingerprint(&node) != key {
            return Err(Mismatch::harness(&format!(
                "{s} rebuilt by replaying its inputs ended in another state: the implementation is not deterministic"
            )));
        }
        Ok(node)
    }

    fn apply(
        &self,
        s: ServerId,
        node: &mut I::Node,
        input: InputKey,
    ) -> Result<Vec<I::Message>, Mismatch> {
        self.counts.steps_run.fetch_add(1, Ordering::Relaxed);
        let imp = self.imp;
        let released = match input {
            InputKey::Crash => {
                imp.crash(node);
                Ok(Vec::new())
            }
            InputKey::Recover => imp.recover(node).map(|()| Vec::new()),
            InputKey::ElectionTimeout => imp.step(node, Input::ElectionTimeout),
            InputKey::HeartbeatTimeout => imp.step(node, Input::HeartbeatTimeout),
            InputKey::Propose(v) => imp.step(node, Input::Propose(Value(v))),
            InputKey::Deliver(fp) => {
                let wire = self
                    .wire(fp)
                    .ok_or_else(|| Mismatch::harness("a message no node sent"))?;
                imp.step(node, Input::Deliver(&wire.message))
            }
        };
        released.map_err(|e| adapter_mismatch(s, e))
    }
}

//! The Raft model with the actor system's bookkeeping in fixed arrays.
//!
//! stateright's `ActorModelState` keeps each server behind an `Arc`, the
//! network in a hash map and the timers in hash sets: every step allocates,
//! clones tables and hashes maps, and a breadth-first search takes tens of
//! millions of steps. [`FlatModel`] runs the very same `RaftServer` handlers
//! and properties over [`FlatState`], one `Copy` value with no heap at all.
//!
//! The two models take the same actions and reach the same states:
//! `FlatState::from(&s)` commutes with every step (spec/tests/flat.rs checks
//! it on every reachable state of several bounds), so a path found by
//! exploring `FlatModel` replays action for action in [`RaftModel`], which
//! traces and the stateright explorer use.
//!
//! [`RaftModel`]: crate::RaftModel

mod engine;
mod model;
mod network;

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use stateright::actor::{Envelope, Network, RandomChoices, Timers};

pub use model::FlatModel;
pub use network::{FlatNetwork, Packet, NETWORK_CAPACITY};

use crate::cluster::Cluster;
use crate::ghost::Ghost;
use crate::server::{Durable, ServerState, Timer};
use crate::servers::Servers;
use crate::state::State;
use crate::types::{ServerId, Value, MAX_SERVERS};

/// A whole model state: servers, their storage and timers, who is down, the
/// messages in flight and the ghost history.
///
/// Invariant: slots of servers beyond `n` hold a server started on empty
/// storage and no storage, so the derived `Eq` sees only live servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlatState {
    n: u8,
    /// Whether delivered messages stay deliverable (a duplicating network).
    duplicating: bool,
    servers: [ServerState; MAX_SERVERS],
    storages: [Option<Durable>; MAX_SERVERS],
    /// Each server's set timers, one bit per timer ([`timer_bit`]).
    timers: [u8; MAX_SERVERS],
    /// Bit i: server i is down.
    crashed: u8,
    pub network: FlatNetwork,
    pub ghost: Ghost,
}

/// A timer's bit in a server's timer mask: Election = bit 0, Heartbeat =
/// bit 1, Propose(v) = bit 1 + v (values are 1..=6).
pub fn timer_bit(t: &Timer) -> u8 {
    match t {
        Timer::Election => 1,
        Timer::Heartbeat => 2,
        Timer::Propose(v) => 1 << (1 + v.0),
    }
}

/// The timers in a mask, in a fixed order.
pub fn timers_in(mask: u8) -> impl Iterator<Item = Timer> {
    [Timer::Election, Timer::Heartbeat]
        .into_iter()
        .chain((1..=6).map(|v| Timer::Propose(Value(v))))
        .filter(move |t| mask & timer_bit(t) != 0)
}

impl FlatState {
    /// `n` servers, none started yet, and an empty network.
    pub fn empty(n: usize, duplicating: bool) -> Self {
        assert!(n <= MAX_SERVERS, "at most {MAX_SERVERS} servers");
        FlatState {
            n: n as u8,
            duplicating,
            servers: [ServerState::recovered(&Durable::default()); MAX_SERVERS],
            storages: [None; MAX_SERVERS],
            timers: [0; MAX_SERVERS],
            crashed: 0,
            network: FlatNetwork::default(),
            ghost: Ghost::default(),
        }
    }

    pub fn is_duplicating(&self) -> bool {
        self.duplicating
    }

    pub fn server_mut(&mut self, i: usize) -> &mut ServerState {
        &mut self.servers[i]
    }

    pub fn storage(&self, i: usize) -> &Option<Durable> {
        &self.storages[i]
    }

    pub fn set_storage(&mut self, i: usize, d: Durable) {
        self.storages[i] = Some(d);
    }

    pub fn timers(&self, i: usize) -> u8 {
        self.timers[i]
    }

    pub fn timers_mut(&mut self, i: usize) -> &mut u8 {
        &mut self.timers[i]
    }

    pub fn set_crashed(&mut self, i: usize, crashed: bool) {
        if crashed {
            self.crashed |= 1 << i;
        } else {
            self.crashed &= !(1 << i);
        }
    }

    pub fn crashed_mask(&self) -> u8 {
        self.crashed
    }

    /// The state with server i renamed to `perm[i]` (`perm` is a permutation
    /// of `0..n`).
    pub fn permute(&self, perm: &[usize]) -> FlatState {
        let rename = |s: ServerId| ServerId(perm[s.0 as usize] as u8);
        let mut out = FlatState::empty(self.n as usize, self.duplicating);
        for (i, &to) in perm.iter().enumerate() {
            out.servers[to] = self.servers[i].renamed(rename);
            out.storages[to] = self.storages[i].map(|d| d.renamed(rename));
            out.timers[to] = self.timers[i];
            if self.crashed & (1 << i) != 0 {
                out.crashed |= 1 << to;
            }
        }
        out.network = self.network.renamed(rename);
        out.ghost = self.ghost.renamed(rename);
        out
    }

    /// The representative of the state's symmetry class: servers sorted by
    /// their state (as stateright's `Representative` does). Cheap and sound;
    /// two servers in equal states may leave one class with a few
    /// representatives.
    pub fn representative(&self) -> FlatState {
        self.representative_if_other().unwrap_or(*self)
    }

    /// [`representative`](Self::representative), or `None` when the state is
    /// its own (the common case, spared a copy).
    pub fn representative_if_other(&self) -> Option<FlatState> {
        let n = self.n as usize;
        let mut order = [0usize; MAX_SERVERS];
        for (i, slot) in order.iter_mut().enumerate().take(n) {
            *slot = i;
        }
        order[..n].sort_by(|a, b| self.servers[*a].cmp(&self.servers[*b]));
        if order[..n].iter().enumerate().all(|(k, &i)| k == i) {
            return None;
        }
        // order[k] is the server that goes to position k.
        let mut perm = [0usize; MAX_SERVERS];
        for (k, &i) in order[..n].iter().enumerate() {
            perm[i] = k;
        }
        Some(self.permute(&perm[..n]))
    }

    /// A key equal for two states exactly when one is a renaming of the
    /// other (up to 64-bit hash collisions): the least hash over every
    /// renaming. Used only to rebuild paths, off the hot path.
    pub fn orbit_key(&self) -> u64 {
        crate::symmetry::permutations(self.n as usize)
            .iter()
            .map(|p| {
                let mut h = std::hash::DefaultHasher::new();
                self.permute(p).hash(&mut h);
                h.finish()
            })
            .min()
            .unwrap_or(0)
    }

    /// The same state in stateright's representation.
    pub fn to_actor_state(&self) -> State {
        let n = self.n as usize;
        let envelopes = self.network.packets().iter().flat_map(|(p, count)| {
            (0..*count).map(move |_| Envelope {
                src: p.src.into(),
                dst: p.dst.into(),
                msg: p.msg,
            })
        });
        let network = if self.duplicating {
            Network::new_unordered_duplicating(envelopes)
        } else {
            Network::new_unordered_nonduplicating(envelopes)
        };
        State {
            actor_states: self.servers[..n].iter().map(|s| Arc::new(*s)).collect(),
            network,
            timers_set: self.timers[..n]
                .iter()
                .map(|mask| {
                    let mut t = Timers::new();
                    for timer in timers_in(*mask) {
                        t.set(timer);
                    }
                    t
                })
                .collect(),
            random_choices: vec![RandomChoices::default(); n],
            crashed: (0..n).map(|i| self.crashed & (1 << i) != 0).collect(),
            actor_storages: self.storages[..n].to_vec(),
            history: self.ghost,
        }
    }
}

impl From<&State> for FlatState {
    fn from(s: &State) -> Self {
        let duplicating = matches!(s.network, Network::UnorderedDuplicating(..));
        let mut out = FlatState::empty(s.actor_states.len(), duplicating);
        for (i, server) in s.actor_states.iter().enumerate() {
            out.servers[i] = **server;
            out.storages[i] = s.actor_storages[i];
            out.timers[i] = s.timers_set[i].iter().fold(0, |m, t| m | timer_bit(t));
            out.set_crashed(i, s.crashed[i]);
        }
        match &s.network {
            Network::UnorderedDuplicating(set, _) => {
                for e in set.iter() {
                    out.network.send(Packet::from(e), true);
                }
            }
            Network::UnorderedNonDuplicating(multiset) => {
                for (e, count) in multiset.iter() {
                    for _ in 0..*count {
                        out.network.send(Packet::from(e), false);
                    }
                }
            }
            Network::Ordered(_) => unreachable!("the Raft model never uses an ordered network"),
        }
        out.ghost = s.history;
        out
    }
}

impl From<&Envelope<crate::message::Msg>> for Packet {
    fn from(e: &Envelope<crate::message::Msg>) -> Self {
        Packet {
            src: e.src.into(),
            dst: e.dst.into(),
            msg: e.msg,
        }
    }
}

impl Servers for FlatState {
    fn server_count(&self) -> usize {
        self.n as usize
    }

    fn server(&self, i: usize) -> &ServerState {
        &self.servers[i]
    }

    fn is_crashed(&self, i: usize) -> bool {
        self.crashed & (1 << i) != 0
    }

    fn in_flight(&self) -> usize {
        self.network.in_flight()
    }
}

impl Cluster for FlatState {
    fn ghost(&self) -> &Ghost {
        &self.ghost
    }
}

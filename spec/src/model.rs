//! The Raft model: stateright's `ActorModel` of `RaftServer`s, wrapped to keep
//! ghost history, bound crashes over a run, consume messages a server ignores,
//! and carry the properties.

use stateright::actor::{ActorModel, ActorModelAction, Envelope, LossyNetwork, Network};
use stateright::{Model, Property};

use crate::cluster::Cluster;
use crate::config::{Config, ConfigError};
use crate::ghost::Ghost;
use crate::message::Msg;
use crate::properties;
use crate::server::{RaftServer, Timer};
use crate::servers::Servers;
use crate::types::ServerId;

pub use crate::state::State;
pub type Action = ActorModelAction<Msg, Timer, ()>;

/// Raft under the bounds of a [`Config`].
#[derive(Clone)]
pub struct RaftModel {
    pub cfg: Config,
    inner: ActorModel<RaftServer, Config, Ghost>,
}

impl RaftModel {
    /// Builds the model, refusing bounds that cannot be checked.
    pub fn new(cfg: Config) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let network = if cfg.network.is_duplicating() {
            Network::new_unordered_duplicating([])
        } else {
            Network::new_unordered_nonduplicating([])
        };
        let inner = ActorModel::new(cfg.clone(), Ghost::default())
            .actors((0..cfg.servers).map(|_| RaftServer { cfg: cfg.clone() }))
            .init_network(network)
            .lossy_network(if cfg.network.is_lossy() {
                LossyNetwork::Yes
            } else {
                LossyNetwork::No
            })
            .max_crashes(cfg.max_crashes as usize);
        Ok(RaftModel { cfg, inner })
    }

    /// A step as a person reads it: "s0 → s1 RequestVote(...)", "s2 crashes".
    pub fn describe_action(action: &Action) -> String {
        match action {
            ActorModelAction::Deliver { src, dst, msg } => {
                format!("{} → {} {msg}", ServerId::from(*src), ServerId::from(*dst))
            }
            ActorModelAction::Drop(Envelope { src, dst, msg }) => format!(
                "network drops {} → {} {msg}",
                ServerId::from(*src),
                ServerId::from(*dst)
            ),
            ActorModelAction::Timeout(id, timer) => {
                let s = ServerId::from(*id);
                match timer {
                    Timer::Election => format!("{s} election timeout"),
                    Timer::Heartbeat => format!("{s} heartbeat timeout"),
                    Timer::Propose(v) => format!("client proposes {v} to {s}"),
                }
            }
            ActorModelAction::Crash(id) => format!("{} crashes", ServerId::from(*id)),
            ActorModelAction::Recover(id) => format!("{} recovers", ServerId::from(*id)),
            ActorModelAction::SelectRandom { actor, .. } => {
                format!("{} random choice", ServerId::from(*actor))
            }
        }
    }
}

impl Model for RaftModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        self.inner.init_states()
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        self.inner.actions(state, actions);
        // The crash budget is over the whole run, not just servers down at once.
        if state.crashes() >= self.cfg.max_crashes as usize {
            actions.retain(|a| !matches!(a, ActorModelAction::Crash(_)));
        }
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let mut next = match self.inner.next_state(last, action.clone()) {
            Some(next) => next,
            None => self.consume_ignored(last, action)?,
        };
        // stateright remembers the last message delivered on a duplicating
        // network, which splits otherwise equal states; no property reads it.
        if let Network::UnorderedDuplicating(_, last_msg) = &mut next.network {
            *last_msg = None;
        }
        let mut ghost = next.history;
        ghost.observe(last, &next);
        next.history = ghost;
        Some(next)
    }

    fn format_action(&self, action: &Action) -> String {
        Self::describe_action(action)
    }

    fn format_step(&self, last: &State, action: Action) -> Option<String> {
        let next = self.next_state(last, action)?;
        Some(crate::render::states(&next))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties::all(&self.cfg)
    }

    fn within_boundary(&self, state: &State) -> bool {
        state.within_bounds(&self.cfg)
    }
}

impl RaftModel {
    /// stateright treats delivering a message the server ignores as no step
    /// at all, which would leave it in flight forever. On a network that does
    /// not duplicate, the server still receives it: it leaves the network.
    fn consume_ignored(&self, last: &State, action: Action) -> Option<State> {
        match action {
            ActorModelAction::Deliver { src, dst, msg }
                if !self.cfg.network.is_duplicating() && !last.crashed[usize::from(dst)] =>
            {
                self.inner
                    .next_state(last, ActorModelAction::Drop(Envelope { src, dst, msg }))
            }
            _ => None,
        }
    }
}

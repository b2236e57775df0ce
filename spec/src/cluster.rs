//! What the properties and the ghost history read from a model state: the
//! servers, which of them are down, and the history. Two representations hold
//! a state (stateright's [`ActorModelState`], for traces and the explorer, and
//! [`FlatState`](crate::flat::FlatState), for fast exploration); the rules
//! about states are written once, against this view.

use stateright::actor::ActorModelState;

use crate::config::Config;
use crate::ghost::Ghost;
use crate::server::{RaftServer, ServerState};
use crate::servers::Servers;

pub trait Cluster: Servers {
    fn ghost(&self) -> &Ghost;

    /// Whether the state is within the bounds, so that it is explored
    /// further (states beyond them are still checked).
    fn within_bounds(&self, cfg: &Config) -> bool {
        self.servers().all(|s| s.log.len() <= cfg.max_log_len)
            && self.in_flight() <= cfg.max_in_flight as usize
            && self.crashes() <= cfg.max_crashes as usize
    }
}

impl Servers for ActorModelState<RaftServer, Ghost> {
    fn server_count(&self) -> usize {
        self.actor_states.len()
    }

    fn server(&self, i: usize) -> &ServerState {
        &self.actor_states[i]
    }

    fn is_crashed(&self, i: usize) -> bool {
        self.crashed[i]
    }

    fn in_flight(&self) -> usize {
        self.network.len()
    }
}

impl Cluster for ActorModelState<RaftServer, Ghost> {
    fn ghost(&self) -> &Ghost {
        &self.history
    }
}

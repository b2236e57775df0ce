//! What the properties and the ghost history read from a model state: the
//! servers, which of them are down, and the history. Two representations hold
//! a state (stateright's [`ActorModelState`], for traces and the explorer, and
//! [`FlatState`](crate::flat::FlatState), for fast exploration); the rules
//! about states are written once, against this view.

use stateright::actor::ActorModelState;

use crate::config::Config;
use crate::ghost::Ghost;
use crate::server::{RaftServer, ServerState};

pub trait Cluster {
    fn server_count(&self) -> usize;
    /// Server `i`'s state (a crashed server keeps the state it crashed in).
    fn server(&self, i: usize) -> &ServerState;
    fn is_crashed(&self, i: usize) -> bool;
    fn ghost(&self) -> &Ghost;
    /// Messages in flight (each copy counts on a network that does not
    /// duplicate).
    fn in_flight(&self) -> usize;

    /// Crashes so far in the run: recoveries plus servers down now.
    fn crashes(&self) -> usize {
        let restarts: usize = self.servers().map(|s| s.restarts as usize).sum();
        restarts
            + (0..self.server_count())
                .filter(|&i| self.is_crashed(i))
                .count()
    }

    /// Whether the state is within the bounds, so that it is explored
    /// further (states beyond them are still checked).
    fn within_bounds(&self, cfg: &Config) -> bool {
        self.servers().all(|s| s.log.len() <= cfg.max_log_len)
            && self.in_flight() <= cfg.max_in_flight as usize
            && self.crashes() <= cfg.max_crashes as usize
    }

    fn servers(&self) -> impl Iterator<Item = &ServerState> {
        (0..self.server_count()).map(|i| self.server(i))
    }

    /// The servers that are up.
    fn running(&self) -> impl Iterator<Item = &ServerState> {
        (0..self.server_count())
            .filter(|&i| !self.is_crashed(i))
            .map(|i| self.server(i))
    }
}

impl Cluster for ActorModelState<RaftServer, Ghost> {
    fn server_count(&self) -> usize {
        self.actor_states.len()
    }

    fn server(&self, i: usize) -> &ServerState {
        &self.actor_states[i]
    }

    fn is_crashed(&self, i: usize) -> bool {
        self.crashed[i]
    }

    fn ghost(&self) -> &Ghost {
        &self.history
    }

    fn in_flight(&self) -> usize {
        self.network.len()
    }
}

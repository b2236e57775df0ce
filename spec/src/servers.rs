//! The servers of a model state, and which are down: what the ghost history
//! observes from one state to the next. [`Cluster`](crate::cluster::Cluster)
//! adds the history itself; the ghost, which makes the history, depends only
//! on this.

use crate::server::ServerState;

pub trait Servers {
    fn server_count(&self) -> usize;
    /// Server `i`'s state (a crashed server keeps the state it crashed in).
    fn server(&self, i: usize) -> &ServerState;
    fn is_crashed(&self, i: usize) -> bool;
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

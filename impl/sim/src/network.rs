//! The simulated network: a bag of in-flight messages (any one may be
//! delivered next, so delay and reordering are just choices), plus a
//! partition that drops messages crossing it.

use raft_core::{Message, NodeId};

#[derive(Clone, Debug, Default)]
pub struct Network {
    in_flight: Vec<Message>,
    /// Nodes on the "minority side"; empty means no partition. Messages
    /// between the two sides are dropped at delivery.
    isolated: Vec<NodeId>,
}

impl Network {
    pub fn in_flight(&self) -> &[Message] {
        &self.in_flight
    }

    pub fn send(&mut self, msg: Message) {
        self.in_flight.push(msg);
    }

    /// Remove message `k mod len` (None if nothing is in flight). Removing
    /// from anywhere in the bag is how delay and reordering happen.
    pub fn take(&mut self, k: usize) -> Option<Message> {
        if self.in_flight.is_empty() {
            return None;
        }
        let i = k % self.in_flight.len();
        Some(self.in_flight.remove(i))
    }

    /// Oldest first, for draining the network in order.
    pub fn take_oldest(&mut self) -> Option<Message> {
        (!self.in_flight.is_empty()).then(|| self.in_flight.remove(0))
    }

    pub fn duplicate(&mut self, k: usize) {
        if !self.in_flight.is_empty() {
            let i = k % self.in_flight.len();
            self.in_flight.push(self.in_flight[i].clone());
        }
    }

    pub fn partition(&mut self, isolated: Vec<NodeId>) {
        self.isolated = isolated;
    }

    pub fn heal(&mut self) {
        self.isolated.clear();
    }

    /// Can a message from `from` reach `to` right now?
    pub fn connected(&self, from: NodeId, to: NodeId) -> bool {
        self.isolated.contains(&from) == self.isolated.contains(&to)
    }

    /// Drop every in-flight message matching `filter`; returns how many.
    pub fn drop_where(&mut self, filter: impl Fn(&Message) -> bool) -> usize {
        let before = self.in_flight.len();
        self.in_flight.retain(|m| !filter(m));
        before - self.in_flight.len()
    }
}

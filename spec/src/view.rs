//! [`At`]: server `i` of a model state as the shared safety properties
//! ([`crate::safety`]) read it. Both [`crate::ghost`] (recording history) and
//! [`crate::properties`] (checking states) use it; it depends on neither.

use crate::safety::ServerView;
use crate::server::{Role, ServerState};
use crate::servers::Servers;
use crate::types::{Entry, ServerId};

/// Server `i` of a model state as the safety properties read it.
#[derive(Clone, Copy)]
pub struct At<'a> {
    pub id: ServerId,
    /// Servers in the cluster (a leader has progress for each other one).
    pub servers: u8,
    pub state: &'a ServerState,
}

impl<'a> At<'a> {
    pub fn new(s: &'a impl Servers, i: usize) -> Self {
        At {
            id: ServerId(i as u8),
            servers: s.server_count() as u8,
            state: s.server(i),
        }
    }
}

impl ServerView for At<'_> {
    type Id = ServerId;
    type Entry = Entry;

    fn id(&self) -> ServerId {
        self.id
    }
    fn term(&self) -> u64 {
        self.state.term.into()
    }
    fn is_leader(&self) -> bool {
        self.state.role == Role::Leader
    }
    fn commit_index(&self) -> u64 {
        self.state.commit_index.into()
    }
    fn log(&self) -> &[Entry] {
        self.state.log.entries()
    }
    fn entry_term(entry: &Entry) -> u64 {
        entry.term.into()
    }
    fn progress(&self) -> impl Iterator<Item = (ServerId, u64, u64)> {
        let peers = if self.is_leader() { self.servers } else { 0 };
        (0..peers).map(ServerId).filter(|p| *p != self.id).map(|p| {
            (
                p,
                self.state.next_index.get(p).into(),
                self.state.match_index.get(p).into(),
            )
        })
    }
    fn arithmetic_out_of_range(&self) -> bool {
        self.state.out_of_range
    }
}

//! Ghost history: what the safety properties need to remember across steps
//! (who led which term, what was ever committed, and transitions that broke a
//! monotonicity rule). Servers never read it; the model updates it by
//! comparing each server's state before and after a step.

use serde::{Deserialize, Serialize};
use stateright::actor::Id;
use stateright::{Rewrite, RewritePlan};

use crate::safety::{self, History};
use crate::server::{Role, ServerState};
use crate::servers::Servers;
use crate::types::{Entry, Index, ServerId, ServerSet, Term, LOG_CAPACITY, MAX_TERM_BOUND};
use crate::view::At;

/// An entry some server has committed, with the term of the server that
/// committed it first (Leader Completeness speaks of later terms).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Committed {
    pub entry: Entry,
    pub in_term: Term,
}

/// Transition facts, one bit each.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Flags(pub u8);

impl Flags {
    /// A leader removed or changed an entry of its own log within its term.
    pub const LEADER_LOG_REWRITTEN: u8 = 1 << 0;
    /// A running server's commit index went down.
    pub const COMMIT_DECREASED: u8 = 1 << 1;
    /// A leader's match index for a peer went down within its term.
    pub const MATCH_DECREASED: u8 = 1 << 2;
    /// A server that had voted for one candidate voted for another one.
    pub const VOTE_MOVED: u8 = 1 << 3;
    /// A server that had committed entries crashed and recovered with them.
    pub const COMMIT_SURVIVED_CRASH: u8 = 1 << 4;

    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Ghost {
    /// Servers that were leader in each term, ever (index = term).
    pub leaders: [ServerSet; MAX_TERM_BOUND as usize + 1],
    /// The first entry committed at each index, ever (index i at slot i - 1).
    pub committed: [Option<Committed>; LOG_CAPACITY],
    pub flags: Flags,
}

impl Ghost {
    pub fn committed_at(&self, index: Index) -> Option<Committed> {
        let slot = (index as usize).checked_sub(1)?;
        self.committed.get(slot).copied().flatten()
    }

    pub fn committed_entries(&self) -> impl Iterator<Item = (Index, Committed)> + '_ {
        self.committed
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.map(|c| (i as Index + 1, c)))
    }

    /// Updates the history for one step, given every server's state before
    /// and after it. A server whose state did not change is skipped: its
    /// update would repeat the one made when it reached that state.
    pub fn observe(&mut self, before: &impl Servers, after: &impl Servers) {
        for i in 0..after.server_count() {
            self.observe_one(i, before, after);
        }
    }

    /// [`observe`](Self::observe) for server `i` alone: all of it for a
    /// step known to change no other server.
    pub fn observe_one(&mut self, i: usize, before: &impl Servers, after: &impl Servers) {
        let (old, new) = (before.server(i), after.server(i));
        let recovered = before.is_crashed(i) && !after.is_crashed(i);
        if old == new && !recovered {
            return;
        }
        let servers = after.server_count() as u8;
        self.observe_server(ServerId(i as u8), servers, old, new, recovered);
    }

    fn observe_server(
        &mut self,
        me: ServerId,
        servers: u8,
        old: &ServerState,
        new: &ServerState,
        recovered: bool,
    ) {
        let view = |state| At {
            id: me,
            servers,
            state,
        };
        safety::record(self, &view(new), 1);
        if recovered {
            let kept = old.log.entries().get(..old.commit_index as usize)
                == new.log.entries().get(..old.commit_index as usize);
            if old.commit_index > 0 && kept {
                self.flags.0 |= Flags::COMMIT_SURVIVED_CRASH;
            }
            return;
        }
        let same_leadership =
            old.role == Role::Leader && new.role == Role::Leader && old.term == new.term;
        if safety::leader_append_only(&view(old), &view(new)).is_err() {
            self.flags.0 |= Flags::LEADER_LOG_REWRITTEN;
        }
        if same_leadership
            && old
                .match_index
                .0
                .iter()
                .zip(new.match_index.0)
                .any(|(o, n)| n < *o)
        {
            self.flags.0 |= Flags::MATCH_DECREASED;
        }
        if new.commit_index < old.commit_index {
            self.flags.0 |= Flags::COMMIT_DECREASED;
        }
        if let (Some(a), Some(b)) = (old.voted_for, new.voted_for) {
            if a != b && b != me {
                self.flags.0 |= Flags::VOTE_MOVED;
            }
        }
    }
}

/// The model's history as the shared safety properties read it.
impl History for Ghost {
    type Id = ServerId;
    type Entry = Entry;

    fn leaders(&self) -> impl Iterator<Item = (u64, impl Iterator<Item = ServerId>)> {
        self.leaders
            .iter()
            .enumerate()
            .map(|(term, set)| (term as u64, set.iter()))
    }

    fn committed_at(&self, index: u64) -> Option<(&Entry, u64)> {
        let slot = usize::try_from(index).ok()?.checked_sub(1)?;
        let c = self.committed.get(slot)?.as_ref()?;
        Some((&c.entry, c.in_term.into()))
    }

    fn committed(&self) -> impl Iterator<Item = (u64, &Entry, u64)> {
        self.committed.iter().enumerate().filter_map(|(i, c)| {
            c.as_ref()
                .map(|c| (i as u64 + 1, &c.entry, c.in_term.into()))
        })
    }

    fn add_leader(&mut self, term: u64, id: ServerId) {
        self.leaders[term as usize].insert(id);
    }

    fn add_committed(&mut self, index: u64, entry: &Entry, in_term: u64) -> bool {
        // A commit index past the log's capacity is reported by "indices in
        // range"; the history just has no slot for it.
        match self.committed.get_mut(index as usize - 1) {
            Some(slot) => {
                *slot = Some(Committed {
                    entry: *entry,
                    in_term: in_term as Term,
                });
                true
            }
            None => false,
        }
    }
}

impl Ghost {
    /// The same history with every server renamed by `rename` (symmetry).
    pub fn renamed(&self, rename: impl Fn(ServerId) -> ServerId) -> Self {
        let mut leaders = self.leaders;
        for set in &mut leaders {
            *set = set.renamed(&rename);
        }
        Ghost { leaders, ..*self }
    }
}

impl Rewrite<Id> for Ghost {
    fn rewrite<S>(&self, plan: &RewritePlan<Id, S>) -> Self {
        self.renamed(|s| s.rewrite(plan))
    }
}

//! The output of one input, with the persistence order enforced by the types.
//!
//! A [`Ready`] holds three things that must happen in order: durable writes,
//! then messages, then committed entries to apply. Only the writes are visible
//! on a `Ready`; the messages and committed entries come out of
//! [`Ready::persisted`] (or [`Unpersisted::persisted`]), which consumes the
//! value. So a caller cannot send a vote or acknowledge an entry before it has
//! at least claimed the corresponding write is durable: the persistence
//! contract is a type, not a paragraph of documentation.

use crate::types::{Entry, LogIndex, Message, NodeId, Term};
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// One thing the runtime must make durable before the rest of a [`Ready`] is
/// released. Writes are ordered: apply them in sequence (hard state first,
/// so a crash part-way leaves a state the core can restart from).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DurableWrite {
    /// Persist the current term and vote (Figure 2's "persistent state").
    HardState {
        term: Term,
        voted_for: Option<NodeId>,
    },
    /// Remove every entry at `index` and after (a conflicting suffix).
    TruncateFrom { index: LogIndex },
    /// Append these entries; the first one follows the durable log's last.
    Append { entries: Vec<Entry> },
}

/// Everything the core produced for one input. Must be acknowledged.
#[derive(Debug, Default)]
#[must_use = "a Ready's writes must be persisted and then its messages sent"]
pub struct Ready {
    writes: Vec<DurableWrite>,
    after: Output,
}

/// What a `Ready` releases once its writes are durable: messages first, then
/// entries to apply to the state machine, in log order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub messages: Vec<Message>,
    pub committed: Vec<Entry>,
}

/// The second half of a [`Ready`] whose writes were taken by value (to move
/// them into a storage engine without cloning).
#[derive(Debug)]
#[must_use = "call `persisted` once the writes are durable to get the messages"]
pub struct Unpersisted {
    after: Output,
}

impl Ready {
    pub(crate) fn new(
        writes: Vec<DurableWrite>,
        messages: Vec<Message>,
        committed: Vec<Entry>,
    ) -> Self {
        Ready {
            writes,
            after: Output {
                messages,
                committed,
            },
        }
    }

    /// The writes to make durable, in order.
    pub fn durable_writes(&self) -> &[DurableWrite] {
        &self.writes
    }

    /// True if there is nothing to persist, send or apply.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.after.messages.is_empty() && self.after.committed.is_empty()
    }

    /// Acknowledge that every write of [`Ready::durable_writes`] is durable
    /// (e.g. fsynced) and release the messages and committed entries.
    pub fn persisted(self) -> Output {
        self.after
    }

    /// Take the writes by value; the rest is released by
    /// [`Unpersisted::persisted`].
    pub fn into_writes(self) -> (Vec<DurableWrite>, Unpersisted) {
        (self.writes, Unpersisted { after: self.after })
    }

    /// Run `persist` on the writes and release the rest only if it succeeded.
    pub fn persist_with<E>(
        self,
        persist: impl FnOnce(&[DurableWrite]) -> Result<(), E>,
    ) -> Result<Output, E> {
        persist(&self.writes)?;
        Ok(self.after)
    }
}

impl Unpersisted {
    /// Acknowledge that the writes taken by [`Ready::into_writes`] are durable.
    pub fn persisted(self) -> Output {
        self.after
    }
}

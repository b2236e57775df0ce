//! The in-memory copy of the replicated log (1-based, no compaction yet).

use crate::types::{Entry, LogIndex, Term};
use alloc::vec::Vec;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RaftLog {
    entries: Vec<Entry>,
}

impl RaftLog {
    pub(crate) fn from_entries(entries: Vec<Entry>) -> Self {
        RaftLog { entries }
    }

    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub(crate) fn last_index(&self) -> LogIndex {
        self.entries.len() as LogIndex
    }

    pub(crate) fn last_term(&self) -> Term {
        self.entries.last().map_or(0, |e| e.term)
    }

    /// Term of the entry at `index`; 0 for index 0; `None` past the end.
    pub(crate) fn term_at(&self, index: LogIndex) -> Option<Term> {
        if index == 0 {
            return Some(0);
        }
        self.get(index).map(|e| e.term)
    }

    pub(crate) fn get(&self, index: LogIndex) -> Option<&Entry> {
        let i = usize::try_from(index).ok()?.checked_sub(1)?;
        self.entries.get(i)
    }

    /// Entries `from..=to` (both 1-based, inclusive); empty if `from > to`.
    pub(crate) fn slice(&self, from: LogIndex, to: LogIndex) -> &[Entry] {
        if from > to || from == 0 {
            return &[];
        }
        &self.entries[(from - 1) as usize..to as usize]
    }

    pub(crate) fn push(&mut self, entry: Entry) {
        debug_assert_eq!(entry.index, self.last_index() + 1);
        self.entries.push(entry);
    }

    /// Drop `index` and everything after it.
    pub(crate) fn truncate_from(&mut self, index: LogIndex) {
        self.entries.truncate(index.saturating_sub(1) as usize);
    }

    /// §5.4.1: is a log ending at (`last_index`, `last_term`) at least as up to
    /// date as ours?
    pub(crate) fn is_up_to_date(&self, last_index: LogIndex, last_term: Term) -> bool {
        last_term > self.last_term()
            || (last_term == self.last_term() && last_index >= self.last_index())
    }
}

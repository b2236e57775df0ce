//! The model's small vocabulary: terms, indices, values, entries and the log.
//!
//! Everything is a `u8` and the log is a fixed-capacity array: model states are
//! cloned and hashed millions of times per second, so no heap where an array
//! serves.

use serde::{Deserialize, Serialize};
use stateright::actor::Id;
use stateright::{Rewrite, RewritePlan};

/// A Raft term. Term 0 is "before any election".
pub type Term = u8;
/// A 1-based log index. Index 0 is the empty prefix.
pub type Index = u8;

/// Most servers a model may have (per-peer arrays are this long).
pub const MAX_SERVERS: usize = 5;
/// Most entries a log can physically hold: `max_log_len` plus one no-op that a
/// new leader may append beyond the bound (such states are then pruned).
pub const LOG_CAPACITY: usize = 7;
/// Largest `max_term` a config may ask for (ghost history keeps one slot per term).
pub const MAX_TERM_BOUND: Term = 7;
/// Largest `max_in_flight` a config may ask for (a flat state holds the
/// network in a fixed array; no bound this large is explorable anyway).
pub const MAX_IN_FLIGHT_BOUND: u8 = 12;

/// Largest value index arithmetic may produce: a nextIndex one past a full
/// log. Anything above it (or below 0) is out of range.
pub const INDEX_BOUND: Index = LOG_CAPACITY as Index + 1;

/// The result of index or term arithmetic, checked in every build profile:
/// the checker runs a release build, where plain `u8` arithmetic wraps
/// silently (an index below 0 would become 255). Out of range, `value` is
/// clamped into the range and `in_range` is false; the handler records that
/// on the server ([`ServerState::out_of_range`](crate::server::ServerState))
/// so the "indices in range" property reports the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "an out-of-range result must be recorded on the server"]
pub struct Checked {
    pub value: u8,
    pub in_range: bool,
}

impl Checked {
    /// `value` if it is at most `high`; `overflow` when the operation itself
    /// overflowed `u8` (`None`).
    fn within(value: Option<u8>, overflow: u8, high: u8) -> Checked {
        match value {
            Some(v) if v <= high => Checked {
                value: v,
                in_range: true,
            },
            Some(_) => Checked {
                value: high,
                in_range: false,
            },
            None => Checked {
                value: overflow,
                in_range: false,
            },
        }
    }
}

/// `index + n`, at most [`INDEX_BOUND`].
pub fn index_plus(index: Index, n: u8) -> Checked {
    Checked::within(index.checked_add(n), INDEX_BOUND, INDEX_BOUND)
}

/// `index - n`, at least 0 (the empty prefix).
pub fn index_minus(index: Index, n: u8) -> Checked {
    Checked::within(index.checked_sub(n), 0, INDEX_BOUND)
}

/// `term + 1`, at most [`MAX_TERM_BOUND`].
pub fn next_term(term: Term) -> Checked {
    Checked::within(term.checked_add(1), MAX_TERM_BOUND, MAX_TERM_BOUND)
}

/// A client value, or the no-op a new leader appends (§8 of the Raft paper).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Value(pub u8);

impl Value {
    /// The no-op entry a leader appends when it takes office.
    pub const NOOP: Value = Value(0);

    pub fn is_noop(self) -> bool {
        self == Value::NOOP
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_noop() {
            write!(f, "noop")
        } else {
            write!(f, "v{}", self.0)
        }
    }
}

/// One log entry: the term it was created in and its value.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Entry {
    pub term: Term,
    pub value: Value,
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.term, self.value)
    }
}

/// A server's log, or the entries carried by one AppendEntries.
///
/// Invariant: slots at and beyond `len` hold `Entry::default()`, so the derived
/// `Eq`, `Hash` and `Ord` see only the live entries.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Log {
    len: u8,
    entries: [Entry; LOG_CAPACITY],
}

impl Log {
    pub fn from_entries(entries: &[Entry]) -> Self {
        let mut log = Log::default();
        for e in entries {
            log.push(*e);
        }
        log
    }

    pub fn len(&self) -> Index {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn last_index(&self) -> Index {
        self.len
    }

    pub fn last_term(&self) -> Term {
        self.term_at(self.len)
    }

    /// The entry at a 1-based index, if present.
    pub fn get(&self, index: Index) -> Option<Entry> {
        (index >= 1 && index <= self.len).then(|| self.entries[index as usize - 1])
    }

    /// The term at an index; 0 for index 0 (and for a missing index).
    pub fn term_at(&self, index: Index) -> Term {
        self.get(index).map_or(0, |e| e.term)
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries[..self.len as usize]
    }

    /// Appends an entry. Panics past `LOG_CAPACITY`: configs are validated so
    /// that the model can never get there.
    pub fn push(&mut self, entry: Entry) {
        assert!(
            (self.len as usize) < LOG_CAPACITY,
            "log capacity {LOG_CAPACITY} exceeded: config validation must prevent this"
        );
        self.entries[self.len as usize] = entry;
        self.len += 1;
    }

    /// Keeps the first `len` entries.
    pub fn truncate(&mut self, len: Index) {
        while self.len > len {
            self.len -= 1;
            self.entries[self.len as usize] = Entry::default();
        }
    }

    /// At most `max` entries from a 1-based index on.
    pub fn slice_from(&self, index: Index, max: u8) -> Log {
        let start = index.max(1) as usize - 1;
        let entries = self.entries().get(start..).unwrap_or(&[]);
        Log::from_entries(&entries[..entries.len().min(max as usize)])
    }

    /// Whether `self` is a prefix of `other`.
    pub fn is_prefix_of(&self, other: &Log) -> bool {
        self.len <= other.len && self.entries() == &other.entries()[..self.len as usize]
    }
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

impl std::fmt::Display for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[")?;
        for (i, e) in self.entries().iter().enumerate() {
            if i > 0 {
                write!(f, " ")?;
            }
            write!(f, "{e}")?;
        }
        write!(f, "]")
    }
}

impl Serialize for Log {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.entries().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Log {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entries = Vec::<Entry>::deserialize(d)?;
        if entries.len() > LOG_CAPACITY {
            return Err(serde::de::Error::custom(format!(
                "a log holds at most {LOG_CAPACITY} entries, found {}",
                entries.len()
            )));
        }
        Ok(Log::from_entries(&entries))
    }
}

impl<R> Rewrite<R> for Log {
    fn rewrite<S>(&self, _: &RewritePlan<R, S>) -> Self {
        *self
    }
}

/// A server's index in the model (stateright's `Id`, kept as a byte).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct ServerId(pub u8);

impl From<Id> for ServerId {
    fn from(id: Id) -> Self {
        ServerId(usize::from(id) as u8)
    }
}

impl From<ServerId> for Id {
    fn from(s: ServerId) -> Self {
        Id::from(s.0 as usize)
    }
}

impl std::fmt::Display for ServerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s{}", self.0)
    }
}

impl Rewrite<Id> for ServerId {
    fn rewrite<S>(&self, plan: &RewritePlan<Id, S>) -> Self {
        plan.rewrite(&Id::from(*self)).into()
    }
}

/// A set of servers as a bitmask (granted votes, leaders of a term).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct ServerSet(pub u8);

impl ServerSet {
    pub fn insert(&mut self, s: ServerId) {
        self.0 |= 1 << s.0;
    }

    pub fn remove(&mut self, s: ServerId) {
        self.0 &= !(1 << s.0);
    }

    pub fn contains(self, s: ServerId) -> bool {
        self.0 & (1 << s.0) != 0
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Members in ascending order (one step per member: the safety
    /// properties walk leader sets in every state).
    pub fn iter(self) -> impl Iterator<Item = ServerId> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            let i = bits.trailing_zeros();
            (bits != 0).then(|| {
                bits &= bits - 1;
                ServerId(i as u8)
            })
        })
    }
}

impl ServerSet {
    /// The same set with every server renamed by `rename` (symmetry).
    pub fn renamed(self, rename: impl Fn(ServerId) -> ServerId) -> Self {
        let mut out = ServerSet::default();
        for s in self.iter() {
            out.insert(rename(s));
        }
        out
    }
}

impl Rewrite<Id> for ServerSet {
    fn rewrite<S>(&self, plan: &RewritePlan<Id, S>) -> Self {
        self.renamed(|s| s.rewrite(plan))
    }
}

/// A per-peer value (a leader's next or match index), indexed by server id.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct PeerMap(pub [Index; MAX_SERVERS]);

impl PeerMap {
    pub fn get(&self, s: ServerId) -> Index {
        self.0[s.0 as usize]
    }

    pub fn set(&mut self, s: ServerId, v: Index) {
        self.0[s.0 as usize] = v;
    }
}

impl PeerMap {
    /// The same map with every server renamed by `rename` (symmetry).
    pub fn renamed(&self, rename: impl Fn(ServerId) -> ServerId) -> Self {
        let mut out = PeerMap::default();
        // Only servers that exist can be renamed; slots of absent servers
        // (and zero slots) stay zero, so only non-zero slots are moved.
        for (i, v) in self.0.iter().enumerate().filter(|(_, v)| **v != 0) {
            out.0[rename(ServerId(i as u8)).0 as usize] = *v;
        }
        out
    }
}

impl Rewrite<Id> for PeerMap {
    fn rewrite<S>(&self, plan: &RewritePlan<Id, S>) -> Self {
        self.renamed(|s| s.rewrite(plan))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_arithmetic_clamps_and_flags_instead_of_wrapping() {
        let ok = |value| Checked {
            value,
            in_range: true,
        };
        let out = |value| Checked {
            value,
            in_range: false,
        };
        assert_eq!(index_minus(1, 1), ok(0));
        // Plain u8 arithmetic in a release build would give 255 here.
        assert_eq!(index_minus(0, 1), out(0));
        assert_eq!(index_plus(7, 1), ok(INDEX_BOUND));
        assert_eq!(index_plus(INDEX_BOUND, 1), out(INDEX_BOUND));
        assert_eq!(index_plus(250, 10), out(INDEX_BOUND));
        assert_eq!(next_term(MAX_TERM_BOUND - 1), ok(MAX_TERM_BOUND));
        assert_eq!(next_term(MAX_TERM_BOUND), out(MAX_TERM_BOUND));
        assert_eq!(next_term(u8::MAX), out(MAX_TERM_BOUND));
    }

    #[test]
    fn log_truncate_keeps_invariant_for_equality() {
        let e = |t, v| Entry {
            term: t,
            value: Value(v),
        };
        let mut a = Log::from_entries(&[e(1, 0), e(1, 1), e(2, 0)]);
        a.truncate(1);
        assert_eq!(a, Log::from_entries(&[e(1, 0)]));
        assert_eq!(a.term_at(0), 0);
        assert_eq!(a.term_at(1), 1);
        assert_eq!(a.term_at(2), 0);
        let b = Log::from_entries(&[e(1, 0), e(1, 1)]);
        assert!(a.is_prefix_of(&b));
        assert!(!b.is_prefix_of(&a));
        assert_eq!(b.slice_from(2, 9), Log::from_entries(&[e(1, 1)]));
        assert_eq!(b.slice_from(1, 1), Log::from_entries(&[e(1, 0)]));
        assert_eq!(b.slice_from(3, 9), Log::default());
    }
}

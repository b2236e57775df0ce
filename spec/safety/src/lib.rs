//! Raft's safety properties (the paper's Figure 3, plus indices in range),
//! written once for the model and the simulator.
//!
//! Each property is a function over two small views: [`ServerView`] (one
//! server's term, role, log, commit index and a leader's progress) and
//! [`History`] (who led each term, and the first entry committed at each
//! index: what the properties about the past need). The model implements
//! them for its server states and ghost history (`raft_spec::properties`
//! checks every state with them); `raft-sim` implements them for its nodes
//! and checks every step with them. Properties are per server (or per pair
//! of servers) so a checker can apply them to just the servers a step
//! changed; the model's cluster-wide forms apply them to all.
//!
//! They are a crate of their own, with no dependency but `thiserror`, so
//! the simulator can check them without depending on the model (and the
//! model checker under it): `raft-spec` and `raft-sim` both depend on this
//! crate, and on nothing of each other.

use std::collections::BTreeMap;
use std::fmt::{Debug, Display};

use thiserror::Error;

/// One server as the safety properties read it. Indices are 1-based.
pub trait ServerView {
    type Id: Copy + Eq + Debug + Display;
    type Entry: PartialEq;

    fn id(&self) -> Self::Id;
    fn term(&self) -> u64;
    fn is_leader(&self) -> bool;
    fn commit_index(&self) -> u64;
    fn log(&self) -> &[Self::Entry];
    fn entry_term(entry: &Self::Entry) -> u64;
    /// A leader's `(peer, nextIndex, matchIndex)` for every peer; nothing
    /// for a follower or candidate.
    fn progress(&self) -> impl Iterator<Item = (Self::Id, u64, u64)>;
    /// Index or term arithmetic of this server left its range (the model
    /// clamps it and flags it; an implementation would have wrapped).
    fn arithmetic_out_of_range(&self) -> bool {
        false
    }
}

/// What the properties about the past remember across steps.
pub trait History {
    type Id: Copy + Eq;
    type Entry;

    /// Every term that had a leader, with its leaders ever.
    fn leaders(&self) -> impl Iterator<Item = (u64, impl Iterator<Item = Self::Id>)>;
    /// The first entry committed at `index`, with the term of the server
    /// that committed it.
    fn committed_at(&self, index: u64) -> Option<(&Self::Entry, u64)>;
    /// Every `(index, entry, committed in term)` of [`committed_at`](Self::committed_at).
    fn committed(&self) -> impl Iterator<Item = (u64, &Self::Entry, u64)>;

    fn add_leader(&mut self, term: u64, id: Self::Id);
    /// Records `entry` as first committed at `index` (which has none yet).
    /// `false` if the history has no room for `index`.
    fn add_committed(&mut self, index: u64, entry: &Self::Entry, in_term: u64) -> bool;
}

/// A broken safety property, naming the servers, terms and indices involved.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum Breach<Id: Debug + Display> {
    #[error("Election Safety: term {term} has two leaders, nodes {first} and {second}")]
    ElectionSafety { term: u64, first: Id, second: Id },
    #[error("Leader Append-Only: leader {node} of term {term} changed or removed entry {index}")]
    LeaderAppendOnly { node: Id, term: u64, index: u64 },
    #[error(
        "Log Matching: nodes {a} and {b} both hold entry {index}@{term} but their logs differ at or before it"
    )]
    LogMatching { a: Id, b: Id, index: u64, term: u64 },
    #[error(
        "Leader Completeness: leader {node} of term {term} lacks entry {index}@{entry_term} committed in term {committed_in}"
    )]
    LeaderCompleteness {
        node: Id,
        term: u64,
        index: u64,
        entry_term: u64,
        committed_in: u64,
    },
    #[error(
        "State Machine Safety: node {node} has committed index {index} with an entry of term {has:?}, but the entry committed there first has term {first:?}"
    )]
    StateMachineSafety {
        node: Id,
        index: u64,
        has: Option<u64>,
        first: Option<u64>,
    },
    #[error("indices in range: node {node} {detail}")]
    IndexOutOfRange { node: Id, detail: String },
}

/// Records what `s` adds to the history: itself as a leader of its term,
/// and, for each index from `from` to its commit index that has no
/// committed entry yet, its entry there (committed in its term).
pub fn record<S, H>(h: &mut H, s: &S, from: u64)
where
    S: ServerView,
    H: History<Id = S::Id, Entry = S::Entry>,
{
    if s.is_leader() {
        h.add_leader(s.term(), s.id());
    }
    for index in from.max(1)..=s.commit_index() {
        if h.committed_at(index).is_none() {
            if let Some(entry) = s.log().get(index as usize - 1) {
                if !h.add_committed(index, entry, s.term()) {
                    break;
                }
            }
        }
    }
}

/// At most one leader can be elected in a given term, ever (§5.2).
pub fn election_safety<H: History>(h: &H) -> Result<(), Breach<H::Id>>
where
    H::Id: Debug + Display,
{
    for (term, mut leaders) in h.leaders() {
        if let (Some(first), Some(second)) = (leaders.next(), leaders.next()) {
            return Err(Breach::ElectionSafety {
                term,
                first,
                second,
            });
        }
    }
    Ok(())
}

/// A leader never overwrites or deletes entries in its log; it only
/// appends (§5.3): a step from `old` to `new` that keeps it leader of the
/// same term keeps `old`'s log as a prefix.
pub fn leader_append_only<A, B>(old: &A, new: &B) -> Result<(), Breach<A::Id>>
where
    A: ServerView,
    B: ServerView<Id = A::Id, Entry = A::Entry>,
{
    if !(old.is_leader() && new.is_leader() && old.term() == new.term()) {
        return Ok(());
    }
    let (before, after) = (old.log(), new.log());
    let changed = before.iter().zip(after).position(|(a, b)| a != b);
    let index = match changed {
        Some(i) => i + 1,
        None if after.len() < before.len() => after.len() + 1,
        None => return Ok(()),
    };
    Err(Breach::LeaderAppendOnly {
        node: new.id(),
        term: new.term(),
        index: index as u64,
    })
}

/// If two logs contain an entry with the same index and term, the logs are
/// identical in all entries up through that index (§5.3).
pub fn log_matching<S: ServerView>(a: &S, b: &S) -> Result<(), Breach<S::Id>> {
    let (x, y) = (a.log(), b.log());
    let shared = x.len().min(y.len());
    // The last index where the terms agree decides the whole prefix.
    let agree = (1..=shared)
        .rev()
        .find(|&n| S::entry_term(&x[n - 1]) == S::entry_term(&y[n - 1]));
    match agree {
        Some(n) if x[..n] != y[..n] => Err(Breach::LogMatching {
            a: a.id(),
            b: b.id(),
            index: n as u64,
            term: S::entry_term(&x[n - 1]),
        }),
        _ => Ok(()),
    }
}

/// Every `(index, term)` ever seen in any log, with its entry, its
/// predecessor's term and the server first seen holding it: Log Matching
/// over history, not just the logs of now. Only the leader of a term
/// creates entries of that term, each index once, so by induction on the
/// index Log Matching holds iff every log agrees with this record; unlike
/// [`log_matching`], a log is also held to entries no current log holds
/// any more (truncated away, or on a server that restarted without them).
#[derive(Clone, Debug)]
pub struct EntriesSeen<Id, E> {
    seen: BTreeMap<(u64, u64), SeenEntry<Id, E>>,
}

#[derive(Clone, Debug)]
struct SeenEntry<Id, E> {
    entry: E,
    prev_term: u64,
    holder: Id,
}

impl<Id, E> Default for EntriesSeen<Id, E> {
    fn default() -> Self {
        EntriesSeen {
            seen: BTreeMap::new(),
        }
    }
}

impl<Id: Copy + Eq + Debug + Display, E: Clone + PartialEq> EntriesSeen<Id, E> {
    /// Holds `s`'s log to every entry seen before at the same index and
    /// term (entry and predecessor's term), then records its new ones.
    pub fn log_matching<S>(&mut self, s: &S) -> Result<(), Breach<Id>>
    where
        S: ServerView<Id = Id, Entry = E>,
    {
        let mut prev_term = 0;
        for (i, entry) in s.log().iter().enumerate() {
            let (index, term) = (i as u64 + 1, S::entry_term(entry));
            match self.seen.get(&(index, term)) {
                Some(known) if known.entry != *entry || known.prev_term != prev_term => {
                    return Err(Breach::LogMatching {
                        a: known.holder,
                        b: s.id(),
                        index,
                        term,
                    });
                }
                Some(_) => {}
                None => {
                    let seen = SeenEntry {
                        entry: entry.clone(),
                        prev_term,
                        holder: s.id(),
                    };
                    self.seen.insert((index, term), seen);
                }
            }
            prev_term = term;
        }
        Ok(())
    }
}

/// If an entry is committed in a term, it is in the log of every leader of
/// a later term (§5.4). Holds trivially for a server that is not leader.
/// The model checks this, the paper's form.
pub fn leader_completeness<S, H>(s: &S, h: &H) -> Result<(), Breach<S::Id>>
where
    S: ServerView,
    H: History<Entry = S::Entry>,
{
    completeness(s, h, |in_term, term| in_term < term)
}

/// [`leader_completeness`], and an entry committed in a leader's own term
/// is in its log too: only that leader creates entries of its term, a
/// server commits in term T only entries the leader of T sent it, and a
/// leader never removes an entry. The simulator checks this stronger form;
/// the model keeps the paper's (its state counts do not depend on it).
pub fn leader_completeness_through_own_term<S, H>(s: &S, h: &H) -> Result<(), Breach<S::Id>>
where
    S: ServerView,
    H: History<Entry = S::Entry>,
{
    completeness(s, h, |in_term, term| in_term <= term)
}

/// Leader Completeness over the committed entries whose commit term
/// `binds` the leader's term.
fn completeness<S, H>(s: &S, h: &H, binds: impl Fn(u64, u64) -> bool) -> Result<(), Breach<S::Id>>
where
    S: ServerView,
    H: History<Entry = S::Entry>,
{
    if !s.is_leader() {
        return Ok(());
    }
    for (index, entry, in_term) in h.committed() {
        if binds(in_term, s.term()) && s.log().get(index as usize - 1) != Some(entry) {
            return Err(Breach::LeaderCompleteness {
                node: s.id(),
                term: s.term(),
                index,
                entry_term: S::entry_term(entry),
                committed_in: in_term,
            });
        }
    }
    Ok(())
}

/// No two servers ever apply different entries at the same index (§5.4.3):
/// every entry up to a server's commit index is the one committed there
/// first.
pub fn state_machine_safety<S, H>(s: &S, h: &H) -> Result<(), Breach<S::Id>>
where
    S: ServerView,
    H: History<Entry = S::Entry>,
{
    for index in 1..=s.commit_index() {
        let has = s.log().get(index as usize - 1);
        let first = h.committed_at(index).map(|(e, _)| e);
        // A commit index past the log is "indices in range"'s to report.
        if has != first {
            return Err(Breach::StateMachineSafety {
                node: s.id(),
                index,
                has: has.map(S::entry_term),
                first: first.map(S::entry_term),
            });
        }
    }
    Ok(())
}

/// Every index a server keeps is in its range, and no index or term
/// arithmetic of it left its range: commitIndex <= lastIndex, and a leader
/// has, for every peer, 1 <= nextIndex <= lastIndex + 1 and matchIndex <
/// nextIndex (so matchIndex <= lastIndex). An index out of this range is a
/// bug even before any other property notices: the AppendEntries it leads
/// to claims a prefix that does not exist.
pub fn indices_in_range<S: ServerView>(s: &S) -> Result<(), Breach<S::Id>> {
    let breach = |detail: String| Breach::IndexOutOfRange {
        node: s.id(),
        detail,
    };
    if s.arithmetic_out_of_range() {
        return Err(breach("computed an index or term out of range".into()));
    }
    let last = s.log().len() as u64;
    if s.commit_index() > last {
        return Err(breach(format!(
            "has commit index {} beyond last log index {last}",
            s.commit_index()
        )));
    }
    for (peer, next, matched) in s.progress() {
        let why = if next == 0 {
            "nextIndex 0 is below 1"
        } else if next > last + 1 {
            "nextIndex is past lastIndex + 1"
        } else if matched >= next {
            "matchIndex is not below nextIndex"
        } else {
            continue;
        };
        return Err(breach(format!(
            "has nextIndex {next} and matchIndex {matched} for peer {peer} with lastIndex {last}: {why}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;

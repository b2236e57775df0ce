//! One worker's share of a search whose states are partitioned across
//! workers by fingerprint (the distributed explorer's): the owner of a
//! fingerprint records and checks the state, and whoever holds a state
//! expands it into canonical encodings to send to their owners.
//!
//! Built on the engine's own [`Search`]: the same visited set, symmetry,
//! codec, property checks and rule coverage, driven from outside, one level
//! at a time.

use std::collections::BTreeMap;
use std::hash::Hash;
use std::sync::atomic::Ordering;

use stateright::{Expectation, Model, Property};

use crate::fingerprint::{fingerprint_bytes, NO_PARENT};
use crate::search::{Batch, Search, Stored, Visit};
use crate::{
    Codec, Discovery, Fingerprint, Options, Progress, RuleCounts, StepInPlace, StopWhen, Symmetry,
};

/// What recording a state found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Already visited.
    Seen,
    /// New and within the boundary: to be expanded.
    New,
    /// New and beyond the boundary: checked only.
    Boundary,
}

/// A share's figures so far.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub unique: u64,
    pub boundary: u64,
    pub transitions: u64,
    /// Each property's first discovery in this share (the least depth).
    pub discoveries: BTreeMap<&'static str, Discovery>,
    pub rules: Option<RuleCounts>,
}

/// One worker's share of a partitioned search.
pub struct Share<'a, M: Model> {
    search: Search<'a, M>,
    codec: &'a Codec<M::State>,
}

impl<'a, M> Share<'a, M>
where
    M: StepInPlace,
    M::State: Hash + Clone,
{
    pub fn new(
        model: &'a M,
        properties: &'a [Property<M>],
        symmetry: Symmetry<M::State>,
        codec: &'a Codec<M::State>,
        progress: &'a Progress,
    ) -> Self {
        let options = Options {
            threads: 1,
            symmetry,
            // Stopping is the caller's: it sees every share's discoveries.
            stop_when: StopWhen::Exhausted,
            timeout: None,
            memory_budget: None,
        };
        let start = std::time::Instant::now();
        let search = Search::new(model, &options, properties, Some(codec), start, progress);
        Share { search, codec }
    }

    /// The initial states, canonical and encoded, with their fingerprints
    /// (each with [`NO_PARENT`] as its parent when recorded).
    pub fn initial(&self) -> Vec<(Fingerprint, Vec<u8>)> {
        let mut out = Vec::new();
        for init in self.search.model.init_states() {
            let mut bytes = Vec::new();
            (self.codec.encode)(&self.search.canonical(&init), &mut bytes);
            out.push((fingerprint_bytes(&bytes), bytes));
        }
        out
    }

    /// The parent an initial state is recorded with.
    pub const NO_PARENT: Fingerprint = NO_PARENT;

    /// Records the state `encoding` (canonical, with fingerprint `fp`, this
    /// share's to own) reached at `depth` from `parent`; a new state is
    /// checked against every property not yet discovered.
    pub fn record(
        &self,
        fp: Fingerprint,
        parent: Fingerprint,
        encoding: &[u8],
        depth: usize,
    ) -> Recorded {
        // Insert only if absent: the first parent found is on a shortest path.
        if !self.search.visited.insert_new(fp, parent) {
            return Recorded::Seen;
        }
        self.search.progress.unique.fetch_add(1, Ordering::Relaxed);
        let state = (self.codec.decode)(encoding);
        self.search.check_properties(&state, fp, depth);
        if self.search.model.within_boundary(&state) {
            Recorded::New
        } else {
            self.search.boundary.fetch_add(1, Ordering::Relaxed);
            Recorded::Boundary
        }
    }

    /// Expands `states` (encoded, as recorded), handing each distinct
    /// successor of each to `emit` as (fingerprint, parent, canonical
    /// encoding); counts the transitions and rules as reaching `depth`.
    pub fn expand(
        &self,
        states: Vec<(Fingerprint, Box<[u8]>)>,
        depth: usize,
        mut emit: impl FnMut(Fingerprint, Fingerprint, &[u8]),
    ) {
        let states: Vec<(Fingerprint, Stored<M::State>)> = states
            .into_iter()
            .map(|(fp, bytes)| (fp, Stored::Bytes(bytes)))
            .collect();
        self.search.expand_into(
            &states,
            depth,
            |_, k, batch: &mut Batch<M::State>, parent, _, _| {
                let (fp, ref range) = batch.reached[k];
                emit(fp, parent, &batch.bytes[range.clone()]);
                // Counted by its owner, when recorded.
                Visit::Seen
            },
        );
    }

    /// Bit i: property i has been discovered here, or was marked found.
    pub fn found(&self) -> u64 {
        self.search.found.load(Ordering::Relaxed)
    }

    /// Whether any safety ("always") property among `found` bits failed.
    pub fn any_violation(&self, found: u64) -> bool {
        self.search
            .properties
            .iter()
            .enumerate()
            .any(|(i, p)| found & (1 << i) != 0 && p.expectation == Expectation::Always)
    }

    /// Skips evaluating the properties in `found` from now on: another
    /// share discovered them at a depth no greater than this share's next.
    pub fn mark_found(&self, found: u64) {
        self.search.found.fetch_or(found, Ordering::Relaxed);
    }

    /// The parent `fp` was first reached from, if this share owns it.
    pub fn parent(&self, fp: Fingerprint) -> Option<Fingerprint> {
        self.search.visited.parent(fp)
    }

    pub fn tally(&self) -> Tally {
        let rule_count = self.search.model.rule_count();
        Tally {
            unique: self.search.visited.len() as u64,
            boundary: self.search.boundary.load(Ordering::Relaxed),
            transitions: self.search.progress.transitions.load(Ordering::Relaxed),
            discoveries: self
                .search
                .discoveries
                .lock()
                .expect("discoveries lock")
                .clone(),
            rules: (rule_count > 0).then(|| self.search.rules.counts(rule_count)),
        }
    }
}

impl Tally {
    /// Adds another share's figures: counts summed, each property's
    /// discovery at the least depth, each rule's first depth the least.
    pub fn merge(&mut self, other: Tally) {
        self.unique += other.unique;
        self.boundary += other.boundary;
        self.transitions += other.transitions;
        for (name, d) in other.discoveries {
            match self.discoveries.get(name) {
                Some(mine) if mine.depth <= d.depth => {}
                _ => {
                    self.discoveries.insert(name, d);
                }
            }
        }
        self.rules = match (self.rules.take(), other.rules) {
            (Some(mut a), Some(b)) => {
                for (x, y) in a.transitions.iter_mut().zip(b.transitions) {
                    *x += y;
                }
                for (x, y) in a.first_depth.iter_mut().zip(b.first_depth) {
                    *x = match (*x, y) {
                        (Some(x), Some(y)) => Some(x.min(y)),
                        (x, y) => x.or(y),
                    };
                }
                Some(a)
            }
            (a, b) => a.or(b),
        };
    }
}

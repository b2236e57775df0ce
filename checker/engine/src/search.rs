//! One exploration's shared state, and how a chunk of the frontier is
//! expanded: successors fingerprinted, looked up, checked and queued.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use stateright::{Expectation, Model};

use crate::coverage;
use crate::fingerprint::{fingerprint, fingerprint_bytes, Fingerprint};
use crate::limits::{Limits, StopReason};
use crate::visited::Visited;
use crate::{Codec, Discovery, Progress, StepInPlace, StopWhen, Symmetry};

/// A state's fingerprint: of its encoding when there is a codec (`buf` is
/// left holding the encoding), else of its `Hash`.
pub(crate) fn fingerprint_with<S: Hash>(
    s: &S,
    codec: Option<&Codec<S>>,
    buf: &mut Vec<u8>,
) -> Fingerprint {
    match codec {
        Some(codec) => {
            buf.clear();
            (codec.encode)(s, buf);
            fingerprint_bytes(buf)
        }
        None => fingerprint(s),
    }
}

/// What a reached state turned out to be.
#[derive(PartialEq, Eq)]
pub(crate) enum Visit {
    Seen,
    /// New and within the boundary: queued for expansion.
    New,
    /// New and beyond the boundary: checked only.
    Boundary,
}

/// One state's successors, fingerprinted, waiting to be looked up. Kept
/// small per successor: a batch entry is written for every transition.
pub(crate) struct Batch<S> {
    /// Each successor's fingerprint, and where its encoding is in `bytes`.
    pub(crate) reached: Vec<(Fingerprint, std::ops::Range<usize>)>,
    /// The successors' encodings, end to end, when there is a codec.
    pub(crate) bytes: Vec<u8>,
    /// The successors' canonical forms (one per entry of `reached`), to
    /// queue, when there is no codec.
    canonical: Vec<Option<S>>,
}

impl<S> Batch<S> {
    pub(crate) fn new() -> Self {
        Batch {
            reached: Vec::new(),
            bytes: Vec::new(),
            canonical: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.reached.clear();
        self.bytes.clear();
        self.canonical.clear();
    }
}

/// A frontier state, as it is or encoded.
pub(crate) enum Stored<S> {
    /// Boxed, so a frontier entry stays small whatever the state's size.
    State(Box<S>),
    Bytes(Box<[u8]>),
}

/// Shared state of one exploration.
pub(crate) struct Search<'a, M: Model> {
    pub(crate) model: &'a M,
    pub(crate) properties: &'a [stateright::Property<M>],
    /// Bit i: discovering property i ends the search mid-level.
    pub(crate) stop_at_once: u64,
    /// Set when such a property is discovered, or a limit is reached:
    /// threads take no more work.
    pub(crate) stopping: AtomicBool,
    /// The timeout and memory budget, and why `stopping` was set.
    pub(crate) limits: Limits,
    pub(crate) symmetry: Symmetry<M::State>,
    pub(crate) codec: Option<&'a Codec<M::State>>,
    pub(crate) visited: Visited,
    /// Bit i: property i has been discovered (so it is not evaluated again).
    pub(crate) found: AtomicU64,
    pub(crate) discoveries: Mutex<BTreeMap<&'static str, Discovery>>,
    pub(crate) boundary: AtomicU64,
    pub(crate) rules: coverage::SharedCounts,
    pub(crate) progress: &'a Progress,
    /// The disk-backed search's visited set is a bounded cache: its memory
    /// is what it holds, not what the states reached would need.
    pub(crate) visited_is_cache: bool,
}

impl<'a, M: Model> Search<'a, M> {
    pub(crate) fn new(
        model: &'a M,
        opts: &crate::Options<M>,
        properties: &'a [stateright::Property<M>],
        codec: Option<&'a Codec<M::State>>,
        start: std::time::Instant,
        progress: &'a Progress,
    ) -> Self {
        assert!(properties.len() <= 64, "at most 64 properties");
        let stop_at_once = opts
            .stop_when
            .immediate()
            .and_then(|name| properties.iter().position(|p| p.name == name))
            .map_or(0, |i| 1 << i);
        Search {
            model,
            properties,
            stop_at_once,
            stopping: AtomicBool::new(false),
            limits: Limits::new(opts.timeout.map(|t| start + t), opts.memory_budget),
            symmetry: opts.symmetry,
            codec,
            visited: Visited::default(),
            found: AtomicU64::new(0),
            discoveries: Mutex::new(BTreeMap::new()),
            boundary: AtomicU64::new(0),
            rules: coverage::SharedCounts::new(),
            progress,
            visited_is_cache: false,
        }
    }
}

impl<M> Search<'_, M>
where
    M: StepInPlace,
    M::State: Hash + Clone,
{
    pub(crate) fn canonical<'s>(&self, s: &'s M::State) -> Cow<'s, M::State> {
        match self.symmetry.and_then(|f| f(s)) {
            Some(representative) => Cow::Owned(representative),
            None => Cow::Borrowed(s),
        }
    }

    /// Expands one chunk of the frontier, adding the new states to `out`.
    ///
    /// A state's successors are fingerprinted first, with their visited
    /// slots prefetched, and only then looked up: the lookups, which miss
    /// the cache, then wait for memory together rather than in turn.
    pub(crate) fn expand(
        &self,
        states: &[(Fingerprint, Stored<M::State>)],
        depth: usize,
        out: &mut Vec<(Fingerprint, Stored<M::State>)>,
    ) {
        self.expand_into(states, depth, |search, k, batch, parent, state, depth| {
            search.record(k, batch, parent, state, depth, out)
        });
    }

    /// [`expand`](Self::expand), each successor not already in this
    /// state's batch handed to `record` (which looks it up and keeps it).
    pub(crate) fn expand_into(
        &self,
        states: &[(Fingerprint, Stored<M::State>)],
        depth: usize,
        mut record: impl FnMut(
            &Self,
            usize,
            &mut Batch<M::State>,
            Fingerprint,
            &M::State,
            usize,
        ) -> Visit,
    ) {
        let mut actions = Vec::new();
        let mut batch = Batch::new();
        // Slots for one state's successors, reused: `used` hold successors.
        let mut successors: Vec<M::State> = Vec::new();
        let (mut taken, mut new, mut boundary) = (0, 0, 0);
        let mut rules = coverage::LocalCounts::new();
        for (parent, stored) in states {
            let decoded;
            let state = match (stored, self.codec) {
                (Stored::State(s), _) => s,
                (Stored::Bytes(b), Some(codec)) => {
                    decoded = (codec.decode)(b);
                    &decoded
                }
                (Stored::Bytes(_), None) => unreachable!("bytes are stored only with a codec"),
            };
            self.model.actions(state, &mut actions);
            let mut used = 0;
            for action in actions.drain(..) {
                if used == successors.len() {
                    successors.push(state.clone());
                }
                let mut fired = 0;
                if self
                    .model
                    .next_state_covered(state, action, &mut successors[used], &mut fired)
                {
                    taken += 1;
                    rules.add(fired);
                    self.reach(&successors[used], &mut batch);
                    used += 1;
                }
            }
            for (k, state) in successors[..used].iter().enumerate() {
                // Two actions often reach one state (a message dropped, or
                // delivered and ignored): look it up once.
                let fp = batch.reached[k].0;
                if batch.reached[..k].iter().any(|r| r.0 == fp) {
                    continue;
                }
                match record(self, k, &mut batch, *parent, state, depth) {
                    Visit::Seen => {}
                    Visit::New => new += 1,
                    Visit::Boundary => {
                        new += 1;
                        boundary += 1;
                    }
                }
            }
            batch.clear();
        }
        // Shared counters once per chunk: threads updating them per state
        // would pass their cache line back and forth.
        self.progress
            .transitions
            .fetch_add(taken, Ordering::Relaxed);
        self.progress.unique.fetch_add(new, Ordering::Relaxed);
        self.boundary.fetch_add(boundary, Ordering::Relaxed);
        self.rules.merge(&rules, depth);
    }

    /// Canonicalises and fingerprints a reached state, adds it to `batch`
    /// and prefetches its slot.
    pub(crate) fn reach(&self, state: &M::State, batch: &mut Batch<M::State>) {
        let canonical = self.canonical(state);
        let start = batch.bytes.len();
        let fp = match self.codec {
            Some(codec) => {
                (codec.encode)(&canonical, &mut batch.bytes);
                fingerprint_bytes(&batch.bytes[start..])
            }
            None => {
                let fp = fingerprint(&canonical);
                batch.canonical.push(Some(canonical.into_owned()));
                fp
            }
        };
        self.visited.prefetch(fp);
        batch.reached.push((fp, start..batch.bytes.len()));
    }

    /// Records the batch's `k`th successor, `state`, reached from `parent`;
    /// if new, checks it and queues it for expansion (if within the
    /// boundary).
    pub(crate) fn record(
        &self,
        k: usize,
        batch: &mut Batch<M::State>,
        parent: Fingerprint,
        state: &M::State,
        depth: usize,
        out: &mut Vec<(Fingerprint, Stored<M::State>)>,
    ) -> Visit {
        let (fp, ref encoding) = batch.reached[k];
        // Insert only if absent: the first parent found is on a shortest path.
        if !self.visited.insert_new(fp, parent) {
            return Visit::Seen;
        }
        self.check_properties(state, fp, depth);
        if !self.model.within_boundary(state) {
            return Visit::Boundary;
        }
        let stored = match batch.canonical.get_mut(k).and_then(Option::take) {
            Some(canonical) => Stored::State(Box::new(canonical)),
            None => Stored::Bytes(batch.bytes[encoding.clone()].into()),
        };
        out.push((fp, stored));
        Visit::New
    }

    pub(crate) fn check_properties(&self, state: &M::State, fp: Fingerprint, depth: usize) {
        let found = self.found.load(Ordering::Relaxed);
        for (i, p) in self.properties.iter().enumerate() {
            if found & (1 << i) != 0 {
                continue;
            }
            let holds = (p.condition)(self.model, state);
            let discovered = match p.expectation {
                Expectation::Always => !holds,
                Expectation::Sometimes => holds,
                // Liveness needs whole paths; this engine checks states only.
                Expectation::Eventually => false,
            };
            if discovered {
                self.found.fetch_or(1 << i, Ordering::Relaxed);
                if self.stop_at_once & (1 << i) != 0 {
                    self.stop(match p.expectation {
                        Expectation::Always => StopReason::Violation,
                        _ => StopReason::Discovery,
                    });
                }
                self.discoveries
                    .lock()
                    .expect("discoveries lock")
                    .entry(p.name)
                    .or_insert(Discovery {
                        fingerprint: fp,
                        depth,
                    });
            }
        }
    }
}

impl<S> Stored<S> {
    /// The heap block behind the box, as a typical allocator sizes it (an
    /// 8-byte header, rounded up to 16, at least 32).
    fn heap_bytes(&self) -> u64 {
        let len = match self {
            Stored::State(_) => std::mem::size_of::<S>(),
            Stored::Bytes(b) => b.len(),
        };
        (len + 8).next_multiple_of(16).max(32) as u64
    }
}

/// When the search stops: its discoveries, and its limits.
impl<M: Model> Search<'_, M> {
    /// Whether the discoveries so far end the search (at a level's end).
    pub(crate) fn should_stop(&self, stop: StopWhen) -> Option<StopReason> {
        let found = self.discoveries.lock().expect("discoveries lock");
        let violation = || {
            self.properties
                .iter()
                .any(|p| p.expectation == Expectation::Always && found.contains_key(p.name))
        };
        match stop {
            StopWhen::Exhausted => None,
            StopWhen::AnyViolation | StopWhen::ViolationOf(_) => {
                violation().then_some(StopReason::Violation)
            }
            StopWhen::Discovered(name) => found.contains_key(name).then(|| {
                if violation() {
                    StopReason::Violation
                } else {
                    StopReason::Discovery
                }
            }),
        }
    }

    pub(crate) fn stop(&self, reason: StopReason) {
        self.limits.set_reason(reason);
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Whether the time or the memory budget is spent (then stops the
    /// search).
    pub(crate) fn over_limit(&self) -> bool {
        let visited = || {
            let unique = if self.visited_is_cache {
                0
            } else {
                self.progress.unique.load(Ordering::Relaxed)
            };
            self.visited.bytes_for(unique)
        };
        match self.limits.over(visited) {
            Some(reason) => {
                self.stop(reason);
                true
            }
            None => false,
        }
    }

    /// The disk-backed search's exact figures, after a level's merge.
    pub(crate) fn set_exact(&self, unique: u64, boundary: u64) {
        self.progress.unique.store(unique, Ordering::Relaxed);
        self.boundary.store(boundary, Ordering::Relaxed);
    }

    /// A level starts: the queued states, gathered into one list of
    /// `list_bytes`, become the level being expanded.
    pub(crate) fn start_level(&self, list_bytes: usize) {
        self.limits.start_level(list_bytes);
    }

    /// Adds a chunk's newly queued states to the next level's estimate;
    /// `grown` is how many entries the thread's list grew by.
    pub(crate) fn count_queued(&self, new: &[(Fingerprint, Stored<M::State>)], grown: usize) {
        if !self.limits.counts_queued() {
            return;
        }
        let heap: u64 = new.iter().map(|(_, s)| s.heap_bytes()).sum();
        let list = grown * std::mem::size_of::<(Fingerprint, Stored<M::State>)>();
        self.limits.count_queued(heap, list as u64);
    }
}
